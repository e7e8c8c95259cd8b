#include "common/json/bounded_json.hpp"

#include <algorithm>
#include <iterator>

namespace ghost::bounded_json {
namespace {

using nlohmann::json;

/// A `const char*` that records how far the parser has read, so a refusal made in a SAX
/// callback (which is not told the position) can name the line and column.
class CountingIterator {
  public:
    using iterator_category = std::input_iterator_tag;
    using value_type = char;
    using difference_type = std::ptrdiff_t;
    using pointer = const char*;
    using reference = const char&;

    CountingIterator(const char* at, const char** furthest) : at_(at), furthest_(furthest) {}
    reference operator*() const { return *at_; }
    CountingIterator& operator++() {
        *furthest_ = ++at_;
        return *this;
    }
    CountingIterator operator++(int) {
        CountingIterator before = *this;
        ++*this;
        return before;
    }
    bool operator==(const CountingIterator& other) const { return at_ == other.at_; }
    bool operator!=(const CountingIterator& other) const { return at_ != other.at_; }

  private:
    const char* at_;
    const char** furthest_;
};

/// Builds the document like nlohmann's own DOM parser (iteratively: the parser keeps its
/// state on the heap), but stops at the depth limit and notes duplicate keys.
class Builder final : public nlohmann::json_sax<json> {
  public:
    Builder(size_t max_depth, Result& out) : max_depth_(max_depth), out_(out) {}

    bool null() override { return scalar(nullptr); }
    bool boolean(bool v) override { return scalar(v); }
    bool number_integer(number_integer_t v) override { return scalar(v); }
    bool number_unsigned(number_unsigned_t v) override { return scalar(v); }
    bool number_float(number_float_t v, const string_t&) override { return scalar(v); }
    bool string(string_t& v) override { return scalar(std::move(v)); }
    bool binary(binary_t& v) override { return scalar(json::binary(std::move(v))); }
    bool start_object(std::size_t) override { return open(json::object()); }
    bool start_array(std::size_t) override { return open(json::array()); }
    bool end_object() override { return close(); }
    bool end_array() override { return close(); }
    bool key(string_t& k) override;
    bool parse_error(std::size_t position, const std::string& last_token,
                     const json::exception& e) override;

    json root;
    bool too_deep = false;
    size_t error_position = 0;

  private:
    /// An open array or object, and the key its current member goes under (objects).
    struct Frame {
        json* node;
        std::string key;
    };

    json* add(json value);
    bool scalar(json value) {
        add(std::move(value));
        return true;
    }
    bool open(json container);
    bool close() {
        stack_.pop_back();
        return true;
    }
    std::string path_to(const std::string& key) const;

    size_t max_depth_;
    Result& out_;
    std::vector<Frame> stack_;
};

json* Builder::add(json value) {
    if (stack_.empty()) {
        root = std::move(value);
        return &root;
    }
    Frame& top = stack_.back();
    if (top.node->is_array()) {
        top.node->push_back(std::move(value));
        return &top.node->back();
    }
    json& slot = (*top.node)[top.key];
    slot = std::move(value);  // a duplicate key replaces the earlier value
    return &slot;
}

bool Builder::open(json container) {
    if (stack_.size() >= max_depth_) {
        too_deep = true;
        return false;  // stops the parser: nothing below this level is read or built
    }
    json* node = add(std::move(container));
    stack_.push_back({node, {}});
    return true;
}

bool Builder::key(string_t& k) {
    Frame& top = stack_.back();
    if (top.node->contains(k)) {
        if (out_.duplicate_keys.size() < kMaxDuplicateKeys)
            out_.duplicate_keys.push_back({path_to(k), k});
        ++out_.duplicate_count;
    }
    top.key = std::move(k);
    return true;
}

bool Builder::parse_error(std::size_t position, const std::string&, const json::exception& e) {
    std::string what = e.what();
    auto bracket = what.find("] ");  // drop nlohmann's "[json.exception.parse_error.101] "
    out_.message = bracket == std::string::npos ? what : what.substr(bracket + 2);
    error_position = position;
    return false;
}

std::string Builder::path_to(const std::string& key) const {
    std::string path;
    for (size_t i = 0; i + 1 < stack_.size(); ++i) {
        const Frame& f = stack_[i];
        if (f.node->is_array()) {
            path += "[" + std::to_string(f.node->size() - 1) + "]";
        } else {
            path += (path.empty() ? "" : ".") + f.key;
        }
    }
    return path + (path.empty() ? "" : ".") + key;
}

/// 1-based line and column of byte `offset` (the last byte the parser read).
void locate(std::string_view text, size_t offset, Result& out) {
    offset = std::min(std::max<size_t>(offset, 1), text.size() + 1);
    std::string_view before = text.substr(0, offset - 1);
    out.line = 1 + static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
    size_t nl = before.rfind('\n');
    out.column = offset - (nl == std::string_view::npos ? 0 : nl + 1);
}

}  // namespace

Result parse(std::string_view text, const Options& options) {
    Result out;
    Builder builder(options.max_depth, out);
    const char* furthest = text.data();
    CountingIterator first(text.data(), &furthest), last(text.data() + text.size(), &furthest);
    bool ok = json::sax_parse(first, last, &builder, json::input_format_t::json, true,
                              options.allow_comments);
    if (ok) {
        out.value = std::move(builder.root);
        return out;
    }
    if (builder.too_deep) {
        out.failure = Failure::too_deep;
        locate(text, static_cast<size_t>(furthest - text.data()), out);
        out.message = "nesting deeper than " + std::to_string(options.max_depth) +
                      " levels (arrays and objects) at line " + std::to_string(out.line) +
                      ", column " + std::to_string(out.column);
        return out;
    }
    out.failure = Failure::syntax;
    locate(text, builder.error_position, out);
    if (out.message.find(" line ") == std::string::npos)  // e.g. "number overflow parsing '1e999'"
        out.message +=
            " at line " + std::to_string(out.line) + ", column " + std::to_string(out.column);
    return out;
}

}  // namespace ghost::bounded_json
