// The file: master key provider, with real files in a temporary directory.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include <string>
#include <vector>

#include "envelope.hpp"
#include "error.hpp"
#include "provider.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using testutil::expect_error;
using testutil::tohex;
using testutil::write_file;

namespace {

constexpr const char* kSys = "58000";

Bytes test_key(std::uint8_t seed) {
  Bytes k(32);
  for (int i = 0; i < 32; i++) k[i] = static_cast<std::uint8_t>(seed * 37 + i * 101 + 13);
  return k;
}

std::string b64(const Bytes& k) {
  std::string out(4 * ((k.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&out[0]), k.data(), static_cast<int>(k.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

class FileProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = test_key(1);
    hex_ = tohex(key_);
  }

  // Fails the test if msg reveals the key in any encoding (or a long piece
  // of its hex form).
  void expect_no_key(const std::string& msg, const Bytes& key) {
    std::string h = tohex(key);
    EXPECT_EQ(msg.find(h), std::string::npos) << msg;
    EXPECT_EQ(msg.find(testutil::upper(h)), std::string::npos) << msg;
    for (std::size_t i = 0; i + 16 <= h.size(); i += 8) {
      EXPECT_EQ(msg.find(h.substr(i, 16)), std::string::npos) << "hex fragment in: " << msg;
      EXPECT_EQ(msg.find(testutil::upper(h.substr(i, 16))), std::string::npos) << "hex fragment in: " << msg;
    }
    EXPECT_EQ(msg.find(testutil::str_of(key)), std::string::npos) << msg;
    EXPECT_EQ(msg.find(b64(key).substr(0, 16)), std::string::npos) << msg;
  }

  std::string uri(const std::string& path) { return "file:" + path; }

  // Expects 58000 from fingerprint(), validate(), wrap() and unwrap() of a
  // provider for path; returns the fingerprint() message.
  std::string expect_all_fail(const std::string& path, const char* what) {
    auto p = open_provider(uri(path));
    std::string msg = expect_error(kSys, [&] { p->fingerprint(); }, what);
    expect_error(kSys, [&] { p->validate(); }, what);
    Bytes dek(32, 9), aad(3, 1);
    expect_error(kSys, [&] { p->wrap(ByteView(dek), ByteView(aad)); }, what);
    Bytes blob(72, 0);
    expect_error(kSys, [&] { p->unwrap(ByteView(blob), ByteView(aad)); }, what);
    expect_no_key(msg, key_);
    return msg;
  }

  testutil::TempDir dir_;
  Bytes key_;
  std::string hex_;
};

}  // namespace

TEST_F(FileProviderTest, AllEncodingsGiveTheSameFingerprint) {
  const Bytes expect_fp = kek_fingerprint(ByteView(key_));
  ASSERT_EQ(expect_fp.size(), 8u);
  // The fingerprint is HMAC-SHA256(KEK, label) truncated to 8 bytes.
  std::string label = "orgcrypt KEK fingerprint v1";
  Bytes mac = hmac_sha256(ByteView(key_), ByteView(label));
  EXPECT_EQ(expect_fp, Bytes(mac.begin(), mac.begin() + 8));

  const std::string base64 = b64(key_);
  ASSERT_EQ(base64.size(), 44u);
  const std::vector<std::pair<const char*, std::string>> forms = {
      {"raw", testutil::str_of(key_)},
      {"hex", hex_},
      {"HEX", testutil::upper(hex_)},
      {"hex\\n", hex_ + "\n"},
      {"hex\\r\\n", hex_ + "\r\n"},
      {"base64", base64},
      {"base64\\n", base64 + "\n"},
      {"base64\\r\\n", base64 + "\r\n"},
  };
  for (const auto& f : forms) {
    SCOPED_TRACE(f.first);
    std::string path = dir_.file("k");
    write_file(path, f.second, 0600);
    auto p = open_provider(uri(path));
    EXPECT_EQ(p->uri(), uri(path));
    EXPECT_NO_THROW(p->validate());
    EXPECT_EQ(p->fingerprint(), expect_fp);
    auto q = make_file_provider(uri(path));
    EXPECT_EQ(q->fingerprint(), expect_fp);
    SecretBytes parsed = parse_key_material(ByteView(f.second), "test key");
    EXPECT_EQ(Bytes(parsed.begin(), parsed.end()), key_);
  }
  // Another key has another fingerprint.
  write_file(dir_.file("k2"), testutil::str_of(test_key(2)), 0600);
  EXPECT_NE(open_provider(uri(dir_.file("k2")))->fingerprint(), expect_fp);
}

TEST_F(FileProviderTest, OwnerOnlyModesAccepted) {
  for (mode_t m : {0600, 0400, 0700}) {
    write_file(dir_.file("k"), hex_, m);
    EXPECT_NO_THROW(open_provider(uri(dir_.file("k")))->validate()) << std::oct << m;
  }
}

TEST_F(FileProviderTest, WrongLengthsRejected) {
  struct C {
    const char* what;
    std::string content;
  };
  const std::vector<C> cases = {
      {"empty", ""},
      {"31 hex", hex_.substr(0, 31)},
      {"33 hex", hex_.substr(0, 33)},
      {"63 hex", hex_.substr(0, 63)},
      {"65 hex", hex_ + "a"},
      {"65 hex + \\n", hex_ + "a\n"},
      {"64 hex + 2 newlines", hex_ + "\n\n"},
      {"64 hex + space", hex_ + " "},
      {"raw + \\n", testutil::str_of(key_) + "\n"},
      {"31 raw", testutil::str_of(key_).substr(0, 31)},
      {"43 base64", b64(key_).substr(0, 43)},
      {"big", std::string(5000, 'a')},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    std::string path = dir_.file("k");
    write_file(path, c.content, 0600);
    std::string msg = expect_all_fail(path, c.what);
    EXPECT_NE(msg.find("wrong length"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << "the message should name the file: " << msg;
    // The message states the length found, never the content.
    if (c.content.size() >= 8) {
      EXPECT_EQ(msg.find(c.content.substr(0, 8)), std::string::npos) << msg;
    }
    expect_error(kSys, [&] { parse_key_material(ByteView(c.content), "src"); }, c.what);
  }
}

TEST_F(FileProviderTest, BadEncodingsRejected) {
  std::string nonhex = hex_;
  nonhex[10] = 'g';
  std::string spaces = hex_;
  spaces[0] = ' ';
  std::string base64 = b64(key_);
  std::string bang = base64;
  bang[5] = '!';
  std::string nopad = base64.substr(0, 43) + "A";  // 44 chars, 33 bytes
  std::string twopad = base64.substr(0, 42) + "==";
  struct C {
    const char* what;
    std::string content;
    const char* says;
  };
  const std::vector<C> cases = {
      {"non-hex 64", nonhex, "hexadecimal"},
      {"non-hex 64 + \\n", nonhex + "\n", nullptr},
      {"leading space 64", spaces, "hexadecimal"},
      {"base64 with !", bang, "base64"},
      {"base64 without padding", nopad, "base64"},
      {"base64 with == padding", twopad, "base64"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    std::string path = dir_.file("k");
    write_file(path, c.content, 0600);
    std::string msg = expect_all_fail(path, c.what);
    if (c.says) {
      EXPECT_NE(msg.find(c.says), std::string::npos) << msg;
    }
    EXPECT_EQ(msg.find(c.content.substr(0, 12)), std::string::npos) << "content leaked: " << msg;
  }
}

TEST_F(FileProviderTest, GroupOrOtherPermissionsRejected) {
  for (mode_t m : {0640, 0604, 0660, 0644, 0610, 0601, 0666}) {
    SCOPED_TRACE(m);
    std::string path = dir_.file("k");
    write_file(path, hex_, m);
    std::string msg = expect_all_fail(path, "mode");
    EXPECT_NE(msg.find("permission"), std::string::npos) << msg;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(m));
    EXPECT_NE(msg.find(mode), std::string::npos) << msg;
  }
}

TEST_F(FileProviderTest, MissingFileAndDirectoryRejected) {
  std::string msg = expect_all_fail(dir_.file("does-not-exist"), "missing");
  EXPECT_NE(msg.find("does-not-exist"), std::string::npos) << msg;
  ::mkdir(dir_.file("d").c_str(), 0700);
  msg = expect_all_fail(dir_.file("d"), "directory");
  EXPECT_NE(msg.find("regular file"), std::string::npos) << msg;
}

TEST_F(FileProviderTest, OtherOwnerRejected) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to chown the key file to another user";
  std::string path = dir_.file("k");
  write_file(path, hex_, 0600);
  ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  std::string msg = expect_all_fail(path, "owner");
  EXPECT_NE(msg.find("owned"), std::string::npos) << msg;
}

TEST_F(FileProviderTest, WrapUnwrapRoundTripAndBinding) {
  std::string path = dir_.file("k");
  write_file(path, testutil::str_of(key_), 0600);
  auto p = open_provider(uri(path));
  Bytes dek = test_key(77);
  std::string org = "acme", org2 = "acme2";
  Bytes aad = wrap_aad(ByteView(org), 1);
  Bytes blob = p->wrap(ByteView(dek), ByteView(aad));
  EXPECT_EQ(blob.size(), 72u);  // RFC 3394 wrap of DEK || SHA-256(aad)
  EXPECT_EQ(blob.size(), keywrap_with_aad(ByteView(key_), ByteView(dek), ByteView(aad)).size());
  // Key wrap is deterministic and shared with keywrap_with_aad.
  EXPECT_EQ(blob, keywrap_with_aad(ByteView(key_), ByteView(dek), ByteView(aad)));
  EXPECT_EQ(tohex(blob).find(tohex(dek)), std::string::npos);

  SecretBytes back = p->unwrap(ByteView(blob), ByteView(aad));
  EXPECT_EQ(Bytes(back.begin(), back.end()), dek);
  SecretBytes via;
  EXPECT_TRUE(keyunwrap_with_aad(ByteView(key_), ByteView(blob), ByteView(aad), via));
  EXPECT_EQ(Bytes(via.begin(), via.end()), dek);

  // Other org, other version: 58000, and the message never holds key bytes.
  Bytes aad_org = wrap_aad(ByteView(org2), 1), aad_ver = wrap_aad(ByteView(org), 2);
  std::string m1 = expect_error(kSys, [&] { p->unwrap(ByteView(blob), ByteView(aad_org)); }, "other org");
  std::string m2 = expect_error(kSys, [&] { p->unwrap(ByteView(blob), ByteView(aad_ver)); }, "other version");
  expect_no_key(m1, key_);
  expect_no_key(m1, dek);
  expect_no_key(m2, key_);
  expect_no_key(m2, dek);

  // Tampered blob, truncated blob, empty blob.
  for (std::size_t i = 0; i < blob.size(); i++) {
    Bytes t = blob;
    t[i] ^= 0x01;
    expect_error(kSys, [&] { p->unwrap(ByteView(t), ByteView(aad)); }, "tampered");
  }
  Bytes shortb(blob.begin(), blob.end() - 8);
  expect_error(kSys, [&] { p->unwrap(ByteView(shortb), ByteView(aad)); }, "truncated");
  expect_error(kSys, [&] { p->unwrap(ByteView(), ByteView(aad)); }, "empty");
  // A valid RFC 3394 wrap of something that is not DEK || digest.
  Bytes plain = aes_key_wrap(ByteView(key_), ByteView(dek), false);
  expect_error(kSys, [&] { p->unwrap(ByteView(plain), ByteView(aad)); }, "no digest");

  // The key file is replaced by another key. This provider object read its
  // key once and keeps it: same fingerprint, and it still unwraps.
  Bytes fp1 = p->fingerprint();
  write_file(path, tohex(test_key(2)) + "\n", 0600);
  EXPECT_EQ(p->fingerprint(), fp1);
  SecretBytes same = p->unwrap(ByteView(blob), ByteView(aad));
  EXPECT_EQ(Bytes(same.begin(), same.end()), dek);
  // A new provider object sees the replacement: unwrap fails, fingerprint
  // changes.
  auto p2 = open_provider(uri(path));
  std::string m3 = expect_error(kSys, [&] { p2->unwrap(ByteView(blob), ByteView(aad)); }, "replaced key");
  expect_no_key(m3, key_);
  expect_no_key(m3, test_key(2));
  EXPECT_NE(p2->fingerprint(), fp1);
  EXPECT_EQ(p2->fingerprint(), kek_fingerprint(ByteView(test_key(2))));
  // And back: the next new object reads the original key again.
  write_file(path, hex_, 0600);
  auto p3 = open_provider(uri(path));
  EXPECT_EQ(p3->fingerprint(), fp1);
  SecretBytes again = p3->unwrap(ByteView(blob), ByteView(aad));
  EXPECT_EQ(Bytes(again.begin(), again.end()), dek);
}

// Security: creating a DEK used to read the key file twice, once for the
// fingerprint and once for the wrap, so a file replaced in between recorded
// the fingerprint of one key with a wrap under the other (and the DEK was
// lost). One provider object now reads its file once: fingerprint() and
// wrap() always describe the same key.
TEST_F(FileProviderTest, OneObjectReadsItsKeyFileOnce) {
  std::string path = dir_.file("k");
  write_file(path, testutil::str_of(key_), 0600);
  auto p = open_provider(uri(path));
  const Bytes fp = p->fingerprint();
  EXPECT_EQ(fp, kek_fingerprint(ByteView(key_)));

  // Replaced between fingerprint() and wrap().
  const Bytes other = test_key(2);
  write_file(path, tohex(other), 0600);
  Bytes dek = test_key(50);
  std::string org = "acme";
  Bytes aad = wrap_aad(ByteView(org), 3);
  Bytes blob = p->wrap(ByteView(dek), ByteView(aad));
  SecretBytes out;
  ASSERT_TRUE(keyunwrap_with_aad(ByteView(key_), ByteView(blob), ByteView(aad), out))
      << "the wrap must be under the key the fingerprint describes";
  EXPECT_EQ(Bytes(out.begin(), out.end()), dek);
  EXPECT_FALSE(keyunwrap_with_aad(ByteView(other), ByteView(blob), ByteView(aad), out));
  EXPECT_EQ(p->fingerprint(), fp);

  // Even a removed file does not matter to this object any more.
  ASSERT_EQ(::unlink(path.c_str()), 0);
  EXPECT_NO_THROW(p->validate());
  EXPECT_EQ(p->fingerprint(), fp);
  EXPECT_EQ(p->wrap(ByteView(dek), ByteView(aad)), blob);
  // A new object does see it.
  expect_error(kSys, [&] { open_provider(uri(path))->fingerprint(); }, "removed");
}

// A failed read is remembered as well: the object never reads a second time,
// so it cannot fail one call and succeed the next with a different file.
TEST_F(FileProviderTest, FailedReadIsRememberedByTheObject) {
  std::string path = dir_.file("k");
  auto p = open_provider(uri(path));
  std::string m1 = expect_error(kSys, [&] { p->fingerprint(); }, "missing");
  write_file(path, hex_, 0600);
  std::string m2 = expect_error(kSys, [&] { p->fingerprint(); }, "still missing for this object");
  EXPECT_EQ(m1, m2);
  Bytes dek(32, 1), aad(4, 2);
  expect_error(kSys, [&] { p->wrap(ByteView(dek), ByteView(aad)); }, "wrap");
  expect_error(kSys, [&] { p->validate(); }, "validate");
  EXPECT_EQ(open_provider(uri(path))->fingerprint(), kek_fingerprint(ByteView(key_)));
}

TEST(ProviderUri, Syntax) {
  for (const char* bad : {"", "file:relative", "file://host/x", "file:///x", "foo:/x", "file:", "file", ":/x",
                          "/abs/path", "FILE:/x"}) {
    EXPECT_NE(check_uri_syntax(bad), "") << bad;
    expect_error(kSys, [&] { open_provider(bad); }, bad);
  }
  EXPECT_EQ(check_uri_syntax("file:/abs"), "");
  EXPECT_EQ(check_uri_syntax("file:/etc/orgcrypt/master.key"), "");
  EXPECT_EQ(check_file_uri("file:/abs"), "");
  EXPECT_NE(check_file_uri("file:rel"), "");
  EXPECT_NE(check_uri_syntax(std::string("file:/a\0b", 9)), "");
  EXPECT_EQ(uri_scheme("file:/x"), "file");
  EXPECT_EQ(uri_scheme("aws-kms:arn:aws:kms:x"), "aws-kms");
  EXPECT_EQ(uri_scheme("nocolon"), "");
  EXPECT_EQ(uri_scheme(":x"), "");
  EXPECT_EQ(uri_scheme("1ab:x"), "");
  // Opening does not touch the key yet.
  std::unique_ptr<KeyProvider> p;
  EXPECT_NO_THROW(p = open_provider("file:/nonexistent/orgcrypt/key"));
  ASSERT_TRUE(p);
  EXPECT_EQ(p->uri(), "file:/nonexistent/orgcrypt/key");
  expect_error(kSys, [&] { p->validate(); });
}

// A key URI that names a FIFO must fail with 58000 ("not a regular file"),
// not block.
//
// Regression test: the file used to be opened without O_NONBLOCK before
// fstat() checked S_ISREG, so a FIFO blocked the backend forever. The body
// runs the call in a child with a timeout, so it cannot hang the suite.
TEST_F(FileProviderTest, FifoIsRejectedWithoutBlocking) {
  std::string path = dir_.file("fifo");
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::alarm(10);
    try {
      open_provider(uri(path))->validate();
      ::_exit(1);
    } catch (const Error& e) {
      ::_exit(std::strcmp(e.sqlstate(), kSys) == 0 ? 0 : 2);
    } catch (...) {
      ::_exit(3);
    }
  }
  int status = 0;
  pid_t r = 0;
  for (int i = 0; i < 300 && r == 0; i++) {  // up to 3 s
    r = ::waitpid(pid, &status, WNOHANG);
    if (r == 0) ::usleep(10000);
  }
  if (r == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    FAIL() << "validate() on a FIFO blocked for 3 s";
  }
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "expected Error 58000 (1: no error, 2: other SQLSTATE, 3: other exception)";
}

// The key is kept per process and read again only when the file changes;
// the permission checks still run at every use.
TEST(FileProviderKept, ReadsTheFileAgainOnlyWhenItChanges) {
  testutil::TempDir dir;
  std::string path = dir.file("kept.key");
  Bytes k1(32, 0x11), k2(32, 0x22);
  testutil::write_file(path, std::string(k1.begin(), k1.end()));
  unsigned long l0 = file_key_loads();
  EXPECT_EQ(open_provider("file:" + path)->fingerprint(), kek_fingerprint(ByteView(k1)));
  EXPECT_EQ(open_provider("file:" + path)->fingerprint(), kek_fingerprint(ByteView(k1)));
  EXPECT_EQ(open_provider("file:" + path)->fingerprint(), kek_fingerprint(ByteView(k1)));
  EXPECT_EQ(file_key_loads() - l0, 1u) << "an unchanged key file was read again";
  // replaced (a new inode): read again, and the new key is used
  std::string tmp = dir.file("kept.new");
  testutil::write_file(tmp, std::string(k2.begin(), k2.end()));
  ASSERT_EQ(::rename(tmp.c_str(), path.c_str()), 0);
  EXPECT_EQ(open_provider("file:" + path)->fingerprint(), kek_fingerprint(ByteView(k2)));
  EXPECT_EQ(file_key_loads() - l0, 2u);
  // a kept key does not bypass the permission check
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  EXPECT_THROW(open_provider("file:" + path)->fingerprint(), Error);
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  // rewritten in place (same inode, new mtime/ctime): read again
  testutil::write_file(path, std::string(k1.begin(), k1.end()));
  EXPECT_EQ(open_provider("file:" + path)->fingerprint(), kek_fingerprint(ByteView(k1)));
}
