// The kmip:// provider (src/providers/kmip.cpp, kmip_conn.cpp) against a
// real PyKMIP server on loopback (tests/servers/kmip_fixture.sh, started once
// per test suite, owned by this process's user since the test reads the
// client key): wrap/unwrap and the blob format (checked with PyKMIP's own
// client), connection reuse and re-opening, the server's refusals, TLS and
// client key problems, timeouts and cancels against a paused server, and a
// server without KMIP 1.4. If the server cannot start, every test fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "error.hpp"
#include "kmip.hpp"
#include "provider.hpp"
#include "secure.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using testutil::expect_error;
using testutil::tohex;
using testutil::unhex;
using Clock = std::chrono::steady_clock;

namespace {

const std::string kFixture = std::string(ORGCRYPT_SOURCE_DIR) + "/tests/servers/kmip_fixture.sh";
const std::string kHelpers = std::string(ORGCRYPT_SOURCE_DIR) + "/tests/helpers";

long ms_since(Clock::time_point t) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

std::string q(const std::string& s) { return "'" + s + "'"; }

// Runs a shell command (stdin from /dev/null, stderr to log); its stdout,
// or throws with the log's tail.
std::string run(const std::string& cmd, const std::string& log) {
  const std::string full = "(" + cmd + ") </dev/null 2>>" + q(log);
  FILE* p = ::popen(full.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed: " + cmd);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int rc = ::pclose(p);
  if (rc != 0) {
    std::string tail;
    FILE* t = ::popen(("tail -20 " + q(log)).c_str(), "r");
    if (t) {
      while ((n = std::fread(buf, 1, sizeof buf, t)) > 0) tail.append(buf, n);
      ::pclose(t);
    }
    throw std::runtime_error("failed (" + std::to_string(rc) + "): " + cmd + "\n" + tail);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  std::string l;
  while (std::getline(in, l)) v.push_back(l);
  return v;
}

// One PyKMIP server with its certificates in a fresh directory (key_alg:
// KMIP_KEY_ALG of lib_kmip.sh, rsa or ec). Without start, only the
// certificates (lib_kmip.sh's kmip_certs).
class KmipServer {
 public:
  explicit KmipServer(const std::string& start_args, const std::string& key_alg, bool start = true) {
    log_ = dir_.file("fixture.log");
    const std::string env = "KMIP_KEY_ALG=" + key_alg + " ";
    if (!start) {
      run(env + "KMIP_OWNER=self bash -c 'source \"$1/scripts/lib.sh\" && source \"$1/tests/servers/lib_kmip.sh\" && "
                "kmip_certs \"$2\"' certs " + q(ORGCRYPT_SOURCE_DIR) + " " + q(dir()),
          log_);
      return;
    }
    const std::string p = run(env + kFixture + " start " + q(dir()) + " " + start_args, log_);
    port_ = std::atoi(p.c_str());
    if (port_ <= 0 || std::to_string(port_) != p) throw std::runtime_error("kmip_fixture.sh start printed \"" + p + "\"");
  }
  ~KmipServer() {
    if (port_ == 0) return;
    try {
      run(kFixture + " resume " + q(dir()) + "; " + kFixture + " stop " + q(dir()), log_);
    } catch (...) {
    }
  }
  KmipServer(const KmipServer&) = delete;
  KmipServer& operator=(const KmipServer&) = delete;

  const std::string& dir() const { return dir_.path(); }
  std::string file(const std::string& n) const { return dir_.file(n); }
  int port() const { return port_; }
  std::string hostport() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string uri(const std::string& uid, const std::string& query = "") const {
    return "kmip://" + hostport() + "/" + uid + (query.empty() ? "" : "?" + query);
  }

  void stop() { run(kFixture + " stop " + q(dir()), log_); }
  void start(const std::string& args = "") {
    const std::string p = run(kFixture + " start " + q(dir()) + (args.empty() ? "" : " " + args), log_);
    if (p != std::to_string(port_)) throw std::runtime_error("the server came back on port " + p);
  }
  void pause() { run(kFixture + " pause " + q(dir()), log_); }
  void resume() { run(kFixture + " resume " + q(dir()), log_); }

  // PyKMIP's own client (tests/helpers/kmip_admin.py, as kmip_fixture.sh
  // admin runs it) for several commands in one Python process (Python and
  // PyKMIP take about a second to load; each main() call is one client
  // session): one output line per command; a word $N is the output of
  // command N (1-based).
  std::vector<std::string> admin(const std::vector<std::string>& cmds, const std::string& who = "client") const {
    std::string py = "import contextlib, io, sys; sys.path.insert(0, " + q(kHelpers) + "); import kmip_admin\n";
    py += "base = ['kmip_admin.py', '--port', '" + std::to_string(port_) + "', '--ca', '" + file("ca.pem") +
          "', '--cert', '" + file(who + ".pem") + "', '--key', '" + file(who + ".key") + "']\n";
    py += "outs = []\n"
          "for c in sys.argv[1:]:\n"
          "    sys.argv = base + [outs[int(w[1:]) - 1] if w.startswith('$') else w for w in c.split()]\n"
          "    buf = io.StringIO()\n"
          "    with contextlib.redirect_stdout(buf):\n"
          "        rc = kmip_admin.main()\n"
          "    if rc: sys.exit(rc)\n"
          "    outs.append(buf.getvalue().strip())\n"
          "    print(outs[-1], flush=True)\n";
    testutil::write_file(file("admin_batch.py"), py, 0600);
    std::string cmd = "/usr/bin/python3 " + q(file("admin_batch.py"));
    for (const auto& c : cmds) cmd += " " + q(c);
    return lines_of(run(cmd, log_));
  }

 private:
  testutil::TempDir dir_;
  std::string log_;
  int port_ = 0;
};

Bytes dek_n(int n) {
  Bytes d(32);
  for (std::size_t i = 0; i < d.size(); i++) d[i] = static_cast<std::uint8_t>(n * 31 + i);
  return d;
}
Bytes aad_for(const std::string& org, int v) { return testutil::bytes_of("orgcrypt DEK wrap v1|" + org + "|" + std::to_string(v)); }

// A port nothing listens on (bound then closed).
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
    throw std::runtime_error("cannot bind a loopback socket");
  ::close(fd);
  return ntohs(a.sin_port);
}

Clock::time_point g_interrupt_from;
bool interrupt_after_300ms() { return ms_since(g_interrupt_from) >= 300; }

// Resumes a paused server when it goes out of scope (a failed expectation
// must not leave it stopped for the next test).
struct Paused {
  KmipServer& s;
  explicit Paused(KmipServer& srv) : s(srv) { s.pause(); }
  ~Paused() {
    try {
      s.resume();
    } catch (...) {
    }
  }
};

// Runs f in a forked child without a controlling terminal and with stdin
// closed, killed after timeout_s: returns the Error's message (or "OK", or
// what went wrong). Proves a call cannot prompt for a passphrase or hang.
template <class F>
std::string in_child(F&& f, int timeout_s) {
  int fds[2];
  if (::pipe(fds) != 0) return "pipe failed";
  pid_t pid = ::fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    ::close(fds[0]);
    ::setsid();
    int nul = ::open("/dev/null", O_RDONLY);
    ::dup2(nul, 0);
    ::alarm(static_cast<unsigned>(timeout_s));
    std::string out;
    try {
      f();
      out = "OK";
    } catch (const Error& e) {
      out = std::string(e.sqlstate()) + " " + e.what() + "\n" + e.detail() + "\n" + e.hint();
    } catch (const std::exception& e) {
      out = std::string("std::exception ") + e.what();
    }
    if (::write(fds[1], out.data(), out.size()) < 0) ::_exit(3);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[1024];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  if (WIFSIGNALED(st)) return "child killed by signal " + std::to_string(WTERMSIG(st)) + " (hung?)";
  return out;
}

}  // namespace

// ---- a normal PyKMIP server (offers KMIP 2.0 .. 1.0)
class KmipProvider : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::signal(SIGPIPE, SIG_IGN);  // as in a PostgreSQL backend (kmip_conn.hpp)
    try {
      server_ = new KmipServer("", "ec");  // P-256 certificates (the old server's are RSA)
      // kek, kek2: Active; revoked: Compromised; destroyed: gone
      auto out = server_->admin({"create", "create", "create", "create", "revoke $3", "destroy $4", "state $3"});
      if (out.size() != 7) throw std::runtime_error("kmip_admin printed " + std::to_string(out.size()) + " lines");
      kek_ = out[0];
      kek2_ = out[1];
      revoked_ = out[2];
      destroyed_ = out[3];
      if (out[6] != "COMPROMISED") throw std::runtime_error("the revoked key is in state " + out[6]);
    } catch (const std::exception& e) {
      error_ = std::string("the PyKMIP test server could not be set up: ") + e.what();
    }
  }
  static void TearDownTestSuite() {
    kmip::close_connections();
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(error_, "");
    ASSERT_NE(server_, nullptr);
    UriPolicy pol;
    pol.allowed = {"kmip://*"};  // the trust policy is tested in kmip_uri_test
    set_uri_policy(pol);
    kmip::Settings s;
    s.ca_file = server_->file("ca.pem");
    s.cert_file = server_->file("client.pem");
    s.key_file = server_->file("client.key");
    kmip::set_settings(s);
    kmip::close_connections();
  }
  void TearDown() override {
    set_interrupt_check(nullptr);
    kmip::set_settings(kmip::Settings());
    set_uri_policy(UriPolicy());
    kmip::close_connections();
  }

  static std::string uri(const std::string& uid, const std::string& query = "") { return server_->uri(uid, query); }
  static KmipServer& srv() { return *server_; }

  static KmipServer* server_;
  static std::string error_, kek_, kek2_, revoked_, destroyed_;
};
KmipServer* KmipProvider::server_ = nullptr;
std::string KmipProvider::error_, KmipProvider::kek_, KmipProvider::kek2_, KmipProvider::revoked_,
    KmipProvider::destroyed_;

