// vault-transit:// URI syntax (see vault_uri.hpp).
#include "vault_uri.hpp"

#include "provider.hpp"
#include "uri_parts.hpp"

#include <cstring>
#include <string>

namespace orgcrypt {

namespace {

const char kPrefix[] = "vault-transit://";
const char* const kKnown[] = {"token_file", "role_id_file",  "secret_id_file", "approle_mount", "namespace",
                              "ca_file",    "tls",           "timeout_ms",     "connect_timeout_ms"};
// Parameter names that would carry a secret inline.
const char* const kSecretParams[] = {"token", "vault_token", "client_token", "secret_id", "role_id", "x-vault-token"};

bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// A path segment of a mount or a namespace: [A-Za-z0-9_.-]+, not "." or "..".
bool good_segments(const std::string& s) {
  if (s.empty()) return false;
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = s.find('/', start);
    std::string seg = s.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (char c : seg)
      if (!is_word(c) && c != '-' && c != '.') return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

// Vault's key-name rule (framework.GenericNameRegex): \w([\w.-]*\w)?
bool good_key_name(const std::string& s) {
  if (s.empty() || s.size() > 256) return false;
  if (!is_word(s.front()) || !is_word(s.back())) return false;
  for (char c : s)
    if (!is_word(c) && c != '-' && c != '.') return false;
  return true;
}

}  // namespace

bool vault_host_is_loopback(const std::string& host) { return uri_parts::host_is_loopback(host); }

std::string parse_vault_uri(const std::string& uri, VaultUri* out) {
  VaultUri u;
  bool approle_mount_given = false;
  const std::size_t plen = sizeof kPrefix - 1;
  if (uri.size() > kVaultMaxUri) return "the URI is longer than " + std::to_string(kVaultMaxUri) + " bytes";
  if (uri.compare(0, plen, kPrefix) != 0)
    return "a Vault Transit key URI starts with vault-transit:// (vault-transit://HOST:PORT/MOUNT/keys/NAME)";
  for (char c : uri)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return "spaces and control characters are not allowed (percent-encode them)";
  if (uri.find('#') != std::string::npos) return "a fragment ('#') is not allowed";
  const std::size_t q = uri.find('?');
  const std::string authpath = uri.substr(plen, q == std::string::npos ? std::string::npos : q - plen);
  const std::size_t slash = authpath.find('/');
  std::string why = uri_parts::parse_host_port(authpath.substr(0, slash), "vault-transit://HOST:PORT/MOUNT/keys/NAME", 0,
                                               "Vault listens on 8200 by default", &u.host, &u.port);
  if (!why.empty()) return why;
  if (slash == std::string::npos || slash + 1 >= authpath.size())
    return "no key path: write vault-transit://HOST:PORT/MOUNT/keys/NAME";
  const std::string path = authpath.substr(slash + 1);
  if (path.find('%') != std::string::npos) return "the key path may not be percent-encoded (mount and key names are plain)";
  const std::size_t keys = path.rfind("/keys/");
  if (keys == std::string::npos || keys == 0)
    return "the key path must be MOUNT/keys/NAME (for example transit/keys/orgcrypt)";
  u.mount = path.substr(0, keys);
  u.name = path.substr(keys + 6);
  if (!good_segments(u.mount))
    return "the mount \"" + u.mount + "\" is not a Vault mount path (segments of letters, digits, '_', '-', '.', separated by single '/')";
  if (u.mount.size() > 512) return "the mount path is longer than 512 characters";
  if (!good_key_name(u.name))
    return "the key name \"" + u.name +
           "\" is not a Vault key name (letters, digits, '_', '-' and '.', starting and ending with a letter, digit or '_', at most 256 characters)";

  if (q != std::string::npos) {
    static const uri_parts::QuerySpec kSpec{
        kKnown, sizeof kKnown / sizeof kKnown[0], kSecretParams, sizeof kSecretParams / sizeof kSecretParams[0],
        "name a file that holds it (token_file=, role_id_file=, secret_id_file=) or set VAULT_TOKEN in the server's "
        "environment"};
    why = uri_parts::for_each_param(uri.substr(q + 1), kSpec,
                                    [&](const std::string& name, const std::string& value) -> std::string {
      if (name == "token_file" || name == "role_id_file" || name == "secret_id_file" || name == "ca_file") {
        if (value[0] != '/') return name + " must be an absolute path (it is opened by the server process)";
        if (value.size() > 1024) return name + " is longer than 1024 characters";
        (name == "token_file" ? u.token_file : name == "role_id_file" ? u.role_id_file
                                             : name == "secret_id_file" ? u.secret_id_file : u.ca_file) = value;
      } else if (name == "approle_mount") {
        if (!good_segments(value) || value.size() > 512)
          return "approle_mount \"" + value + "\" is not a Vault mount path (segments of letters, digits, '_', '-', '.')";
        u.approle_mount = value;
        approle_mount_given = true;
      } else if (name == "namespace") {
        std::string ns = value;
        while (!ns.empty() && ns.back() == '/') ns.pop_back();  // "ns1/" is "ns1", as for Vault
        if (!good_segments(ns) || ns.size() > 512)
          return "namespace \"" + value + "\" is not a Vault namespace path (segments of letters, digits, '_', '-', '.')";
        u.ns = ns;
        u.ns_given = true;
      } else if (name == "tls") {
        if (value == "on") u.tls = true;
        else if (value == "off") u.tls = false;
        else return "tls must be on or off";
      } else if (name == "timeout_ms" || name == "connect_timeout_ms") {
        long ms = 0;
        if (!uri_parts::parse_ms(value, kVaultMaxTimeoutMs, &ms))
          return name + " must be a whole number of milliseconds from 1 to " + std::to_string(kVaultMaxTimeoutMs);
        (name == "timeout_ms" ? u.timeout_ms : u.connect_timeout_ms) = ms;
      }
      return {};
    });
    if (!why.empty()) return why;
  }
  if (!u.token_file.empty() && (!u.role_id_file.empty() || !u.secret_id_file.empty()))
    return "token_file and AppRole (role_id_file, secret_id_file) exclude each other: choose one way to get a token";
  if (u.role_id_file.empty() != u.secret_id_file.empty())
    return "AppRole needs both role_id_file and secret_id_file";
  if (u.role_id_file.empty() && approle_mount_given)
    return "approle_mount is used only with role_id_file and secret_id_file";
  if (!u.tls) {
    if (!vault_host_is_loopback(u.host))
      return "tls=off (plain http) is allowed only to a loopback host (localhost, 127.0.0.1, [::1]): use https with ca_file";
    if (!u.ca_file.empty()) return "ca_file has no use with tls=off";
  }
  if (out) *out = std::move(u);
  return {};
}

std::string check_vault_transit_uri(const std::string& uri) { return parse_vault_uri(uri, nullptr); }

std::string vault_uri_redacted(const std::string& uri) {
  return uri_parts::redacted(uri, kPrefix, kKnown, sizeof kKnown / sizeof kKnown[0]);
}

std::string vault_trust_scope(const std::string& uri) {
  const std::size_t plen = sizeof kPrefix - 1;
  const std::size_t end = uri.find_first_of("/?", plen);
  return remote_trust_scope(uri, end == std::string::npos ? uri.size() : end);
}

}  // namespace orgcrypt
