#pragma once
/// Base64 (RFC 4648 §4, and the URL-safe alphabet of §5): the one encoder and decoder in
/// ghost. Decoding is strict about characters (no white space, no '=' before the end, no
/// other alphabet's 62nd and 63rd characters); how much '=' may end a text is each caller's
/// choice, so that every reader keeps accepting what it always did.

#include <optional>
#include <string>
#include <string_view>

namespace ghost::text {

/// Which characters stand for the values 62 and 63.
enum class Base64Alphabet {
    standard,  ///< '+' and '/' (RFC 4648 §4)
    url,       ///< '-' and '_' (RFC 4648 §5)
    either,    ///< both pairs, even mixed in one text
};

/// How many '=' may end a text whose data characters number n (n % 4 of them form an
/// incomplete last group, which "needs" 2 '=' after 2 characters and 1 after 3).
enum class Base64Padding {
    required,   ///< exactly the '=' the last group needs
    optional,   ///< the '=' the last group needs, fewer, or none
    up_to_two,  ///< none, one or two, whatever the last group needs
    any,        ///< any number
};

/// `bytes` in the standard alphabet, padded with '='.
std::string base64_encode(std::string_view bytes);

/// `bytes` in the URL-safe alphabet, without padding.
std::string base64url_encode(std::string_view bytes);

/// The bytes `text` encodes; nullopt when it holds a character outside `alphabet` (a '='
/// before the trailing ones included), padding that `padding` does not allow, or a number
/// of data characters no encoder writes (4k + 1). Unused low bits of the last character
/// are ignored, as in most decoders (RFC 4648 §3.5 lets decoders accept them).
std::optional<std::string> base64_decode(std::string_view text, Base64Alphabet alphabet,
                                         Base64Padding padding);

}  // namespace ghost::text