TEST_F(KmipProvider, RoundTripAndBlobFormatCheckedWithPyKmip) {
  auto p = open_provider(uri(kek_));
  EXPECT_EQ(p->uri(), uri(kek_));
  EXPECT_EQ(p->key_uri(), uri(kek_));
  EXPECT_TRUE(p->production_ready());
  EXPECT_NO_THROW(p->validate());
  const Bytes dek = dek_n(1), aad = aad_for("org-a", 1);
  const Bytes blob = p->wrap(ByteView(dek), ByteView(aad));
  ASSERT_EQ(blob.size(), 60u);  // IV(12) || ciphertext(32) || tag(16)
  EXPECT_NE(Bytes(blob.begin() + 12, blob.begin() + 44), dek);
  SecretBytes back = p->unwrap(ByteView(blob), ByteView(aad));
  EXPECT_EQ(tohex(back), tohex(dek));
  // a fresh IV each time
  const Bytes blob2 = p->wrap(ByteView(dek), ByteView(aad));
  EXPECT_NE(tohex(blob2), tohex(blob));
  EXPECT_NE(tohex(Bytes(blob2.begin(), blob2.begin() + 12)), tohex(Bytes(blob.begin(), blob.begin() + 12)));

  // The blob is server-side AES-256-GCM under the KMIP key with the wrap AAD:
  // PyKMIP's own client decrypts it; and what PyKMIP encrypts, we unwrap.
  const std::string iv = tohex(Bytes(blob.begin(), blob.begin() + 12));
  const std::string ct = tohex(Bytes(blob.begin() + 12, blob.begin() + 44));
  const std::string tag = tohex(Bytes(blob.begin() + 44, blob.end()));
  const Bytes dek3 = dek_n(3);
  const std::string iv3 = "0102030405060708090a0b0c";
  auto out = srv().admin({"decrypt " + kek_ + " " + ct + " " + iv + " " + tohex(aad) + " " + tag,
                          "encrypt " + kek_ + " " + tohex(dek3) + " " + iv3 + " " + tohex(aad)});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], tohex(dek));
  std::istringstream enc(out[1]);
  std::string ct3, tag3;
  enc >> ct3 >> tag3;
  const Bytes blob3 = unhex(iv3 + ct3 + tag3);
  ASSERT_EQ(blob3.size(), 60u) << out[1];
  EXPECT_EQ(tohex(p->unwrap(ByteView(blob3), ByteView(aad))), tohex(dek3));

  // another length of DEK round-trips too (the blob is IV || ct || tag)
  const Bytes small = testutil::bytes_of("sixteen byte key");
  const Bytes sblob = p->wrap(ByteView(small), ByteView(aad));
  EXPECT_EQ(sblob.size(), 12u + 16u + 16u);
  EXPECT_EQ(testutil::str_of(p->unwrap(ByteView(sblob), ByteView(aad))), "sixteen byte key");

  // refusals: wrong AAD, another key, a flipped bit anywhere, a short blob
  auto decrypt_fails = [](KeyProvider& prov, const Bytes& b, const Bytes& a, const char* what) {
    std::string m = expect_error("58000", [&] { prov.unwrap(ByteView(b), ByteView(a)); }, what);
    EXPECT_NE(m.find("kmip Decrypt: "), std::string::npos) << what << ": " << m;
    EXPECT_NE(m.find(" at 127.0.0.1:"), std::string::npos) << what << ": " << m;
    return m;
  };
  std::string m = decrypt_fails(*p, blob, aad_for("org-b", 1), "wrong AAD");
  EXPECT_NE(m.find("Operation Failed: General Failure"), std::string::npos) << m;
  auto p2 = open_provider(uri(kek2_));
  m = decrypt_fails(*p2, blob, aad, "another key");
  EXPECT_NE(m.find("(key " + kek2_ + " at " + srv().hostport() + ")"), std::string::npos) << m;
  for (std::size_t bit : {0u, 12u * 8 + 3, 43u * 8 + 7, 59u * 8}) {
    Bytes bad = blob;
    bad[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    decrypt_fails(*p, bad, aad, ("bit " + std::to_string(bit)).c_str());
  }
  m = expect_error("58000", [&] { p->unwrap(ByteView(blob.data(), 28), ByteView(aad)); });
  EXPECT_NE(m.find("kmip Decrypt: the wrapped key is 28 bytes: too short for IV, key and tag (key " + kek_ + " at " +
                   srv().hostport() + ")"),
            std::string::npos)
      << m;
  // still works after the refusals (the connection stays usable)
  EXPECT_EQ(tohex(p->unwrap(ByteView(blob), ByteView(aad))), tohex(dek));
}

