// src/core/http.cpp against a loopback test server
// (tests/helpers/http_test_server.py, Python's standard library) with TLS
// certificates made here by the openssl command line.
#include "http.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "error.hpp"
#include "provider.hpp"
#include "test_util.hpp"

namespace {

using orgcrypt::http::Options;
using orgcrypt::http::Request;
using orgcrypt::http::Response;
using orgcrypt::http::send;
using Clock = std::chrono::steady_clock;

const char* const kPython = "/usr/bin/python3";
const std::string kServerScript = std::string(ORGCRYPT_SOURCE_DIR) + "/tests/helpers/http_test_server.py";

long ms_since(Clock::time_point t) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

// The test server as a child process: started with the given listeners, its
// ports read from its first output line. Startup failure throws (the test
// fails; it is never skipped).
class TestServer {
 public:
  explicit TestServer(const std::vector<std::string>& args) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    if (::pipe2(out, O_CLOEXEC) != 0) {
      ::close(in[0]);
      ::close(in[1]);
      throw std::runtime_error("pipe failed");
    }
    std::vector<std::string> argv_s = {kPython, kServerScript};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::execv(kPython, argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    std::string line;
    const auto start = Clock::now();
    char c;
    while (ms_since(start) < 30000) {
      pollfd p{out[0], POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) continue;
      ssize_t n = ::read(out[0], &c, 1);
      if (n <= 0) break;
      if (c == '\n') break;
      line += c;
    }
    ::close(out[0]);
    std::istringstream ls(line);
    std::string word;
    ls >> word;
    int port;
    while (ls >> port) ports_.push_back(port);
    if (word != "PORTS" || ports_.empty()) {
      stop();
      throw std::runtime_error("the test server " + kServerScript + " did not start (output: \"" + line + "\")");
    }
  }
  ~TestServer() { stop(); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;
  int port(std::size_t i = 0) const { return ports_.at(i); }

 private:
  void stop() {
    if (stdin_ >= 0) ::close(stdin_);
    stdin_ = -1;
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int st;
      while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
      }
    }
    pid_ = -1;
  }
  pid_t pid_ = -1;
  int stdin_ = -1;
  std::vector<int> ports_;
};

// ---- certificates (openssl command line), made once per process
struct Certs {
  testutil::TempDir dir;
  std::string ca, other_ca;               // CA certificates (PEM)
  std::string server_cert, server_key;    // for 127.0.0.1 and localhost, by ca
  std::string misnamed_cert, misnamed_key;  // for other.invalid only, by ca
};

void run(const std::string& cmd, const std::string& log) {
  const std::string full = cmd + " >>'" + log + "' 2>&1";
  if (std::system(full.c_str()) != 0) throw std::runtime_error("failed: " + cmd + " (see " + log + ")");
}

