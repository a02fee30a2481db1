// vault-transit://HOST:PORT/MOUNT/keys/NAME — a HashiCorp Vault (1.13 or
// later) or OpenBao Transit key wraps and unwraps DEKs over Vault's HTTP API:
//
//   wrap:   POST /v1/MOUNT/encrypt/NAME {"plaintext": b64(DEK), "associated_data": b64(wrap AAD)}
//           -> data.ciphertext "vault:vN:..." whose bytes are the wrapped blob
//   unwrap: POST /v1/MOUNT/decrypt/NAME {"ciphertext": blob, "associated_data": b64(wrap AAD)}
//           -> data.plaintext, which must be 32 bytes
//
// URI syntax: vault_uri.hpp; bodies: vault_json.hpp; tokens: vault_token.hpp;
// user documentation: docs/providers.md ("vault-transit://").
#include "vault_transit.hpp"

#include <time.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>

#include "aead.hpp"
#include "error.hpp"
#include "provider.hpp"
#include "secret_file.hpp"
#include "vault_json.hpp"
#include "vault_token.hpp"
#include "vault_uri.hpp"

namespace orgcrypt {
namespace vault {

namespace {

const Env* g_env = nullptr;

const Env& env() {
  static const Env d = default_env();
  return g_env ? *g_env : d;
}

const char kProvider[] = "vault-transit";

// Replaces every occurrence of secret in text by "***" (a server that echoes
// a credential in an error must not put it into our messages).
void scrub(std::string& text, ByteView secret) {
  if (secret.size < 4) return;
  const std::string s(reinterpret_cast<const char*>(secret.data), secret.size);
  for (std::size_t pos = text.find(s); pos != std::string::npos; pos = text.find(s, pos + 3))
    text.replace(pos, s.size(), "***");
}

// The error text Vault gave in a response, for messages.
std::string vault_errors(const http::Response& r) {
  std::string e = parse_errors(r.body);
  return e;
}

bool is_sealed(const http::Response& r) {
  return r.status == 503 && vault_errors(r).find("sealed") != std::string::npos;
}

bool retryable(const http::Response& r) {
  if (r.status == 429) return true;
  if (r.status == 503) return !is_sealed(r);
  return r.status == 500 || r.status == 502 || r.status == 504;
}

// Reads a small credential file (AppRole role_id / secret_id).
SecretBytes read_credential(const std::string& path, const std::string& noun) {
  SecretFile f = read_secret_file(path, noun, kMaxToken + 2,
                                  "It holds the AppRole's " + noun.substr(noun.find(' ') + 1) +
                                      ", readable only by the server's OS user.");
  SecretBytes& b = f.content;
  std::size_t n = b.size();
  if (n > 0 && b[n - 1] == '\n') {
    n--;
    if (n > 0 && b[n - 1] == '\r') n--;
  }
  b.resize(n);
  if (n == 0) throw Error(sqlstate::kSystemError, noun + " \"" + path + "\" is empty");
  if (!credential_ok(ByteView(b)))
    throw Error(sqlstate::kSystemError, noun + " \"" + path + "\" holds characters Vault credentials do not have",
                "At most " + std::to_string(kMaxToken) +
                    " bytes of visible ASCII without quotes or backslashes, and one trailing newline.");
  return std::move(b);
}

class VaultTransitProvider final : public KeyProvider {
 public:
  VaultTransitProvider(std::string uri, VaultUri u) : uri_(std::move(uri)), u_(std::move(u)) {
    ns_ = u_.ns;
    if (!u_.ns_given) {
      ns_ = env().getenv("VAULT_NAMESPACE");
      while (!ns_.empty() && ns_.back() == '/') ns_.pop_back();
    }
    ca_file_ = u_.ca_file;
    if (ca_file_.empty() && u_.tls) ca_file_ = env().getenv("VAULT_CACERT");
    where_ = "key " + u_.key_path() + " at " + u_.hostport() + (ns_.empty() ? "" : ", namespace " + ns_);
  }

  const std::string& uri() const override { return uri_; }
  bool production_ready() const override { return u_.tls; }

  // One encrypt of a fixed test key under a validation AAD: the token, the
  // policy, the key and its support for associated_data, all at once.
  void validate() override {
    static const char kAad[] = "orgcrypt vault-transit validate";
    const Bytes zero(kKeyLen, 0);
    (void)wrap(ByteView(zero), ByteView(kAad, sizeof kAad - 1));
  }

  Bytes fingerprint() override { return location_fingerprint(u_.hostport(), ns_, u_.mount, u_.name); }

