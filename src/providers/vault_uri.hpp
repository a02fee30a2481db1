// vault-transit:// URIs (docs/providers.md, "vault-transit://"): the syntax,
// checked without any network access. Pure functions (unit tests, fuzzing).
//
//   vault-transit://HOST:PORT/MOUNT/keys/NAME[?param=value&...]
//
// MOUNT is everything before the last "/keys/" (it may contain slashes);
// NAME follows Vault's key-name rule (\w([\w.-]*\w)?). Parameters (each at
// most once; values percent-decoded; paths are not secrets):
//   token_file, role_id_file, secret_id_file   absolute paths
//   approle_mount                               default "approle" (with role_id_file)
//   namespace                                   Vault Enterprise / OpenBao namespace
//   ca_file                                     absolute path of a PEM CA bundle
//   tls=on|off                                  off: plain http, loopback hosts only
//   timeout_ms, connect_timeout_ms              1..600000 (defaults 30000, 5000)
// A token, secret_id or role_id written in the URI itself is refused.
#pragma once
#include <string>

namespace orgcrypt {

struct VaultUri {
  std::string host;      // lower-cased; an IPv6 address keeps its brackets
  unsigned port = 0;
  std::string mount;     // "transit", "secret/transit", ...
  std::string name;      // the Transit key's name
  std::string token_file, role_id_file, secret_id_file;
  std::string approle_mount = "approle";
  std::string ns;        // namespace ("" = none given)
  bool ns_given = false;
  std::string ca_file;
  bool tls = true;
  long timeout_ms = 30000;
  long connect_timeout_ms = 5000;

  std::string hostport() const { return host + ":" + std::to_string(port); }
  std::string base_url() const { return (tls ? "https://" : "http://") + hostport(); }
  std::string key_path() const { return mount + "/keys/" + name; }
};

constexpr std::size_t kVaultMaxUri = 4096;
constexpr long kVaultMaxTimeoutMs = 600000;

// "" and *out filled (if not null), or the reason the URI is refused. A
// reason never quotes the value of a parameter that could hold a secret.
std::string parse_vault_uri(const std::string& uri, VaultUri* out);

// Registry: the syntax check, and the URI as a message may show it (the
// value of every parameter that is not one of the known ones is masked, so a
// token=... typed by mistake never reaches a message or the log).
std::string check_vault_transit_uri(const std::string& uri);
std::string vault_uri_redacted(const std::string& uri);

// Registry: the trust scope (provider.hpp, remote_trust_scope): the URI up to
// HOST:PORT and its query parameters, so another key (or mount) on the same
// Vault server reached with the same parameters is trusted alike.
std::string vault_trust_scope(const std::string& uri);

// Is host (as in VaultUri::host) a loopback address: localhost, 127.0.0.0/8, [::1]?
bool vault_host_is_loopback(const std::string& host);

}  // namespace orgcrypt