TEST_F(KmipProvider, OneConnectionReusedAcrossProviderObjects) {
  const auto opened = kmip::connections_opened();
  const auto sent = kmip::requests_sent();
  const Bytes aad = aad_for("org-reuse", 2);
  for (int i = 0; i < 10; i++) {
    auto p = open_provider(uri(i % 2 ? kek_ : kek2_, i % 3 ? "" : "timeout_ms=4000"));
    const Bytes dek = dek_n(100 + i);
    const Bytes blob = p->wrap(ByteView(dek), ByteView(aad));
    auto p2 = open_provider(uri(i % 2 ? kek_ : kek2_));
    EXPECT_EQ(tohex(p2->unwrap(ByteView(blob), ByteView(aad))), tohex(dek)) << i;
  }
  EXPECT_EQ(kmip::connections_opened(), opened + 1);
  EXPECT_EQ(kmip::requests_sent(), sent + 1 + 20);  // DiscoverVersions once, then 20 calls

  // closed: the next call opens one more
  kmip::close_connections();
  auto p = open_provider(uri(kek_));
  const Bytes blob = p->wrap(ByteView(dek_n(7)), ByteView(aad));
  EXPECT_EQ(kmip::connections_opened(), opened + 2);
  // other certificate files: another connection (and the server's refusal)
  auto other = open_provider(uri(kek_, "cert_file=" + srv().file("other.pem") + "&key_file=" + srv().file("other.key")));
  expect_error("58000", [&] { other->unwrap(ByteView(blob), ByteView(aad)); });
  EXPECT_EQ(kmip::connections_opened(), opened + 3);
  EXPECT_EQ(tohex(p->unwrap(ByteView(blob), ByteView(aad))), tohex(dek_n(7)));
  EXPECT_EQ(kmip::connections_opened(), opened + 3);
}

