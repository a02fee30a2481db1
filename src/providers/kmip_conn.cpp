// A TLS connection to a KMIP server (see kmip_conn.hpp).
#include "kmip_conn.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "error.hpp"
#include "kmip_msg.hpp"
#include "provider.hpp"
#include "secret_file.hpp"

namespace orgcrypt::kmip {

namespace {

constexpr int kPollStepMs = 100;
constexpr std::size_t kMaxKeyFile = 64 * 1024;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The reason of the oldest OpenSSL error in the queue (the queue is cleared).
std::string openssl_reason() {
  unsigned long e = ERR_get_error();
  std::string out;
  if (e != 0) {
    const char* r = ERR_reason_error_string(e);
    out = r ? r : "error " + std::to_string(ERR_GET_REASON(e));
  }
  ERR_clear_error();
  return out.empty() ? "unknown TLS error" : out;
}

// No passphrase prompt: an encrypted private key is refused.
int no_password(char*, int, int, void*) { return -1; }

}  // namespace

void Connection::fail(const std::string& operation, const std::string& what) {
  broken_ = true;
  throw Error(sqlstate::kSystemError, "kmip " + operation + ": " + what + " (" + where_ + ")");
}

void Connection::wait_io(int want, std::int64_t deadline_ms, const std::string& what, const std::string& operation) {
  for (;;) {
    if (provider_interrupted()) {
      broken_ = true;
      throw_interrupted("kmip", operation);
    }
    const std::int64_t left = deadline_ms - now_ms();
    if (left <= 0) fail(operation, what);
    pollfd p{};
    p.fd = fd_;
    p.events = static_cast<short>(want);
    const int rc = poll(&p, 1, static_cast<int>(std::min<std::int64_t>(kPollStepMs, left)));
    if (rc > 0) return;
    if (rc < 0 && errno != EINTR) fail(operation, std::string("poll failed: ") + std::strerror(errno));
  }
}

std::unique_ptr<Connection> Connection::open(const TlsConfig& cfg, const std::string& operation) {
  std::unique_ptr<Connection> c(new Connection());
  c->where_ = cfg.host + ":" + std::to_string(cfg.port);
  c->pid_ = static_cast<int>(getpid());
  const std::int64_t deadline = now_ms() + cfg.connect_timeout_ms;
  auto fail_now = [&](const std::string& what) -> void { c->fail(operation, what); };
  ERR_clear_error();

  // ---- TLS context: our certificate and key, the CA that signs the server
  if (cfg.cert_file.empty() || cfg.key_file.empty())
    throw Error(sqlstate::kSystemError, "kmip " + operation + ": no client certificate (" + c->where_ + ")", "",
                "KMIP servers authenticate clients by certificate: set orgcrypt.kmip_cert_file and "
                "orgcrypt.kmip_key_file (or cert_file= and key_file= in the URI).");
  // Everything opened belongs to c at once: its destructor frees it on a failure.
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX* ctx = c->ctx_;
  if (!ctx) fail_now("cannot create a TLS context: " + openssl_reason());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_default_passwd_cb(ctx, no_password);
  if (!cfg.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, cfg.ca_file.c_str(), nullptr) != 1)
      fail_now("cannot load the CA file \"" + cfg.ca_file + "\": " + openssl_reason());
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    fail_now("cannot load the system's CA certificates: " + openssl_reason());
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert_file.c_str()) != 1)
    fail_now("cannot load the client certificate \"" + cfg.cert_file + "\": " + openssl_reason());
  {
    SecretFile kf = read_secret_file(cfg.key_file, "KMIP client key file", kMaxKeyFile,
                                     "It holds the PEM private key of the client certificate, readable only by the "
                                     "server's OS user (mode 0600).");
    if (kf.content.size() > kMaxKeyFile) fail_now("the client key file \"" + cfg.key_file + "\" is larger than 64 kB");
    BIO* bio = BIO_new_mem_buf(kf.content.data(), static_cast<int>(kf.content.size()));
    if (!bio) fail_now("out of memory reading the client key");
    EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, no_password, nullptr);
    BIO_free(bio);
    if (!pkey)
      fail_now("the client key file \"" + cfg.key_file +
               "\" does not hold an unencrypted PEM private key: " + openssl_reason());
    const int used = SSL_CTX_use_PrivateKey(ctx, pkey);
    EVP_PKEY_free(pkey);
    // The certificate is loaded first, so a key of another pair fails here.
    const unsigned long top = ERR_peek_error();
    if (used != 1 && ERR_GET_LIB(top) == ERR_LIB_X509 && ERR_GET_REASON(top) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      fail_now("the client key \"" + cfg.key_file + "\" does not match the certificate \"" + cfg.cert_file + "\"");
    }
    if (used != 1) fail_now("cannot use the client key \"" + cfg.key_file + "\": " + openssl_reason());
  }
  if (SSL_CTX_check_private_key(ctx) != 1)
    fail_now("the client key \"" + cfg.key_file + "\" does not match the certificate \"" + cfg.cert_file + "\"");

  // ---- TCP, non-blocking
  std::string host = cfg.host;
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int gai = getaddrinfo(host.c_str(), std::to_string(cfg.port).c_str(), &hints, &res);
  if (gai != 0) fail_now("cannot resolve the host: " + std::string(gai_strerror(gai)));
  std::string last = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
      c->fd_ = fd;
      try {
        c->wait_io(POLLOUT, deadline, "no connection within " + std::to_string(cfg.connect_timeout_ms) + " ms",
                   operation);
      } catch (...) {
        freeaddrinfo(res);
        close(fd);
        c->fd_ = -1;
        throw;
      }
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) break;
      last = std::strerror(err ? err : errno);
    } else {
      last = std::strerror(errno);
    }
    close(fd);
    c->fd_ = -1;
  }
  freeaddrinfo(res);
  if (c->fd_ < 0) fail_now("cannot connect: " + last);
  const int one = 1;
  setsockopt(c->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  // ---- TLS handshake, verifying the server's name or address
  c->ssl_ = SSL_new(ctx);
  SSL* ssl = c->ssl_;
  if (!ssl || SSL_set_fd(ssl, c->fd_) != 1) fail_now("cannot set up TLS: " + openssl_reason());
  in6_addr a6{};
  in_addr a4{};
  if (inet_pton(AF_INET, host.c_str(), &a4) == 1 || inet_pton(AF_INET6, host.c_str(), &a6) == 1) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1)
      fail_now("cannot set the address to verify: " + openssl_reason());
  } else {
    if (SSL_set1_host(ssl, host.c_str()) != 1 || SSL_set_tlsext_host_name(ssl, host.c_str()) != 1)
      fail_now("cannot set the host name to verify: " + openssl_reason());
  }
  SSL_set_connect_state(ssl);
  for (;;) {
    ERR_clear_error();
    const int rc = SSL_do_handshake(ssl);
    if (rc == 1) break;
    const int e = SSL_get_error(ssl, rc);
    const std::string timeout = "no TLS handshake within " + std::to_string(cfg.connect_timeout_ms) + " ms";
    if (e == SSL_ERROR_WANT_READ) {
      c->wait_io(POLLIN, deadline, timeout, operation);
    } else if (e == SSL_ERROR_WANT_WRITE) {
      c->wait_io(POLLOUT, deadline, timeout, operation);
    } else {
      const long v = SSL_get_verify_result(ssl);
      if (v != X509_V_OK)
        fail_now(std::string("the server's certificate did not verify: ") + X509_verify_cert_error_string(v) +
                 (cfg.ca_file.empty() ? " (no CA file set: orgcrypt.kmip_ca_file)" : " (CA file \"" + cfg.ca_file + "\")"));
      std::string why = e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0
                            ? (errno ? std::string(std::strerror(errno)) : std::string("the server closed the connection"))
                            : openssl_reason();
      fail_now("TLS handshake failed: " + why);
    }
  }
  return c;
}