const Certs& certs() {
  static std::unique_ptr<Certs> c;
  if (c) return *c;
  auto n = std::make_unique<Certs>();
  const std::string d = n->dir.path();
  const std::string log = d + "/openssl.log";
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
  for (const char* ca : {"ca", "other_ca"}) {
    run("openssl req -x509 " + ec + " -days 2 -keyout '" + d + "/" + ca + ".key' -out '" + d + "/" + ca +
            ".pem' -subj '/CN=orgcrypt test " + ca + "' -addext basicConstraints=critical,CA:TRUE" +
            " -addext keyUsage=critical,keyCertSign,cRLSign",
        log);
  }
  struct Leaf {
    const char* name;
    const char* san;
  };
  for (Leaf leaf : {Leaf{"server", "IP:127.0.0.1,DNS:localhost"}, Leaf{"misnamed", "DNS:other.invalid"}}) {
    const std::string base = d + "/" + leaf.name;
    testutil::write_file(base + ".ext", std::string("subjectAltName=") + leaf.san +
                                            "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
    run("openssl req " + ec + " -keyout '" + base + ".key' -out '" + base + ".csr' -subj '/CN=" + leaf.name + "'",
        log);
    run("openssl x509 -req -in '" + base + ".csr' -CA '" + d + "/ca.pem' -CAkey '" + d +
            "/ca.key' -CAcreateserial -days 2 -out '" + base + ".pem' -extfile '" + base + ".ext'",
        log);
  }
  n->ca = d + "/ca.pem";
  n->other_ca = d + "/other_ca.pem";
  n->server_cert = d + "/server.pem";
  n->server_key = d + "/server.key";
  n->misnamed_cert = d + "/misnamed.pem";
  n->misnamed_key = d + "/misnamed.key";
  c = std::move(n);
  return *c;
}

// ---- cancellation: the check says "interrupted" from a given time on
Clock::time_point g_cancel_at;
std::atomic<int> g_checks{0};
bool cancel_after() {
  g_checks++;
  return Clock::now() >= g_cancel_at;
}
bool always_interrupted() { return true; }

// A loopback port with nothing listening (bound, then closed).
int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind failed");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

// A loopback port whose connects hang: a listener that never accepts, its
// accept queue filled (Linux then drops further SYNs).
class Blackhole {
 public:
  Blackhole() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) throw std::runtime_error("socket failed");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd_, 0) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("bind/listen failed");
    port_ = ntohs(a.sin_port);
    for (int i = 0; i < 16; i++) {
      int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      if (c < 0) throw std::runtime_error("socket failed");
      fillers_.push_back(c);
      if (::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) continue;
      if (errno != EINPROGRESS) throw std::runtime_error("connect failed");
      pollfd p{c, POLLOUT, 0};
      if (::poll(&p, 1, 200) == 0) return;  // this one hangs: the queue is full
    }
    throw std::runtime_error("could not fill the accept queue");
  }
  ~Blackhole() {
    for (int c : fillers_) ::close(c);
    if (fd_ >= 0) ::close(fd_);
  }
  Blackhole(const Blackhole&) = delete;
  Blackhole& operator=(const Blackhole&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::vector<int> fillers_;
};

Request get(const std::string& url) {
  Request r;
  r.method = "GET";
  r.url = url;
  return r;
}

nlohmann::json echo_json(const Response& r) { return nlohmann::json::parse(r.body); }

// The value of header name (case-insensitive) in an echo, or "<absent>".
std::string echoed_header(const nlohmann::json& j, const std::string& name) {
  for (const auto& h : j.at("headers")) {
    std::string n = h.at(0).get<std::string>();
    if (testutil::upper(n) == testutil::upper(name)) return h.at(1).get<std::string>();
  }
  return "<absent>";
}