TEST_F(KmipProvider, ServerRestartedBetweenCalls) {
  auto p = open_provider(uri(kek_));
  const Bytes aad = aad_for("org-restart", 1);
  const Bytes blob = p->wrap(ByteView(dek_n(2)), ByteView(aad));
  const auto opened = kmip::connections_opened();
  ASSERT_NO_THROW(srv().stop());
  // while it is down: refused, naming the address
  // (the idle connection is found closed, the one retry cannot connect)
  std::string m = expect_error("58000", [&] { p->unwrap(ByteView(blob), ByteView(aad)); });
  EXPECT_NE(m.find("kmip Decrypt: cannot connect: Connection refused (" + srv().hostport() + ")"), std::string::npos)
      << m;
  ASSERT_NO_THROW(srv().start());  // same port, same database
  EXPECT_EQ(tohex(p->unwrap(ByteView(blob), ByteView(aad))), tohex(dek_n(2)));
  EXPECT_EQ(kmip::connections_opened(), opened + 1);

  // restarted again with the connection idle: the stale connection is
  // noticed and the call retried once on a new one, transparently
  ASSERT_NO_THROW(srv().stop());
  ASSERT_NO_THROW(srv().start());
  EXPECT_EQ(tohex(p->unwrap(ByteView(blob), ByteView(aad))), tohex(dek_n(2)));
  EXPECT_EQ(kmip::connections_opened(), opened + 2);
  const Bytes blob2 = p->wrap(ByteView(dek_n(4)), ByteView(aad));
  EXPECT_EQ(tohex(p->unwrap(ByteView(blob2), ByteView(aad))), tohex(dek_n(4)));
  EXPECT_EQ(kmip::connections_opened(), opened + 2);
}

TEST_F(KmipProvider, ServerRefusals) {
  const Bytes dek = dek_n(5), aad = aad_for("org-refuse", 1);
  const std::string where = " at " + srv().hostport() + ")";
  // another identity (client certificate CN=intruder) does not see our key
  auto other = open_provider(uri(kek_, "cert_file=" + srv().file("other.pem") + "&key_file=" + srv().file("other.key")));
  std::string m = expect_error("58000", [&] { other->wrap(ByteView(dek), ByteView(aad)); });
  EXPECT_NE(m.find("kmip Encrypt: Operation Failed: Permission Denied: "), std::string::npos) << m;
  EXPECT_NE(m.find("(key " + kek_ + where), std::string::npos) << m;
  EXPECT_NE(m.find("the key may belong to another identity"), std::string::npos) << m;
  m = expect_error("58000", [&] { other->validate(); });
  EXPECT_NE(m.find("Permission Denied"), std::string::npos) << m;

  // an unknown UID
  auto unknown = open_provider(uri("999999"));
  m = expect_error("58000", [&] { unknown->wrap(ByteView(dek), ByteView(aad)); });
  EXPECT_NE(m.find("kmip Encrypt: Operation Failed: Item Not Found: "), std::string::npos) << m;
  EXPECT_NE(m.find("(key 999999" + where), std::string::npos) << m;
  EXPECT_NE(m.find("The server has no key with this Unique Identifier"), std::string::npos) << m;
  m = expect_error("58000", [&] { unknown->validate(); });
  EXPECT_NE(m.find("Item Not Found"), std::string::npos) << m;

  // a revoked key (Compromised: PyKMIP refuses keys that are not Active)
  auto revoked = open_provider(uri(revoked_));
  m = expect_error("58000", [&] { revoked->wrap(ByteView(dek), ByteView(aad)); });
  EXPECT_NE(m.find("kmip Encrypt: Operation Failed: Permission Denied: "), std::string::npos) << m;
  EXPECT_NE(m.find("Active"), std::string::npos) << m;
  Bytes blob(60, 1);
  m = expect_error("58000", [&] { revoked->unwrap(ByteView(blob), ByteView(aad)); });
  EXPECT_NE(m.find("kmip Decrypt: Operation Failed: Permission Denied: "), std::string::npos) << m;

  // a destroyed key
  auto destroyed = open_provider(uri(destroyed_));
  m = expect_error("58000", [&] { destroyed->wrap(ByteView(dek), ByteView(aad)); });
  EXPECT_NE(m.find("kmip Encrypt: Operation Failed: Item Not Found: "), std::string::npos) << m;
  EXPECT_NE(m.find("(key " + destroyed_ + where), std::string::npos) << m;

  // none of these broke the connection
  const auto opened = kmip::connections_opened();
  auto p = open_provider(uri(kek_));
  const Bytes b = p->wrap(ByteView(dek), ByteView(aad));
  EXPECT_EQ(tohex(p->unwrap(ByteView(b), ByteView(aad))), tohex(dek));
  EXPECT_EQ(kmip::connections_opened(), opened);
}

