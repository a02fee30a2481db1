// Vault tokens (see vault_token.hpp).
#include "vault_token.hpp"

#include <sys/stat.h>

#include <atomic>

#include "error.hpp"
#include "secret_file.hpp"

namespace orgcrypt::vault {

namespace {

struct KeptToken {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  struct timespec mtim = {}, ctim = {};
  SecretBytes token;
};

std::map<std::string, KeptToken>& kept_tokens() {
  static std::map<std::string, KeptToken> m;
  return m;
}

bool same_time(const struct timespec& a, const struct timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

std::atomic<unsigned long> g_reads{0};

}  // namespace

std::string choose_token_source(const VaultUri& u, bool have_env_token, TokenSource* src) {
  if (!u.token_file.empty()) *src = TokenSource::File;
  else if (!u.role_id_file.empty()) *src = TokenSource::AppRole;
  else if (have_env_token) *src = TokenSource::Environment;
  else
    return "no Vault token: name a token file (token_file=/path, e.g. a Vault Agent sink) or an AppRole "
           "(role_id_file=/path&secret_id_file=/path) in the key URI, or set VAULT_TOKEN in the server's environment";
  return {};
}

SecretBytes read_token_file(const std::string& path, const std::string& noun) {
  auto it = kept_tokens().find(path);
  SecretFile f = read_secret_file(
      path, noun, kMaxToken + 2,
      "It holds a Vault token (for example the sink file of a Vault Agent), readable only by the server's OS user.",
      [&](const struct stat& st) {
        if (it == kept_tokens().end()) return false;
        const KeptToken& k = it->second;
        return k.dev == st.st_dev && k.ino == st.st_ino && k.size == st.st_size && same_time(k.mtim, st.st_mtim) &&
               same_time(k.ctim, st.st_ctim);
      });
  if (f.reused) return it->second.token;
  g_reads++;
  if (it != kept_tokens().end()) kept_tokens().erase(it);  // the old token is wiped as it is freed
  SecretBytes& buf = f.content;
  std::size_t n = buf.size();
  if (n > 0 && buf[n - 1] == '\n') {
    n--;
    if (n > 0 && buf[n - 1] == '\r') n--;
  }
  buf.resize(n);
  if (n == 0) throw Error(sqlstate::kSystemError, noun + " \"" + path + "\" is empty");
  if (!credential_ok(ByteView(buf)))
    throw Error(sqlstate::kSystemError,
                noun + " \"" + path + "\" does not hold a Vault token (at most " + std::to_string(kMaxToken) +
                    " bytes of visible ASCII without quotes or backslashes, and one trailing newline)");
  KeptToken k;
  k.dev = f.st.st_dev;
  k.ino = f.st.st_ino;
  k.size = f.st.st_size;
  k.mtim = f.st.st_mtim;
  k.ctim = f.st.st_ctim;
  k.token = buf;
  kept_tokens()[path] = std::move(k);
  return std::move(buf);
}

unsigned long token_file_reads() { return g_reads; }

TokenAction token_action(const CachedToken& t, std::int64_t now_ms) {
  if (t.token.empty()) return TokenAction::Login;
  if (t.lease_seconds <= 0) return TokenAction::Use;
  const std::int64_t lease_ms = t.lease_seconds * 1000;
  const std::int64_t remaining = t.start_ms + lease_ms - now_ms;
  if (remaining <= 0) return TokenAction::Login;
  if (remaining * 3 >= lease_ms) return TokenAction::Use;
  return t.renewable ? TokenAction::Renew : TokenAction::Login;
}

void apply_renewal(CachedToken& t, const AuthInfo& a, std::int64_t start_ms) {
  const std::int64_t old_expiry = t.start_ms + t.lease_seconds * 1000;
  const std::int64_t new_expiry = start_ms + a.lease_seconds * 1000;
  t.token = a.token;
  // Vault caps a renewal at the token's max_ttl: a shorter lease than before
  // means the cap is reached and no renewal can extend it further.
  t.renewable = a.renewable && a.lease_seconds > 0 && new_expiry > old_expiry && a.lease_seconds >= t.lease_seconds;
  t.lease_seconds = a.lease_seconds;
  t.start_ms = start_ms;
}

std::map<std::string, CachedToken>& approle_tokens() {
  static std::map<std::string, CachedToken> m;
  return m;
}

std::string approle_cache_key(const VaultUri& u, const std::string& ns) {
  std::string k;
  for (const std::string* s : {&u.host, &ns, &u.approle_mount, &u.role_id_file, &u.secret_id_file}) {
    k += std::to_string(s->size()) + ":" + *s + ";";
  }
  return k + std::to_string(u.port) + (u.tls ? "s" : "p");
}

void clear_token_caches() {
  approle_tokens().clear();
  kept_tokens().clear();
}

}  // namespace orgcrypt::vault
