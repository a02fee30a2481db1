// The vault-transit:// provider against an in-process fake of Vault's HTTP
// API (vault::set_env replaces the environment, the clock, sleeping and
// http::send): requests, tokens (file, VAULT_TOKEN, AppRole with renewal and
// re-login), retries, errors with their hints, and that no token, role_id or
// secret_id ever appears in a message. The same provider against a real
// loopback server: tests/integration/vault_provider.sh.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "base64.hpp"
#include "provider.hpp"
#include "test_util.hpp"
#include "vault_token.hpp"
#include "vault_transit.hpp"

using namespace orgcrypt;
using namespace orgcrypt::vault;
using testutil::expect_error;

namespace {

std::string b64(const std::string& s) {
  std::string out(b64_encoded_len(s.size()), '\0');
  if (!s.empty()) b64_encode(reinterpret_cast<const std::uint8_t*>(s.data()), s.size(), &out[0]);
  return out;
}
std::string unb64(const std::string& s) {
  std::string out(b64_decoded_max(s.size()), '\0');
  std::size_t n = 0;
  if (!b64_decode(s.data(), s.size(), reinterpret_cast<std::uint8_t*>(&out[0]), &n)) throw std::runtime_error("b64");
  out.resize(n);
  return out;
}

http::Response reply(long status, const std::string& body) {
  http::Response r;
  r.status = status;
  r.body = body;
  return r;
}

const char kRoleId[] = "ROLE-ID-db02de05";
const char kSecretId[] = "SECRET-ID-6a174c20";
const char kFileToken[] = "hvs.FILE-TOKEN-secret";
const char kEnvToken[] = "hvs.ENV-TOKEN-secret";

// A small fake of Vault: Transit encrypt/decrypt with associated_data,
// AppRole login, renew-self, tokens with leases, and scripted failures.
struct FakeVault {
  std::int64_t now = 1000000;
  long slept_ms = 0;
  std::map<std::string, std::string> env;
  std::set<std::string> keys = {"transit/kek"};
  struct Sealed {
    std::string pt, aad;
  };
  std::map<std::string, Sealed> store;
  int counter = 0;
  struct Tok {
    std::int64_t expiry_ms = 0;  // 0: never
    bool renewable = false;
    std::int64_t max_expiry_ms = 0;
  };
  std::map<std::string, Tok> tokens = {{kFileToken, {}}, {kEnvToken, {}}};
  std::int64_t approle_ttl_s = 60, approle_max_ttl_s = 600;
  bool approle_renewable = true;
  int logins = 0, renews = 0;
  bool sealed = false;
  bool ignore_aad = false;  // a Vault older than 1.13
  std::deque<long> script;  // statuses to answer first (0: no response)
  std::vector<http::Request> seen;
  std::vector<http::Options> opts;

  static std::string errors(const std::string& e) { return "{\"errors\":[\"" + e + "\"]}"; }

