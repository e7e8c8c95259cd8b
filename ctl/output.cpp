// Output helpers and error reporting shared by every verb.

#include <iostream>

#include "common/text/printable.hpp"
#include "common/text/printable_json.hpp"
#include "ctl/ctl.hpp"

namespace ghost::ctl {

namespace {
// Application error codes of the core API (docs/rpc.md).
int exit_for(int rpc_code) {
    switch (rpc_code) {
        case -32001:
            return exit_code::not_found;
        case -32002:
            return exit_code::denied;
        case -32004:
            return exit_code::config;
        case -32005:
            return exit_code::failed;
        case -32003:
            return exit_code::failed;
        case -32602:
            return exit_code::usage;
        default:
            return exit_code::protocol;
    }
}
}  // namespace

int fail(int code, const std::string& message) {
    // Our messages may span lines (hints); each line is escaped on its own.
    std::string shown;
    size_t start = 0;
    for (size_t nl; (nl = message.find('\n', start)) != std::string::npos; start = nl + 1)
        shown += text::printable(std::string_view(message).substr(start, nl - start)) + "\n";
    shown += text::printable(std::string_view(message).substr(start));
    std::cerr << "ghostctl: " << shown << "\n";
    return code;
}

void print_line(const std::string& text) {
    std::cout << text::printable(text) << "\n";
}

void print_error_line(const std::string& text) {
    std::cerr << text::printable(text) << "\n";
}

int report_error(const Answer& a) {
    std::string msg = a.message;
    if (a.data.is_array() && a.code == -32004) {
        for (auto& e : a.data) msg += "\n  " + e.get<std::string>();
    }
    return fail(exit_for(a.code), msg);
}

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& raw) {
    std::vector<std::vector<std::string>> rows;
    for (auto& r : raw) {
        rows.emplace_back();
        for (auto& cell : r) rows.back().push_back(text::printable(cell));
    }
    std::vector<size_t> w(header.size());
    for (size_t i = 0; i < header.size(); ++i) w[i] = header[i].size();
    for (auto& r : rows)
        for (size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], r[i].size());
    auto line = [&](const std::vector<std::string>& r) {
        std::string s;
        for (size_t i = 0; i < r.size(); ++i) {
            s += r[i];
            if (i + 1 < r.size()) s += std::string(w[i] - r[i].size() + 2, ' ');
        }
        std::cout << s << "\n";
    };
    line(header);
    for (auto& r : rows) line(r);
}

void print_json(const nlohmann::json& j) {
    std::cout << text::dump_printable(j, 2) << "\n";
}

void print_json_line(const nlohmann::json& j) {
    std::cout << text::dump_printable(j) << std::endl;
}

std::string human_duration(int64_t s) {
    if (s < 0) s = 0;
    if (s < 60) return std::to_string(s) + "s";
    if (s < 3600) return std::to_string(s / 60) + "m " + std::to_string(s % 60) + "s";
    if (s < 86400) return std::to_string(s / 3600) + "h " + std::to_string(s % 3600 / 60) + "m";
    return std::to_string(s / 86400) + "d " + std::to_string(s % 86400 / 3600) + "h";
}

std::string human_bytes(uint64_t b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(b);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf;
}

std::string human_path(const nlohmann::json& path) {
    if (!path.is_object()) return {};
    std::string out;
    auto rtt = path.find("rtt_ms"), min = path.find("min_rtt_ms");
    if (rtt != path.end() && rtt->is_number()) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "rtt %.1f ms", rtt->get<double>());
        out = buf;
        if (min != path.end() && min->is_number()) {
            std::snprintf(buf, sizeof buf, " (min %.1f)", min->get<double>());
            out += buf;
        }
    }
    auto ssh_rtt = path.find("window_rtt_ms");
    if (ssh_rtt != path.end() && ssh_rtt->is_number()) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%sssh rtt %.1f ms", out.empty() ? "" : ", ",
                      ssh_rtt->get<double>());
        out += buf;
    }
    uint64_t window = path.value("largest_window", uint64_t{0});
    if (window > 0) out += (out.empty() ? "" : ", ") + std::string("window ") + human_bytes(window);
    return out;
}

}  // namespace ghost::ctl