  Bytes wrap(ByteView dek, ByteView aad) override {
    std::string body = encrypt_request(dek, aad);
    http::Response r;
    try {
      r = call("encrypt", u_.mount + "/encrypt/" + u_.name, body);
    } catch (...) {
      wipe(body);
      throw;
    }
    wipe(body);
    std::string ct;
    const std::string why = parse_encrypt_response(r.body, &ct);
    if (!why.empty())
      fail("encrypt", why, why.find("associated_data") != std::string::npos
                               ? "Upgrade to Vault 1.13 or later (or use OpenBao): orgcrypt never wraps without binding "
                                 "the organization and version."
                               : "");
    return Bytes(ct.begin(), ct.end());
  }

  SecretBytes unwrap(ByteView blob, ByteView aad) override {
    if (!valid_ciphertext(blob))
      fail("decrypt",
           "the wrapped DEK is not a Transit ciphertext (vault:v<N>:<base64>, at most " +
               std::to_string(kMaxCiphertext) + " characters); nothing was sent to Vault",
           "The key-table row is damaged, or its DEK was wrapped by another provider than the one its kek_uri names.");
    const std::string ct(reinterpret_cast<const char*>(blob.data), blob.size);
    http::Response r = call("decrypt", u_.mount + "/decrypt/" + u_.name, decrypt_request(ct, aad));
    SecretBytes dek;
    const std::string why = parse_decrypt_response(r.body, &dek);
    wipe(r.body);
    if (!why.empty()) fail("decrypt", why);
    if (dek.size() != kKeyLen)
      fail("decrypt", "Vault returned " + std::to_string(dek.size()) + " bytes, not a " + std::to_string(kKeyLen) +
                          "-byte data key",
           "The ciphertext was not made by orgcrypt for this key.");
    return dek;
  }

 private:
  [[noreturn]] void fail(const std::string& op, const std::string& why, const std::string& hint = {},
                         const std::string& detail = {}) const {
    throw Error(sqlstate::kSystemError, std::string(kProvider) + " " + op + ": " + why + " (" + where_ + ")",
                detail, hint);
  }

  http::Options options() const {
    http::Options o;
    o.connect_timeout_ms = u_.connect_timeout_ms;
    o.total_timeout_ms = u_.timeout_ms;
    o.ca_file = ca_file_;
    o.max_body = kMaxBody;
    return o;
  }

  http::Request request(const std::string& path, const std::string& body, ByteView token) const {
    http::Request q;
    q.method = "POST";
    q.url = u_.base_url() + "/v1/" + path;
    q.headers.push_back({"Content-Type", "application/json"});
    q.headers.push_back({"X-Vault-Request", "true"});
    if (token.size) q.headers.push_back({"X-Vault-Token", std::string(reinterpret_cast<const char*>(token.data), token.size)});
    if (!ns_.empty()) q.headers.push_back({"X-Vault-Namespace", ns_});
    q.body = body;
    return q;
  }

  static void wipe_request(http::Request& q) {
    for (auto& h : q.headers)
      if (h.name == "X-Vault-Token") wipe(h.value);
    wipe(q.body);
  }

  // Waits before attempt number `attempt` (1, 2, ...): full jitter, in
  // slices of at most 100 ms, each preceded by a check for a cancel.
  void backoff(const std::string& op, int attempt) const {
    static std::minstd_rand rng(std::random_device{}());
    const long cap = std::min(kBackoffCapMs, kBackoffBaseMs << attempt);
    long ms = std::uniform_int_distribution<long>(0, cap)(rng);
    while (ms > 0) {
      if (provider_interrupted()) throw_interrupted(kProvider, op);
      long slice = std::min(ms, 100L);
      env().sleep_ms(slice);
      ms -= slice;
    }
    if (provider_interrupted()) throw_interrupted(kProvider, op);
  }

