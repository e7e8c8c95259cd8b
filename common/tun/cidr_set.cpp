#include "common/tun/cidr_set.hpp"

namespace ghost::tun {

namespace {

bool contains(const net::Cidr& outer, const net::Cidr& inner) {
    return outer.address.v6 == inner.address.v6 && outer.prefix_len <= inner.prefix_len &&
           outer.contains(inner.address);
}

/// The two halves of `c` (prefix_len + 1).
std::pair<net::Cidr, net::Cidr> halves(const net::Cidr& c) {
    net::Cidr lo = c;
    lo.prefix_len = static_cast<uint8_t>(c.prefix_len + 1);
    net::Cidr hi = lo;
    size_t bit = c.prefix_len;
    hi.address.bytes[bit / 8] |= static_cast<uint8_t>(0x80u >> (bit % 8));
    return {lo, hi};
}

/// Appends `c` minus `ex` (ex inside c) to out: the sibling of each half on the way down.
void carve(net::Cidr c, const net::Cidr& ex, std::vector<net::Cidr>* out) {
    while (c.prefix_len < ex.prefix_len) {
        auto [lo, hi] = halves(c);
        bool in_lo = contains(lo, ex);
        out->push_back(in_lo ? hi : lo);
        c = in_lo ? lo : hi;
    }
}

/// Removes duplicates and prefixes covered by another one in the list.
std::vector<net::Cidr> normalize(const std::vector<net::Cidr>& list) {
    std::vector<net::Cidr> out;
    for (size_t i = 0; i < list.size(); ++i) {
        bool covered = false;
        for (size_t j = 0; j < list.size() && !covered; ++j) {
            if (i == j || !contains(list[j], list[i])) continue;
            covered = list[j].prefix_len < list[i].prefix_len || j < i;
        }
        if (!covered) out.push_back(list[i]);
    }
    return out;
}

}  // namespace

std::optional<std::vector<net::Cidr>> subtract_cidrs(const std::vector<net::Cidr>& include,
                                                     const std::vector<net::Cidr>& exclude,
                                                     std::string* why) {
    std::vector<net::Cidr> current = normalize(include);
    for (const auto& ex : exclude) {
        std::vector<net::Cidr> next;
        for (const auto& c : current) {
            if (contains(ex, c)) continue;  // fully excluded
            if (!contains(c, ex))
                next.push_back(c);  // disjoint
            else
                carve(c, ex, &next);
            if (next.size() > kMaxRoutePrefixes) {
                if (why != nullptr)
                    *why = "routes minus exclude gives more than " +
                           std::to_string(kMaxRoutePrefixes) + " prefixes (at exclude " + ex.str() +
                           "); use fewer or wider excludes";
                return std::nullopt;
            }
        }
        current = std::move(next);
    }
    return current;
}

}  // namespace ghost::tun
