#pragma once
/// OpenSSL contexts for the tls transport (DESIGN.md §10): the client's (browser-like
/// ALPN, CA or SPKI-pin verification, hostname check) and the server listener's
/// (certificate, ALPN chosen the way nginx chooses it), plus the knock secret file and a
/// self-signed certificate for listeners configured without one.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <openssl/ssl.h>

#include "common/config/model.hpp"

namespace ghost::daemon::transport {

struct SslCtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
};
using SslCtxPtr = std::shared_ptr<SSL_CTX>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

/// Client context for a tls profile. nullptr + *why (unreadable CA file, bad ALPN list).
SslCtxPtr make_client_ctx(const config::TransportConfig& t, std::string* why);
/// Prepares one client connection: SNI (`sni` non-empty), hostname/IP verification against
/// `verify_name` unless a pin is configured. nullptr + *why.
SslPtr make_client_ssl(SSL_CTX* ctx, const config::TransportConfig& t,
                       const std::string& verify_name, std::string* why);
/// After the handshake: checks the pin when configured, else the verification result.
/// Empty when trusted, else a message naming what is wrong (both pins on mismatch).
std::string check_server_cert(SSL* ssl, const config::TransportConfig& t,
                              const std::string& verify_name);

/// A listener's certificate material.
struct ServerCert {
    std::string cert_file, key_file;
    std::string pin_sha256;  // base64 SHA-256 of the leaf's SubjectPublicKeyInfo
    std::string subject;     // "CN=example.org"
    bool generated = false;  // self-signed by ghostd
};
/// Server context from cert/key files. nullptr + *why.
SslCtxPtr make_server_ctx(const config::TransportConfig& t, const std::string& cert_file,
                          const std::string& key_file, ServerCert* info, std::string* why);
/// Makes (once) a self-signed P-256 certificate for `names` in `dir` (tls.crt, tls.key,
/// mode 0600 key). Returns false + *why.
bool ensure_self_signed(const std::string& dir, const std::vector<std::string>& names,
                        std::string* cert_file, std::string* key_file, std::string* why);

/// Base64 SHA-256 of a certificate's SubjectPublicKeyInfo.
std::string spki_pin(X509* cert);
/// "CN=..., O=..." of a certificate's subject.
std::string subject_line(X509* cert);
/// Last OpenSSL error as text ("" when none), clearing the queue.
std::string ssl_error_text();

/// Reads a knock secret: the file's bytes with surrounding whitespace trimmed. Refuses
/// files that are not regular, are accessible by group/others, are not owned by root
/// (when ghostd runs as root), or hold fewer than 16 bytes. nullopt + *why.
std::optional<std::string> load_knock_secret(const std::string& path, std::string* why);
/// Writes a fresh random secret (base64 of 32 bytes) to `path`, mode 0600, if absent.
bool create_knock_secret(const std::string& path, std::string* why);

}  // namespace ghost::daemon::transport
