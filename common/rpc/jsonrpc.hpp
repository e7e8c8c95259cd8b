#pragma once
/// JSON-RPC 2.0 over newline-delimited streams: line framing with a size limit, request
/// parsing and validation, response and notification builders. No I/O.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ghost::rpc {

/// Splits a byte stream into lines ('\n'-terminated, optional '\r' stripped), refusing any
/// line longer than max_line bytes. After an overflow the framer stays failed.
class LineFramer {
  public:
    explicit LineFramer(size_t max_line) : max_line_(max_line) {}

    /// Appends received bytes. Returns false when the current line exceeds the limit.
    bool feed(std::string_view data);
    /// Pops the next complete line, if any.
    std::optional<std::string> next_line();
    bool overflowed() const { return overflowed_; }
    /// Bytes buffered for the incomplete line.
    size_t pending() const { return buffer_.size() - start_; }
    /// Takes the buffered bytes that are not (yet) a line, e.g. a raw stream that follows
    /// the last message.
    std::string take_rest() {
        std::string rest = buffer_.substr(start_);
        buffer_.clear();
        start_ = scanned_ = tail_ = 0;
        return rest;
    }

  private:
    size_t max_line_;
    std::string buffer_;
    size_t start_ = 0;
    size_t scanned_ = 0;
    size_t tail_ = 0;  // where the incomplete last line starts
    bool overflowed_ = false;
};

/// A validated request. `id` is null for notifications.
struct Request {
    nlohmann::json id;
    std::string method;
    nlohmann::json params;  // object (possibly empty)
    bool is_notification = false;
};

/// Either a request or the error response to send back.
struct ParseOutcome {
    std::optional<Request> request;
    nlohmann::json error_response;  // set when request is empty
};

/// Parses one line as a JSON-RPC 2.0 request. Batches are refused (invalid request).
/// Positional params are refused: ghost methods take named params only. Nesting deeper
/// than bounded_json::kMaxDepth is refused while parsing (invalid request, -32600).
ParseOutcome parse_request(std::string_view line);

/// {"jsonrpc":"2.0","id":id,"result":result}
nlohmann::json make_result(const nlohmann::json& id, nlohmann::json result);
/// {"jsonrpc":"2.0","id":id,"error":{"code":..,"message":..[,"data":..]}}
nlohmann::json make_error(const nlohmann::json& id, int code, std::string message,
                          nlohmann::json data = nullptr);
/// {"jsonrpc":"2.0","method":method,"params":params}
nlohmann::json make_notification(std::string method, nlohmann::json params);

/// Serialises one message as a line (invalid UTF-8 replaced, '\n' appended).
std::string to_line(const nlohmann::json& message);

}  // namespace ghost::rpc