  http::Response send(const http::Request& q, const http::Options& o, const std::string& op) {
    seen.push_back(q);
    opts.push_back(o);
    if (!script.empty()) {
      long s = script.front();
      script.pop_front();
      if (s == 0) throw Error(sqlstate::kSystemError, "vault-transit " + op + ": Couldn't connect to server");
      return reply(s, s == 429 ? errors("request path \\\"x\\\": rate limit quota exceeded") : errors("upstream trouble"));
    }
    if (sealed) return reply(503, errors("Vault is sealed"));
    const std::string prefix = "://";
    std::size_t p = q.url.find("/v1/", q.url.find(prefix) + 3);
    const std::string path = q.url.substr(p + 4);
    auto body = nlohmann::json::parse(q.body);
    std::string token;
    for (const auto& h : q.headers)
      if (h.name == "X-Vault-Token") token = h.value;
    if (path == "auth/approle/login") {
      if (body.value("role_id", "") != kRoleId || body.value("secret_id", "") != kSecretId)
        return reply(400, errors("invalid role or secret ID"));
      logins++;
      std::string t = "hvs.APPROLE-" + std::to_string(++counter);
      tokens[t] = {now + approle_ttl_s * 1000, approle_renewable, now + approle_max_ttl_s * 1000};
      return reply(200, "{\"auth\":{\"client_token\":\"" + t + "\",\"lease_duration\":" + std::to_string(approle_ttl_s) +
                            ",\"renewable\":" + (approle_renewable ? "true" : "false") + "}}");
    }
    auto it = tokens.find(token);
    if (it == tokens.end() || (it->second.expiry_ms && it->second.expiry_ms <= now))
      return reply(403, errors("permission denied"));
    if (path == "auth/token/renew-self") {
      renews++;
      if (!it->second.renewable) return reply(400, errors("lease is not renewable"));
      std::int64_t exp = std::min(now + approle_ttl_s * 1000, it->second.max_expiry_ms);
      it->second.expiry_ms = exp;
      return reply(200, "{\"auth\":{\"client_token\":\"" + token + "\",\"lease_duration\":" +
                            std::to_string((exp - now) / 1000) + ",\"renewable\":true}}");
    }
    const std::size_t slash = path.find('/');
    const std::size_t slash2 = path.find('/', slash + 1);
    const std::string mount = path.substr(0, slash), verb = path.substr(slash + 1, slash2 - slash - 1),
                      name = path.substr(slash2 + 1);
    if (!keys.count(mount + "/" + name)) return reply(400, errors("encryption key not found"));
    const std::string aad = body.contains("associated_data") ? unb64(body["associated_data"]) : "";
    if (verb == "encrypt") {
      std::string ct = "vault:v1:" + b64("ct#" + std::to_string(++counter));
      store[ct] = {unb64(body["plaintext"]), ignore_aad ? "" : aad};
      return reply(200, "{\"data\":{\"ciphertext\":\"" + ct + "\",\"key_version\":1}" +
                            (ignore_aad ? ",\"warnings\":[\"Endpoint ignored these unrecognized parameters: [associated_data]\"]" : "") +
                            "}");
    }
    if (verb == "decrypt") {
      auto s = store.find(body["ciphertext"]);
      if (s == store.end()) return reply(400, errors("invalid ciphertext: unable to decrypt"));
      if (s->second.aad != aad) return reply(400, errors("cipher: message authentication failed"));
      return reply(200, "{\"data\":{\"plaintext\":\"" + b64(s->second.pt) + "\"}}");
    }
    return reply(404, errors("no handler for route"));
  }

  Env make_env() {
    Env e;
    e.getenv = [this](const char* n) { auto it = env.find(n); return it == env.end() ? std::string() : it->second; };
    e.now_ms = [this] { return now; };
    e.sleep_ms = [this](long ms) {
      EXPECT_LE(ms, 100);
      slept_ms += ms;
      now += ms;
    };
    e.send = [this](const http::Request& q, const http::Options& o, const std::string& op) { return send(q, o, op); };
    return e;
  }

