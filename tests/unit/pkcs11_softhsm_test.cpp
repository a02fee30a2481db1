// The pkcs11: provider against a real SoftHSM2 token, made for this process
// in a temporary directory (SOFTHSM2_CONF set before the module is first
// loaded) with softhsm2-util and pkcs11-tool. Without SoftHSM2 and OpenSC
// every test here fails, saying what to install.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "aead.hpp"
#include "dek_create.hpp"
#include "envelope.hpp"
#include "error.hpp"
#include "keyring.hpp"
#include "pkcs11_token.hpp"
#include "provider.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using testutil::expect_error;
using testutil::tohex;

namespace {

constexpr const char* kSys = "58000";
constexpr const char* kModule = "/usr/lib/softhsm/libsofthsm2.so";

Bytes B(const SecretBytes& s) { return Bytes(s.begin(), s.end()); }

std::string read_all(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// One SoftHSM2 token for the whole process: label "orgcrypt", keys
//   kek1, kek2  AES-256, generated in the token, sensitive, private
//   known       AES-256 imported from known_key (sensitive, private): lets
//               OpenSSL check the blob format and the fingerprint
//   pubkek      AES-256, sensitive, public (usable without login)
//   extractable AES-256, private, extractable (refused)
//   aes128      AES-128, sensitive, private (refused)
class SoftHsm {
 public:
  // One per process (the module reads SOFTHSM2_CONF once); its directory is
  // removed at exit (a forked child leaves with _exit and removes nothing).
  static SoftHsm& get() {
    static SoftHsm s;
    return s;
  }
  const std::string& error() const { return error_; }
  const std::string& dir() const { return dir_.path(); }
  const std::string& pin() const { return pin_; }
  const std::string& pin_file() const { return pin_file_; }
  const Bytes& known_key() const { return known_; }

  std::string uri(const std::string& object, const std::string& pin_file) const {
    std::string u = "pkcs11:token=orgcrypt;object=" + object + "?module-path=" + kModule;
    if (!pin_file.empty()) u += "&pin-source=file:" + pin_file;
    return u;
  }
  std::string uri(const std::string& object) const { return uri(object, pin_file_); }

  // Runs a shell command with the token's SOFTHSM2_CONF; "" or what failed.
  std::string sh(const std::string& cmd) const {
    std::string log = dir_.file("cmd.log");
    int rc = std::system((cmd + " >'" + log + "' 2>&1").c_str());
    if (rc == 0) return {};
    return "command failed (" + std::to_string(rc) + "): " + cmd + "\n" + read_all(log);
  }

 private:
  SoftHsm() {
    error_ = setup();
    if (!error_.empty()) error_ = "SoftHSM2 test token could not be made: " + error_;
  }

  std::string setup() {
    if (::access(kModule, R_OK) != 0 || std::system("command -v softhsm2-util >/dev/null 2>&1") != 0 ||
        std::system("command -v pkcs11-tool >/dev/null 2>&1") != 0)
      return std::string("SoftHSM2 or OpenSC is missing (") + kModule +
             ", softhsm2-util, pkcs11-tool): apt-get install -y softhsm2 opensc";
    std::string conf = dir_.file("softhsm2.conf");
    ::mkdir(dir_.file("tokens").c_str(), 0700);
    testutil::write_file(conf, "directories.tokendir = " + dir_.file("tokens") +
                                   "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n");
    ::setenv("SOFTHSM2_CONF", conf.c_str(), 1);
    Bytes r(8);
    random_bytes(r.data(), r.size());
    pin_ = "pin-" + tohex(r);
    pin_file_ = dir_.file("user.pin");
    testutil::write_file(pin_file_, pin_ + "\n", 0600);
    known_.resize(32);
    random_bytes(known_.data(), known_.size());
    testutil::write_file(dir_.file("known.key"), testutil::str_of(known_), 0600);

    const std::string tool = std::string("pkcs11-tool --module ") + kModule + " --token-label orgcrypt --login --pin " + pin_;
    const std::string steps[] = {
        "softhsm2-util --init-token --free --label orgcrypt --so-pin 12345678 --pin " + pin_,
        tool + " --keygen --key-type AES:32 --label kek1 --sensitive --private",
        tool + " --keygen --key-type AES:32 --label kek2 --sensitive --private",
        tool + " --write-object " + dir_.file("known.key") +
            " --type secrkey --key-type AES:32 --label known --sensitive --private",
        tool + " --keygen --key-type AES:32 --label pubkek --sensitive",
        tool + " --keygen --key-type AES:32 --label extractable --extractable --private",
        tool + " --keygen --key-type AES:16 --label aes128 --sensitive --private",
    };
    for (const auto& s : steps) {
      std::string e = sh(s);
      if (!e.empty()) return e;
    }
    ::unlink(dir_.file("known.key").c_str());
    return {};
  }

  testutil::TempDir dir_;
  std::string error_, pin_, pin_file_;
  Bytes known_;
};

class Pkcs11Test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(hsm().error(), "");
    // The keys of this token are trusted by prefix (a module-path loads code).
    set_uri_policy(UriPolicy{"", {"pkcs11:token=orgcrypt;*"}});
  }
  void TearDown() override {
    set_uri_policy(UriPolicy{});
    set_interrupt_check(nullptr);
  }
  static SoftHsm& hsm() { return SoftHsm::get(); }

