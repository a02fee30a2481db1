// The vault-transit:// key provider (docs/providers.md, "vault-transit://"):
// the hooks through which unit tests replace its environment (variables,
// clock, sleeping, HTTP), so that its token handling, retries and errors can
// be tested without a server. Production code uses the defaults.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "http.hpp"
#include "secure.hpp"

namespace orgcrypt::vault {

struct Env {
  // A variable of the server's environment; "" when unset.
  std::function<std::string(const char* name)> getenv;
  // A monotonic clock in milliseconds.
  std::function<std::int64_t()> now_ms;
  // Sleeps (at most 100 ms per call; the provider checks for a cancel between calls).
  std::function<void(long ms)> sleep_ms;
  // Sends one request (http::send).
  std::function<http::Response(const http::Request&, const http::Options&, const std::string& operation)> send;
};

// The process's environment, steady_clock, nanosleep and http::send.
Env default_env();
// Tests: use env (nullptr: the default again). Not thread-safe.
void set_env(const Env* env);

constexpr int kMaxAttempts = 3;          // per request: 429, 5xx, no response
constexpr long kBackoffBaseMs = 100;     // full jitter: uniform(0, base * 2^attempt)
constexpr long kBackoffCapMs = 2000;

// The fingerprint of a key location (first 8 bytes of SHA-256 over a label
// and the length-prefixed host:port, namespace, mount and key name).
Bytes location_fingerprint(const std::string& hostport, const std::string& ns, const std::string& mount,
                           const std::string& name);

}  // namespace orgcrypt::vault
