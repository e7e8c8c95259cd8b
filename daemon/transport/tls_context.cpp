#include "daemon/transport/tls_context.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/net/endpoint.hpp"
#include "common/stealth/knock.hpp"
#include "common/text/base64.hpp"

namespace ghost::daemon::transport {
namespace {

int min_version(const std::string& v) {
    return v == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION;
}

/// ALPN wire format: length-prefixed names.
std::string alpn_wire(const std::vector<std::string>& names) {
    std::string out;
    for (const auto& n : names) {
        out += static_cast<char>(n.size());
        out += n;
    }
    return out;
}

/// nginx's choice: the first of ITS protocols the client offers (server preference);
/// no overlap → handshake refused with no_application_protocol (nginx ≥ 1.21.4).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
    static const unsigned char kServer[] = "\x08http/1.1\x08http/1.0\x08http/0.9";
    unsigned char* chosen = nullptr;
    if (SSL_select_next_proto(&chosen, outlen, kServer, sizeof kServer - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

/// Where the first verification error of a connection is kept (as error + 1).
int first_error_index() {
    static const int idx = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return idx;
}

/// The handshake always completes; check_server_cert then judges the certificate (pin, or
/// the first verification error recorded here) before a single byte is sent, so the
/// message names the real problem instead of a generic alert.
int record_first_error(int ok, X509_STORE_CTX* store) {
    if (ok) return 1;
    auto* ssl =
        static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    if (ssl && !SSL_get_ex_data(ssl, first_error_index())) {
        intptr_t err = X509_STORE_CTX_get_error(store) + 1;
        SSL_set_ex_data(ssl, first_error_index(), reinterpret_cast<void*>(err));
    }
    return 1;
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

}  // namespace

std::string ssl_error_text() {
    unsigned long e = ERR_get_error();
    std::string last;
    while (e != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        const char* reason = ERR_reason_error_string(e);
        last = reason ? reason : buf;
        e = ERR_get_error();
    }
    return last;
}

std::string spki_pin(X509* cert) {
    EVP_PKEY* pk = X509_get0_pubkey(cert);
    if (!pk) return {};
    int len = i2d_PUBKEY(pk, nullptr);
    if (len <= 0) return {};
    std::string der(static_cast<size_t>(len), '\0');
    auto* p = reinterpret_cast<unsigned char*>(der.data());
    i2d_PUBKEY(pk, &p);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(der.data()), der.size(), digest);
    return ghost::text::base64_encode(
        std::string_view(reinterpret_cast<char*>(digest), sizeof digest));
}

std::string subject_line(X509* cert) {
    char buf[512] = {0};
    BIO* bio = BIO_new(BIO_s_mem());
    X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
    int n = BIO_read(bio, buf, sizeof buf - 1);
    BIO_free(bio);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

// ---------------------------------------------------------------- client

SslCtxPtr make_client_ctx(const config::TransportConfig& t, std::string* why) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()), SslCtxFree{});
    if (!ctx) {
        *why = "cannot create a TLS context: " + ssl_error_text();
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx.get(), min_version(t.min_version));
    // Browsers' TLS 1.3 order; AES-128-GCM first is also the cheapest with AES-NI, which
    // matters because the SSH stream inside is encrypted once more.
    SSL_CTX_set_ciphersuites(
        ctx.get(), "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384");
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // Read whole records (and what follows) per recv instead of header + body.
    SSL_CTX_set_read_ahead(ctx.get(), 1);
    SSL_CTX_set_default_read_buffer_len(ctx.get(), 64 * 1024);
    std::string alpn = alpn_wire(t.alpn);
    if (!alpn.empty() &&
        SSL_CTX_set_alpn_protos(ctx.get(), reinterpret_cast<const unsigned char*>(alpn.data()),
                                static_cast<unsigned>(alpn.size())) != 0) {
        *why = "transport.alpn: cannot use the protocol list";
        return nullptr;
    }
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, record_first_error);
    if (!t.pin_sha256.empty()) return ctx;
    if (!t.ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(ctx.get(), t.ca_file.c_str(), nullptr) != 1) {
            *why = "transport.ca_file " + t.ca_file + ": cannot load CA certificates (" +
                   ssl_error_text() + ")";
            return nullptr;
        }
    } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
        *why = "cannot load the system CA certificates: " + ssl_error_text();
        return nullptr;
    }
    return ctx;
}

