// The HTTP client of the key-service providers (http.hpp): libcurl, one easy
// handle and one multi handle per process (the multi handle owns the
// connection cache, so keep-alive connections survive between requests).
// The transfer runs in curl_multi_poll slices of at most 100 ms, so a cancel
// is noticed promptly even while a slow server sends nothing.
#include "http.hpp"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>

#include "error.hpp"
#include "provider.hpp"

namespace orgcrypt {
namespace http {

namespace {

constexpr int kPollStepMs = 100;  // the longest wait between two interrupt checks
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;  // all response headers together

bool g_allow_plain_http_loopback = false;
long g_connections_opened = 0;

// ---- the per-process libcurl state
struct CurlState {
  pid_t pid = 0;
  CURL* easy = nullptr;
  CURLM* multi = nullptr;
};
CurlState g_curl;
bool g_global_init_done = false;

[[noreturn]] void fail(const std::string& provider, const std::string& operation, const std::string& what,
                       std::string hint = {}) {
  throw Error(sqlstate::kSystemError, provider + " " + operation + ": " + what, {}, std::move(hint));
}

// The process's handles; after a fork the parent's handles are left alone
// (their sockets and TLS sessions belong to the parent: cleaning them up here
// would shut its connections down) and deliberately leaked.
CurlState& curl_state(const std::string& provider, const std::string& operation) {
  const pid_t me = ::getpid();
  if (g_curl.pid != me) {
    g_curl = CurlState{};
    g_curl.pid = me;
  }
  if (!g_global_init_done) {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) fail(provider, operation, "could not initialize libcurl");
    g_global_init_done = true;
  }
  if (!g_curl.multi) {
    g_curl.multi = curl_multi_init();
    if (!g_curl.multi) fail(provider, operation, "could not initialize libcurl (multi handle)");
    // Room for the connections of a few services (KMS, STS, a Vault).
    curl_multi_setopt(g_curl.multi, CURLMOPT_MAXCONNECTS, 8L);
  }
  if (!g_curl.easy) {
    g_curl.easy = curl_easy_init();
    if (!g_curl.easy) fail(provider, operation, "could not initialize libcurl (easy handle)");
  }
  return g_curl;
}

// ---- URL checks
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using UrlPtr = std::unique_ptr<CURLU, UrlDeleter>;

std::string url_part(CURLU* u, CURLUPart part) {
  char* p = nullptr;
  if (curl_url_get(u, part, &p, 0) != CURLUE_OK || !p) return {};
  std::string s(p);
  curl_free(p);
  return s;
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

// The host as libcurl parsed it: an IPv6 address without its brackets.
std::string bare_host(const std::string& host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return host.substr(1, host.size() - 2);
  return host;
}

bool is_loopback_host(const std::string& host) {
  const std::string h = bare_host(host);
  if (lower(h) == "localhost") return true;
  in_addr a4{};
  if (::inet_pton(AF_INET, h.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  in6_addr a6{};
  if (::inet_pton(AF_INET6, h.c_str(), &a6) == 1) return IN6_IS_ADDR_LOOPBACK(&a6);
  return false;
}

bool is_metadata_host(const std::string& host) {
  const std::string h = bare_host(host);
  in_addr a4{};
  if (::inet_pton(AF_INET, h.c_str(), &a4) == 1) {
    const uint32_t v = ntohl(a4.s_addr);
    return v == 0xA9FEA9FEu      // 169.254.169.254 (EC2 IMDS)
           || v == 0xA9FEAA02u   // 169.254.170.2 (ECS)
           || v == 0xA9FEAA17u;  // 169.254.170.23 (EKS Pod Identity)
  }
  in6_addr a6{}, imds6{};
  if (::inet_pton(AF_INET6, h.c_str(), &a6) == 1 && ::inet_pton(AF_INET6, "fd00:ec2::254", &imds6) == 1)
    return std::memcmp(&a6, &imds6, sizeof a6) == 0;
  return false;
}

struct ParsedUrl {
  UrlPtr url;
  std::string scheme;  // "http" or "https"
  std::string host;    // as libcurl parsed it ("[::1]" for IPv6)
};

// Parses the URL with libcurl's URL API; "" or the reason it is refused.
std::string parse_url(const std::string& text, ParsedUrl& out) {
  out.url.reset(curl_url());
  if (!out.url) return "could not parse the URL (out of memory)";
  const CURLUcode rc = curl_url_set(out.url.get(), CURLUPART_URL, text.c_str(), 0);
  if (rc != CURLUE_OK) return std::string("malformed URL: ") + curl_url_strerror(rc);
  out.scheme = lower(url_part(out.url.get(), CURLUPART_SCHEME));
  out.host = url_part(out.url.get(), CURLUPART_HOST);
  if (out.scheme != "http" && out.scheme != "https")
    return "URL scheme \"" + out.scheme + "\" is not supported (https, or plain http where allowed)";
  if (out.host.empty()) return "the URL has no host";
  return {};
}

// ---- the transfer
struct Transfer {
  Response* resp = nullptr;
  std::size_t max_body = 0;
  std::size_t header_bytes = 0;
  bool too_long = false;
  bool out_of_memory = false;
  bool interrupted = false;
};

// The callbacks run inside libcurl (C): nothing may throw through them.
size_t on_body(char* data, size_t size, size_t nmemb, void* userdata) noexcept {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t n = size * nmemb;
  if (n > t->max_body - t->resp->body.size()) {
    t->too_long = true;
    return 0;  // CURLE_WRITE_ERROR: abort
  }
  try {
    t->resp->body.append(data, n);
  } catch (...) {
    t->out_of_memory = true;
    return 0;
  }
  return n;
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) b++;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) e--;
  return s.substr(b, e - b);
}

void add_header_line(Transfer* t, const std::string& line) {
  if (line.compare(0, 5, "HTTP/") == 0) {
    // A new response (after a 1xx, or the first one): only the last counts.
    t->resp->headers.clear();
    return;
  }
  if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
    // An obsolete folded continuation line.
    if (!t->resp->headers.empty()) {
      std::string& v = t->resp->headers.back().value;
      const std::string more = trim(line);
      if (!more.empty()) v += (v.empty() ? "" : " ") + more;
    }
    return;
  }
  const size_t colon = line.find(':');
  if (colon == std::string::npos) return;  // the empty line that ends the headers
  t->resp->headers.push_back(Header{lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1))});
}

