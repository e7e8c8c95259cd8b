#include "common/auth/authorized_keys.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "io/authorized_keys_file.hpp"

using namespace ghost;
using ghost::auth::parse_authorized_keys;
using ghost::auth::parse_key_line;

namespace {

const std::string kEd =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMx417jDkza5h+VidehTas3YwTetCYvACI6yEMg9e4PE";
const std::string kEc =
    "ecdsa-sha2-nistp256 "
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBCu9oLZCXNqlqvdWD+juxzglD+M4KpEIzUTOBuvDq"
    "KDns5hBcrkJnvbXHqvJzsnHdleJnAgvB9lUQvVoxSxG3cI=";
const std::string kRsaBlob =
    "AAAAB3NzaC1yc2EAAAADAQABAAAAgQCXskCVGn/STpnJYKLO3BYvvfPEuIDACZFi4D6SUV2w34IubHRvaFEY7wa4hqxy"
    "sF6r1c5ctcHaAHsF8asGxnQPeismlTuM8JPBhGccDVIRoargYPLePpM1N+nd1KJ0FrRzLPTp2nlSEg8pTKHiI6o/CdqV0"
    "096fTafwEGu3UQevQ==";

auth::KeyEntry ok(const std::string& line) {
    std::string why;
    auto e = parse_key_line(line, "f:1", &why);
    EXPECT_TRUE(e.has_value()) << line << " -> " << why;
    return e ? *e : auth::KeyEntry{};
}

std::string bad(const std::string& line) {
    std::string why;
    auto e = parse_key_line(line, "f:1", &why);
    EXPECT_FALSE(e.has_value()) << line;
    EXPECT_FALSE(why.empty()) << line;
    return why;
}

net::IpAddress ip(const char* s) {
    return *net::IpAddress::parse(s);
}

}  // namespace

TEST(AuthorizedKeys, KeyTypesAndComment) {
    auto e = ok(kEd + " alice@laptop");
    EXPECT_EQ(e.type, "ssh-ed25519");
    EXPECT_EQ(e.name, "alice@laptop");
    EXPECT_EQ(e.blob.size(), 51u);
    EXPECT_TRUE(e.port_forwarding);
    EXPECT_EQ(ok(kEc).type, "ecdsa-sha2-nistp256");
    EXPECT_EQ(ok(kEc).name, "f:1");  // no comment: named by location
    EXPECT_EQ(ok("ssh-rsa " + kRsaBlob + " r").type, "ssh-rsa");
    EXPECT_EQ(ok("rsa-sha2-512 " + kRsaBlob).type, "rsa-sha2-512");
    EXPECT_EQ(ok(kEd + " two words comment").name, "two words comment");
}

TEST(AuthorizedKeys, BlankAndCommentLinesAreSkipped) {
    std::string why = "x";
    EXPECT_FALSE(parse_key_line("   ", "f:1", &why));
    EXPECT_TRUE(why.empty());
    EXPECT_FALSE(parse_key_line("# ssh-ed25519 AAAA", "f:1", &why));
    EXPECT_TRUE(why.empty());
}

TEST(AuthorizedKeys, BadKeyData) {
    EXPECT_NE(bad("ssh-ed25519").find("missing key data"), std::string::npos);
    EXPECT_NE(bad("ssh-ed25519 !!!!").find("base64"), std::string::npos);
    // ed25519 type with an ecdsa blob
    EXPECT_NE(bad("ssh-ed25519 " + kEc.substr(20)).find("not a valid base64 ssh-ed25519"),
              std::string::npos);
    EXPECT_NE(bad("ssh-dss AAAA").find("DSA"), std::string::npos);
    EXPECT_NE(bad("sk-ssh-ed25519@openssh.com AAAA").find("security-key"), std::string::npos);
    EXPECT_NE(bad("ssh-ed25519-cert-v01@openssh.com AAAA").find("certificate"), std::string::npos);
    EXPECT_NE(bad("garbage").find("unknown option"), std::string::npos);
    EXPECT_NE(bad(std::string(auth::kMaxLineLength + 1, 'a')).find("longer"), std::string::npos);
}

