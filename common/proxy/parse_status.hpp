#pragma once
/// Outcome of feeding bytes to an incremental front-door parser.

namespace ghost::proxy {

/// need_more: every byte fed was taken, feed more. done: the request is complete.
/// error: the peer sent something unacceptable; send the reply (if any) and close.
enum class ParseStatus { need_more, done, error };

}  // namespace ghost::proxy