TEST_F(KmipProvider, TlsAndClientKeyProblems) {
  const Bytes dek = dek_n(6), aad = aad_for("org-tls", 1);
  auto wrap_error = [&](const std::string& u) {
    auto p = open_provider(u);
    return expect_error("58000", [&] { p->wrap(ByteView(dek), ByteView(aad)); }, u.c_str());
  };
  const std::string cert = srv().file("client.pem");
  // a CA that did not sign the server's certificate
  std::string m = wrap_error(uri(kek_, "ca_file=" + srv().file("wrongca.pem")));
  EXPECT_NE(m.find("kmip Encrypt: the server's certificate did not verify: "), std::string::npos) << m;
  EXPECT_NE(m.find("(CA file \"" + srv().file("wrongca.pem") + "\")"), std::string::npos) << m;
  // the server's certificate names 127.0.0.1 and localhost: the same server
  // reached as ::ffff:127.0.0.1 (an IPv4-mapped IPv6 address) does not verify
  m = wrap_error("kmip://[::ffff:127.0.0.1]:" + std::to_string(srv().port()) + "/" + kek_);
  EXPECT_NE(m.find("kmip Encrypt: the server's certificate did not verify: IP address mismatch"), std::string::npos)
      << m;
  {
    auto p = open_provider("kmip://localhost:" + std::to_string(srv().port()) + "/" + kek_);
    EXPECT_NO_THROW(p->validate());
  }
  // no client certificate configured
  kmip::Settings s = kmip::settings();
  s.cert_file.clear();
  s.key_file.clear();
  kmip::set_settings(s);
  m = wrap_error(uri(kek_));
  EXPECT_NE(m.find("kmip Encrypt: no client certificate (" + srv().hostport() + ")"), std::string::npos) << m;
  EXPECT_NE(m.find("orgcrypt.kmip_cert_file"), std::string::npos) << m;
  // the URI's files are used instead of the (empty) settings
  {
    auto p = open_provider(uri(kek_, "cert_file=" + cert + "&key_file=" + srv().file("client.key")));
    EXPECT_NO_THROW(p->validate());
  }
  // a missing CA file
  m = wrap_error(uri(kek_, "ca_file=" + srv().file("nope.pem") + "&cert_file=" + cert + "&key_file=" +
                               srv().file("client.key")));
  EXPECT_NE(m.find("cannot load the CA file \"" + srv().file("nope.pem") + "\""), std::string::npos) << m;

  // the key file readable by others
  const std::string loose = srv().file("loose.key");
  ASSERT_EQ(std::system(("cp " + q(srv().file("client.key")) + " " + q(loose) + " && chmod 644 " + q(loose)).c_str()), 0);
  m = wrap_error(uri(kek_, "cert_file=" + cert + "&key_file=" + loose));
  EXPECT_NE(m.find("KMIP client key file \"" + loose + "\" has group or other permissions (mode 0644)"),
            std::string::npos)
      << m;
  // a missing key file
  m = wrap_error(uri(kek_, "cert_file=" + cert + "&key_file=" + srv().file("missing.key")));
  EXPECT_NE(m.find("could not open KMIP client key file \"" + srv().file("missing.key") + "\""), std::string::npos)
      << m;
  // a key that is not the certificate's
  m = wrap_error(uri(kek_, "cert_file=" + cert + "&key_file=" + srv().file("other.key")));
  EXPECT_NE(m.find("kmip Encrypt: the client key \"" + srv().file("other.key") + "\" does not match the certificate \"" +
                   cert + "\""),
            std::string::npos)
      << m;
  // a file that is not a key
  const std::string notkey = srv().file("notkey.key");
  testutil::write_file(notkey, "not a key\n", 0600);
  m = wrap_error(uri(kek_, "cert_file=" + cert + "&key_file=" + notkey));
  EXPECT_NE(m.find("the client key file \"" + notkey + "\" does not hold an unencrypted PEM private key"),
            std::string::npos)
      << m;
  // an encrypted key: refused, without a passphrase prompt (a child with
  // no terminal and stdin closed, killed if it hangs)
  const std::string enc = srv().file("encrypted.key");
  ASSERT_EQ(std::system(("umask 077; openssl pkey -in " + q(srv().file("client.key")) + " -aes256 -passout pass:x -out " +
                         q(enc) + " 2>/dev/null")
                            .c_str()),
            0);
  const std::string enc_uri = uri(kek_, "cert_file=" + cert + "&key_file=" + enc);
  m = in_child(
      [&] {
        auto p = open_provider(enc_uri);
        p->wrap(ByteView(dek), ByteView(aad));
      },
      10);
  EXPECT_EQ(m.compare(0, 6, "58000 "), 0) << m;
  EXPECT_NE(m.find("the client key file \"" + enc + "\" does not hold an unencrypted PEM private key"),
            std::string::npos)
      << m;
  // and in this process too
  m = wrap_error(enc_uri);
  EXPECT_NE(m.find("does not hold an unencrypted PEM private key"), std::string::npos) << m;
  // no key bytes in any message
  EXPECT_EQ(m.find("PRIVATE KEY"), std::string::npos) << m;
}