size_t on_header(char* data, size_t size, size_t nmemb, void* userdata) noexcept {
  auto* t = static_cast<Transfer*>(userdata);
  const size_t n = size * nmemb;
  t->header_bytes += n;
  if (t->header_bytes > kMaxHeaderBytes) {
    t->too_long = true;
    return 0;  // CURLE_WRITE_ERROR: abort
  }
  try {
    add_header_line(t, std::string(data, n));
  } catch (...) {
    t->out_of_memory = true;
    return 0;
  }
  return n;
}

int on_progress(void* userdata, curl_off_t, curl_off_t, curl_off_t, curl_off_t) noexcept {
  auto* t = static_cast<Transfer*>(userdata);
  if (provider_interrupted()) {
    t->interrupted = true;
    return 1;  // CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

bool is_token(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
    if (std::strchr("()<>@,;:\\\"/[]?={}", c)) return false;
  }
  return true;
}

bool has_header(const Request& req, const char* lower_name) {
  for (const Header& h : req.headers)
    if (lower(h.name) == lower_name) return true;
  return false;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

void add_line(SlistPtr& list, const std::string& line, const std::string& provider, const std::string& operation) {
  curl_slist* l = curl_slist_append(list.get(), line.c_str());
  if (!l) fail(provider, operation, "out of memory building the request");
  list.release();
  list.reset(l);
}

std::string timeout_hint(CURL* easy, const Options& opt) {
  double connect_time = 0;
  curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME, &connect_time);
  if (connect_time <= 0)
    return "The connection was not established within the connect timeout (" +
           std::to_string(opt.connect_timeout_ms) + " ms) or the total timeout (" +
           std::to_string(opt.total_timeout_ms) + " ms).";
  return "The service did not answer within the total timeout (" + std::to_string(opt.total_timeout_ms) + " ms).";
}

std::string error_hint(CURLcode rc, CURL* easy, const Options& opt) {
  switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
      return timeout_hint(easy, opt);
    case CURLE_COULDNT_RESOLVE_HOST:
      return "Check the host name of the endpoint.";
    case CURLE_COULDNT_CONNECT:
      return "Check that the service is running and reachable from the database server.";
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
      return opt.ca_file.empty()
                 ? "The server's certificate was checked against the system's CA store; name a CA file if the "
                   "service uses its own CA."
                 : "The server's certificate was checked against the CA file " + opt.ca_file +
                       " and must name the host of the URL.";
    default:
      return {};
  }
}

}  // namespace

