#include "common/rpc/jsonrpc.hpp"

#include <gtest/gtest.h>

#include "common/json/bounded_json.hpp"

namespace ghost::rpc {
namespace {

TEST(LineFramer, SplitsLinesAcrossFeeds) {
    LineFramer f(100);
    EXPECT_TRUE(f.feed("{\"a\":1}\n{\"b\""));
    EXPECT_EQ(f.next_line(), "{\"a\":1}");
    EXPECT_FALSE(f.next_line());
    EXPECT_TRUE(f.feed(":2}\r\n"));
    EXPECT_EQ(f.next_line(), "{\"b\":2}");
    EXPECT_EQ(f.pending(), 0u);
}

TEST(LineFramer, RefusesOversizedLineEvenWithoutNewline) {
    LineFramer f(10);
    EXPECT_TRUE(f.feed("0123456789"));
    EXPECT_FALSE(f.feed("x"));
    EXPECT_TRUE(f.overflowed());
    EXPECT_FALSE(f.next_line());
}

// A line trickled in one byte per read is scanned once, not once per byte (a local user
// could otherwise make each byte cost a scan of everything buffered).
TEST(LineFramer, ByteByByteLineIsTakenWhole) {
    constexpr size_t kLimit = size_t{1} << 20;
    LineFramer f(kLimit);
    for (size_t i = 0; i < kLimit; ++i) ASSERT_TRUE(f.feed("x"));
    EXPECT_FALSE(f.next_line());
    EXPECT_FALSE(f.feed("y"));  // one byte over the limit, still without a newline
    EXPECT_TRUE(f.overflowed());

    LineFramer g(kLimit);
    for (size_t i = 0; i < kLimit; ++i) ASSERT_TRUE(g.feed("x"));
    ASSERT_TRUE(g.feed("\nz"));
    auto line = g.next_line();
    ASSERT_TRUE(line);
    EXPECT_EQ(line->size(), kLimit);
    EXPECT_EQ(g.pending(), 1u);
}

TEST(LineFramer, RefusesOversizedCompleteLine) {
    LineFramer f(4);
    f.feed("ok\n0123456789\n");
    EXPECT_EQ(f.next_line(), "ok");
    EXPECT_FALSE(f.next_line());
    EXPECT_TRUE(f.overflowed());
}

TEST(LineFramer, ManySmallLinesDoNotGrowUnbounded) {
    LineFramer f(64);
    for (int i = 0; i < 100000; ++i) {
        ASSERT_TRUE(f.feed("{\"i\":1}\n"));
        ASSERT_TRUE(f.next_line());
    }
    EXPECT_EQ(f.pending(), 0u);
}

TEST(ParseRequest, ValidRequest) {
    auto o =
        parse_request(R"({"jsonrpc":"2.0","id":7,"method":"profile.up","params":{"name":"w"}})");
    ASSERT_TRUE(o.request);
    EXPECT_EQ(o.request->id, 7);
    EXPECT_EQ(o.request->method, "profile.up");
    EXPECT_EQ(o.request->params["name"], "w");
    EXPECT_FALSE(o.request->is_notification);
}

TEST(ParseRequest, NotificationAndMissingParams) {
    auto o = parse_request(R"({"jsonrpc":"2.0","method":"profile.list"})");
    ASSERT_TRUE(o.request);
    EXPECT_TRUE(o.request->is_notification);
    EXPECT_TRUE(o.request->params.is_object());
}

TEST(ParseRequest, NotJson) {
    auto o = parse_request("hello there");
    ASSERT_FALSE(o.request);
    EXPECT_EQ(o.error_response["error"]["code"], -32700);
    EXPECT_TRUE(o.error_response["id"].is_null());
}

TEST(ParseRequest, InvalidShapes) {
    for (const char* line :
         {R"([1,2])", R"("str")", R"({"id":1,"method":"x"})", R"({"jsonrpc":"2.0","id":1})",
          R"({"jsonrpc":"2.0","id":1,"method":5})", R"({"jsonrpc":"2.0","id":{},"method":"x"})"}) {
        auto o = parse_request(line);
        ASSERT_FALSE(o.request) << line;
        EXPECT_EQ(o.error_response["error"]["code"], -32600) << line;
    }
}

TEST(ParseRequest, PositionalParamsRefused) {
    auto o = parse_request(R"({"jsonrpc":"2.0","id":"a","method":"x","params":[1]})");
    ASSERT_FALSE(o.request);
    EXPECT_EQ(o.error_response["error"]["code"], -32602);
    EXPECT_EQ(o.error_response["id"], "a");
}

/// profile.status whose params.name nests `levels` arrays: the line is levels + 2 deep.
std::string deep_request(size_t levels) {
    return R"({"jsonrpc":"2.0","id":1,"method":"profile.status","params":{"name":)" +
           std::string(levels, '[') + std::string(levels, ']') + "}}";
}

TEST(ParseRequest, NestingAtTheLimitIsParsed) {
    auto o = parse_request(deep_request(bounded_json::kMaxDepth - 2));
    ASSERT_TRUE(o.request) << o.error_response.dump();
    EXPECT_TRUE(o.request->params["name"].is_array());
    EXPECT_EQ(o.request->id, 1);
}

TEST(ParseRequest, NestingPastTheLimitIsAnInvalidRequestNamingTheDepth) {
    for (size_t levels : {bounded_json::kMaxDepth - 1, size_t{100000}}) {
        auto o = parse_request(deep_request(levels));
        ASSERT_FALSE(o.request) << levels;
        EXPECT_EQ(o.error_response["error"]["code"], -32600) << levels;
        EXPECT_TRUE(o.error_response["id"].is_null());
        EXPECT_EQ(o.error_response["error"]["message"],
                  "invalid request: nesting deeper than 64 levels (arrays and objects) at line 1, "
                  "column 130")
            << levels;
    }
}

TEST(ParseRequest, MembersAreTakenOverNotCopied) {
    auto o = parse_request(R"({"jsonrpc":"2.0","id":"x","method":"m","params":{"a":[1,{"b":2}]}})");
    ASSERT_TRUE(o.request);
    EXPECT_EQ(o.request->id, "x");
    EXPECT_EQ(o.request->method, "m");
    EXPECT_EQ(o.request->params["a"][1]["b"], 2);
    o = parse_request(R"({"jsonrpc":"2.0","id":2,"method":"m","params":null})");
    ASSERT_TRUE(o.request);
    EXPECT_TRUE(o.request->params.is_object());
    o = parse_request(R"({"jsonrpc":2.0,"id":2,"method":"m"})");
    ASSERT_FALSE(o.request);
    EXPECT_EQ(o.error_response["id"], 2);
}

TEST(Builders, ErrorCarriesData) {
    auto e = make_error(3, -32004, "bad", nlohmann::json::array({"x"}));
    EXPECT_EQ(e["error"]["data"][0], "x");
    EXPECT_EQ(to_line(make_result(1, true)).back(), '\n');
}

}  // namespace
}  // namespace ghost::rpc