  std::string header(std::size_t i, const std::string& name) const {
    for (const auto& h : seen.at(i).headers)
      if (h.name == name) return h.value;
    return "<none>";
  }
};

class VaultProvider : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_token_caches();
    UriPolicy pol;
    pol.allowed = {"vault-transit://*"};  // the trust policy is tested in vault_uri_test
    set_uri_policy(pol);
    env_ = fake_.make_env();
    set_env(&env_);
    http::set_allow_plain_http_loopback(true);  // the fake is reached with tls=off URIs
    testutil::write_file(dir_.file("token"), std::string(kFileToken) + "\n", 0600);
    testutil::write_file(dir_.file("role"), kRoleId, 0600);
    testutil::write_file(dir_.file("secret"), std::string(kSecretId) + "\n", 0600);
  }
  void TearDown() override {
    set_env(nullptr);
    set_uri_policy(UriPolicy());
    http::set_allow_plain_http_loopback(false);
    set_interrupt_check(nullptr);
    clear_token_caches();
  }
  std::string uri(const std::string& query = "") const {
    return "vault-transit://127.0.0.1:8200/transit/keys/kek?tls=off" + query;
  }
  std::string token_uri(const std::string& more = "") const { return uri("&token_file=" + dir_.file("token") + more); }
  std::string approle_uri() const {
    return uri("&role_id_file=" + dir_.file("role") + "&secret_id_file=" + dir_.file("secret"));
  }
  // The message of an Error 58000 (or state), checked for secrets.
  template <class F>
  std::string error_of(F&& f, const char* state = "58000") {
    std::string m = expect_error(state, f);
    for (const char* s : {kRoleId, kSecretId, kFileToken, kEnvToken, "hvs.APPROLE"})
      EXPECT_EQ(m.find(s), std::string::npos) << "a secret in: " << m;
    return m;
  }
  Bytes aad(const std::string& org, int version) const {
    std::string a = "orgcrypt DEK wrap v1" + org + std::to_string(version);
    return Bytes(a.begin(), a.end());
  }

  FakeVault fake_;
  Env env_;
  testutil::TempDir dir_;
  const SecretBytes dek_ = SecretBytes(32, 0x5a);
};

}  // namespace

TEST_F(VaultProvider, WrapUnwrapWithTokenFile) {
  auto p = open_provider(token_uri());
  Bytes blob = p->wrap(ByteView(dek_), ByteView(aad("acme", 1)));
  EXPECT_EQ(testutil::str_of(blob).rfind("vault:v1:", 0), 0u);
  ASSERT_EQ(fake_.seen.size(), 1u);
  const http::Request& q = fake_.seen[0];
  EXPECT_EQ(q.method, "POST");
  EXPECT_EQ(q.url, "http://127.0.0.1:8200/v1/transit/encrypt/kek");
  EXPECT_EQ(fake_.header(0, "X-Vault-Token"), kFileToken);
  EXPECT_EQ(fake_.header(0, "X-Vault-Namespace"), "<none>");
  EXPECT_EQ(fake_.header(0, "Content-Type"), "application/json");
  auto j = nlohmann::json::parse(q.body);
  EXPECT_EQ(unb64(j["plaintext"]), std::string(32, 0x5a));
  EXPECT_EQ(unb64(j["associated_data"]), testutil::str_of(aad("acme", 1)));
  EXPECT_EQ(fake_.opts[0].total_timeout_ms, 30000);
  EXPECT_EQ(fake_.opts[0].connect_timeout_ms, 5000);
  EXPECT_EQ(fake_.opts[0].ca_file, "");

  auto p2 = open_provider(token_uri());
  EXPECT_EQ(p2->unwrap(ByteView(blob), ByteView(aad("acme", 1))), dek_);
  EXPECT_EQ(fake_.seen[1].url, "http://127.0.0.1:8200/v1/transit/decrypt/kek");
  j = nlohmann::json::parse(fake_.seen[1].body);
  EXPECT_EQ(j["ciphertext"], testutil::str_of(blob));
  EXPECT_EQ(p2->key_uri(), token_uri());
  EXPECT_FALSE(p2->production_ready());  // tls=off
}

TEST_F(VaultProvider, WrongAssociatedDataDoesNotUnwrap) {
  auto p = open_provider(token_uri());
  Bytes blob = p->wrap(ByteView(dek_), ByteView(aad("acme", 1)));
  for (const Bytes& other : {aad("acme", 2), aad("evil", 1)}) {
    std::string m = error_of([&] { p->unwrap(ByteView(blob), ByteView(other)); });
    EXPECT_NE(m.find("vault-transit decrypt: HTTP 400: cipher: message authentication failed (key transit/keys/kek at "
                     "127.0.0.1:8200)"),
              std::string::npos)
        << m;
    EXPECT_NE(m.find("copied to another organization or version"), std::string::npos) << m;
  }
}