  // Sends q up to kMaxAttempts times while the answer is 429, a 5xx other
  // than "sealed", or no answer at all. Wipes q's secrets when done.
  http::Response send_retrying(const std::string& op, http::Request q) const {
    struct Wiper {
      http::Request& q;
      ~Wiper() { wipe_request(q); }
    } wiper{q};
    // Not a transient failure: refuse before sending, without retries.
    if (!u_.tls && !http::allow_plain_http_loopback())
      fail(op, "tls=off (plain http) is refused: plain http to a loopback address is allowed only by the test "
               "setting orgcrypt.allow_plain_http_loopback",
           "Use https (drop tls=off; name the CA with ca_file= or VAULT_CACERT).");
    for (int attempt = 1;; attempt++) {
      http::Response r;
      try {
        r = env().send(q, options(), op);
      } catch (const Error& e) {
        if (std::string(e.sqlstate()) != sqlstate::kSystemError) throw;
        if (attempt >= kMaxAttempts)
          throw Error(sqlstate::kSystemError,
                      std::string(e.what()) + " (" + where_ + "; " + std::to_string(kMaxAttempts) + " attempts)",
                      e.detail(),
                      e.hint().empty() ? "Check that Vault is reachable from the database server at " +
                                             u_.base_url() + (u_.tls ? " and that ca_file (or VAULT_CACERT) names the CA that signed its certificate." : ".")
                                       : e.hint());
        backoff(op, attempt);
        continue;
      }
      if (retryable(r) && attempt < kMaxAttempts) {
        backoff(op, attempt);
        continue;
      }
      return r;
    }
  }

  [[noreturn]] void fail_http(const std::string& op, const http::Response& r, ByteView s1 = ByteView(),
                              ByteView s2 = ByteView()) const {
    std::string errs = vault_errors(r);
    scrub(errs, s1);
    scrub(errs, s2);
    std::string why = "HTTP " + std::to_string(r.status) + (errs.empty() ? "" : ": " + errs);
    std::string hint;
    const bool login = op == "login";
    if (errs.find("message authentication failed") != std::string::npos) {
      hint = "The wrapped DEK does not authenticate under this Transit key with this organization and version: a "
             "wrong key (or a deleted and re-created key of the same name), or a wrapped DEK copied to another "
             "organization or version.";
    } else if (errs.find("associated_data") != std::string::npos || errs.find("associated data") != std::string::npos) {
      hint = "The Transit key must be of an AEAD type (aes256-gcm96, the default, or aes128-gcm96 or "
             "chacha20-poly1305) on Vault 1.13 or later or OpenBao.";
    } else if (r.status == 403) {
      hint = login ? "Vault refused the AppRole login: check role_id_file, secret_id_file (a secret_id may have expired "
                     "or been used up) and approle_mount."
                   : "Vault refused the token for this path: check that it is valid (not expired or revoked) and "
                     "that its policy grants \"update\" on " + u_.mount + "/encrypt/" + u_.name + " and " + u_.mount +
                         "/decrypt/" + u_.name + (ns_.empty() ? "" : " in namespace " + ns_) +
                         ", and that the key exists (Vault treats an encrypt with a missing key as a create).";
    } else if (r.status == 400 && login) {
      hint = "Vault refused the AppRole login: check role_id_file and secret_id_file (a secret_id may have expired or "
             "been used up).";
    } else if (r.status == 404) {
      hint = login ? "No AppRole auth method at auth/" + u_.approle_mount + ": check approle_mount and the namespace."
                   : "No such Transit mount or key: check the mount path (" + u_.mount + "), the key name (" + u_.name +
                         ")" + (ns_.empty() ? "" : " and the namespace (" + ns_ + ")") + ".";
    } else if (is_sealed(r)) {
      hint = "Vault is sealed: unseal it (vault operator unseal), then retry. A sealed Vault is not retried.";
    } else if (r.status == 429) {
      hint = "Vault's rate limit quota refused the request " + std::to_string(kMaxAttempts) + " times.";
    } else if (r.status >= 500) {
      hint = "Vault answered with a server error " + std::to_string(kMaxAttempts) + " times.";
    }
    if (login)
      throw Error(sqlstate::kSystemError,
                  std::string(kProvider) + " login: " + why + " (auth/" + u_.approle_mount + "/login at " +
                      u_.hostport() + (ns_.empty() ? "" : ", namespace " + ns_) + ")",
                  {}, hint);
    fail(op, why, hint);
  }

  // AppRole login into c.
  void login(CachedToken& c) const {
    c = CachedToken();
    SecretBytes role = read_credential(u_.role_id_file, "the role_id file");
    SecretBytes secret = read_credential(u_.secret_id_file, "the secret_id file");
    const std::int64_t start = env().now_ms();
    http::Response r = send_retrying("login", request("auth/" + u_.approle_mount + "/login",
                                                      login_request(ByteView(role), ByteView(secret)), ByteView()));
    if (r.status != 200) fail_http("login", r, ByteView(role), ByteView(secret));
    AuthInfo a;
    const std::string why = parse_auth_response(r.body, &a);
    wipe(r.body);
    if (!why.empty())
      throw Error(sqlstate::kSystemError, std::string(kProvider) + " login: " + why + " (auth/" + u_.approle_mount +
                                              "/login at " + u_.hostport() + ")");
    c.token = std::move(a.token);
    c.lease_seconds = a.lease_seconds;
    c.renewable = a.renewable;
    c.start_ms = start;
  }

