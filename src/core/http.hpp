// One small HTTP client over libcurl for the providers that talk to key
// services (aws-kms:, vault-transit:). No PostgreSQL header.
//
// - One libcurl easy handle per process, reused for every request, so a
//   backend keeps its TLS connections to a key service alive between misses.
//   A process that finds a handle made by its parent (fork) leaves it alone
//   and makes its own.
// - CURLOPT_NOSIGNAL (PostgreSQL owns SIGALRM); connect and total timeouts;
//   the progress callback asks provider_interrupted() at least every 100 ms
//   and a cancel becomes Error 57014 (throw_interrupted).
// - https with certificate and host verification (CA file or the system
//   store). Plain http is refused except (a) to a loopback address when
//   set_allow_plain_http_loopback(true) (a test setting) and (b) to the fixed
//   link-local metadata addresses of AWS (IMDS 169.254.169.254 and
//   [fd00:ec2::254], ECS 169.254.170.2 and 169.254.170.23) when the request
//   says metadata = true.
// - Redirects are not followed. Response bodies are bounded (max_body), the
//   response headers to 64 KiB in all. HTTP/1.1.
// - Proxies from the environment as libcurl reads them (https_proxy,
//   HTTPS_PROXY, all_proxy, no_proxy), never for loopback or the metadata
//   addresses.
// - Errors are Error(58000) "<provider> <operation>: ..." naming the host and
//   libcurl's error text, never a header value or a body.
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace orgcrypt {
namespace http {

struct Header {
  std::string name;
  std::string value;
};

struct Request {
  std::string method = "POST";  // GET, POST, PUT
  std::string url;              // http(s)://host[:port]/path?query
  // Sent as given. libcurl adds only Host (unless given here; it is
  // "host" or "host:port" for a non-default port, as a signer must sign it)
  // and Content-Length (when there is a body, or for POST/PUT); no
  // Expect: 100-continue, Accept, Content-Type or User-Agent is added.
  std::vector<Header> headers;
  std::string body;
  bool metadata = false;        // an AWS metadata endpoint (IMDS, ECS): see above
};

struct Response {
  long status = 0;
  std::vector<Header> headers;  // names lower-cased, in the order received
  std::string body;
  // The first header with this (lower-case) name, or "".
  std::string header(const std::string& lower_name) const;
};

struct Options {
  long connect_timeout_ms = 5000;
  long total_timeout_ms = 30000;
  std::string ca_file;           // "" = the system's default CA store
  std::size_t max_body = 1 << 20;  // a longer response is an error
};

// Sends one request and returns the response, whatever its status. Throws
// Error 58000 when no response arrives (refused, timed out, TLS failure,
// body too long, plain http refused) and Error 57014 when interrupted.
// provider ("aws-kms", "vault-transit") and operation ("Encrypt") name the
// call in messages.
Response send(const Request& req, const Options& opt, const std::string& provider, const std::string& operation);

// Test setting orgcrypt.allow_plain_http_loopback (the glue sets it).
void set_allow_plain_http_loopback(bool allow);
bool allow_plain_http_loopback();

// "" if the URL (parsed by libcurl) may be requested under the plain-http
// rules above (https always may), else the reason it is refused. send()
// applies it; tests use it to check the rules for addresses they must not
// connect to.
std::string plain_http_refusal(const std::string& url, bool metadata);

// The host part of an http(s) URL ("" if none), for messages.
std::string url_host(const std::string& url);

// Percent-encodes per RFC 3986 (unreserved characters kept); slash kept when
// keep_slash is true.
std::string uri_encode(const std::string& s, bool keep_slash);

// How many connections libcurl opened in this process (tests: reuse).
long connections_opened();

}  // namespace http
}  // namespace orgcrypt