TEST_F(VaultProvider, MalformedBlobIsNotSent) {
  auto p = open_provider(token_uri());
  for (const std::string& blob : {std::string("vault:v1:AAA"), std::string("not vault"), std::string(),
                                  std::string("vault:v1:AAAA\",\"plaintext\":\"x"), "vault:v1:" + std::string(5000, 'A')}) {
    std::string m = error_of([&] { p->unwrap(ByteView(blob), ByteView(aad("a", 1))); });
    EXPECT_NE(m.find("the wrapped DEK is not a Transit ciphertext"), std::string::npos) << m;
  }
  EXPECT_TRUE(fake_.seen.empty());
}

TEST_F(VaultProvider, NamespaceAndCaFromUriOrEnvironment) {
  fake_.env["VAULT_NAMESPACE"] = "envns/";
  fake_.env["VAULT_CACERT"] = "/etc/ssl/vault-ca.pem";
  fake_.env["VAULT_TOKEN"] = kEnvToken;
  auto https = [](const std::string& q) { return "vault-transit://vault.example:8200/transit/keys/kek" + q; };
  auto p = open_provider(https(""));
  p->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  EXPECT_EQ(fake_.seen.back().url, "https://vault.example:8200/v1/transit/encrypt/kek");
  EXPECT_EQ(fake_.header(0, "X-Vault-Namespace"), "envns");
  EXPECT_EQ(fake_.header(0, "X-Vault-Token"), kEnvToken);
  EXPECT_EQ(fake_.opts.back().ca_file, "/etc/ssl/vault-ca.pem");
  EXPECT_TRUE(p->production_ready());
  const Bytes fp_env = p->fingerprint();

  p = open_provider(https("?namespace=team-a&ca_file=/ca.pem&timeout_ms=1234&connect_timeout_ms=99"));
  p->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  EXPECT_EQ(fake_.header(1, "X-Vault-Namespace"), "team-a");
  EXPECT_EQ(fake_.opts.back().ca_file, "/ca.pem");
  EXPECT_EQ(fake_.opts.back().total_timeout_ms, 1234);
  EXPECT_EQ(fake_.opts.back().connect_timeout_ms, 99);
  EXPECT_NE(p->fingerprint(), fp_env);  // another namespace is another key

  // no VAULT_CACERT for plain http; no namespace header without one
  fake_.env.clear();
  fake_.env["VAULT_TOKEN"] = kEnvToken;
  p = open_provider(uri());
  p->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  EXPECT_EQ(fake_.header(2, "X-Vault-Namespace"), "<none>");
  EXPECT_EQ(fake_.opts.back().ca_file, "");
}

TEST_F(VaultProvider, TokenSourceOrder) {
  fake_.env["VAULT_TOKEN"] = kEnvToken;
  open_provider(token_uri())->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  EXPECT_EQ(fake_.header(0, "X-Vault-Token"), kFileToken);  // the URI's file wins
  open_provider(approle_uri())->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  EXPECT_EQ(fake_.header(2, "X-Vault-Token").rfind("hvs.APPROLE-", 0), 0u);  // [1] was the login
  open_provider(uri())->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  EXPECT_EQ(fake_.header(3, "X-Vault-Token"), kEnvToken);
  fake_.env.clear();
  std::string m = error_of([&] { open_provider(uri())->wrap(ByteView(dek_), ByteView(aad("a", 1))); });
  EXPECT_NE(m.find("vault-transit token: no Vault token: name a token file"), std::string::npos) << m;
  EXPECT_EQ(fake_.seen.size(), 4u);
}