TEST_F(KmipProvider, PausedServerTimesOutOrIsCancelled) {
  const Bytes dek = dek_n(8), aad = aad_for("org-pause", 1);
  auto p = open_provider(uri(kek_, "timeout_ms=1000&connect_timeout_ms=1000"));
  const Bytes blob = p->wrap(ByteView(dek), ByteView(aad));  // a connection exists
  {
    Paused paused(srv());
    // on the open connection: no answer within timeout_ms
    auto t = Clock::now();
    std::string m = expect_error("58000", [&] { p->unwrap(ByteView(blob), ByteView(aad)); });
    long ms = ms_since(t);
    EXPECT_NE(m.find("kmip Decrypt: no answer within 1000 ms (" + srv().hostport() + ")"), std::string::npos) << m;
    EXPECT_GE(ms, 950);
    EXPECT_LT(ms, 2500);
    // the connection is then dropped: a new one gets no TLS handshake
    t = Clock::now();
    m = expect_error("58000", [&] { p->unwrap(ByteView(blob), ByteView(aad)); });
    ms = ms_since(t);
    EXPECT_NE(m.find("kmip Decrypt: no TLS handshake within 1000 ms (" + srv().hostport() + ")"), std::string::npos)
        << m;
    EXPECT_GE(ms, 950);
    EXPECT_LT(ms, 2500);

    // a cancel (statement_timeout, pg_cancel_backend) stops the wait within 100 ms
    set_interrupt_check(interrupt_after_300ms);
    auto slow = open_provider(uri(kek_));  // default timeouts: 10 s, 5 s
    g_interrupt_from = t = Clock::now();
    m = expect_error("57014", [&] { slow->wrap(ByteView(dek), ByteView(aad)); });
    ms = ms_since(t);
    EXPECT_NE(m.find("kmip Encrypt was interrupted"), std::string::npos) << m;
    EXPECT_GE(ms, 290);
    EXPECT_LT(ms, 800);
    set_interrupt_check(nullptr);
  }
  // resumed: works again (the server answers the abandoned connections first)
  EXPECT_EQ(tohex(p->unwrap(ByteView(blob), ByteView(aad))), tohex(dek));

  // a cancel while waiting for an answer on an open connection
  {
    Paused paused(srv());
    set_interrupt_check(interrupt_after_300ms);
    auto slow = open_provider(uri(kek_));
    g_interrupt_from = Clock::now();
    auto t = Clock::now();
    std::string m = expect_error("57014", [&] { slow->unwrap(ByteView(blob), ByteView(aad)); });
    long ms = ms_since(t);
    EXPECT_NE(m.find("kmip Decrypt was interrupted"), std::string::npos) << m;
    EXPECT_GE(ms, 290);
    EXPECT_LT(ms, 800);
    set_interrupt_check(nullptr);
  }
  const auto opened = kmip::connections_opened();
  EXPECT_EQ(tohex(p->unwrap(ByteView(blob), ByteView(aad))), tohex(dek));
  EXPECT_EQ(kmip::connections_opened(), opened + 1);  // the cancelled connection was not reused
}

// ---- no server: certificates only (lib_kmip.sh's kmip_certs)
class KmipNoServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::signal(SIGPIPE, SIG_IGN);
    try {
      certs_ = new KmipServer("", "ec", false);
    } catch (const std::exception& e) {
      error_ = std::string("the KMIP test certificates could not be made: ") + e.what();
    }
  }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(error_, "");
    UriPolicy pol;
    pol.allowed = {"kmip://*"};
    set_uri_policy(pol);
    kmip::Settings s;
    s.ca_file = certs_->file("ca.pem");
    s.cert_file = certs_->file("client.pem");
    s.key_file = certs_->file("client.key");
    kmip::set_settings(s);
    kmip::close_connections();
  }
  void TearDown() override {
    kmip::set_settings(kmip::Settings());
    set_uri_policy(UriPolicy());
    kmip::close_connections();
  }
  static KmipServer* certs_;
  static std::string error_;
};
KmipServer* KmipNoServer::certs_ = nullptr;
std::string KmipNoServer::error_;

