// kmip:// URI syntax (see kmip_uri.hpp).
#include "kmip_uri.hpp"

#include <string>

#include "provider.hpp"
#include "uri_parts.hpp"

namespace orgcrypt {

namespace {

const char kPrefix[] = "kmip://";
const char kUsage[] = "kmip://HOST[:PORT]/UID";
const char* const kKnown[] = {"ca_file", "cert_file", "key_file", "timeout_ms", "connect_timeout_ms"};
// Parameter names that would carry a secret inline.
const char* const kSecretParams[] = {"password", "pass", "passphrase", "pin", "key_password", "secret", "token"};

}  // namespace

std::string parse_kmip_uri(const std::string& uri, KmipUri* out) {
  KmipUri u;
  const std::size_t plen = sizeof kPrefix - 1;
  if (uri.size() > kKmipMaxUri) return "the URI is longer than " + std::to_string(kKmipMaxUri) + " bytes";
  if (uri.compare(0, plen, kPrefix) != 0) return std::string("a KMIP key URI starts with kmip:// (") + kUsage + ")";
  for (char c : uri)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return "spaces, control characters and non-ASCII characters are not allowed (percent-encode them)";
  if (uri.find('#') != std::string::npos) return "a fragment ('#') is not allowed";
  const std::size_t q = uri.find('?');
  const std::string authpath = uri.substr(plen, q == std::string::npos ? std::string::npos : q - plen);
  const std::size_t slash = authpath.find('/');
  std::string why = uri_parts::parse_host_port(authpath.substr(0, slash), kUsage, kKmipDefaultPort, "", &u.host, &u.port);
  if (!why.empty()) return why;
  if (slash == std::string::npos || slash + 1 >= authpath.size())
    return std::string("no key: write ") + kUsage + " (UID is the key's KMIP Unique Identifier)";
  why = uri_parts::pct_decode(authpath.substr(slash + 1), &u.uid);
  if (!why.empty()) return "the key's Unique Identifier: " + why;
  if (u.uid.size() > 255) return "the key's Unique Identifier is longer than 255 characters";
  for (char c : u.uid)
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e)
      return "the key's Unique Identifier must be printable ASCII without spaces";

  if (q != std::string::npos) {
    static const uri_parts::QuerySpec kSpec{
        kKnown, sizeof kKnown / sizeof kKnown[0], kSecretParams, sizeof kSecretParams / sizeof kSecretParams[0],
        "the client key file must not be encrypted; protect it by its owner and mode (0600)"};
    why = uri_parts::for_each_param(uri.substr(q + 1), kSpec,
                                    [&](const std::string& name, const std::string& value) -> std::string {
      if (name == "ca_file" || name == "cert_file" || name == "key_file") {
        if (value[0] != '/') return name + " must be an absolute path (it is opened by the server process)";
        if (value.size() > 1024) return name + " is longer than 1024 characters";
        (name == "ca_file" ? u.ca_file : name == "cert_file" ? u.cert_file : u.key_file) = value;
      } else {
        long ms = 0;
        if (!uri_parts::parse_ms(value, kKmipMaxTimeoutMs, &ms))
          return name + " must be a whole number of milliseconds from 1 to " + std::to_string(kKmipMaxTimeoutMs);
        (name == "timeout_ms" ? u.timeout_ms : u.connect_timeout_ms) = ms;
      }
      return {};
    });
    if (!why.empty()) return why;
  }
  if (u.cert_file.empty() != u.key_file.empty())
    return "cert_file and key_file go together (the client certificate and its private key)";
  if (out) *out = std::move(u);
  return {};
}

std::string check_kmip_uri(const std::string& uri) { return parse_kmip_uri(uri, nullptr); }

std::string kmip_uri_redacted(const std::string& uri) {
  return uri_parts::redacted(uri, kPrefix, kKnown, sizeof kKnown / sizeof kKnown[0]);
}

std::string kmip_trust_scope(const std::string& uri) {
  const std::size_t plen = sizeof kPrefix - 1;
  const std::size_t end = uri.find_first_of("/?", plen);
  return remote_trust_scope(uri, end == std::string::npos ? uri.size() : end);
}

}  // namespace orgcrypt