TEST_F(VaultProvider, AppRoleLoginCachedRenewedAndRedone) {
  const std::string u = approle_uri();
  open_provider(u)->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  open_provider(u)->wrap(ByteView(dek_), ByteView(aad("a", 2)));
  EXPECT_EQ(fake_.logins, 1);  // cached per process across provider objects
  EXPECT_EQ(fake_.seen[0].url, "http://127.0.0.1:8200/v1/auth/approle/login");
  EXPECT_EQ(fake_.header(0, "X-Vault-Token"), "<none>");
  const std::string tok = fake_.header(1, "X-Vault-Token");

  fake_.now += 30000;  // half the lease left: used as is
  open_provider(u)->wrap(ByteView(dek_), ByteView(aad("a", 3)));
  EXPECT_EQ(fake_.renews, 0);
  fake_.now += 11000;  // less than a third left: renewed
  open_provider(u)->wrap(ByteView(dek_), ByteView(aad("a", 4)));
  EXPECT_EQ(fake_.renews, 1);
  EXPECT_EQ(fake_.logins, 1);
  EXPECT_EQ(fake_.header(fake_.seen.size() - 1, "X-Vault-Token"), tok);

  fake_.now += 100000;  // expired: a new login
  open_provider(u)->wrap(ByteView(dek_), ByteView(aad("a", 5)));
  EXPECT_EQ(fake_.logins, 2);

  // revoked behind our back: a 403 drops the cached token, logs in again, retries once
  fake_.tokens.erase(fake_.header(fake_.seen.size() - 1, "X-Vault-Token"));
  open_provider(u)->wrap(ByteView(dek_), ByteView(aad("a", 6)));
  EXPECT_EQ(fake_.logins, 3);
}

TEST_F(VaultProvider, AppRoleNotRenewableOrAtMaxTtlLogsInAgain) {
  const std::string u = approle_uri();
  fake_.approle_renewable = false;
  open_provider(u)->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  fake_.now += 45000;
  open_provider(u)->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  EXPECT_EQ(fake_.renews, 0);
  EXPECT_EQ(fake_.logins, 2);

  clear_token_caches();
  fake_.logins = 0;
  fake_.approle_renewable = true;
  fake_.approle_max_ttl_s = 70;  // one renewal gets 70 - 45 = 25 s, no further
  open_provider(u)->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  fake_.now += 45000;
  open_provider(u)->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  EXPECT_EQ(fake_.renews, 1);
  EXPECT_EQ(fake_.logins, 1);
  fake_.now += 20000;  // 5 s of 25 left: not renewable any further, log in
  open_provider(u)->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  EXPECT_EQ(fake_.renews, 1);
  EXPECT_EQ(fake_.logins, 2);

  // a refused renewal falls back to a login
  fake_.now += 45000;
  fake_.tokens[fake_.header(fake_.seen.size() - 1, "X-Vault-Token")].renewable = false;
  open_provider(u)->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  EXPECT_EQ(fake_.renews, 2);
  EXPECT_EQ(fake_.logins, 3);
}