std::string Response::header(const std::string& lower_name) const {
  for (const Header& h : headers)
    if (h.name == lower_name) return h.value;
  return {};
}

void set_allow_plain_http_loopback(bool allow) { g_allow_plain_http_loopback = allow; }
bool allow_plain_http_loopback() { return g_allow_plain_http_loopback; }

long connections_opened() { return g_connections_opened; }

std::string url_host(const std::string& url) {
  UrlPtr u(curl_url());
  if (!u) return {};
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return {};
  return url_part(u.get(), CURLUPART_HOST);
}

std::string plain_http_refusal(const std::string& url, bool metadata) {
  ParsedUrl p;
  std::string why = parse_url(url, p);
  if (!why.empty()) return why;
  if (p.scheme == "https") return {};
  if (metadata && is_metadata_host(p.host)) return {};
  if (is_loopback_host(p.host) && g_allow_plain_http_loopback) return {};
  if (is_loopback_host(p.host))
    return "plain http to " + p.host +
           " is refused: use https (plain http to a loopback address is allowed only by the test setting "
           "orgcrypt.allow_plain_http_loopback)";
  return "plain http to " + p.host +
         " is refused: use https (plain http is allowed only for AWS credentials from the fixed metadata "
         "addresses and, with the test setting orgcrypt.allow_plain_http_loopback, to a loopback address)";
}

std::string uri_encode(const std::string& s, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Response send(const Request& req, const Options& opt, const std::string& provider, const std::string& operation) {
  // The URL, parsed once: what is checked is what libcurl connects to.
  ParsedUrl url;
  {
    std::string why = parse_url(req.url, url);
    if (why.empty()) why = plain_http_refusal(req.url, req.metadata);
    if (!why.empty()) {
      std::string hint;
      if (why.compare(0, 10, "plain http") == 0)
        hint = "Key services are reached over https with certificate verification.";
      fail(provider, operation, why, hint);
    }
  }
  if (!is_token(req.method)) fail(provider, operation, "invalid HTTP method");
  for (const Header& h : req.headers) {
    if (!is_token(h.name)) fail(provider, operation, "invalid HTTP header name");
    if (h.value.find_first_of("\r\n", 0) != std::string::npos || h.value.find('\0') != std::string::npos)
      fail(provider, operation, "invalid value of HTTP header " + h.name);
  }
  if (provider_interrupted()) throw_interrupted(provider, operation);

  CurlState& st = curl_state(provider, operation);
  CURL* easy = st.easy;
  curl_easy_reset(easy);

  Response resp;
  Transfer t;
  t.resp = &resp;
  t.max_body = opt.max_body;

  SlistPtr headers;
  for (const Header& h : req.headers) {
    // "Name:" would remove a header; "Name;" sends it with an empty value.
    add_line(headers, h.value.empty() ? h.name + ";" : h.name + ": " + h.value, provider, operation);
  }
  // Exactly the given headers: no Expect: 100-continue, no default
  // Content-Type or Accept.
  add_line(headers, "Expect:", provider, operation);
  if (!has_header(req, "content-type")) add_line(headers, "Content-Type:", provider, operation);
  if (!has_header(req, "accept")) add_line(headers, "Accept:", provider, operation);

  char errbuf[CURL_ERROR_SIZE];
  errbuf[0] = '\0';
  const std::string host = url.host;
  const bool no_proxy = is_loopback_host(host) || is_metadata_host(host);

  // From here on the easy handle points into this frame (error buffer,
  // callbacks' data, header list, URL handle): the guard detaches it
  // however this call ends, before those are gone.
  struct Detach {
    CURLM* multi;
    CURL* easy;
    bool added = false;
    void now() {
      // Removing an unfinished transfer aborts it (its connection is
      // closed); a finished one leaves its connection in the multi handle's
      // cache. The reset keeps that cache.
      if (added) curl_multi_remove_handle(multi, easy);
      added = false;
      curl_easy_reset(easy);
    }
    ~Detach() { now(); }
  } detach{st.multi, easy};

  CURLcode rc = CURLE_OK;
  auto set = [&](CURLcode r) {
    if (rc == CURLE_OK) rc = r;
  };
  set(curl_easy_setopt(easy, CURLOPT_CURLU, url.url.get()));
  set(curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf));
  set(curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, opt.connect_timeout_ms));
  set(curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, opt.total_timeout_ms));
  set(curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L));
  set(curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 0L));
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85.0
  set(curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https"));
  set(curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "https"));
