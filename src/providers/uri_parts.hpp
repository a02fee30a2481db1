// Pieces shared by the syntax checks of remote providers' URIs
// (vault-transit://, kmip://): host and port, percent-decoding, numbers.
#pragma once
#include <cstddef>
#include <functional>
#include <string>

namespace orgcrypt::uri_parts {

// Parses "HOST:PORT" or "HOST" (a DNS name or dotted quad, lower-cased; an
// IPv6 address in brackets keeps its brackets). usage is the URI's form for
// the "no host" message ("vault-transit://HOST:PORT/MOUNT/keys/NAME");
// default_port 0 means the port is required and no_port names why
// ("Vault listens on 8200 by default"). "" or the reason.
std::string parse_host_port(const std::string& hp, const std::string& usage, unsigned default_port,
                            const std::string& no_port, std::string* host, unsigned* port);
// Percent-decodes; a decoded control character or NUL is refused. "" or the reason.
std::string pct_decode(const std::string& in, std::string* out);
// A whole number of milliseconds 1..max without a leading zero.
bool parse_ms(const std::string& v, long max, long* out);
// The query of a URI ("a=1&b=2", after the '?'): each parameter in order,
// with its percent-decoded value, given to take(), which returns "" or why
// the value is refused. Refused before take() sees it: an empty query or
// parameter name, a name in secret[0..nsecret) (any case: "a NAME is never
// written in the URI (...): " + secret_advice), a name not in
// known[0..nknown), a repeated name, no value, a bad percent-encoding, an
// empty value. "" or the reason.
struct QuerySpec {
  const char* const* known;
  std::size_t nknown;
  const char* const* secret;
  std::size_t nsecret;
  std::string secret_advice;
};
std::string for_each_param(const std::string& query, const QuerySpec& spec,
                           const std::function<std::string(const std::string& name, const std::string& value)>& take);
// The URI as a message may show it: user information before the host
// (refused by the syntax checks, but it could be a password) and the value
// of every query parameter not in known[0..n) are masked as "***".
std::string redacted(const std::string& uri, const std::string& prefix, const char* const* known, std::size_t n);
// localhost, 127.0.0.0/8 as a dotted quad, [::1]
bool host_is_loopback(const std::string& host);

}  // namespace orgcrypt::uri_parts