TEST_F(VaultProvider, AppRoleLoginRefused) {
  testutil::write_file(dir_.file("secret"), "SECRET-ID-wrong", 0600);
  std::string m = error_of([&] { open_provider(approle_uri())->wrap(ByteView(dek_), ByteView(aad("a", 1))); });
  EXPECT_NE(m.find("vault-transit login: HTTP 400: invalid role or secret ID (auth/approle/login at 127.0.0.1:8200)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("check role_id_file and secret_id_file"), std::string::npos) << m;
  EXPECT_EQ(m.find("SECRET-ID-wrong"), std::string::npos) << m;
  testutil::write_file(dir_.file("secret"), "", 0600);
  m = error_of([&] { open_provider(approle_uri())->wrap(ByteView(dek_), ByteView(aad("a", 1))); });
  EXPECT_NE(m.find("the secret_id file \"" + dir_.file("secret") + "\" is empty"), std::string::npos) << m;
}

TEST_F(VaultProvider, RateLimitAndServerErrorsAreRetried) {
  fake_.script = {429, 502};
  auto p = open_provider(token_uri());
  Bytes blob = p->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  EXPECT_EQ(fake_.seen.size(), 3u);
  EXPECT_LE(fake_.slept_ms, 200 + 400);
  fake_.script = {0, 0};  // no response twice, then fine
  EXPECT_EQ(p->unwrap(ByteView(blob), ByteView(aad("a", 1))), dek_);
  EXPECT_EQ(fake_.seen.size(), 6u);

  fake_.script = {429, 429, 429, 429};
  std::string m = error_of([&] { p->wrap(ByteView(dek_), ByteView(aad("a", 1))); });
  EXPECT_NE(m.find("vault-transit encrypt: HTTP 429: request path \"x\": rate limit quota exceeded"), std::string::npos) << m;
  EXPECT_NE(m.find("rate limit quota refused the request 3 times"), std::string::npos) << m;
  EXPECT_EQ(fake_.seen.size(), 9u);
  fake_.script.clear();

  fake_.script = {0, 0, 0};
  m = error_of([&] { p->wrap(ByteView(dek_), ByteView(aad("a", 1))); });
  EXPECT_NE(m.find("Couldn't connect to server (key transit/keys/kek at 127.0.0.1:8200; 3 attempts)"), std::string::npos) << m;
  EXPECT_NE(m.find("Check that Vault is reachable"), std::string::npos) << m;
}

TEST_F(VaultProvider, SealedIsNotRetried) {
  fake_.sealed = true;
  std::string m = error_of([&] { open_provider(token_uri())->wrap(ByteView(dek_), ByteView(aad("a", 1))); });
  EXPECT_EQ(fake_.seen.size(), 1u);
  EXPECT_NE(m.find("vault-transit encrypt: HTTP 503: Vault is sealed (key transit/keys/kek at 127.0.0.1:8200)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("Vault is sealed: unseal it"), std::string::npos) << m;
}

TEST_F(VaultProvider, PermissionDeniedAndMissingKey) {
  fake_.tokens.erase(kFileToken);
  std::string m = error_of([&] { open_provider(token_uri())->wrap(ByteView(dek_), ByteView(aad("a", 1))); });
  EXPECT_NE(m.find("vault-transit encrypt: HTTP 403: permission denied (key transit/keys/kek at 127.0.0.1:8200)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("\"update\" on transit/encrypt/kek and transit/decrypt/kek"), std::string::npos) << m;
  EXPECT_EQ(fake_.seen.size(), 1u);  // a token file's 403 is not retried

  fake_.tokens[kFileToken] = {};
  m = error_of([&] {
    open_provider("vault-transit://127.0.0.1:8200/transit/keys/nokey?tls=off&token_file=" + dir_.file("token"))
        ->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  });
  EXPECT_NE(m.find("vault-transit encrypt: HTTP 400: encryption key not found (key transit/keys/nokey at 127.0.0.1:8200)"),
            std::string::npos)
      << m;
  m = error_of([&] {
    open_provider("vault-transit://127.0.0.1:8200/other/keys/kek?tls=off&token_file=" + dir_.file("token"))
        ->wrap(ByteView(dek_), ByteView(aad("a", 1)));
  });
  EXPECT_NE(m.find("HTTP 400: encryption key not found"), std::string::npos) << m;
}

TEST_F(VaultProvider, OldVaultIgnoringAssociatedDataIsRefused) {
  fake_.ignore_aad = true;
  std::string m = error_of([&] { open_provider(token_uri())->wrap(ByteView(dek_), ByteView(aad("a", 1))); });
  EXPECT_NE(m.find("Vault ignored associated_data"), std::string::npos) << m;
  EXPECT_NE(m.find("Upgrade to Vault 1.13 or later"), std::string::npos) << m;
}

TEST_F(VaultProvider, BadResponsesAreErrors) {
  auto p = open_provider(token_uri());
  Env e = env_;
  e.send = [](const http::Request&, const http::Options&, const std::string&) { return reply(200, "<html>ok</html>"); };
  set_env(&e);
  std::string m = error_of([&] { p->wrap(ByteView(dek_), ByteView(aad("a", 1))); });
  EXPECT_NE(m.find("vault-transit encrypt: the response is not a JSON object"), std::string::npos) << m;
  e.send = [](const http::Request&, const http::Options&, const std::string&) {
    return reply(200, R"({"data":{"plaintext":"AAAAAAAAAAAAAAAAAAAAAA=="}})");
  };
  m = error_of([&] { p->unwrap(ByteView(std::string("vault:v1:AAAA")), ByteView(aad("a", 1))); });
  EXPECT_NE(m.find("Vault returned 16 bytes, not a 32-byte data key"), std::string::npos) << m;
  set_env(&env_);
}

TEST_F(VaultProvider, CancelDuringBackoff) {
  static int calls;
  calls = 0;
  set_interrupt_check([] { return ++calls > 1; });
  fake_.script = {503, 503, 503};
  std::string m = error_of([&] { open_provider(token_uri())->wrap(ByteView(dek_), ByteView(aad("a", 1))); }, "57014");
  EXPECT_NE(m.find("vault-transit encrypt was interrupted"), std::string::npos) << m;
  EXPECT_EQ(fake_.seen.size(), 1u);
}

TEST_F(VaultProvider, Fingerprint) {
  // first 8 bytes of SHA-256("orgcrypt vault-transit key v1" || u32be-length-prefixed host:port, namespace,
  // mount, name), computed with Python's hashlib
  EXPECT_EQ(testutil::tohex(location_fingerprint("127.0.0.1:8200", "", "transit", "kek")), "4f8248df07b7effe");
  EXPECT_EQ(testutil::tohex(location_fingerprint("vault.example.com:8200", "ns1/team-a", "secret/transit", "orgcrypt")),
            "f2d59dac65726ab3");
  EXPECT_EQ(testutil::tohex(open_provider(token_uri())->fingerprint()), "4f8248df07b7effe");
  EXPECT_EQ(testutil::tohex(open_provider("vault-transit://Vault.Example.com:8200/secret/transit/keys/orgcrypt?namespace=ns1/team-a/")
                                ->fingerprint()),
            "f2d59dac65726ab3");
  EXPECT_TRUE(fake_.seen.empty());  // no request for a fingerprint
}

TEST_F(VaultProvider, ValidateEncryptsOnce) {
  open_provider(token_uri())->validate();
  ASSERT_EQ(fake_.seen.size(), 1u);
  EXPECT_EQ(fake_.seen[0].url, "http://127.0.0.1:8200/v1/transit/encrypt/kek");
  fake_.keys.clear();
  std::string m = error_of([&] { open_provider(token_uri())->validate(); });
  EXPECT_NE(m.find("encryption key not found"), std::string::npos) << m;
}

TEST_F(VaultProvider, PlainHttpOnlyWithTheTestSetting) {
  http::set_allow_plain_http_loopback(false);
  std::string m = error_of([&] { open_provider(token_uri())->wrap(ByteView(dek_), ByteView(aad("a", 1))); });
  EXPECT_NE(m.find("vault-transit encrypt: tls=off (plain http) is refused"), std::string::npos) << m;
  EXPECT_NE(m.find("orgcrypt.allow_plain_http_loopback"), std::string::npos) << m;
  EXPECT_TRUE(fake_.seen.empty());  // refused before sending, not retried
  EXPECT_EQ(fake_.slept_ms, 0);
}

TEST_F(VaultProvider, KeyThatCannotTakeAssociatedDataFailsClearly) {
  // e.g. an rsa-4096 Transit key: Vault refuses associated_data for non-AEAD key types
  Env e = env_;
  e.send = [](const http::Request&, const http::Options&, const std::string&) {
    return reply(400, R"({"errors":["associated data is only supported for AEAD key types"]})");
  };
  set_env(&e);
  std::string m = error_of([&] { open_provider(token_uri())->wrap(ByteView(dek_), ByteView(aad("a", 1))); });
  EXPECT_NE(m.find("vault-transit encrypt: HTTP 400: associated data is only supported"), std::string::npos) << m;
  EXPECT_NE(m.find("must be of an AEAD type (aes256-gcm96"), std::string::npos) << m;
  set_env(&env_);
}
