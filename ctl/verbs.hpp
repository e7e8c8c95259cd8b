#pragma once
/// One function per ghostctl verb (one file each); main.cpp holds the dispatch table.

#include "ctl/ctl.hpp"

namespace ghost::ctl {

int verb_list(const Options& o);
int verb_proxy_command(const Options& o);
int verb_status(const Options& o);
int verb_up(const Options& o);
int verb_down(const Options& o);
int verb_check(const Options& o);
int verb_reload(const Options& o);
int verb_sessions(const Options& o);
int verb_kick(const Options& o);
int verb_monitor(const Options& o);
int verb_info(const Options& o);

/// Prints one profile status in the human format used by status/up/down.
void print_status(const nlohmann::json& s);

}  // namespace ghost::ctl