SslPtr make_client_ssl(SSL_CTX* ctx, const config::TransportConfig& t,
                       const std::string& verify_name, std::string* why) {
    SslPtr ssl(SSL_new(ctx));
    if (!ssl) {
        *why = "cannot create a TLS connection: " + ssl_error_text();
        return nullptr;
    }
    SSL_set_connect_state(ssl.get());
    if (!t.sni.empty() && SSL_set_tlsext_host_name(ssl.get(), t.sni.c_str()) != 1) {
        *why = "transport.sni \"" + t.sni + "\" is not a valid server name";
        return nullptr;
    }
    if (t.pin_sha256.empty()) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        int ok = net::IpAddress::parse(verify_name)
                     ? X509_VERIFY_PARAM_set1_ip_asc(param, verify_name.c_str())
                     : X509_VERIFY_PARAM_set1_host(param, verify_name.c_str(), 0);
        if (ok != 1) {
            *why = "cannot verify the server name \"" + verify_name + "\"";
            return nullptr;
        }
    }
    return ssl;
}

std::string check_server_cert(SSL* ssl, const config::TransportConfig& t,
                              const std::string& verify_name) {
    X509* peer = SSL_get0_peer_certificate(ssl);
    if (!peer) return "the server sent no certificate";
    if (!t.pin_sha256.empty()) {
        std::string got = spki_pin(peer);
        if (got == t.pin_sha256) return {};
        return "server certificate pin mismatch: expected " + t.pin_sha256 + ", server has " + got +
               " (" + subject_line(peer) + ")";
    }
    long r = SSL_get_verify_result(ssl);
    if (auto first = reinterpret_cast<intptr_t>(SSL_get_ex_data(ssl, first_error_index()));
        first != 0)
        r = static_cast<long>(first - 1);
    if (r == X509_V_OK) return {};
    std::string msg =
        "server certificate not trusted: " + std::string(X509_verify_cert_error_string(r));
    if (r == X509_V_ERR_HOSTNAME_MISMATCH || r == X509_V_ERR_IP_ADDRESS_MISMATCH)
        msg += " (certificate " + subject_line(peer) + " is not valid for " + verify_name + ")";
    else
        msg += " (" + subject_line(peer) + ", pin " + spki_pin(peer) + ")";
    return msg;
}

// ---------------------------------------------------------------- server

SslCtxPtr make_server_ctx(const config::TransportConfig& t, const std::string& cert_file,
                          const std::string& key_file, ServerCert* info, std::string* why) {
    SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()), SslCtxFree{});
    if (!ctx) {
        *why = "cannot create a TLS context: " + ssl_error_text();
        return nullptr;
    }
    SSL_CTX_set_min_proto_version(ctx.get(), min_version(t.min_version));
    SSL_CTX_set_mode(ctx.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx.get(), 1);
    SSL_CTX_set_default_read_buffer_len(ctx.get(), 64 * 1024);
    SSL_CTX_set_options(ctx.get(),
                        SSL_OP_CIPHER_SERVER_PREFERENCE);  // nginx: ssl_prefer_server_ciphers on
    SSL_CTX_set_ciphersuites(
        ctx.get(), "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
        *why = "transport.cert_file " + cert_file + ": cannot load the certificate chain (" +
               ssl_error_text() + ")";
        return nullptr;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        *why = "transport.key_file " + key_file + ": cannot load the private key (" +
               ssl_error_text() + ")";
        return nullptr;
    }
    if (SSL_CTX_check_private_key(ctx.get()) != 1) {
        *why = "transport.key_file " + key_file + " does not match the certificate " + cert_file;
        return nullptr;
    }
    SSL_CTX_set_alpn_select_cb(ctx.get(), select_alpn, nullptr);
    X509* leaf = SSL_CTX_get0_certificate(ctx.get());
    info->cert_file = cert_file;
    info->key_file = key_file;
    info->pin_sha256 = spki_pin(leaf);
    info->subject = subject_line(leaf);
    return ctx;
}