TEST(AuthorizedKeys, RestrictAndPortForwarding) {
    EXPECT_FALSE(ok("restrict " + kEd).port_forwarding);
    EXPECT_FALSE(ok("no-port-forwarding " + kEd).port_forwarding);
    EXPECT_TRUE(ok("restrict,port-forwarding " + kEd).port_forwarding);
    EXPECT_TRUE(ok("RESTRICT,Port-Forwarding " + kEd).port_forwarding);  // case-insensitive
    EXPECT_FALSE(ok("restrict " + kEd).permits_open("example.com", 80));
    EXPECT_FALSE(ok("restrict " + kEd).permits_listen("localhost", 8080));
    EXPECT_NE(bad("restrict=1 " + kEd).find("takes no value"), std::string::npos);
}

TEST(AuthorizedKeys, HarmlessAndRefusedOptions) {
    EXPECT_TRUE(
        ok("no-pty,no-X11-forwarding,no-agent-forwarding,no-user-rc " + kEd).port_forwarding);
    EXPECT_NE(bad("command=\"/bin/true\" " + kEd).find("not supported"), std::string::npos);
    EXPECT_NE(bad("tunnel=\"0\" " + kEd).find("not supported"), std::string::npos);
    EXPECT_NE(bad("cert-authority " + kEd).find("not supported"), std::string::npos);
    EXPECT_NE(bad("frobnicate " + kEd).find("unknown option 'frobnicate'"), std::string::npos);
    EXPECT_NE(bad("restrict,,port-forwarding " + kEd).find("empty option"), std::string::npos);
    EXPECT_NE(bad("from=\"1.2.3.4 " + kEd).find("unterminated"), std::string::npos);
}

TEST(AuthorizedKeys, PermitOpen) {
    auto e =
        ok("permitopen=\"db.internal:5432\",permitopen=\"10.0.0.1:*\",permitopen=\"[2001:db8::1]:"
           "443\" " +
           kEd);
    ASSERT_EQ(e.permit_open.size(), 3u);
    EXPECT_TRUE(e.permits_open("db.internal", 5432));
    EXPECT_TRUE(e.permits_open("DB.Internal", 5432));
    EXPECT_FALSE(e.permits_open("db.internal", 5433));
    EXPECT_TRUE(e.permits_open("10.0.0.1", 1));
    EXPECT_TRUE(e.permits_open("10.0.0.1", 65535));
    EXPECT_FALSE(e.permits_open("10.0.0.2", 80));
    EXPECT_TRUE(e.permits_open("2001:db8::1", 443));
    EXPECT_TRUE(ok("permitopen=\"*:443\" " + kEd).permits_open("anything", 443));
    EXPECT_TRUE(ok(kEd).permits_open("anything", 1));  // no permitopen = any
    EXPECT_FALSE(ok("no-port-forwarding,permitopen=\"a:1\" " + kEd).permits_open("a", 1));
    EXPECT_NE(bad("permitopen=\"nohost\" " + kEd).find("host:port"), std::string::npos);
    EXPECT_NE(bad("permitopen=\"h:0\" " + kEd).find("host:port"), std::string::npos);
    EXPECT_NE(bad("permitopen=\"h:70000\" " + kEd).find("host:port"), std::string::npos);
    EXPECT_NE(bad("permitopen=h:80 " + kEd).find("quoted"), std::string::npos);
}

TEST(AuthorizedKeys, PermitListen) {
    auto e =
        ok("permitlisten=\"8080\",permitlisten=\"localhost:9000\",permitlisten=\"10.*:*\" " + kEd);
    EXPECT_TRUE(e.permits_listen("localhost", 8080));
    EXPECT_TRUE(e.permits_listen("0.0.0.0", 8080));  // bare port = any host
    EXPECT_TRUE(e.permits_listen("localhost", 9000));
    EXPECT_FALSE(e.permits_listen("0.0.0.0", 9000));
    EXPECT_TRUE(e.permits_listen("10.1.2.3", 1234));
    EXPECT_FALSE(e.permits_listen("localhost", 8081));
    EXPECT_TRUE(ok("permitlisten=\"0\" " + kEd).permits_listen("localhost", 0));
    EXPECT_NE(bad("permitlisten=\"x:y\" " + kEd).find("[host:]port"), std::string::npos);
}