  // Fails if msg carries the PIN.
  static void expect_no_pin(const std::string& msg) {
    EXPECT_EQ(msg.find(hsm().pin()), std::string::npos) << msg;
    EXPECT_EQ(msg.find(hsm().pin().substr(4)), std::string::npos) << msg;
  }

  static Bytes dek_n(int n) {
    Bytes k(32);
    for (int i = 0; i < 32; i++) k[i] = static_cast<std::uint8_t>(n * 29 + i * 7 + 3);
    return k;
  }
  static Bytes aad_for(const std::string& org, std::uint32_t version) { return wrap_aad(ByteView(org), version); }
};

}  // namespace

TEST_F(Pkcs11Test, WrapUnwrapRoundTrip) {
  auto p = open_provider(hsm().uri("kek1"));
  EXPECT_EQ(p->uri(), hsm().uri("kek1"));
  EXPECT_TRUE(p->production_ready());
  EXPECT_NO_THROW(p->validate());
  const Bytes dek = dek_n(1), aad = aad_for("acme", 1);
  Bytes blob = p->wrap(ByteView(dek), ByteView(aad));
  ASSERT_EQ(blob.size(), 61u);  // version || IV || ciphertext || tag
  EXPECT_EQ(blob[0], 1);
  EXPECT_EQ(tohex(blob).find(tohex(dek)), std::string::npos);
  EXPECT_EQ(B(p->unwrap(ByteView(blob), ByteView(aad))), dek);
  // A fresh IV every time.
  Bytes blob2 = p->wrap(ByteView(dek), ByteView(aad));
  EXPECT_NE(blob, blob2);
  EXPECT_NE(Bytes(blob.begin() + 1, blob.begin() + 13), Bytes(blob2.begin() + 1, blob2.begin() + 13));
  // Another provider object (the process's session is reused) unwraps both.
  auto q = open_provider(hsm().uri("kek1"));
  EXPECT_EQ(B(q->unwrap(ByteView(blob), ByteView(aad))), dek);
  EXPECT_EQ(B(q->unwrap(ByteView(blob2), ByteView(aad))), dek);
  // A data key is 32 bytes.
  Bytes small(16, 1);
  expect_error(kSys, [&] { p->wrap(ByteView(small), ByteView(aad)); }, "16-byte dek");
}

