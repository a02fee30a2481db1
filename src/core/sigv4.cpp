// AWS Signature Version 4, header-based signing (see sigv4.hpp). SHA-256 and
// HMAC-SHA-256 come from OpenSSL (EVP_Digest, HMAC()); the signing keys
// (kDate, kRegion, kService, kSigning) live in wiped memory.
#include "sigv4.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstdint>
#include <ctime>

#include "error.hpp"

namespace orgcrypt {
namespace sigv4 {
namespace {

constexpr const char* kAlgorithm = "AWS4-HMAC-SHA256";

[[noreturn]] void fail(const std::string& what) {
  throw Error(sqlstate::kSystemError, "SigV4 signing failed: " + what);
}

[[noreturn]] void bad_input(const std::string& what) {
  throw Error(sqlstate::kInternal, "SigV4: invalid request to sign: " + what);
}

std::string hex(const unsigned char* p, std::size_t n) {
  static const char d[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * n);
  for (std::size_t i = 0; i < n; i++) {
    s.push_back(d[p[i] >> 4]);
    s.push_back(d[p[i] & 15]);
  }
  return s;
}

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1 || len != 32) fail("SHA-256");
  return hex(md, len);
}

// out = HMAC-SHA-256(key, data); out holds 32 bytes afterwards.
void hmac_sha256(const SecretBytes& key, const std::string& data, SecretBytes& out) {
  SecretBytes mac(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(), &len) == nullptr ||
      len != 32)
    fail("HMAC-SHA-256");
  mac.resize(len);
  out.swap(mac);  // the old contents of out are wiped when mac goes
}

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         c == '.' || c == '~';
}

// RFC 3986 percent-encoding of every byte but the unreserved ones (and '/'
// when keep_slash), upper-case hex, as SigV4 wants (UriEncode in the AWS docs).
std::string uri_encode(const std::string& s, bool keep_slash) {
  static const char d[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(d[c >> 4]);
      out.push_back(d[c & 15]);
    }
  }
  return out;
}

// Normalizes the path as @smithy/signature-v4 (and the AWS test suite's
// normalize-path cases) do: empty segments and "." are dropped, ".." removes
// the previous segment; a leading and (if any segment is left) a trailing
// slash are kept. Then encodes it once more, keeping the slashes.
std::string canonical_uri(const std::string& path) {
  std::vector<std::string> segs;
  std::size_t i = 0;
  while (i <= path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string seg = path.substr(i, j - i);
    if (seg.empty() || seg == ".") {
      // dropped
    } else if (seg == "..") {
      if (!segs.empty()) segs.pop_back();
    } else {
      segs.push_back(std::move(seg));
    }
    i = j + 1;
  }
  std::string norm;
  if (path.empty() || path[0] == '/') norm = "/";  // an empty path is "/"
  for (std::size_t k = 0; k < segs.size(); k++) {
    if (k) norm.push_back('/');
    norm += segs[k];
  }
  if (!segs.empty() && !path.empty() && path.back() == '/') norm.push_back('/');
  return uri_encode(norm, true);
}

std::string canonical_query(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> enc;
  enc.reserve(query.size());
  for (const auto& kv : query) enc.emplace_back(uri_encode(kv.first, false), uri_encode(kv.second, false));
  std::sort(enc.begin(), enc.end());  // by encoded name, then encoded value
  std::string out;
  for (const auto& kv : enc) {
    if (!out.empty()) out.push_back('&');
    out += kv.first;
    out.push_back('=');
    out += kv.second;
  }
  return out;
}

// The whitespace folded in header values, as @smithy/signature-v4 does
// (CR and LF become spaces, runs of spaces and tabs one space, then trimmed).
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Trims the value and collapses each inner run of whitespace into one space.
std::string canonical_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  bool pending_space = false;
  for (char c : v) {
    if (is_space(c)) {
      pending_space = !out.empty();
    } else {
      if (pending_space) out.push_back(' ');
      pending_space = false;
      out.push_back(c);
    }
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool valid_amz_date(const std::string& d) {
  if (d.size() != 16 || d[8] != 'T' || d[15] != 'Z') return false;
  for (std::size_t i = 0; i < 15; i++)
    if (i != 8 && (d[i] < '0' || d[i] > '9')) return false;
  return true;
}

}  // namespace

Signature sign(const Request& req, const Credentials& creds, const std::string& region, const std::string& service,
               const std::string& amz_date) {
  if (req.method.empty()) bad_input("no method");
  if (!valid_amz_date(amz_date)) bad_input("date is not YYYYMMDDTHHMMSSZ");
  if (region.empty() || service.empty()) bad_input("no region or service");
  if (creds.access_key_id.empty() || creds.secret_access_key.empty()) bad_input("no credentials");

  // Canonical headers: lower-cased names, stable-sorted (repeated names keep
  // their order and are joined with ','), canonical values.
  std::vector<std::pair<std::string, std::string>> hs;
  hs.reserve(req.headers.size());
  bool have_host = false;
  for (const auto& h : req.headers) {
    std::string name = lower(h.first);
    if (name.empty()) bad_input("empty header name");
    for (char c : name)
      if (is_space(c) || c == ':' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) bad_input("bad header name");
    if (name == "host") have_host = true;
    hs.emplace_back(std::move(name), canonical_value(h.second));
  }
  if (!have_host) bad_input("no host header");
  std::stable_sort(hs.begin(), hs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string canonical_headers, signed_headers;
  for (std::size_t i = 0; i < hs.size(); i++) {
    if (i > 0 && hs[i].first == hs[i - 1].first) {
      canonical_headers.pop_back();  // the '\n'
      canonical_headers.push_back(',');
    } else {
      if (!signed_headers.empty()) signed_headers.push_back(';');
      signed_headers += hs[i].first;
      canonical_headers += hs[i].first;
      canonical_headers.push_back(':');
    }
    canonical_headers += hs[i].second;
    canonical_headers.push_back('\n');
  }

  Signature sig;
  sig.signed_headers = signed_headers;
  sig.canonical_request = req.method + "\n" + canonical_uri(req.path) + "\n" + canonical_query(req.query) + "\n" +
                          canonical_headers + "\n" + signed_headers + "\n" + sha256_hex(req.body);

  const std::string date = amz_date.substr(0, 8);
  const std::string scope = date + "/" + region + "/" + service + "/aws4_request";
  sig.string_to_sign =
      std::string(kAlgorithm) + "\n" + amz_date + "\n" + scope + "\n" + sha256_hex(sig.canonical_request);

  SecretBytes k;
  k.reserve(4 + creds.secret_access_key.size());
  k.insert(k.end(), {'A', 'W', 'S', '4'});
  k.insert(k.end(), creds.secret_access_key.begin(), creds.secret_access_key.end());
  hmac_sha256(k, date, k);
  hmac_sha256(k, region, k);
  hmac_sha256(k, service, k);
  hmac_sha256(k, "aws4_request", k);
  SecretBytes mac;
  hmac_sha256(k, sig.string_to_sign, mac);
  sig.signature = hex(mac.data(), mac.size());

  sig.authorization = std::string(kAlgorithm) + " Credential=" + creds.access_key_id + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" + sig.signature;
  return sig;
}

std::string amz_date_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) fail("gmtime");
  char buf[32];
  if (std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm) != 16) fail("strftime");
  return std::string(buf, 16);
}

}  // namespace sigv4
}  // namespace orgcrypt