TEST(AuthorizedKeys, From) {
    auto e = ok("from=\"192.168.1.*,10.0.0.0/8,!10.9.9.9,2001:db8::/32\" " + kEd);
    EXPECT_TRUE(e.from_allows(ip("192.168.1.7")));
    EXPECT_FALSE(e.from_allows(ip("192.168.2.7")));
    EXPECT_TRUE(e.from_allows(ip("10.1.2.3")));
    EXPECT_FALSE(e.from_allows(ip("10.9.9.9")));  // negation wins
    EXPECT_TRUE(e.from_allows(ip("2001:db8::5")));
    EXPECT_TRUE(e.from_allows(ip("::ffff:10.1.2.3")));  // v4-mapped is treated as v4
    EXPECT_FALSE(ok("from=\"host.example\" " + kEd).from_allows(ip("1.2.3.4")));  // no DNS
    EXPECT_TRUE(ok("from=\"1.2.3.?\" " + kEd).from_allows(ip("1.2.3.4")));
    EXPECT_TRUE(ok(kEd).from_allows(ip("1.2.3.4")));
    EXPECT_NE(bad("from=\"10.0.0.1/8\" " + kEd).find("bad pattern"), std::string::npos);
    EXPECT_NE(bad("from=\"a\",from=\"b\" " + kEd).find("twice"), std::string::npos);
    EXPECT_NE(bad("from=\"\" " + kEd).find("from= is empty"), std::string::npos);
}

TEST(AuthorizedKeys, ExpiryTime) {
    auto t = auth::parse_expiry_time("20300102Z");
    ASSERT_TRUE(t);
    EXPECT_EQ(*t, 1893542400);
    EXPECT_EQ(*auth::parse_expiry_time("203001020304Z"), 1893542400 + 3 * 3600 + 4 * 60);
    EXPECT_EQ(*auth::parse_expiry_time("20300102030405Z"), 1893542400 + 3 * 3600 + 4 * 60 + 5);
    EXPECT_TRUE(auth::parse_expiry_time("20300102"));  // local time
    EXPECT_FALSE(auth::parse_expiry_time("20301302"));
    EXPECT_FALSE(auth::parse_expiry_time("20300230"));
    EXPECT_FALSE(auth::parse_expiry_time("2030010"));
    EXPECT_FALSE(auth::parse_expiry_time("2030-01-02"));
    auto e = ok("expiry-time=\"20300102Z\" " + kEd);
    EXPECT_FALSE(e.expired(1893542399));
    EXPECT_TRUE(e.expired(1893542400));
    EXPECT_FALSE(ok(kEd).expired(INT64_MAX));
    EXPECT_NE(bad("expiry-time=\"tomorrow\" " + kEd).find("YYYYMMDD"), std::string::npos);
    EXPECT_NE(bad("expiry-time=\"20300102\",expiry-time=\"20300103\" " + kEd).find("twice"),
              std::string::npos);
}

TEST(AuthorizedKeys, QuotedValuesMayHoldCommasAndEscapes) {
    auto e = ok("from=\"1.2.3.4,5.6.7.8\",permitopen=\"a\\\"b:1\" " + kEd + " c");
    EXPECT_EQ(e.from.size(), 2u);
    EXPECT_EQ(e.permit_open.at(0).host, "a\"b");
    EXPECT_EQ(e.name, "c");
}

TEST(AuthorizedKeys, FileWithErrorsKeepsGoodLines) {
    std::string text = "# keys\n" + kEd + " one\n\nbogus-option " + kEd + "\n" + kEc + " two\n";
    auto keys = parse_authorized_keys(text, "ak");
    ASSERT_EQ(keys.entries.size(), 2u);
    EXPECT_EQ(keys.entries[0].where, "ak:2");
    EXPECT_EQ(keys.entries[1].name, "two");
    ASSERT_EQ(keys.errors.size(), 1u);
    EXPECT_EQ(keys.errors[0].str(), "ak:4: unknown option 'bogus-option'");
    EXPECT_EQ(keys.find(keys.entries[1].blob), &keys.entries[1]);
    EXPECT_EQ(keys.find({1, 2, 3}), nullptr);
}

