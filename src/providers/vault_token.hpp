// Vault tokens for the vault-transit:// provider: where the token comes from,
// the token-file reader, and the AppRole token cache with its renewal
// decisions. Pure where it can be (the clock is passed in).
//
// Order: the URI's token_file; else the URI's AppRole (role_id_file and
// secret_id_file: POST auth/<approle_mount>/login); else VAULT_TOKEN in the
// server's environment (as the Vault CLI reads it).
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "secure.hpp"
#include "vault_json.hpp"
#include "vault_uri.hpp"

namespace orgcrypt::vault {

enum class TokenSource { File, AppRole, Environment };

// Chooses the source; "" and *src, or why there is none (the message says
// what to set).
std::string choose_token_source(const VaultUri& u, bool have_env_token, TokenSource* src);

// Reads a token file (a Vault Agent sink, say): a regular file owned by the
// server's OS user, mode 0600 or stricter (core/secret_file), one trailing
// newline stripped, then credential_ok. The token is kept per path and read
// again only when the file changes (inode, size or times). noun names the
// file in messages ("the token file"). Throws Error 58000 naming the file,
// never its content.
SecretBytes read_token_file(const std::string& path, const std::string& noun);
// How many times token files were actually read (tests: re-read on change).
unsigned long token_file_reads();

// An AppRole client token held by this process.
struct CachedToken {
  SecretBytes token;
  std::int64_t lease_seconds = 0;   // 0: the token does not expire
  bool renewable = false;
  std::int64_t start_ms = 0;        // when the request that got this lease was sent
};

enum class TokenAction { Use, Renew, Login };

// What to do with a cached token at now_ms (a monotonic clock): use it while
// at least a third of its lease remains; below that renew it (renew-self)
// if it is renewable, else log in again; log in again once it has expired.
TokenAction token_action(const CachedToken& t, std::int64_t now_ms);

// Records a renewal that was sent at start_ms and answered a. A renewal that
// does not move the expiry later, or grants a shorter lease than before (the
// token reached its max_ttl), marks the token as no longer renewable, so that
// the next decision logs in again instead of renewing.
void apply_renewal(CachedToken& t, const AuthInfo& a, std::int64_t start_ms);

// AppRole tokens by login configuration (Vault address, namespace, AppRole
// mount, role_id_file and secret_id_file), per process.
std::map<std::string, CachedToken>& approle_tokens();
std::string approle_cache_key(const VaultUri& u, const std::string& ns);

// Drops every cached token and token file (tests).
void clear_token_caches();

}  // namespace orgcrypt::vault
