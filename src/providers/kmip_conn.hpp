// One TLS connection to a KMIP server (KMIP 1.4 profiles: TLS 1.2 or later,
// mutual authentication with client certificates), carrying whole TTLV
// messages. OpenSSL on a non-blocking socket: every wait is a poll() of at
// most 100 ms that asks provider_interrupted(), so a cancel or
// statement_timeout stops a connect, a handshake or a silent server promptly.
//
// The client key is read with read_secret_file (owned by the process's OS
// user, no group or other bits) into wiped memory; an encrypted key is
// refused (no passphrase prompt). The server is verified against ca_file (or
// the system's CA store when none is set) and its name or IP address.
// The process must ignore SIGPIPE (PostgreSQL backends do).
#pragma once
#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>

#include "secure.hpp"

namespace orgcrypt::kmip {

struct TlsConfig {
  std::string host;  // as in KmipUri::host (an IPv6 address in brackets)
  unsigned port = 0;
  std::string ca_file, cert_file, key_file;
  long connect_timeout_ms = 5000;  // TCP connect and TLS handshake
};

class Connection {
 public:
  // Connects and completes the TLS handshake. Throws Error 58000 naming
  // HOST:PORT and what failed (connect, certificate verification, the
  // client key), or 57014 on a cancel. operation names the call in errors.
  static std::unique_ptr<Connection> open(const TlsConfig& cfg, const std::string& operation);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sends one request message and reads one response message (at most
  // max_response bytes), all within timeout_ms. Throws Error 58000 (a
  // failure of the connection: it is then broken()) or 57014.
  SecretBytes exchange(ByteView request, long timeout_ms, const std::string& operation,
                       std::size_t max_response = 1u << 20);
  // True after an I/O failure, a timeout or a cancel: do not reuse.
  bool broken() const { return broken_; }
  // True if the last failure of exchange() was the server closing the
  // connection before answering (a reused idle connection may be closed by
  // the server: the caller reconnects and retries once).
  bool closed_by_peer() const { return closed_by_peer_; }
  // The TLS version and cipher negotiated ("TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384").
  std::string tls_description() const;
  // The process that opened it (a forked child must not use it).
  int owner_pid() const { return pid_; }

 private:
  Connection() = default;
  void wait_io(int want, std::int64_t deadline_ms, const std::string& what, const std::string& operation);
  [[noreturn]] void fail(const std::string& operation, const std::string& what);

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  bool broken_ = false;
  bool closed_by_peer_ = false;
  int pid_ = 0;
  std::string where_;  // HOST:PORT for messages
};

}  // namespace orgcrypt::kmip