bool ensure_self_signed(const std::string& dir, const std::vector<std::string>& names,
                        std::string* cert_file, std::string* key_file, std::string* why) {
    *cert_file = dir + "/tls.crt";
    *key_file = dir + "/tls.key";
    if (::access(cert_file->c_str(), R_OK) == 0 && ::access(key_file->c_str(), R_OK) == 0)
        return true;
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
    if (!key || !x) {
        *why = "cannot generate a TLS key: " + ssl_error_text();
        return false;
    }
    X509_set_version(x.get(), 2);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(x.get()), -24 * 3600);
    X509_gmtime_adj(X509_getm_notAfter(x.get()), 10L * 365 * 24 * 3600);
    X509_set_pubkey(x.get(), key.get());
    const std::string cn = names.empty() ? "localhost" : names.front();
    X509_NAME* name = X509_get_subject_name(x.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(x.get(), name);
    std::string san;
    for (const auto& n : names)
        san +=
            (san.empty() ? "" : ",") + std::string(net::IpAddress::parse(n) ? "IP:" : "DNS:") + n;
    if (!san.empty()) {
        X509V3_CTX v3;
        X509V3_set_ctx_nodb(&v3);
        X509V3_set_ctx(&v3, x.get(), x.get(), nullptr, nullptr, 0);
        X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, san.c_str());
        if (ext) {
            X509_add_ext(x.get(), ext, -1);
            X509_EXTENSION_free(ext);
        }
    }
    if (X509_sign(x.get(), key.get(), EVP_sha256()) == 0) {
        *why = "cannot sign the self-signed certificate: " + ssl_error_text();
        return false;
    }
    int kfd = ::open(key_file->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE* kf = kfd >= 0 ? ::fdopen(kfd, "w") : nullptr;
    FILE* cf = std::fopen(cert_file->c_str(), "w");
    bool ok = kf && cf &&
              PEM_write_PrivateKey(kf, key.get(), nullptr, nullptr, 0, nullptr, nullptr) &&
              PEM_write_X509(cf, x.get());
    if (kf)
        std::fclose(kf);
    else if (kfd >= 0)
        ::close(kfd);
    if (cf) std::fclose(cf);
    if (!ok) {
        *why = "cannot write " + *cert_file + " / " + *key_file + ": " + std::strerror(errno);
        ::unlink(cert_file->c_str());
        ::unlink(key_file->c_str());
    }
    return ok;
}

// ---------------------------------------------------------------- knock secret

std::optional<std::string> load_knock_secret(const std::string& path, std::string* why) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        *why = "knock.secret_file " + path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) {
        *why = "knock.secret_file " + path + " is not a regular file";
        return std::nullopt;
    }
    if ((st.st_mode & 077) != 0) {
        *why = "knock.secret_file " + path + " is accessible by group/others; chmod 600 " + path;
        return std::nullopt;
    }
    if (::geteuid() == 0 && st.st_uid != 0) {
        *why = "knock.secret_file " + path + " is not owned by root";
        return std::nullopt;
    }
    std::string s = read_file(path);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    size_t start = 0;
    while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
    s.erase(0, start);
    if (s.size() < ghost::stealth::kMinSecret) {
        *why = "knock.secret_file " + path + " holds " + std::to_string(s.size()) +
               " bytes; at least " + std::to_string(ghost::stealth::kMinSecret) + " are needed";
        return std::nullopt;
    }
    return s;
}

bool create_knock_secret(const std::string& path, std::string* why) {
    if (::access(path.c_str(), F_OK) == 0) return true;
    unsigned char raw[32];
    RAND_bytes(raw, sizeof raw);
    std::string text =
        ghost::text::base64_encode(std::string_view(reinterpret_cast<char*>(raw), sizeof raw)) +
        "\n";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        *why = "cannot create knock.secret_file " + path + ": " + std::strerror(errno);
        return false;
    }
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    if (!ok) {
        *why = "cannot write knock.secret_file " + path;
        ::unlink(path.c_str());
    }
    return ok;
}

}  // namespace ghost::daemon::transport