// The blob format and the fingerprint, checked with OpenSSL against a key
// whose bytes the test knows (imported into the token).
TEST_F(Pkcs11Test, FormatAndFingerprintMatchOpenSsl) {
  auto p = open_provider(hsm().uri("known"));
  const Bytes dek = dek_n(2), aad = aad_for("org-known", 7);
  Bytes blob = p->wrap(ByteView(dek), ByteView(aad));
  ASSERT_EQ(blob.size(), 61u);
  Bytes pt;
  ASSERT_TRUE(gcm_decrypt(ByteView(hsm().known_key()), ByteView(blob.data() + 1, 12), ByteView(aad),
                          ByteView(blob.data() + 13, 32), ByteView(blob.data() + 45, 16), pt))
      << "blob = 0x01 || IV || AES-256-GCM(DEK, AAD = wrap AAD) || tag";
  EXPECT_EQ(pt, dek);
  // And the other way: a blob sealed by OpenSSL unwraps in the token.
  Bytes iv(12), ct, tag;
  random_bytes(iv.data(), iv.size());
  gcm_encrypt(ByteView(hsm().known_key()), ByteView(iv), ByteView(aad), ByteView(dek), ct, tag, 16);
  Bytes mine{1};
  mine.insert(mine.end(), iv.begin(), iv.end());
  mine.insert(mine.end(), ct.begin(), ct.end());
  mine.insert(mine.end(), tag.begin(), tag.end());
  EXPECT_EQ(B(p->unwrap(ByteView(mine), ByteView(aad))), dek);
  // fingerprint = SHA-256(GCM(KEK, IV = 0^96, AAD = label v1, fixed 32 bytes))[0..8)
  Bytes zero(12, 0);
  std::string fp_aad = "orgcrypt pkcs11 KEK fingerprint v1", fp_pt = "orgcrypt KEK fingerprint, pkcs11";
  gcm_encrypt(ByteView(hsm().known_key()), ByteView(zero), ByteView(fp_aad), ByteView(fp_pt), ct, tag, 16);
  ct.insert(ct.end(), tag.begin(), tag.end());
  Bytes expect = sha256(ByteView(ct));
  expect.resize(8);
  EXPECT_EQ(p->fingerprint(), expect);
  EXPECT_NE(p->fingerprint(), kek_fingerprint(ByteView(hsm().known_key()))) << "not the file: fingerprint";
}

TEST_F(Pkcs11Test, AadIsBound) {
  auto p = open_provider(hsm().uri("kek1"));
  const Bytes dek = dek_n(3);
  Bytes blob = p->wrap(ByteView(dek), ByteView(aad_for("acme", 1)));
  for (const auto& other : {aad_for("acme2", 1), aad_for("acme", 2), Bytes()}) {
    std::string msg = expect_error(kSys, [&] { p->unwrap(ByteView(blob), ByteView(other)); }, "other aad");
    EXPECT_NE(msg.find("pkcs11 unwrap failed: C_Decrypt returned CKR_"), std::string::npos) << msg;
    EXPECT_NE(msg.find("kek1"), std::string::npos) << msg;
    EXPECT_EQ(msg.find(tohex(dek)), std::string::npos) << msg;
    expect_no_pin(msg);
  }
}

TEST_F(Pkcs11Test, TamperedBlobsAreRefused) {
  auto p = open_provider(hsm().uri("kek1"));
  const Bytes dek = dek_n(4), aad = aad_for("acme", 1);
  Bytes blob = p->wrap(ByteView(dek), ByteView(aad));
  for (std::size_t i = 0; i < blob.size(); i++) {
    Bytes t = blob;
    t[i] ^= 0x01;
    std::string msg = expect_error(kSys, [&] { p->unwrap(ByteView(t), ByteView(aad)); }, "tampered");
    if (i == 0) EXPECT_NE(msg.find("malformed"), std::string::npos) << msg;
    else EXPECT_NE(msg.find("CKR_"), std::string::npos) << msg;
  }
  Bytes shortb(blob.begin(), blob.end() - 1), longb = blob;
  longb.push_back(0);
  expect_error(kSys, [&] { p->unwrap(ByteView(shortb), ByteView(aad)); }, "truncated");
  expect_error(kSys, [&] { p->unwrap(ByteView(longb), ByteView(aad)); }, "extended");
  expect_error(kSys, [&] { p->unwrap(ByteView(), ByteView(aad)); }, "empty");
  EXPECT_EQ(B(p->unwrap(ByteView(blob), ByteView(aad))), dek) << "the session survives failed calls";
}