TEST(AuthorizedKeys, LoadsFileOrDirectory) {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("ak_test_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    std::ofstream(dir / "b.keys") << kEc << " b\n";
    std::ofstream(dir / "a.keys") << kEd << " a\nnope\n";
    std::ofstream(dir / ".hidden") << kEd << " hidden\n";
    std::ofstream(dir / "old~") << kEd << " backup\n";
    auto keys = io::load_authorized_keys(dir.string());
    ASSERT_EQ(keys.entries.size(), 2u);
    EXPECT_EQ(keys.entries[0].name, "a");
    EXPECT_EQ(keys.entries[1].name, "b");
    ASSERT_EQ(keys.errors.size(), 1u);
    EXPECT_EQ(keys.errors[0].where, (dir / "a.keys").string() + ":2");
    auto one = io::load_authorized_keys((dir / "b.keys").string());
    EXPECT_EQ(one.entries.size(), 1u);
    auto missing = io::load_authorized_keys((dir / "missing").string());
    EXPECT_TRUE(missing.entries.empty());
    ASSERT_EQ(missing.errors.size(), 1u);
    EXPECT_NE(missing.errors[0].reason.find("cannot read"), std::string::npos);
    fs::remove_all(dir);
}

TEST(AuthorizedKeys, FilesThatAreNotPlainFilesAreErrorsNotHangs) {
    namespace fs = std::filesystem;
    fs::path dir = fs::temp_directory_path() / ("ak_special_" + std::to_string(::getpid()));
    fs::create_directories(dir / "sub");
    std::ofstream(dir / "a.keys") << kEd << " a\n";
    ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
    fs::create_symlink("loop", dir / "loop");
    fs::create_symlink("/dev/zero", dir / "zero");
    auto keys = io::load_authorized_keys(dir.string());
    ASSERT_EQ(keys.entries.size(), 1u);  // the good file still counts
    ASSERT_EQ(keys.errors.size(), 4u);
    EXPECT_EQ(keys.errors[0].str(),
              (dir / "fifo").string() + ": not a regular file: it is a FIFO (named pipe)");
    EXPECT_EQ(keys.errors[1].str(),
              (dir / "loop").string() +
                  ": cannot read file: symbolic link loop (Too many levels of symbolic links)");
    EXPECT_EQ(keys.errors[2].str(),
              (dir / "sub").string() + ": not a regular file: it is a directory");
    EXPECT_EQ(keys.errors[3].str(),
              (dir / "zero").string() + ": not a regular file: it is a character device");
    auto fifo = io::load_authorized_keys((dir / "fifo").string());
    ASSERT_EQ(fifo.errors.size(), 1u);
    EXPECT_NE(fifo.errors[0].reason.find("FIFO"), std::string::npos);
    auto loop = io::load_authorized_keys((dir / "loop").string());
    ASSERT_EQ(loop.errors.size(), 1u);
    EXPECT_NE(loop.errors[0].reason.find("symbolic link loop"), std::string::npos);
    fs::remove_all(dir);
}

TEST(AuthorizedKeys, WildcardAndBase64) {
    EXPECT_TRUE(auth::wildcard_match("abc", "a*"));
    EXPECT_TRUE(auth::wildcard_match("abc", "*c"));
    EXPECT_TRUE(auth::wildcard_match("abc", "a?c"));
    EXPECT_FALSE(auth::wildcard_match("abc", "a?"));
    EXPECT_TRUE(auth::wildcard_match("", "*"));
    EXPECT_EQ(*auth::decode_key_blob("aGk="), (std::vector<uint8_t>{'h', 'i'}));
    EXPECT_FALSE(auth::decode_key_blob("a"));
    EXPECT_FALSE(auth::decode_key_blob("a b"));
}
