// The one base64 encoder and decoder (common/text/base64): RFC 4648 vectors, both
// alphabets, every padding rule, characters that are refused, and large inputs.
#include "common/text/base64.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <string>

namespace ghost::text {
namespace {

using enum Base64Alphabet;
using enum Base64Padding;

std::optional<std::string> decode(std::string_view s, Base64Padding p = required) {
    return base64_decode(s, standard, p);
}

TEST(Base64, Rfc4648Vectors) {
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (const auto& [plain, encoded] : vectors) {
        EXPECT_EQ(base64_encode(plain), encoded);
        EXPECT_EQ(decode(encoded), plain) << encoded;
        std::string unpadded = encoded;
        while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
        EXPECT_EQ(base64url_encode(plain), unpadded);  // same letters, no '='
        EXPECT_EQ(base64_decode(unpadded, url, optional), plain) << unpadded;
    }
}

TEST(Base64, TheTwoAlphabets) {
    const std::string bytes = "\xfb\xff\xbf";  // 111110 111111 111110 111111
    EXPECT_EQ(base64_encode(bytes), "+/+/");
    EXPECT_EQ(base64url_encode(bytes), "-_-_");
    EXPECT_EQ(base64_encode("\xff"), "/w==");
    EXPECT_EQ(base64url_encode("\xff"), "_w");

    EXPECT_EQ(base64_decode("+/+/", standard, required), bytes);
    EXPECT_FALSE(base64_decode("-_-_", standard, required));
    EXPECT_EQ(base64_decode("-_-_", url, required), bytes);
    EXPECT_FALSE(base64_decode("+/+/", url, required));
    EXPECT_EQ(base64_decode("+_-/", either, required), bytes);  // mixed is fine there
}

TEST(Base64, EveryByteRoundTrips) {
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    for (size_t n = 0; n <= all.size(); ++n) {
        const std::string bytes = all.substr(all.size() - n);
        EXPECT_EQ(decode(base64_encode(bytes)), bytes);
        EXPECT_EQ(base64_decode(base64url_encode(bytes), url, optional), bytes);
    }
}

TEST(Base64, RefusesCharactersOutsideTheAlphabet) {
    // Each has a length an encoder writes, so only the character is wrong.
    for (const char* bad : {"Zm9v Zg=", "Zm9v\nZg==", " Zm9", "Zm9 ", "Zm\tv", "Zm*v", "Zm.v",
                            "Zm\xc3\xa9", "Zm=v", "=Zm9", "Zg=a", "Zg==Zg=="}) {
        EXPECT_FALSE(base64_decode(bad, either, any)) << bad;
    }
    EXPECT_FALSE(base64_decode(std::string("Zm\0v", 4), either, any));
    for (int c = 0; c < 256; ++c) {
        const char ch = static_cast<char>(c);
        const bool letter_or_digit =
            (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
        const std::string text = std::string("AA") + ch + "A";
        EXPECT_EQ(base64_decode(text, standard, required).has_value(),
                  letter_or_digit || ch == '+' || ch == '/')
            << c;
        EXPECT_EQ(base64_decode(text, url, required).has_value(),
                  letter_or_digit || ch == '-' || ch == '_')
            << c;
    }
}

TEST(Base64, RefusesLengthsNoEncoderWrites) {
    for (Base64Padding p : {required, optional, up_to_two, any}) {
        EXPECT_FALSE(decode("Z", p));
        EXPECT_FALSE(decode("Zm9vZ", p));
        EXPECT_FALSE(decode("Z=", p));
        EXPECT_FALSE(decode("Z===", p));
        EXPECT_EQ(decode("", p), "");
    }
}

TEST(Base64, PaddingRules) {
    // text, then whether required, optional, up_to_two and any accept it.
    struct Case {
        const char* text;
        bool required, optional, up_to_two, any;
    };
    const Case cases[] = {
        {"Zm9v", true, true, true, true},     {"Zm9v=", false, false, true, true},
        {"Zm9v==", false, false, true, true}, {"Zm9v===", false, false, false, true},
        {"Zm8=", true, true, true, true},     {"Zm8", false, true, true, true},
        {"Zm8==", false, false, true, true},  {"Zg==", true, true, true, true},
        {"Zg=", false, true, true, true},     {"Zg", false, true, true, true},
        {"Zg===", false, false, false, true}, {"Zg=======", false, false, false, true},
        {"====", false, false, false, true},  {"=", false, false, true, true},
    };
    for (const Case& c : cases) {
        EXPECT_EQ(decode(c.text, required).has_value(), c.required) << c.text;
        EXPECT_EQ(decode(c.text, optional).has_value(), c.optional) << c.text;
        EXPECT_EQ(decode(c.text, up_to_two).has_value(), c.up_to_two) << c.text;
        EXPECT_EQ(decode(c.text, any).has_value(), c.any) << c.text;
    }
    EXPECT_EQ(decode("Zg=======", any), "f");
    EXPECT_EQ(decode("Zm8==", up_to_two), "fo");
}

TEST(Base64, IgnoresUnusedLowBits) {
    // "Zh==" sets bits that "Zg==" leaves clear; both are "f" (RFC 4648 §3.5 allows this).
    EXPECT_EQ(decode("Zh=="), "f");
    EXPECT_EQ(decode("Zm9="), "fo");
}

TEST(Base64, LargeInputs) {
    std::mt19937 rng(7);
    std::string bytes(8 << 20, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    const std::string encoded = base64_encode(bytes);
    EXPECT_EQ(encoded.size(), (bytes.size() + 2) / 3 * 4);
    EXPECT_EQ(decode(encoded), bytes);
    EXPECT_EQ(base64_decode(base64url_encode(bytes), url, optional), bytes);

    // One bad character at the very end of a large text still fails the whole text.
    std::string spoiled = std::string(8 << 20, 'A') + "A*";
    EXPECT_FALSE(decode(spoiled, any));
    // So does a wrong length, and more padding than the rule allows.
    EXPECT_FALSE(decode(std::string((8 << 20) + 1, 'A'), any));
    EXPECT_FALSE(decode(std::string(8 << 20, 'A') + std::string(3, '='), up_to_two));
    EXPECT_EQ(decode(std::string(8 << 20, 'A') + std::string(1 << 20, '='), any).value().size(),
              (8u << 20) / 4 * 3);
}

}  // namespace
}  // namespace ghost::text