TEST_F(Pkcs11Test, WrongPinIsRefusedWithoutShowingIt) {
  // Log in with the right PIN first: the wrong one must still be refused.
  auto good = open_provider(hsm().uri("kek1"));
  const Bytes dek = dek_n(5), aad = aad_for("acme", 1);
  Bytes blob = good->wrap(ByteView(dek), ByteView(aad));
  std::string wrong = hsm().dir() + "/wrong.pin";
  testutil::write_file(wrong, "wrong-" + hsm().pin().substr(4) + "\n", 0600);
  auto bad = open_provider(hsm().uri("kek1", wrong));
  std::string msg = expect_error(kSys, [&] { bad->unwrap(ByteView(blob), ByteView(aad)); }, "wrong pin");
  EXPECT_NE(msg.find("CKR_PIN_INCORRECT"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pkcs11 unwrap failed"), std::string::npos) << msg;
  expect_no_pin(msg);
  EXPECT_EQ(msg.find("wrong-"), std::string::npos) << msg;
  // The right PIN works again afterwards (a new login).
  EXPECT_EQ(B(open_provider(hsm().uri("kek1"))->unwrap(ByteView(blob), ByteView(aad))), dek);
  // A PIN file with group or other bits, or missing, is refused before any login.
  std::string loose = hsm().dir() + "/loose.pin";
  testutil::write_file(loose, hsm().pin() + "\n", 0640);
  msg = expect_error(kSys, [&] { open_provider(hsm().uri("kek1", loose))->validate(); }, "loose pin file");
  EXPECT_NE(msg.find("group or other"), std::string::npos) << msg;
  expect_no_pin(msg);
  msg = expect_error(kSys, [&] { open_provider(hsm().uri("kek1", hsm().dir() + "/none.pin"))->validate(); }, "no pin file");
  EXPECT_NE(msg.find("could not open the PIN file"), std::string::npos) << msg;
}

TEST_F(Pkcs11Test, Fingerprints) {
  auto a = open_provider(hsm().uri("kek1"));
  auto b = open_provider(hsm().uri("kek1"));
  auto c = open_provider(hsm().uri("kek2"));
  Bytes fa = a->fingerprint();
  ASSERT_EQ(fa.size(), 8u);
  EXPECT_EQ(a->fingerprint(), fa) << "stable on one object";
  EXPECT_EQ(b->fingerprint(), fa) << "stable across provider objects";
  EXPECT_NE(c->fingerprint(), fa) << "another key object, another fingerprint";
  // kek2 cannot unwrap what kek1 wrapped.
  const Bytes dek = dek_n(6), aad = aad_for("acme", 1);
  Bytes blob = a->wrap(ByteView(dek), ByteView(aad));
  std::string msg = expect_error(kSys, [&] { c->unwrap(ByteView(blob), ByteView(aad)); }, "other key");
  EXPECT_NE(msg.find("CKR_"), std::string::npos) << msg;
  // The same key by id-less label with type=secret-key: same fingerprint.
  std::string typed = "pkcs11:token=orgcrypt;object=kek1;type=secret-key?module-path=" + std::string(kModule) +
                      "&pin-source=file:" + hsm().pin_file();
  EXPECT_EQ(open_provider(typed)->fingerprint(), fa);
}

TEST_F(Pkcs11Test, CreateWrappedDek) {
  const std::string org = "org-p11";
  NewDek nd = create_wrapped_dek(hsm().uri("kek1"), ByteView(org), 3);
  EXPECT_EQ(nd.dek.size(), 32u);
  EXPECT_EQ(nd.wrapped.size(), 61u);
  EXPECT_EQ(nd.kek_fp, open_provider(hsm().uri("kek1"))->fingerprint());
  DekRow row;
  row.version = 3;
  row.state = DekState::Active;
  row.wrapped = nd.wrapped;
  row.kek_uri = hsm().uri("kek1");
  row.kek_fp = nd.kek_fp;
  EXPECT_EQ(B(unwrap_row(ByteView(org), row)), B(nd.dek));
  // Recorded with kek2's fingerprint: reported as a replaced key.
  row.kek_fp = open_provider(hsm().uri("kek2"))->fingerprint();
  std::string msg = expect_error(kSys, [&] { unwrap_row(ByteView(org), row); }, "fingerprint");
  EXPECT_NE(msg.find("is not the key that wrapped"), std::string::npos) << msg;
}

TEST_F(Pkcs11Test, PinValueAndUntrustedUrisAreRefused) {
  std::string with_pin = "pkcs11:token=orgcrypt;object=kek1?module-path=" + std::string(kModule) +
                         "&pin-value=" + hsm().pin();
  EXPECT_NE(check_uri_syntax(with_pin), "");
  std::string msg = expect_error(kSys, [&] { open_provider(with_pin); }, "pin-value");
  EXPECT_NE(msg.find("pin-value"), std::string::npos) << msg;
  expect_no_pin(msg);

  set_uri_policy(UriPolicy{});  // nothing trusted
  msg = expect_error(kSys, [&] { open_provider(hsm().uri("kek1")); }, "untrusted");
  EXPECT_NE(msg.find("not trusted"), std::string::npos) << msg;
  set_uri_policy(UriPolicy{hsm().uri("kek1"), {}});  // the master key is trusted
  EXPECT_NO_THROW(open_provider(hsm().uri("kek1"))->validate());
  expect_error(kSys, [&] { open_provider(hsm().uri("kek2")); }, "kek2 is neither master key nor listed");
}

TEST_F(Pkcs11Test, KeysThatAreNotFitAreRefused) {
  std::string msg = expect_error(kSys, [&] { open_provider(hsm().uri("extractable"))->validate(); }, "extractable");
  EXPECT_NE(msg.find("extractable"), std::string::npos) << msg;
  Bytes dek = dek_n(7), aad = aad_for("a", 1);
  expect_error(kSys, [&] { open_provider(hsm().uri("extractable"))->wrap(ByteView(dek), ByteView(aad)); }, "wrap");
  msg = expect_error(kSys, [&] { open_provider(hsm().uri("aes128"))->validate(); }, "aes128");
  EXPECT_NE(msg.find("AES-128"), std::string::npos) << msg;
  msg = expect_error(kSys, [&] { open_provider(hsm().uri("nosuchkey"))->fingerprint(); }, "missing key");
  EXPECT_NE(msg.find("no AES secret key"), std::string::npos) << msg;
}

TEST_F(Pkcs11Test, PublicKeyWithoutLogin) {
  // No pin-source: no login, and only public objects are found.
  auto pub = open_provider(hsm().uri("pubkek", ""));
  EXPECT_TRUE(pub->production_ready());
  const Bytes dek = dek_n(8), aad = aad_for("pub", 1);
  Bytes blob = pub->wrap(ByteView(dek), ByteView(aad));
  EXPECT_EQ(B(pub->unwrap(ByteView(blob), ByteView(aad))), dek);
  EXPECT_EQ(pub->fingerprint(), open_provider(hsm().uri("pubkek"))->fingerprint());
  // kek1 is private: without a PIN it is not found, even once logged in.
  open_provider(hsm().uri("kek1"))->validate();
  std::string msg = expect_error(kSys, [&] { open_provider(hsm().uri("kek1", ""))->validate(); }, "private key, no pin");
  EXPECT_NE(msg.find("no AES secret key (public"), std::string::npos) << msg;
}

TEST_F(Pkcs11Test, MissingTokenAndModule) {
  std::string uri = "pkcs11:token=nosuchtoken;object=kek1?module-path=" + std::string(kModule) +
                    "&pin-source=file:" + hsm().pin_file();
  set_uri_policy(UriPolicy{uri, {}});
  std::string msg = expect_error(kSys, [&] { open_provider(uri)->validate(); }, "no token");
  EXPECT_NE(msg.find("CKR_TOKEN_NOT_PRESENT"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nosuchtoken"), std::string::npos) << msg;
  std::string nomod = "pkcs11:token=orgcrypt;object=kek1?module-path=/nonexistent/libp11.so";
  set_uri_policy(UriPolicy{nomod, {}});
  msg = expect_error(kSys, [&] { open_provider(nomod)->validate(); }, "no module");
  EXPECT_NE(msg.find("could not load the PKCS#11 module"), std::string::npos) << msg;
}

TEST_F(Pkcs11Test, InterruptStopsTheCall) {
  auto p = open_provider(hsm().uri("kek1"));
  static bool stop = false;
  set_interrupt_check([] { return stop; });
  stop = true;
  Bytes dek = dek_n(9), aad = aad_for("a", 1);
  std::string msg = expect_error("57014", [&] { p->wrap(ByteView(dek), ByteView(aad)); }, "interrupted");
  EXPECT_NE(msg.find("pkcs11 wrap was interrupted"), std::string::npos) << msg;
  stop = false;
  EXPECT_EQ(p->wrap(ByteView(dek), ByteView(aad)).size(), 61u);
}

// The parent initialises the module and logs in; a forked child (as a
// PostgreSQL backend is forked from the postmaster) must initialise its own
// copy and work; the parent must still work afterwards.
TEST_F(Pkcs11Test, ForkedChildInitialisesAgain) {
  auto p = open_provider(hsm().uri("kek1"));
  const Bytes dek = dek_n(10), aad = aad_for("fork", 1);
  const Bytes blob = p->wrap(ByteView(dek), ByteView(aad));
  const Bytes fp = p->fingerprint();
  ASSERT_EQ(p11::initialised_by(kModule), static_cast<long>(::getpid()));
  for (int round = 0; round < 2; round++) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::alarm(30);
      int code = 0;
      try {
        // Inherited: the parent's initialisation, until the child uses the module.
        if (p11::initialised_by(kModule) != static_cast<long>(::getppid())) ::_exit(6);
        auto c = open_provider(hsm().uri("kek1"));
        if (B(c->unwrap(ByteView(blob), ByteView(aad))) != dek) code = 2;
        else if (p11::initialised_by(kModule) != static_cast<long>(::getpid())) code = 7;  // initialised again
        else if (c->fingerprint() != fp) code = 3;
        else {
          Bytes mine = c->wrap(ByteView(dek), ByteView(aad));
          if (B(c->unwrap(ByteView(mine), ByteView(aad))) != dek) code = 4;
        }
        // The parent's provider object, inherited, works in the child too.
        if (!code && B(p->unwrap(ByteView(blob), ByteView(aad))) != dek) code = 5;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child: %s\n", e.what());
        code = 1;
      }
      ::_exit(code);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: error, 2: unwrap, 3: fingerprint, 4: own wrap, 5: inherited object, "
                                         "6: not the parent's state at first, 7: not initialised again in the child";
    // The parent still works, with its own initialisation and session.
    EXPECT_EQ(B(p->unwrap(ByteView(blob), ByteView(aad))), dek);
    EXPECT_EQ(p11::initialised_by(kModule), static_cast<long>(::getpid()));
    Bytes again = p->wrap(ByteView(dek), ByteView(aad));
    EXPECT_EQ(B(open_provider(hsm().uri("kek1"))->unwrap(ByteView(again), ByteView(aad))), dek);
  }
}
