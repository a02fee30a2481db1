// kmip:// URIs (docs/providers.md, "kmip://"): the syntax, checked without
// any network access. Pure functions (unit tests, fuzzing).
//
//   kmip://HOST[:PORT]/UID[?param=value&...]        PORT defaults to 5696
//
// UID is the key's KMIP Unique Identifier, percent-decoded: 1 to 255
// printable ASCII characters. Parameters (each at most once; values
// percent-decoded; paths are not secrets, the key file's content is):
//   ca_file, cert_file, key_file     absolute paths of PEM files; each
//                                    overrides orgcrypt.kmip_ca_file,
//                                    orgcrypt.kmip_cert_file, orgcrypt.kmip_key_file
//   timeout_ms, connect_timeout_ms   1..600000 (defaults 10000, 5000)
// A password or PIN written in the URI is refused.
#pragma once
#include <string>

namespace orgcrypt {

struct KmipUri {
  std::string host;  // lower-cased; an IPv6 address keeps its brackets
  unsigned port = 5696;
  std::string uid;
  std::string ca_file, cert_file, key_file;  // "" = from the settings
  long timeout_ms = 10000;
  long connect_timeout_ms = 5000;

  std::string hostport() const { return host + ":" + std::to_string(port); }
};

constexpr std::size_t kKmipMaxUri = 4096;
constexpr long kKmipMaxTimeoutMs = 600000;
constexpr unsigned kKmipDefaultPort = 5696;

// "" and *out filled (if not null), or the reason the URI is refused.
std::string parse_kmip_uri(const std::string& uri, KmipUri* out);

// Registry: the syntax check; the URI as a message shows it (the value of
// an unknown parameter masked); the trust scope (HOST:PORT and the
// parameters: another key on the same server reached with the same
// certificates is trusted alike).
std::string check_kmip_uri(const std::string& uri);
std::string kmip_uri_redacted(const std::string& uri);
std::string kmip_trust_scope(const std::string& uri);

}  // namespace orgcrypt