TEST_F(KmipNoServer, ConnectionRefusedAndConnectTimeout) {
  const Bytes dek = dek_n(9), aad = aad_for("org-conn", 1);
  const int port = closed_port();
  const std::string hp = "127.0.0.1:" + std::to_string(port);
  auto p = open_provider("kmip://" + hp + "/1");
  auto t = Clock::now();
  std::string m = expect_error("58000", [&] { p->wrap(ByteView(dek), ByteView(aad)); });
  EXPECT_NE(m.find("kmip Encrypt: cannot connect: Connection refused (" + hp + ")"), std::string::npos) << m;
  EXPECT_LT(ms_since(t), 1000);
  m = expect_error("58000", [&] { p->validate(); });
  EXPECT_NE(m.find("cannot connect"), std::string::npos) << m;

  // connect_timeout_ms: a listener whose accept queue is full (backlog 0,
  // never accepting) drops further SYNs, a cheap black hole on loopback
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);
  ASSERT_EQ(::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  std::vector<int> fillers;
  for (int i = 0; i < 3; i++) {  // fill the queue
    int f = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(f, reinterpret_cast<sockaddr*>(&a), sizeof a);
    fillers.push_back(f);
  }
  ::usleep(50000);
  const std::string bh = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  auto b = open_provider("kmip://" + bh + "/1?connect_timeout_ms=300");
  t = Clock::now();
  m = expect_error("58000", [&] { b->wrap(ByteView(dek), ByteView(aad)); });
  const long ms = ms_since(t);
  // whether the SYN is dropped or the handshake never answered, 300 ms it is
  const bool no_conn = m.find("kmip Encrypt: no connection within 300 ms (" + bh + ")") != std::string::npos;
  const bool no_tls = m.find("kmip Encrypt: no TLS handshake within 300 ms (" + bh + ")") != std::string::npos;
  EXPECT_TRUE(no_conn || no_tls) << m;
  EXPECT_GE(ms, 290);
  EXPECT_LT(ms, 1200);
  for (int f : fillers) ::close(f);
  ::close(lfd);

  // a name that does not resolve
  auto n = open_provider("kmip://no-such-host.invalid/1");
  m = expect_error("58000", [&] { n->wrap(ByteView(dek), ByteView(aad)); });
  EXPECT_NE(m.find("kmip Encrypt: cannot resolve the host: "), std::string::npos) << m;
  EXPECT_NE(m.find("(no-such-host.invalid:5696)"), std::string::npos) << m;
}

TEST_F(KmipNoServer, Fingerprint) {
  const std::string hp = "127.0.0.1:" + std::to_string(closed_port());
  const std::string u = "kmip://" + hp + "/key-1";
  const auto sent = kmip::requests_sent();
  const auto opened = kmip::connections_opened();
  const Bytes fa = open_provider(u)->fingerprint();
  EXPECT_EQ(fa.size(), 8u);
  // no network for a fingerprint (nothing listens there)
  EXPECT_EQ(kmip::requests_sent(), sent);
  EXPECT_EQ(kmip::connections_opened(), opened);
  // stable; the parameters do not change where the key is
  EXPECT_EQ(tohex(open_provider(u)->fingerprint()), tohex(fa));
  EXPECT_EQ(tohex(open_provider(u + "?timeout_ms=5&ca_file=/x")->fingerprint()), tohex(fa));
  EXPECT_EQ(tohex(fa), tohex(kmip::location_fingerprint(hp, "key-1")));
  // another UID, port or host: another fingerprint
  EXPECT_NE(tohex(open_provider("kmip://" + hp + "/key-2")->fingerprint()), tohex(fa));
  EXPECT_NE(tohex(open_provider("kmip://127.0.0.1:1/key-1")->fingerprint()), tohex(fa));
  EXPECT_NE(tohex(open_provider("kmip://localhost:" + hp.substr(10) + "/key-1")->fingerprint()), tohex(fa));
  // the default port is 5696 either way; the host is lower-cased
  EXPECT_EQ(tohex(open_provider("kmip://Kms.Example/k")->fingerprint()),
            tohex(open_provider("kmip://kms.example:5696/k")->fingerprint()));
  // length-prefixed: "h:1" + "23" differs from "h:12" + "3"
  EXPECT_NE(tohex(kmip::location_fingerprint("h:1", "23")), tohex(kmip::location_fingerprint("h:12", "3")));
}

// ---- a PyKMIP server limited to KMIP 1.2, 1.1, 1.0
class KmipOldServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::signal(SIGPIPE, SIG_IGN);
    try {
      server_ = new KmipServer("--versions 1.2,1.1,1.0", "rsa");
      auto uids = server_->admin({"create", "versions"});
      if (uids.size() != 2) throw std::runtime_error("kmip_admin printed " + std::to_string(uids.size()) + " lines");
      kek_ = uids[0];
      versions_ = uids[1];
    } catch (const std::exception& e) {
      error_ = std::string("the PyKMIP test server (KMIP 1.2 and older) could not be set up: ") + e.what();
    }
  }
  static void TearDownTestSuite() {
    kmip::close_connections();
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_EQ(error_, "");
    UriPolicy pol;
    pol.allowed = {"kmip://*"};
    set_uri_policy(pol);
    kmip::close_connections();
  }
  void TearDown() override {
    kmip::set_settings(kmip::Settings());
    set_uri_policy(UriPolicy());
    kmip::close_connections();
  }
  static kmip::Settings settings(bool get_fallback) {
    kmip::Settings s;
    s.ca_file = server_->file("ca.pem");
    s.cert_file = server_->file("client.pem");
    s.key_file = server_->file("client.key");
    s.allow_get_fallback = get_fallback;
    return s;
  }
  static KmipServer* server_;
  static std::string error_, kek_, versions_;
};
KmipServer* KmipOldServer::server_ = nullptr;
std::string KmipOldServer::error_, KmipOldServer::kek_, KmipOldServer::versions_;

