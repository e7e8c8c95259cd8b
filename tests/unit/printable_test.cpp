#include "common/text/printable.hpp"

#include <gtest/gtest.h>

#include "common/text/printable_json.hpp"

namespace ghost::text {
namespace {
using nlohmann::json;

TEST(Printable, PlainTextUnchanged) {
    EXPECT_EQ(printable("work: up (host key SHA256:abc/+=)"), "work: up (host key SHA256:abc/+=)");
    EXPECT_EQ(printable(""), "");
    EXPECT_TRUE(is_printable("a\\x1b stays as typed"));
}

TEST(Printable, EscapeSequenceCannotReachTheTerminal) {
    EXPECT_EQ(printable("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
    EXPECT_EQ(printable("\x1b]0;title\x07"), "\\x1b]0;title\\x07");
    EXPECT_FALSE(is_printable("\x1b[2J"));
}

TEST(Printable, NulDelAndLineBreaks) {
    EXPECT_EQ(printable(std::string_view("a\0b", 3)), "a\\x00b");
    EXPECT_EQ(printable("a\x7f"), "a\\x7f");
    EXPECT_EQ(printable("one\ntwo\r\n\tthree"), "one\\ntwo\\r\\n\\tthree");
}

TEST(Printable, C1ControlsEscaped) {
    EXPECT_EQ(printable("\xc2\x9b"
                        "31m"),
              "\\u009b31m");  // U+009B is CSI on some terminals
    EXPECT_EQ(printable("\xc2\x80\xc2\x9f"), "\\u0080\\u009f");
    EXPECT_EQ(printable("\x9b"
                        "31m"),
              "\\x9b31m");  // the bare byte is not UTF-8 at all
}

TEST(Printable, InvalidUtf8AsHexBytes) {
    EXPECT_EQ(printable("bad\xff\xfe"), "bad\\xff\\xfe");
    EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
    EXPECT_EQ(printable("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");  // overlong, 3 bytes
    EXPECT_EQ(printable("\xf0\x80\x80\xaf"), "\\xf0\\x80\\x80\\xaf");
    EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");           // UTF-16 surrogate
    EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
    EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");                    // truncated at the end
    EXPECT_EQ(printable("\xe2\x82x"), "\\xe2\\x82x");                  // truncated mid-text
    EXPECT_EQ(printable("\x80x"), "\\x80x");                           // lone continuation byte
}

TEST(Printable, ValidMultibyteKept) {
    const std::string text = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91 \xe4\xb8\xad \xc2\xa0";
    EXPECT_TRUE(is_printable(text));
    EXPECT_EQ(printable(text), text);
    EXPECT_EQ(printable("\xf4\x8f\xbf\xbf"), "\xf4\x8f\xbf\xbf");  // U+10FFFF, the last one
}

TEST(Printable, Idempotent) {
    for (std::string s : {"\x1b[31m\xff\xc2\x9b\n", "\\x1b", "plain", "\xe2\x82"}) {
        EXPECT_EQ(printable(printable(s)), printable(s)) << s;
        EXPECT_TRUE(is_printable(printable(s))) << s;
    }
}

// The crash vector: nlohmann's dump() throws on a string that is not UTF-8. ghostd and
// ghostctl serialise status and errors that carry peer and config bytes, so every dump of
// such data must go through dump_printable.
TEST(PrintableJson, PlainDumpThrowsOnInvalidUtf8) {
    json status = {{"last_error", "banner \xff\xfe from the peer"}};
    try {
        (void)status.dump();
        FAIL() << "dump() accepted invalid UTF-8";
    } catch (const json::type_error& e) {
        EXPECT_EQ(e.id, 316);
    }
}

TEST(PrintableJson, DumpNeverThrowsAndEscapes) {
    json status = {{"name", "esc"},
                   {"last_error", "host '\x1b[31mevil\xff'"},
                   {"nested", {{"list", {"ok", "\xc0\xaf"}}}},
                   {"key\x1b", 1},
                   {"count", 3}};
    std::string out;
    ASSERT_NO_THROW(out = dump_printable(status));
    EXPECT_EQ(out.find('\x1b'), std::string::npos);
    json back = json::parse(out);  // valid JSON, valid UTF-8
    EXPECT_EQ(back["last_error"], "host '\\x1b[31mevil\\xff'");
    EXPECT_EQ(back["nested"]["list"][1], "\\xc0\\xaf");
    EXPECT_EQ(back["key\\x1b"], 1);
    EXPECT_EQ(back["count"], 3);
    EXPECT_TRUE(all_printable(back));
}

TEST(PrintableJson, CleanTreesUnchanged) {
    json j = {{"name", "caf\xc3\xa9"}, {"n", 1}, {"a", {true, nullptr, 2.5}}};
    EXPECT_TRUE(all_printable(j));
    EXPECT_EQ(dump_printable(j), j.dump());
    EXPECT_EQ(dump_printable(j, 2), j.dump(2));
}

TEST(PrintableJson, DeepTreeDoesNotRecurse) {
    json deep = "\x1b";
    for (int i = 0; i < 100000; ++i) deep = json::array({std::move(deep)});
    make_printable(deep);
    const json* node = &deep;
    while (node->is_array()) node = &(*node)[0];
    EXPECT_EQ(*node, "\\x1b");
    EXPECT_FALSE(all_printable(json::array({"\x1b"})));
}

}  // namespace
}  // namespace ghost::text
