// libFuzzer target for base64 (common/text/base64), which reads what peers write: HTTP
// Basic credentials, knock tokens, Sec-WebSocket-Keys, authorized_keys blobs.
// Input: text to decode (and bytes to encode). Checks, for every alphabet and padding rule:
// a stricter rule never accepts what a looser one refuses and both give the same bytes; what
// is accepted has the length its data characters imply and survives a round trip; every
// input encodes to a text that decodes back to it.

#include <cstdint>
#include <optional>
#include <string>

#include "common/text/base64.hpp"
#include "tests/fuzz/fuzz_util.hpp"

namespace {

using ghost::fuzz::check;
using namespace ghost::text;

constexpr Base64Padding kLooser[] = {Base64Padding::required, Base64Padding::optional,
                                     Base64Padding::up_to_two, Base64Padding::any};

/// Decodes with one alphabet under each padding rule, strictest first; returns what `any`
/// gave.
std::optional<std::string> decode_all_rules(std::string_view text, Base64Alphabet alphabet) {
    std::optional<std::string> stricter;
    for (Base64Padding p : kLooser) {
        auto out = base64_decode(text, alphabet, p);
        if (stricter) check(out == stricter, "a looser padding rule refused or changed a text");
        stricter = std::move(out);
    }
    return stricter;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text = ghost::fuzz::as_text(data, size);

    const auto standard = decode_all_rules(text, Base64Alphabet::standard);
    const auto url = decode_all_rules(text, Base64Alphabet::url);
    const auto either = decode_all_rules(text, Base64Alphabet::either);
    if (standard) check(either == standard, "either alphabet refused or changed a standard text");
    if (url) check(either == url, "either alphabet refused or changed a URL-safe text");
    if (either) {
        size_t data_chars = text.size();
        while (data_chars > 0 && text[data_chars - 1] == '=') --data_chars;
        check(either->size() == data_chars * 3 / 4, "decoded length");
        check(base64_decode(base64_encode(*either), Base64Alphabet::standard,
                            Base64Padding::required) == either,
              "round trip of decoded bytes");
    }

    const std::string encoded = base64_encode(text);
    check(encoded.size() == (text.size() + 2) / 3 * 4, "encoded length");
    check(base64_decode(encoded, Base64Alphabet::standard, Base64Padding::required) == text,
          "standard round trip");
    check(
        base64_decode(base64url_encode(text), Base64Alphabet::url, Base64Padding::optional) == text,
        "URL-safe round trip");
    return 0;
}
