#include "common/rpc/jsonrpc.hpp"

namespace ghost::rpc {

namespace {
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kInvalidParams = -32602;
}  // namespace

bool LineFramer::feed(std::string_view data) {
    if (overflowed_) return false;
    if (start_ > 0 && start_ == buffer_.size()) {
        buffer_.clear();
        start_ = scanned_ = 0;
    }
    buffer_.append(data);
    // Only the incomplete tail counts against the limit; complete lines are checked as popped.
    size_t nl = buffer_.rfind('\n');
    size_t tail_start = nl == std::string::npos ? start_ : nl + 1;
    if (buffer_.size() - tail_start > max_line_) overflowed_ = true;
    return !overflowed_;
}

std::optional<std::string> LineFramer::next_line() {
    if (overflowed_) return std::nullopt;
    size_t pos = buffer_.find('\n', std::max(start_, scanned_));
    if (pos == std::string::npos) {
        scanned_ = buffer_.size();
        return std::nullopt;
    }
    if (pos - start_ > max_line_) {
        overflowed_ = true;
        return std::nullopt;
    }
    std::string line = buffer_.substr(start_, pos - start_);
    start_ = scanned_ = pos + 1;
    if (start_ > 65536 && start_ * 2 > buffer_.size()) {
        buffer_.erase(0, start_);
        start_ = scanned_ = 0;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

ParseOutcome parse_request(std::string_view line) {
    ParseOutcome out;
    nlohmann::json msg = nlohmann::json::parse(line, nullptr, false);
    if (msg.is_discarded()) {
        out.error_response = make_error(nullptr, kParseError, "parse error: line is not valid JSON");
        return out;
    }
    if (msg.is_array()) {
        out.error_response =
            make_error(nullptr, kInvalidRequest, "invalid request: batches are not supported");
        return out;
    }
    if (!msg.is_object()) {
        out.error_response =
            make_error(nullptr, kInvalidRequest, "invalid request: expected a JSON object");
        return out;
    }
    nlohmann::json id = msg.contains("id") ? msg["id"] : nlohmann::json();
    if (!id.is_null() && !id.is_string() && !id.is_number_integer()) {
        out.error_response =
            make_error(nullptr, kInvalidRequest, "invalid request: id must be a string or integer");
        return out;
    }
    auto fail = [&](int code, std::string why) {
        out.error_response = make_error(id, code, std::move(why));
        return out;
    };
    if (msg.value("jsonrpc", nlohmann::json()) != "2.0")
        return fail(kInvalidRequest, "invalid request: \"jsonrpc\" must be \"2.0\"");
    if (!msg.contains("method") || !msg["method"].is_string())
        return fail(kInvalidRequest, "invalid request: \"method\" must be a string");
    nlohmann::json params = msg.contains("params") ? msg["params"] : nlohmann::json::object();
    if (params.is_null()) params = nlohmann::json::object();
    if (!params.is_object())
        return fail(kInvalidParams, "invalid params: \"params\" must be an object of named parameters");
    Request req;
    req.is_notification = !msg.contains("id");
    req.id = id;
    req.method = msg["method"].get<std::string>();
    req.params = std::move(params);
    out.request = std::move(req);
    return out;
}

nlohmann::json make_result(const nlohmann::json& id, nlohmann::json result) {
    return {{"jsonrpc", "2.0"}, {"id", id}, {"result", std::move(result)}};
}

nlohmann::json make_error(const nlohmann::json& id, int code, std::string message,
                          nlohmann::json data) {
    nlohmann::json err = {{"code", code}, {"message", std::move(message)}};
    if (!data.is_null()) err["data"] = std::move(data);
    return {{"jsonrpc", "2.0"}, {"id", id}, {"error", std::move(err)}};
}

nlohmann::json make_notification(std::string method, nlohmann::json params) {
    return {{"jsonrpc", "2.0"}, {"method", std::move(method)}, {"params", std::move(params)}};
}

std::string to_line(const nlohmann::json& message) {
    std::string s = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    s += '\n';
    return s;
}

}  // namespace ghost::rpc