Connection::~Connection() {
  if (ssl_) {
    if (!broken_ && pid_ == static_cast<int>(getpid())) {
      ERR_clear_error();
      SSL_shutdown(ssl_);  // one non-blocking close_notify; the answer is not awaited
    }
    SSL_free(ssl_);
  }
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) close(fd_);
  ERR_clear_error();
}

std::string Connection::tls_description() const {
  if (!ssl_) return {};
  const char* cipher = SSL_get_cipher_name(ssl_);
  return std::string(SSL_get_version(ssl_)) + " " + (cipher ? cipher : "");
}

SecretBytes Connection::exchange(ByteView request, long timeout_ms, const std::string& operation,
                                 std::size_t max_response) {
  closed_by_peer_ = false;
  if (broken_) fail(operation, "the connection is broken");
  const std::int64_t deadline = now_ms() + timeout_ms;
  const std::string timeout = "no answer within " + std::to_string(timeout_ms) + " ms";
  auto io_failed = [&](int rc, bool nothing_read) -> void {
    const int e = SSL_get_error(ssl_, rc);
    const int saved = errno;
    // OpenSSL 3 reports a peer that closed without close_notify (a killed
    // or restarted server) as SSL_R_UNEXPECTED_EOF_WHILE_READING.
    const unsigned long err = ERR_peek_error();
    const bool eof = e == SSL_ERROR_SSL && ERR_GET_LIB(err) == ERR_LIB_SSL &&
                     ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
    if (e == SSL_ERROR_ZERO_RETURN || eof || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 &&
                                       (rc == 0 || saved == ECONNRESET || saved == EPIPE))) {
      closed_by_peer_ = nothing_read;
      fail(operation, "the server closed the connection");
    }
    fail(operation, "TLS error: " + (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 ? std::string(std::strerror(saved))
                                                                                      : openssl_reason()));
  };
  std::size_t sent = 0;
  while (sent < request.size) {
    ERR_clear_error();
    const int rc = SSL_write(ssl_, request.data + sent, static_cast<int>(request.size - sent));
    if (rc > 0) {
      sent += static_cast<std::size_t>(rc);
      continue;
    }
    const int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_WRITE) wait_io(POLLOUT, deadline, timeout, operation);
    else if (e == SSL_ERROR_WANT_READ) wait_io(POLLIN, deadline, timeout, operation);
    else io_failed(rc, true);
  }
  SecretBytes out(8);
  std::size_t got = 0, want = 8;
  bool have_length = false;
  for (;;) {
    if (got == want) {
      if (have_length) break;
      try {
        want = message_length(ByteView(out.data(), 8), max_response);
      } catch (...) {
        broken_ = true;
        throw;
      }
      have_length = true;
      out.resize(want);
      continue;
    }
    ERR_clear_error();
    const int rc = SSL_read(ssl_, out.data() + got, static_cast<int>(want - got));
    if (rc > 0) {
      got += static_cast<std::size_t>(rc);
      continue;
    }
    const int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_READ) wait_io(POLLIN, deadline, timeout, operation);
    else if (e == SSL_ERROR_WANT_WRITE) wait_io(POLLOUT, deadline, timeout, operation);
    else io_failed(rc, got == 0);
  }
  return out;
}

}  // namespace orgcrypt::kmip