#else
  set(curl_easy_setopt(easy, CURLOPT_PROTOCOLS, static_cast<long>(CURLPROTO_HTTP | CURLPROTO_HTTPS)));
  set(curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS, static_cast<long>(CURLPROTO_HTTPS)));
#endif
  set(curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1)));
  set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L));
  set(curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L));
  if (!opt.ca_file.empty()) {
    // The CA file is then the only trust anchor (not the system's CA path).
    set(curl_easy_setopt(easy, CURLOPT_CAINFO, opt.ca_file.c_str()));
    set(curl_easy_setopt(easy, CURLOPT_CAPATH, static_cast<char*>(nullptr)));
  }
  // Proxies from the environment as libcurl reads them (https_proxy,
  // http_proxy, all_proxy, no_proxy), but never for loopback or the metadata
  // addresses: "" disables the proxy even when the environment names one.
  if (no_proxy) set(curl_easy_setopt(easy, CURLOPT_PROXY, ""));
  set(curl_easy_setopt(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L));
  set(curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get()));
  set(curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body));
  set(curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t));
  set(curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header));
  set(curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t));
  set(curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L));
  set(curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, on_progress));
  set(curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &t));
  if (opt.max_body < static_cast<std::size_t>(INT64_MAX))
    set(curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(opt.max_body)));

  if (req.method == "GET" && req.body.empty()) {
    set(curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L));
  } else if (req.method == "HEAD" && req.body.empty()) {
    set(curl_easy_setopt(easy, CURLOPT_NOBODY, 1L));
  } else {
    set(curl_easy_setopt(easy, CURLOPT_POST, 1L));
    set(curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size())));
    set(curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req.body.data()));
    if (req.method != "POST") set(curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req.method.c_str()));
  }
  if (rc != CURLE_OK) {
    fail(provider, operation, std::string("could not set up the request to ") + host + ": " + curl_easy_strerror(rc));
  }

  // The transfer, in slices of at most kPollStepMs.
  CURLMcode mrc = curl_multi_add_handle(st.multi, easy);
  if (mrc != CURLM_OK) {
    fail(provider, operation, std::string("could not start the request to ") + host + ": " + curl_multi_strerror(mrc));
  }
  detach.added = true;
  CURLcode result = CURLE_OK;
  bool done = false;
  while (!done) {
    int running = 0;
    mrc = curl_multi_perform(st.multi, &running);
    if (mrc != CURLM_OK) break;
    int queued = 0;
    while (CURLMsg* m = curl_multi_info_read(st.multi, &queued)) {
      if (m->msg == CURLMSG_DONE && m->easy_handle == easy) {
        result = m->data.result;
        done = true;
      }
    }
    if (done) break;
    if (running == 0) {  // should not happen without a CURLMSG_DONE
      result = CURLE_RECV_ERROR;
      break;
    }
    if (provider_interrupted()) {
      t.interrupted = true;
      break;
    }
    mrc = curl_multi_poll(st.multi, nullptr, 0, kPollStepMs, nullptr);
    if (mrc != CURLM_OK) break;
    if (provider_interrupted()) {
      t.interrupted = true;
      break;
    }
  }
  long connects = 0;
  if (curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK) g_connections_opened += connects;
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  const std::string hint = (done && result != CURLE_OK) ? error_hint(result, easy, opt) : std::string();
  detach.now();

  if (t.interrupted || (done && result == CURLE_ABORTED_BY_CALLBACK)) throw_interrupted(provider, operation);
  if (mrc != CURLM_OK)
    fail(provider, operation, "could not reach " + host + ": " + curl_multi_strerror(mrc));
  if (t.out_of_memory) throw Error(sqlstate::kOutOfMemory, provider + " " + operation + ": out of memory reading the response");
  if (t.too_long || result == CURLE_FILESIZE_EXCEEDED)
    fail(provider, operation, "response too long from " + host,
         "The service sent more than " + std::to_string(opt.max_body) + " bytes of body or " +
             std::to_string(kMaxHeaderBytes) + " bytes of headers.");
  if (result != CURLE_OK) {
    const std::string text = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(result));
    fail(provider, operation, "could not reach " + host + ": " + trim(text), hint);
  }
  resp.status = status;
  return resp;
}

}  // namespace http
}  // namespace orgcrypt