  // renew-self; false if Vault did not renew (the caller logs in again).
  bool renew(CachedToken& c) const {
    const std::int64_t start = env().now_ms();
    http::Response r;
    try {
      r = send_retrying("renew", request("auth/token/renew-self", "{}", ByteView(c.token)));
    } catch (const Error& e) {
      if (std::string(e.sqlstate()) != sqlstate::kSystemError) throw;
      return false;
    }
    if (r.status != 200) return false;
    AuthInfo a;
    const bool ok = parse_auth_response(r.body, &a).empty();
    wipe(r.body);
    if (!ok) return false;
    apply_renewal(c, a, start);
    return true;
  }

  // The token for the next request; *cached says it came from the AppRole
  // cache without a login just now.
  SecretBytes token(bool* cached) const {
    *cached = false;
    std::string env_token = env().getenv("VAULT_TOKEN");
    struct Wipe {
      std::string& s;
      ~Wipe() { wipe(s); }
    } wipe_env{env_token};
    TokenSource src;
    std::string why = choose_token_source(u_, !env_token.empty(), &src);
    if (!why.empty()) fail("token", why);
    switch (src) {
      case TokenSource::File:
        return read_token_file(u_.token_file, "the token file");
      case TokenSource::Environment: {
        SecretBytes t(env_token.begin(), env_token.end());
        if (!credential_ok(ByteView(t)))
          fail("token", "VAULT_TOKEN in the server's environment is not a Vault token (visible ASCII, at most " +
                            std::to_string(kMaxToken) + " bytes)");
        return t;
      }
      case TokenSource::AppRole:
        break;
    }
    CachedToken& c = approle_tokens()[approle_cache_key(u_, ns_)];
    switch (token_action(c, env().now_ms())) {
      case TokenAction::Use:
        *cached = true;
        return c.token;
      case TokenAction::Renew:
        if (renew(c)) return c.token;
        login(c);
        return c.token;
      case TokenAction::Login:
        login(c);
        return c.token;
    }
    return c.token;
  }

  // One Transit call with its token; a 403 on a cached AppRole token drops
  // it and tries once more after a new login. Returns a 2xx response.
  http::Response call(const std::string& op, const std::string& path, const std::string& body) const {
    for (int round = 0;; round++) {
      bool cached = false;
      SecretBytes tok = token(&cached);
      http::Response r = send_retrying(op, request(path, body, ByteView(tok)));
      if (r.status == 403 && cached && round == 0) {
        approle_tokens().erase(approle_cache_key(u_, ns_));
        continue;
      }
      if (r.status < 200 || r.status > 299) fail_http(op, r, ByteView(tok));
      return r;
    }
  }

  std::string uri_;
  VaultUri u_;
  std::string ns_;
  std::string ca_file_;
  std::string where_;
};

}  // namespace

Env default_env() {
  Env e;
  e.getenv = [](const char* name) -> std::string {
    const char* v = std::getenv(name);
    return v ? std::string(v) : std::string();
  };
  e.now_ms = []() -> std::int64_t {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  };
  e.sleep_ms = [](long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    ::nanosleep(&ts, nullptr);
  };
  e.send = [](const http::Request& q, const http::Options& o, const std::string& op) {
    return http::send(q, o, kProvider, op);
  };
  return e;
}

void set_env(const Env* e) { g_env = e; }

Bytes location_fingerprint(const std::string& hostport, const std::string& ns, const std::string& mount,
                           const std::string& name) {
  static const char kLabel[] = "orgcrypt vault-transit key v1";
  std::string in(kLabel, sizeof kLabel - 1);
  for (const std::string* s : {&hostport, &ns, &mount, &name}) {
    append_u32be(in, static_cast<std::uint32_t>(s->size()));
    in += *s;
  }
  Bytes fp = sha256(ByteView(in));
  fp.resize(8);
  return fp;
}

}  // namespace vault

std::unique_ptr<KeyProvider> make_vault_transit_provider(const std::string& uri) {
  VaultUri u;
  const std::string why = parse_vault_uri(uri, &u);
  if (!why.empty()) throw Error(sqlstate::kSystemError, "invalid key URI \"" + vault_uri_redacted(uri) + "\"", why);
  return std::make_unique<vault::VaultTransitProvider>(uri, std::move(u));
}

}  // namespace orgcrypt
