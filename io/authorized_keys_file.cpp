#include "io/authorized_keys_file.hpp"

#include <algorithm>
#include <filesystem>
#include <vector>

#include "io/regular_file.hpp"

namespace ghost::io {
namespace {

void load_file(const std::filesystem::path& p, auth::AuthorizedKeys* out) {
    std::string why;
    auto text = read_regular_file(p.string(), kMaxKeysFileBytes, &why);
    if (!text) {
        out->errors.push_back({p.string(), std::move(why)});
        return;
    }
    auth::AuthorizedKeys one = auth::parse_authorized_keys(*text, p.string());
    for (auto& e : one.entries) out->entries.push_back(std::move(e));
    for (auto& e : one.errors) out->errors.push_back(std::move(e));
}

}  // namespace

auth::AuthorizedKeys load_authorized_keys(const std::string& path) {
    auth::AuthorizedKeys out;
    std::error_code ec;
    if (!std::filesystem::is_directory(path, ec)) {
        load_file(path, &out);
        return out;
    }
    std::vector<std::filesystem::path> files;
    // Every entry is read by the safe loader, which names what is not a regular file.
    for (auto it = std::filesystem::directory_iterator(path, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (name.empty() || name.front() == '.' || name.back() == '~') continue;
        files.push_back(it->path());
    }
    if (ec) out.errors.push_back({path, "cannot list directory: " + ec.message()});
    std::sort(files.begin(), files.end());
    if (files.size() > kMaxKeysFiles) {
        out.errors.push_back({path, "more than " + std::to_string(kMaxKeysFiles) +
                                        " files; only the first are read"});
        files.resize(kMaxKeysFiles);
    }
    for (const auto& f : files) load_file(f, &out);
    return out;
}

}  // namespace ghost::io