TEST_F(KmipOldServer, RefusedUnlessGetFallbackAllowed) {
  EXPECT_EQ(versions_, "1.2 1.1 1.0");  // the fixture's server really is limited
  const Bytes dek = dek_n(11), aad = aad_for("org-old", 1);
  kmip::set_settings(settings(false));
  auto p = open_provider(server_->uri(kek_));
  std::string m = expect_error("58000", [&] { p->wrap(ByteView(dek), ByteView(aad)); });
  EXPECT_NE(m.find("kmip Encrypt: the server offers KMIP 1.2, 1.1, 1.0; orgcrypt needs KMIP 1.4 or later for "
                   "server-side AES-GCM with additional data (key " +
                   kek_ + " at " + server_->hostport() + ")"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("orgcrypt.kmip_allow_get_fallback"), std::string::npos) << m;
  m = expect_error("58000", [&] { p->unwrap(ByteView(Bytes(60, 0)), ByteView(aad)); });
  EXPECT_NE(m.find("kmip Decrypt: the server offers KMIP 1.2, 1.1, 1.0; orgcrypt needs KMIP 1.4"), std::string::npos)
      << m;

  // allowed: the key is fetched with Get and used here; same blob format
  kmip::set_settings(settings(true));
  auto g = open_provider(server_->uri(kek_));
  const Bytes blob = g->wrap(ByteView(dek), ByteView(aad));
  ASSERT_EQ(blob.size(), 60u);
  EXPECT_EQ(tohex(g->unwrap(ByteView(blob), ByteView(aad))), tohex(dek));
  EXPECT_NO_THROW(g->validate());
  // the AAD is bound, and a damaged blob is refused
  m = expect_error("58000", [&] { g->unwrap(ByteView(blob), ByteView(aad_for("org-other", 1))); });
  EXPECT_NE(m.find("kmip Decrypt: the wrapped key does not authenticate (key " + kek_ + " at " + server_->hostport() +
                   ")"),
            std::string::npos)
      << m;
  Bytes bad = blob;
  bad[20] ^= 0x40;
  expect_error("58000", [&] { g->unwrap(ByteView(bad), ByteView(aad)); });
  // an unknown key: Get's refusal
  auto u = open_provider(server_->uri("424242"));
  m = expect_error("58000", [&] { u->wrap(ByteView(dek), ByteView(aad)); });
  EXPECT_NE(m.find("kmip Get: Operation Failed: Item Not Found: "), std::string::npos) << m;
  // switching the setting off again refuses again (another session)
  kmip::set_settings(settings(false));
  auto p2 = open_provider(server_->uri(kek_));
  m = expect_error("58000", [&] { p2->unwrap(ByteView(blob), ByteView(aad)); });
  EXPECT_NE(m.find("needs KMIP 1.4"), std::string::npos) << m;
}

// A server that speaks only KMIP 2.0 (PyKMIP limited to it; the key is made
// while it still speaks 1.x, as PyKMIP's client sends 1.2): DiscoverVersions
// finds no 1.4 and 2.0 is used, with the same Encrypt and Decrypt fields; a
// DEK wrapped under 2.0 unwraps under 1.4 after the server is back to all
// versions, and the other way round.
TEST(KmipServer20, Kmip20OnlyServerWrapsServerSide) {
  ::signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<KmipServer> srv;
  std::string uid;
  try {
    srv = std::make_unique<KmipServer>("", "ec");
    uid = srv->admin({"create"}).at(0);
    srv->stop();
    srv->start("--versions 2.0");
  } catch (const std::exception& e) {
    FAIL() << "the PyKMIP test server (KMIP 2.0 only) could not be set up: " << e.what();
  }
  UriPolicy pol;
  pol.allowed = {"kmip://*"};
  set_uri_policy(pol);
  kmip::Settings st;
  st.ca_file = srv->file("ca.pem");
  st.cert_file = srv->file("client.pem");
  st.key_file = srv->file("client.key");
  kmip::set_settings(st);
  kmip::close_connections();
  const Bytes dek = dek_n(20), aad = aad_for("org-20", 1);
  auto p = open_provider(srv->uri(uid));
  const Bytes blob = p->wrap(ByteView(dek), ByteView(aad));
  ASSERT_EQ(blob.size(), 60u);
  EXPECT_EQ(tohex(p->unwrap(ByteView(blob), ByteView(aad))), tohex(dek));
  const std::string m = expect_error("58000", [&] { p->unwrap(ByteView(blob), ByteView(aad_for("org-20", 2))); });
  EXPECT_NE(m.find("kmip Decrypt: Operation Failed: "), std::string::npos) << m;
  // (The limited server refuses every request whose header is not 2.0, so
  // these calls were made in KMIP 2.0.)
  // Back to every version: 1.4 is chosen, and the 2.0-made blob unwraps.
  kmip::close_connections();
  srv->stop();
  srv->start();
  auto p14 = open_provider(srv->uri(uid));
  EXPECT_EQ(tohex(p14->unwrap(ByteView(blob), ByteView(aad))), tohex(dek));
  kmip::close_connections();
  kmip::set_settings(kmip::Settings());
  set_uri_policy(UriPolicy());
}