// Restores the process-wide settings the tests change.
class HttpTestBase : public ::testing::Test {
 protected:
  void TearDown() override {
    orgcrypt::set_interrupt_check(nullptr);
    orgcrypt::http::set_allow_plain_http_loopback(false);
    for (const char* v : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"})
      ::unsetenv(v);
  }
};

// A plain-http loopback server (allowed by the test setting).
class HttpPlain : public HttpTestBase {
 protected:
  void SetUp() override {
    for (const char* v : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"})
      ::unsetenv(v);
    server_ = std::make_unique<TestServer>(std::vector<std::string>{"--plain"});
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
    orgcrypt::http::set_allow_plain_http_loopback(true);
  }
  std::unique_ptr<TestServer> server_;
  std::string base_;
  Options opt_;
};

// https servers: [0] a certificate for 127.0.0.1/localhost, [1] one for
// another name, both by certs().ca.
class HttpTls : public HttpTestBase {
 protected:
  void SetUp() override {
    for (const char* v : {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"})
      ::unsetenv(v);
    const Certs& c = certs();
    server_ = std::make_unique<TestServer>(
        std::vector<std::string>{"--tls", c.server_cert, c.server_key, "--tls", c.misnamed_cert, c.misnamed_key});
    good_ = "https://127.0.0.1:" + std::to_string(server_->port(0));
    misnamed_ = "https://127.0.0.1:" + std::to_string(server_->port(1));
    opt_.ca_file = c.ca;
  }
  std::unique_ptr<TestServer> server_;
  std::string good_, misnamed_;
  Options opt_;
};

// ---------------------------------------------------------------- helpers

TEST(HttpUriEncode, Rfc3986) {
  using orgcrypt::http::uri_encode;
  EXPECT_EQ(uri_encode("AZaz09-._~", false), "AZaz09-._~");
  EXPECT_EQ(uri_encode("a b/c", false), "a%20b%2Fc");
  EXPECT_EQ(uri_encode("a b/c", true), "a%20b/c");
  EXPECT_EQ(uri_encode("*+=&%:@!$'(),;?#[]", false), "%2A%2B%3D%26%25%3A%40%21%24%27%28%29%2C%3B%3F%23%5B%5D");
  EXPECT_EQ(uri_encode("\xc3\xa9", false), "%C3%A9");  // é in UTF-8: upper-case hex
  EXPECT_EQ(uri_encode(std::string("\0\x7f\xff", 3), false), "%00%7F%FF");
  EXPECT_EQ(uri_encode("", true), "");
  // The AWS SigV4 example: "arn:aws:kms:..." as a path segment.
  EXPECT_EQ(uri_encode("alias/my key", false), "alias%2Fmy%20key");
}

TEST(HttpUrlHost, ParsedByLibcurl) {
  using orgcrypt::http::url_host;
  EXPECT_EQ(url_host("https://kms.eu-west-1.amazonaws.com/"), "kms.eu-west-1.amazonaws.com");
  EXPECT_EQ(url_host("https://vault.example:8200/v1/transit/encrypt/k"), "vault.example");
  EXPECT_EQ(url_host("http://127.0.0.1:8080"), "127.0.0.1");
  EXPECT_EQ(url_host("http://[::1]:8200/x"), "[::1]");
  EXPECT_EQ(url_host("https://user:secret@host.example/"), "host.example");
  EXPECT_EQ(url_host("not a url"), "");
  EXPECT_EQ(url_host(""), "");
}

TEST(HttpPlainRules, WhichHostsMayBeReachedOverPlainHttp) {
  using orgcrypt::http::plain_http_refusal;
  using orgcrypt::http::set_allow_plain_http_loopback;
  set_allow_plain_http_loopback(false);
  // https is always allowed (certificate checks apply).
  EXPECT_EQ(plain_http_refusal("https://192.0.2.1/", false), "");
  EXPECT_EQ(plain_http_refusal("https://127.0.0.1/", false), "");
  // Loopback needs the test setting.
  for (const char* u : {"http://127.0.0.1:1/", "http://127.9.8.7/", "http://localhost:8200/", "http://LOCALHOST/",
                        "http://[::1]:8200/"}) {
    EXPECT_NE(plain_http_refusal(u, false), "") << u;
    EXPECT_NE(plain_http_refusal(u, true), "") << u << " (metadata)";
  }
  set_allow_plain_http_loopback(true);
  for (const char* u : {"http://127.0.0.1:1/", "http://127.9.8.7/", "http://localhost:8200/", "http://LOCALHOST/",
                        "http://[::1]:8200/", "http://[::1%25lo]/",
                        // other spellings of 127.0.0.1, normalized by libcurl's URL parser
                        "http://127.1/", "http://2130706433/", "http://0x7f000001/"}) {
    EXPECT_EQ(plain_http_refusal(u, false), "") << u;
  }
  // Not loopback, whatever the setting: a name that merely starts like one,
  // another private or link-local address, a v4-mapped address.
  for (const char* u : {"http://127.0.0.1.nip.io/", "http://localhost.example/", "http://10.0.0.1/",
                        "http://192.0.2.1/", "http://[::ffff:127.0.0.1]/", "http://[fe80::1]/", "http://127.0.0.1./",
                        "http://user@192.0.2.1#@127.0.0.1/"}) {
    EXPECT_NE(plain_http_refusal(u, false), "") << u;
  }
  set_allow_plain_http_loopback(false);
  // The rule judges the host as libcurl parses it, the parse the transfer
  // then uses (the same CURLU handle): here libcurl's host is 127.0.0.1.
  EXPECT_EQ(orgcrypt::http::url_host("http://192.0.2.1\\@127.0.0.1/"), "127.0.0.1");
  EXPECT_NE(plain_http_refusal("http://192.0.2.1\\@127.0.0.1/", false).find("plain http to 127.0.0.1"),
            std::string::npos);
  // The AWS metadata addresses: only with metadata = true.
  for (const char* u : {"http://169.254.169.254/latest/api/token", "http://[fd00:ec2::254]/latest/meta-data/",
                        "http://[fd00:ec2:0:0::254]/", "http://[FD00:EC2::254]/", "http://0xA9FEA9FE/",
                        "http://169.254.170.2/v2/credentials/x",
                        "http://169.254.170.23/v1/credentials"}) {
    EXPECT_EQ(plain_http_refusal(u, true), "") << u;
    EXPECT_NE(plain_http_refusal(u, false), "") << u;
  }
  for (const char* u : {"http://169.254.169.253/", "http://169.254.170.3/", "http://[fd00:ec2::253]/",
                        "http://169.254.169.254.nip.io/", "http://metadata.google.internal/", "http://192.0.2.1/"}) {
    EXPECT_NE(plain_http_refusal(u, true), "") << u;
  }
  // Other schemes and malformed URLs are refused.
  EXPECT_NE(plain_http_refusal("ftp://127.0.0.1/", true), "");
  EXPECT_NE(plain_http_refusal("file:///etc/passwd", true), "");
  EXPECT_NE(plain_http_refusal("https://", false), "");
  EXPECT_NE(plain_http_refusal("no scheme", false), "");
}

// ---------------------------------------------------------------- plain http (loopback)

TEST_F(HttpPlain, GetAndPostRoundTrip) {
  Request r = get(base_ + "/echo?a=1");
  r.headers.push_back({"X-Amz-Target", "TrentService.Encrypt"});
  r.headers.push_back({"X-Empty", ""});
  Response resp = send(r, opt_, "test", "Get");
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(resp.header("content-type"), "application/json");
  EXPECT_EQ(resp.header("x-test-header"), "Mixed Case Value");
  EXPECT_EQ(resp.header("X-Test-Header"), "");  // names are lower-case
  for (const auto& h : resp.headers)
    for (char ch : h.name) EXPECT_FALSE(ch >= 'A' && ch <= 'Z') << h.name;
  auto j = echo_json(resp);
  EXPECT_EQ(j.at("method"), "GET");
  EXPECT_EQ(j.at("path"), "/echo?a=1");
  EXPECT_EQ(j.at("body"), "");
  EXPECT_EQ(echoed_header(j, "x-amz-target"), "TrentService.Encrypt");
  EXPECT_EQ(echoed_header(j, "x-empty"), "");
  EXPECT_EQ(echoed_header(j, "host"), "127.0.0.1:" + std::to_string(server_->port()));
  EXPECT_EQ(echoed_header(j, "content-type"), "<absent>");
  EXPECT_EQ(echoed_header(j, "accept"), "<absent>");
  EXPECT_EQ(echoed_header(j, "user-agent"), "<absent>");
  EXPECT_EQ(echoed_header(j, "content-length"), "<absent>");

  Request p;
  p.url = base_ + "/echo";
  p.headers.push_back({"Content-Type", "application/x-amz-json-1.1"});
  p.body = std::string(100000, 'b') + "{\"KeyId\":\"k\"}";  // large enough for curl to think of Expect
  resp = send(p, opt_, "test", "Post");
  EXPECT_EQ(resp.status, 200);
  j = echo_json(resp);
  EXPECT_EQ(j.at("method"), "POST");
  EXPECT_EQ(j.at("body"), p.body);
  EXPECT_EQ(echoed_header(j, "content-type"), "application/x-amz-json-1.1");
  EXPECT_EQ(echoed_header(j, "content-length"), std::to_string(p.body.size()));
  EXPECT_EQ(echoed_header(j, "expect"), "<absent>");
  EXPECT_EQ(echoed_header(j, "transfer-encoding"), "<absent>");

  Request put;
  put.method = "PUT";
  put.url = base_ + "/echo";
  put.body = "{\"x\":1}";
  resp = send(put, opt_, "test", "Put");
  j = echo_json(resp);
  EXPECT_EQ(j.at("method"), "PUT");
  EXPECT_EQ(j.at("body"), put.body);

  // A Host header given by the caller (a signer signs it) replaces libcurl's.
  Request h = get(base_ + "/echo");
  h.headers.push_back({"Host", "kms.example:443"});
  j = echo_json(send(h, opt_, "test", "Host"));
  EXPECT_EQ(echoed_header(j, "host"), "kms.example:443");

  // An empty PUT (the IMDSv2 token request) sends Content-Length: 0.
  Request token;
  token.method = "PUT";
  token.url = base_ + "/echo";
  token.headers.push_back({"X-aws-ec2-metadata-token-ttl-seconds", "21600"});
  j = echo_json(send(token, opt_, "test", "Put"));
  EXPECT_EQ(j.at("method"), "PUT");
  EXPECT_EQ(echoed_header(j, "content-length"), "0");
  EXPECT_EQ(echoed_header(j, "x-aws-ec2-metadata-token-ttl-seconds"), "21600");

  Request empty_post;
  empty_post.url = base_ + "/echo";
  resp = send(empty_post, opt_, "test", "Post");
  j = echo_json(resp);
  EXPECT_EQ(j.at("method"), "POST");
  EXPECT_EQ(echoed_header(j, "content-length"), "0");
}

TEST_F(HttpPlain, NonSuccessStatusesAreReturned) {
  for (int code : {400, 403, 404, 429, 500, 503}) {
    Response resp = send(get(base_ + "/status/" + std::to_string(code)), opt_, "test", "Status");
    EXPECT_EQ(resp.status, code);
    EXPECT_EQ(resp.body, "status " + std::to_string(code));
  }
}

TEST_F(HttpPlain, RedirectIsNotFollowed) {
  Request r = get(base_ + "/redirect");
  Response resp = send(r, opt_, "test", "Redirect");
  EXPECT_EQ(resp.status, 302);
  EXPECT_EQ(resp.header("location"), "/echo");
  EXPECT_EQ(resp.body, "moved");
}

TEST_F(HttpPlain, ConnectionRefusedNamesTheHost) {
  Request r = get("http://127.0.0.1:" + std::to_string(closed_port()) + "/");
  r.headers.push_back({"Authorization", "secret-token-value"});
  const std::string msg = testutil::expect_error("58000", [&] { send(r, opt_, "aws-kms", "Encrypt"); });
  EXPECT_NE(msg.find("aws-kms Encrypt: could not reach 127.0.0.1"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("secret-token-value"), std::string::npos) << msg;
}

TEST_F(HttpPlain, TotalTimeout) {
  opt_.total_timeout_ms = 300;
  const auto start = Clock::now();
  const std::string msg =
      testutil::expect_error("58000", [&] { send(get(base_ + "/slow?ms=5000"), opt_, "vault-transit", "encrypt"); });
  const long took = ms_since(start);
  EXPECT_NE(msg.find("vault-transit encrypt: could not reach 127.0.0.1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("total timeout (300 ms)"), std::string::npos) << msg;
  EXPECT_GE(took, 250);
  EXPECT_LT(took, 4000);  // generous: the server answers after 5 s
}

TEST_F(HttpPlain, ConnectTimeout) {
  Blackhole hole;
  opt_.connect_timeout_ms = 300;
  const auto start = Clock::now();
  const std::string msg = testutil::expect_error(
      "58000", [&] { send(get("http://127.0.0.1:" + std::to_string(hole.port()) + "/"), opt_, "aws-kms", "Encrypt"); });
  EXPECT_NE(msg.find("aws-kms Encrypt: could not reach 127.0.0.1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("connect timeout (300 ms)"), std::string::npos) << msg;
  EXPECT_LT(ms_since(start), 4000);  // generous
}

TEST_F(HttpPlain, CancelWhileConnecting) {
  Blackhole hole;
  g_cancel_at = Clock::now() + std::chrono::milliseconds(300);
  orgcrypt::set_interrupt_check(cancel_after);
  const auto start = Clock::now();
  testutil::expect_error(
      "57014", [&] { send(get("http://127.0.0.1:" + std::to_string(hole.port()) + "/"), opt_, "aws-kms", "Encrypt"); });
  EXPECT_LT(ms_since(start), 2000);  // generous: the connect timeout is 5 s
}

TEST_F(HttpPlain, CancelWhileTheServerIsSlow) {
  g_checks = 0;
  g_cancel_at = Clock::now() + std::chrono::milliseconds(300);
  orgcrypt::set_interrupt_check(cancel_after);
  const auto start = Clock::now();
  const std::string msg =
      testutil::expect_error("57014", [&] { send(get(base_ + "/slow?ms=5000"), opt_, "aws-kms", "Decrypt"); });
  const long took = ms_since(start);
  EXPECT_NE(msg.find("aws-kms Decrypt was interrupted"), std::string::npos) << msg;
  EXPECT_GE(took, 250);
  EXPECT_LT(took, 2000);  // generous: the server answers after 5 s
  orgcrypt::set_interrupt_check(nullptr);
  // The handle still works after an aborted transfer.
  EXPECT_EQ(send(get(base_ + "/status/204"), opt_, "test", "After").status, 204);
}

TEST_F(HttpPlain, PendingCancelStopsBeforeConnecting) {
  const long before = orgcrypt::http::connections_opened();
  orgcrypt::set_interrupt_check(always_interrupted);
  testutil::expect_error("57014", [&] { send(get(base_ + "/echo"), opt_, "aws-kms", "Encrypt"); });
  EXPECT_EQ(orgcrypt::http::connections_opened(), before);
}

TEST_F(HttpPlain, PlainHttpToLoopbackNeedsTheTestSetting) {
  orgcrypt::http::set_allow_plain_http_loopback(false);
  const long before = orgcrypt::http::connections_opened();
  const std::string msg =
      testutil::expect_error("58000", [&] { send(get(base_ + "/echo"), opt_, "vault-transit", "encrypt"); });
  EXPECT_NE(msg.find("vault-transit encrypt: plain http to 127.0.0.1 is refused"), std::string::npos) << msg;
  EXPECT_NE(msg.find("orgcrypt.allow_plain_http_loopback"), std::string::npos) << msg;
  // metadata = true does not make a loopback address a metadata address.
  Request m = get(base_ + "/echo");
  m.metadata = true;
  testutil::expect_error("58000", [&] { send(m, opt_, "aws-kms", "credentials"); });
  EXPECT_EQ(orgcrypt::http::connections_opened(), before);
  orgcrypt::http::set_allow_plain_http_loopback(true);
  EXPECT_EQ(send(get(base_ + "/echo"), opt_, "vault-transit", "encrypt").status, 200);
  EXPECT_EQ(send(get("http://localhost:" + std::to_string(server_->port()) + "/echo"), opt_, "t", "o").status, 200);
}

TEST_F(HttpPlain, PlainHttpElsewhereIsRefusedWithoutConnecting) {
  const long before = orgcrypt::http::connections_opened();
  const auto start = Clock::now();
  const std::string msg =
      testutil::expect_error("58000", [&] { send(get("http://192.0.2.1/"), opt_, "vault-transit", "encrypt"); });
  EXPECT_NE(msg.find("vault-transit encrypt: plain http to 192.0.2.1 is refused"), std::string::npos) << msg;
  Request m = get("http://192.0.2.1/latest/api/token");
  m.metadata = true;
  const std::string msg2 = testutil::expect_error("58000", [&] { send(m, opt_, "aws-kms", "IMDS"); });
  EXPECT_NE(msg2.find("plain http to 192.0.2.1 is refused"), std::string::npos) << msg2;
  // A metadata address without metadata = true (no connection is tried).
  testutil::expect_error("58000", [&] { send(get("http://169.254.169.254/"), opt_, "aws-kms", "x"); });
  // Not http(s) at all.
  testutil::expect_error("58000", [&] { send(get("ftp://127.0.0.1/"), opt_, "aws-kms", "x"); });
  testutil::expect_error("58000", [&] { send(get("file:///etc/hostname"), opt_, "aws-kms", "x"); });
  EXPECT_EQ(orgcrypt::http::connections_opened(), before);
  EXPECT_LT(ms_since(start), 1000);  // 192.0.2.1 (TEST-NET-1) would hang
}

TEST_F(HttpPlain, BodyOverMaxBodyIsAnError) {
  opt_.max_body = 5000;
  EXPECT_EQ(send(get(base_ + "/large?n=5000"), opt_, "t", "o").body.size(), 5000u);
  EXPECT_EQ(send(get(base_ + "/large?n=5000&chunked=1"), opt_, "t", "o").body.size(), 5000u);
  std::string msg = testutil::expect_error("58000", [&] { send(get(base_ + "/large?n=5001"), opt_, "aws-kms", "Decrypt"); });
  EXPECT_NE(msg.find("aws-kms Decrypt: response too long from 127.0.0.1"), std::string::npos) << msg;
  msg = testutil::expect_error("58000",
                               [&] { send(get(base_ + "/large?n=200000&chunked=1"), opt_, "aws-kms", "Decrypt"); });
  EXPECT_NE(msg.find("response too long"), std::string::npos) << msg;
  // Headers are bounded too (64 KiB in all).
  Response many = send(get(base_ + "/headers?n=20"), opt_, "t", "o");
  EXPECT_EQ(many.header("x-filler-19"), std::string(1000, 'y'));
  msg = testutil::expect_error("58000", [&] { send(get(base_ + "/headers?n=100"), opt_, "aws-kms", "Decrypt"); });
  EXPECT_NE(msg.find("response too long"), std::string::npos) << msg;
  // And the next request works.
  EXPECT_EQ(send(get(base_ + "/status/200"), opt_, "t", "o").status, 200);
}

TEST_F(HttpPlain, InvalidHeadersAreRefusedWithoutTheirValue) {
  const long before = orgcrypt::http::connections_opened();
  Request r = get(base_ + "/echo");
  r.headers.push_back({"X-Token", "abc\r\nX-Injected: secret-value"});
  std::string msg = testutil::expect_error("58000", [&] { send(r, opt_, "t", "o"); });
  EXPECT_EQ(msg.find("secret-value"), std::string::npos) << msg;
  Request n = get(base_ + "/echo");
  n.headers.push_back({"Bad Name", "v"});
  testutil::expect_error("58000", [&] { send(n, opt_, "t", "o"); });
  Request m = get(base_ + "/echo");
  m.method = "GET /x";
  testutil::expect_error("58000", [&] { send(m, opt_, "t", "o"); });
  EXPECT_EQ(orgcrypt::http::connections_opened(), before);
}

TEST_F(HttpPlain, KeepAliveReusesOneConnection) {
  const long before = orgcrypt::http::connections_opened();
  for (int i = 0; i < 10; i++) {
    Request r;
    r.url = base_ + "/keepalive";
    r.body = "{}";
    ASSERT_EQ(send(r, opt_, "t", "o").status, 200);
  }
  EXPECT_EQ(orgcrypt::http::connections_opened(), before + 1);
  auto stats = nlohmann::json::parse(send(get(base_ + "/stats"), opt_, "t", "o").body);
  EXPECT_EQ(stats.at("connections"), 1);  // as the server saw it
}

TEST_F(HttpPlain, ForkedChildMakesItsOwnConnection) {
  ASSERT_EQ(send(get(base_ + "/keepalive"), opt_, "t", "o").status, 200);
  const long parent_before = orgcrypt::http::connections_opened();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int rc = 0;
    try {
      for (int i = 0; i < 3; i++)
        if (send(get(base_ + "/keepalive"), opt_, "t", "o").status != 200) rc = 1;
      // The child opened one connection of its own and reused it.
      if (orgcrypt::http::connections_opened() != parent_before + 1) rc = 2;
    } catch (...) {
      rc = 3;
    }
    ::_exit(rc);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  // The parent still uses its own connection, untouched by the child.
  EXPECT_EQ(send(get(base_ + "/keepalive"), opt_, "t", "o").status, 200);
  EXPECT_EQ(orgcrypt::http::connections_opened(), parent_before);
  auto stats = nlohmann::json::parse(send(get(base_ + "/stats"), opt_, "t", "o").body);
  EXPECT_EQ(stats.at("connections"), 2);  // the parent's and the child's
}

TEST_F(HttpPlain, ProxyFromTheEnvironmentIsNotUsedForLoopback) {
  // A proxy that does not exist: loopback requests must not go there.
  ::setenv("http_proxy", "http://127.0.0.1:1", 1);
  ::setenv("all_proxy", "http://127.0.0.1:1", 1);
  EXPECT_EQ(send(get(base_ + "/echo"), opt_, "t", "o").status, 200);
  EXPECT_EQ(send(get("http://localhost:" + std::to_string(server_->port()) + "/echo"), opt_, "t", "o").status, 200);
}

TEST_F(HttpPlain, ProxyFromTheEnvironmentIsUsedForOtherHosts) {
  // The test server as the proxy: it counts the CONNECT and refuses it.
  ::setenv("https_proxy", base_.c_str(), 1);
  opt_.connect_timeout_ms = 2000;
  opt_.total_timeout_ms = 3000;
  testutil::expect_error("58000", [&] { send(get("https://192.0.2.1/"), opt_, "aws-kms", "Encrypt"); });
  ::unsetenv("https_proxy");
  auto stats = nlohmann::json::parse(send(get(base_ + "/stats"), opt_, "t", "o").body);
  EXPECT_EQ(stats.at("connects"), 1);
}

// ---------------------------------------------------------------- https

TEST_F(HttpTls, RightCaFileWorks) {
  Request r = get(good_ + "/echo");
  Response resp = send(r, opt_, "vault-transit", "encrypt");
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(echo_json(resp).at("method"), "GET");
  // By name too (the certificate names localhost).
  EXPECT_EQ(send(get("https://localhost:" + std::to_string(server_->port(0)) + "/status/418"), opt_, "t", "o").status,
            418);
  // https to loopback needs no test setting.
  EXPECT_FALSE(orgcrypt::http::allow_plain_http_loopback());
}

TEST_F(HttpTls, WrongCaIsRefused) {
  opt_.ca_file = certs().other_ca;
  const std::string msg =
      testutil::expect_error("58000", [&] { send(get(good_ + "/echo"), opt_, "vault-transit", "encrypt"); });
  EXPECT_NE(msg.find("vault-transit encrypt: could not reach 127.0.0.1"), std::string::npos) << msg;
  EXPECT_NE(msg.find(certs().other_ca), std::string::npos) << msg;  // the hint names the CA file
}

TEST_F(HttpTls, SystemStoreDoesNotTrustTheTestCa) {
  opt_.ca_file.clear();
  testutil::expect_error("58000", [&] { send(get(good_ + "/echo"), opt_, "vault-transit", "encrypt"); });
}

TEST_F(HttpTls, HostnameMismatchIsRefused) {
  const std::string msg =
      testutil::expect_error("58000", [&] { send(get(misnamed_ + "/echo"), opt_, "vault-transit", "encrypt"); });
  EXPECT_NE(msg.find("could not reach 127.0.0.1"), std::string::npos) << msg;
}

TEST_F(HttpTls, MissingCaFileIsAnError) {
  opt_.ca_file = certs().dir.file("no-such-ca.pem");
  testutil::expect_error("58000", [&] { send(get(good_ + "/echo"), opt_, "vault-transit", "encrypt"); });
}

TEST_F(HttpTls, KeepAliveOverTls) {
  const long before = orgcrypt::http::connections_opened();
  for (int i = 0; i < 10; i++) ASSERT_EQ(send(get(good_ + "/keepalive"), opt_, "t", "o").status, 200);
  EXPECT_EQ(orgcrypt::http::connections_opened(), before + 1);
}

TEST_F(HttpTls, CancelDuringTlsWait) {
  g_cancel_at = Clock::now() + std::chrono::milliseconds(300);
  orgcrypt::set_interrupt_check(cancel_after);
  const auto start = Clock::now();
  testutil::expect_error("57014", [&] { send(get(good_ + "/slow?ms=5000"), opt_, "vault-transit", "decrypt"); });
  EXPECT_LT(ms_since(start), 2000);
}

}  // namespace
