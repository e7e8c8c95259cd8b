#include "common/text/printable_json.hpp"

#include <vector>

#include "common/text/printable.hpp"

namespace ghost::text {
namespace {
using nlohmann::json;

/// Replaces an object whose keys need escaping by one with escaped keys.
void escape_keys(json& object) {
    bool clean = true;
    for (auto it = object.begin(); it != object.end() && clean; ++it)
        clean = is_printable(it.key());
    if (clean) return;
    json rebuilt = json::object();
    for (auto it = object.begin(); it != object.end(); ++it)
        rebuilt.emplace(printable(it.key()), std::move(it.value()));
    object = std::move(rebuilt);
}
}  // namespace

bool all_printable(const json& value) {
    std::vector<const json*> todo{&value};
    while (!todo.empty()) {
        const json* node = todo.back();
        todo.pop_back();
        if (node->is_string() && !is_printable(node->get_ref<const std::string&>())) return false;
        if (node->is_object()) {
            for (auto it = node->begin(); it != node->end(); ++it) {
                if (!is_printable(it.key())) return false;
                todo.push_back(&it.value());
            }
        } else if (node->is_array()) {
            for (const json& child : *node) todo.push_back(&child);
        }
    }
    return true;
}

void make_printable(json& value) {
    std::vector<json*> todo{&value};
    while (!todo.empty()) {
        json* node = todo.back();
        todo.pop_back();
        if (node->is_string()) {
            auto& s = node->get_ref<std::string&>();
            if (!is_printable(s)) s = printable(s);
        } else if (node->is_object()) {
            escape_keys(*node);
            for (auto& child : node->items()) todo.push_back(&child.value());
        } else if (node->is_array()) {
            for (json& child : *node) todo.push_back(&child);
        }
    }
}

std::string dump_printable(const json& value, int indent) {
    // The common case copies nothing; `replace` only guards against a bug here.
    constexpr auto kReplace = json::error_handler_t::replace;
    if (all_printable(value)) return value.dump(indent, ' ', false, kReplace);
    json copy = value;
    make_printable(copy);
    return copy.dump(indent, ' ', false, kReplace);
}

}  // namespace ghost::text
