#include "common/json/bounded_json.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ghost::bounded_json {
namespace {

/// `depth` nested arrays: [[[...]]].
std::string arrays(size_t depth) {
    return std::string(depth, '[') + std::string(depth, ']');
}

/// `depth` nested objects: {"a":{"a":...{}}}.
std::string objects(size_t depth) {
    std::string text;
    for (size_t i = 1; i < depth; ++i) text += "{\"a\":";
    return text + "{}" + std::string(depth - 1, '}');
}

bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

TEST(BoundedJson, ParsesOrdinaryDocuments) {
    Result r = parse(R"({"a": [1, 2.5, "x", true, null, {"b": -3}], "c": {}})");
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.value["a"][5]["b"], -3);
    EXPECT_EQ(r.value["a"][1], 2.5);
    EXPECT_TRUE(r.value["c"].is_object());
    EXPECT_TRUE(r.message.empty());
    EXPECT_EQ(parse("42").value, 42);
    EXPECT_EQ(parse("\"s\"").value, "s");
    EXPECT_EQ(parse("18446744073709551615").value, 18446744073709551615ull);
}

TEST(BoundedJson, DepthLimitIsExactForArraysAndObjects) {
    for (auto make : {arrays, objects}) {
        Result at = parse(make(kMaxDepth));
        EXPECT_TRUE(at.ok()) << at.message;
        Result over = parse(make(kMaxDepth + 1));
        EXPECT_FALSE(over.ok());
        EXPECT_EQ(over.failure, Failure::too_deep);
        EXPECT_TRUE(over.value.is_null());
        EXPECT_TRUE(contains(over.message, "nesting deeper than 64 levels")) << over.message;
    }
    // A tree at the limit is an ordinary value: it copies, compares and dumps.
    Result at = parse(arrays(kMaxDepth));
    nlohmann::json copy = at.value;
    EXPECT_EQ(copy, at.value);
    EXPECT_EQ(copy.dump(), arrays(kMaxDepth));
}

TEST(BoundedJson, LimitIsAnOption) {
    EXPECT_TRUE(parse("[[1]]", {.max_depth = 2}).ok());
    Result r = parse("[[[1]]]", {.max_depth = 2});
    EXPECT_EQ(r.failure, Failure::too_deep);
    EXPECT_EQ(r.message, "nesting deeper than 2 levels (arrays and objects) at line 1, column 3");
    EXPECT_TRUE(parse("1", {.max_depth = 0}).ok());
    EXPECT_EQ(parse("[]", {.max_depth = 0}).failure, Failure::too_deep);
}

TEST(BoundedJson, RefusalNamesLineAndColumnOfTheBracket) {
    std::string text = "{\n  \"x\": 1,\n  \"deep\": " + arrays(kMaxDepth) + "\n}";
    Result r = parse(text);
    ASSERT_EQ(r.failure, Failure::too_deep);
    EXPECT_EQ(r.line, 3u);
    EXPECT_EQ(r.column, 11u + kMaxDepth - 1);  // the 64th '[' (level 65) on line 3
    EXPECT_EQ(r.message, "nesting deeper than 64 levels (arrays and objects) at line 3, column " +
                             std::to_string(r.column));
}

TEST(BoundedJson, HundredThousandLevelsAreRefusedNotFollowed) {
    constexpr size_t kLevels = 100000;
    for (const std::string& text :
         {arrays(kLevels), objects(kLevels), std::string(kLevels, '['),
          "{\"jsonrpc\":\"2.0\",\"params\":{\"name\":" + arrays(kLevels) + "}}"}) {
        Result r = parse(text);
        EXPECT_EQ(r.failure, Failure::too_deep);
        EXPECT_TRUE(r.value.is_null());
        EXPECT_EQ(r.line, 1u);
        EXPECT_LE(r.column, 400u);  // stopped at the limit, not at the end of the input
    }
}

TEST(BoundedJson, SyntaxErrorsNameLineAndColumn) {
    Result r = parse("{\n  \"a\": 1,\n}");
    EXPECT_EQ(r.failure, Failure::syntax);
    EXPECT_EQ(r.line, 3u);
    EXPECT_TRUE(contains(r.message, "parse error at line 3, column 1")) << r.message;
    EXPECT_FALSE(contains(r.message, "json.exception")) << r.message;

    r = parse("[1e999]");
    EXPECT_EQ(r.failure, Failure::syntax);
    EXPECT_TRUE(contains(r.message, "number overflow")) << r.message;
    EXPECT_TRUE(contains(r.message, "line 1")) << r.message;

    for (const char* bad :
         {"", " ", "{", "[1,]", "{\"a\"}", "nul", "[1] x", "\"\xff\"", "\"a\x01\""})
        EXPECT_EQ(parse(bad).failure, Failure::syntax) << bad;
}

TEST(BoundedJson, CommentsOnlyWhenAllowed) {
    std::string text = "// settings\n{ /* inline */ \"a\": 1 }";
    EXPECT_EQ(parse(text).failure, Failure::syntax);
    Result r = parse(text, {.allow_comments = true});
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.value["a"], 1);
}

TEST(BoundedJson, DuplicateKeysAreReportedWithTheirPath) {
    Result r = parse(
        R"({"ssh": {"user": "a", "user": "b"}, "f": [{}, {"l": 1, "l": 2}], "a.b": 1, "a.b": 2})");
    ASSERT_TRUE(r.ok()) << r.message;
    ASSERT_EQ(r.duplicate_keys.size(), 3u);
    EXPECT_EQ(r.duplicate_keys[0].path, "ssh.user");
    EXPECT_EQ(r.duplicate_keys[0].key, "user");
    EXPECT_EQ(r.duplicate_keys[1].path, "f[1].l");
    EXPECT_EQ(r.duplicate_keys[2].key, "a.b");
    EXPECT_EQ(r.value["ssh"]["user"], "b");  // the last value wins
    EXPECT_EQ(r.duplicate_count, 3u);
}

TEST(BoundedJson, DuplicateKeyListIsBounded) {
    std::string text = "{\"k\": 0";
    for (int i = 0; i < 10000; ++i) text += ", \"k\": " + std::to_string(i);
    Result r = parse(text + "}");
    ASSERT_TRUE(r.ok()) << r.message;
    EXPECT_EQ(r.duplicate_keys.size(), kMaxDuplicateKeys);
    EXPECT_EQ(r.duplicate_count, 10000u);
    EXPECT_EQ(r.value["k"], 9999);
}

TEST(BoundedJson, EveryPrefixOfADocumentIsHandled) {
    std::string text = R"({"a": [1, {"b": "c\u00e9", "d": [true, false, null]}], "e": -1.5e3})";
    for (size_t n = 0; n < text.size(); ++n) EXPECT_FALSE(parse(text.substr(0, n)).ok()) << n;
    EXPECT_TRUE(parse(text).ok());
}

}  // namespace
}  // namespace ghost::bounded_json
