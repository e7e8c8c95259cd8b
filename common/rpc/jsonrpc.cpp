#include "common/rpc/jsonrpc.hpp"

#include "common/json/bounded_json.hpp"

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
        start_ = scanned_ = tail_ = 0;
    }
    // Only the new bytes are searched: a line trickled in byte by byte costs linear time.
    size_t nl = data.rfind('\n');
    if (nl != std::string_view::npos) tail_ = buffer_.size() + nl + 1;
    buffer_.append(data);
    // Only the incomplete tail counts against the limit; complete lines are checked as popped.
    if (buffer_.size() - std::max(tail_, start_) > max_line_) overflowed_ = true;
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
        tail_ = tail_ > start_ ? tail_ - start_ : 0;
        start_ = scanned_ = 0;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

ParseOutcome parse_request(std::string_view line) {
    ParseOutcome out;
    bounded_json::Result parsed = bounded_json::parse(line);
    if (!parsed.ok()) {
        bool deep = parsed.failure == bounded_json::Failure::too_deep;
        out.error_response =
            make_error(nullptr, deep ? kInvalidRequest : kParseError,
                       (deep ? "invalid request: " : "parse error: ") + parsed.message);
        return out;
    }
    nlohmann::json& msg = parsed.value;
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
    // Members are moved out of the caller's tree, never copied.
    auto id_it = msg.find("id");
    nlohmann::json id = id_it != msg.end() ? std::move(*id_it) : nlohmann::json();
    if (!id.is_null() && !id.is_string() && !id.is_number_integer()) {
        out.error_response =
            make_error(nullptr, kInvalidRequest, "invalid request: id must be a string or integer");
        return out;
    }
    auto fail = [&](int code, std::string why) {
        out.error_response = make_error(id, code, std::move(why));
        return out;
    };
    auto version = msg.find("jsonrpc");
    if (version == msg.end() || !version->is_string() || *version != "2.0")
        return fail(kInvalidRequest, "invalid request: \"jsonrpc\" must be \"2.0\"");
    auto method = msg.find("method");
    if (method == msg.end() || !method->is_string())
        return fail(kInvalidRequest, "invalid request: \"method\" must be a string");
    auto params_it = msg.find("params");
    nlohmann::json params =
        params_it != msg.end() ? std::move(*params_it) : nlohmann::json::object();
    if (params.is_null()) params = nlohmann::json::object();
    if (!params.is_object())
        return fail(kInvalidParams,
                    "invalid params: \"params\" must be an object of named parameters");
    Request req;
    req.is_notification = id_it == msg.end();
    req.id = std::move(id);
    req.method = std::move(method->get_ref<std::string&>());
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
