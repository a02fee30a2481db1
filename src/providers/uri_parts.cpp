// Shared pieces of remote providers' URI syntax checks (see uri_parts.hpp).
#include "uri_parts.hpp"

#include <strings.h>

#include <string>
#include <vector>

namespace orgcrypt::uri_parts {

namespace {
int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::string pct_decode(const std::string& in, std::string* out) {
  out->clear();
  for (std::size_t i = 0; i < in.size(); i++) {
    char c = in[i];
    if (c == '%') {
      int hi = i + 1 < in.size() ? hexval(in[i + 1]) : -1;
      int lo = i + 2 < in.size() ? hexval(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) return "a '%' must be followed by two hexadecimal digits";
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "a control character or NUL";
    out->push_back(c);
  }
  return {};
}

std::string for_each_param(const std::string& query, const QuerySpec& spec,
                           const std::function<std::string(const std::string& name, const std::string& value)>& take) {
  if (query.empty()) return "an empty query after '?'";
  std::vector<std::string> seen;
  std::size_t start = 0;
  for (;;) {
    std::size_t amp = query.find('&', start);
    std::string item = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    std::size_t eq = item.find('=');
    std::string name = item.substr(0, eq);
    if (name.empty()) return "an empty parameter in the query";
    for (std::size_t i = 0; i < spec.nsecret; i++)
      if (strcasecmp(name.c_str(), spec.secret[i]) == 0)
        return "a " + name + " is never written in the URI (URIs are stored in tables and shown in messages): " +
               spec.secret_advice;
    bool known = false;
    for (std::size_t i = 0; i < spec.nknown; i++) known = known || name == spec.known[i];
    if (!known) {
      std::string list;
      for (std::size_t i = 0; i < spec.nknown; i++) list += (list.empty() ? "" : ", ") + std::string(spec.known[i]);
      return "unknown parameter \"" + name + "\" (known: " + list + ")";
    }
    for (const auto& s : seen)
      if (s == name) return "parameter \"" + name + "\" is given twice";
    seen.push_back(name);
    if (eq == std::string::npos) return "parameter \"" + name + "\" has no value (write " + name + "=...)";
    std::string value;
    std::string why = pct_decode(item.substr(eq + 1), &value);
    if (!why.empty()) return "parameter \"" + name + "\": " + why;
    if (value.empty()) return "parameter \"" + name + "\" has an empty value";
    why = take(name, value);
    if (!why.empty()) return why;
    if (amp == std::string::npos) return {};
    start = amp + 1;
  }
}

bool parse_ms(const std::string& v, long max, long* out) {
  if (v.empty() || v.size() > 9 || v[0] == '0') return false;
  long n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  if (n < 1 || n > max) return false;
  *out = n;
  return true;
}

std::string parse_host_port(const std::string& hp, const std::string& usage, unsigned default_port,
                            const std::string& no_port, std::string* out_host, unsigned* out_port) {
  const std::string no_host = "no host: write " + usage;
  const std::string need_port = "no port: write HOST:PORT (" + no_port + ")";
  if (hp.empty()) return no_host;
  std::string host, port;
  bool has_port = true;
  if (hp[0] == '[') {
    std::size_t close = hp.find(']');
    if (close == std::string::npos) return "an IPv6 address in brackets has no closing ']'";
    host = hp.substr(0, close + 1);
    for (std::size_t i = 1; i < close; i++) {
      char c = host[i];
      if (hexval(c) < 0 && c != ':' && c != '.') return "the IPv6 address in brackets has a character that does not belong there";
    }
    if (close == 1) return "empty IPv6 address";
    if (close + 1 >= hp.size()) {
      if (default_port == 0) return need_port;
      has_port = false;
    } else if (hp[close + 1] != ':') {
      return default_port == 0 ? need_port : "after an IPv6 address in brackets comes :PORT or nothing";
    } else {
      port = hp.substr(close + 2);
    }
  } else {
    std::size_t colon = hp.rfind(':');
    if (colon == std::string::npos) {
      if (default_port == 0) return need_port;
      has_port = false;
      host = hp;
    } else {
      host = hp.substr(0, colon);
      port = hp.substr(colon + 1);
    }
    if (host.empty()) return no_host;
    if (host.size() > 253) return "the host name is longer than 253 characters";
    if (host.find('@') != std::string::npos) return "user information (user@host) is not allowed in the URI";
    std::size_t label = 0;
    for (char c : host) {
      if (c == '.') {
        if (label == 0) return "the host name has an empty label";
        label = 0;
        continue;
      }
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
        return "the host name has a character that does not belong in a host name";
      if (++label > 63) return "a label of the host name is longer than 63 characters";
    }
    if (label == 0) return "the host name has an empty label";
  }
  unsigned p = default_port;
  if (has_port) {
    if (port.empty() || port.size() > 5 || port[0] == '0') return "the port must be a number from 1 to 65535";
    p = 0;
    for (char c : port) {
      if (c < '0' || c > '9') return "the port must be a number from 1 to 65535";
      p = p * 10 + static_cast<unsigned>(c - '0');
    }
    if (p < 1 || p > 65535) return "the port must be a number from 1 to 65535";
  }
  for (auto& c : host)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  *out_host = host;
  *out_port = p;
  return {};
}

std::string redacted(const std::string& uri, const std::string& prefix, const char* const* known, std::size_t n) {
  const std::size_t q = uri.find('?');
  std::string head = uri.substr(0, q);
  const std::size_t plen = prefix.size();
  if (head.compare(0, plen, prefix) == 0) {
    const std::size_t end = head.find('/', plen);
    const std::size_t at = head.rfind('@', end == std::string::npos ? std::string::npos : end);
    if (at != std::string::npos && at >= plen) head = head.substr(0, plen) + "***" + head.substr(at);
  }
  if (q == std::string::npos) return head;
  std::string out = head + "?";
  const std::string query = uri.substr(q + 1);
  std::size_t start = 0;
  for (;;) {
    std::size_t amp = query.find('&', start);
    std::string item = query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
    std::size_t eq = item.find('=');
    std::string name = item.substr(0, eq);
    bool ok = false;
    for (std::size_t i = 0; i < n; i++) ok = ok || name == known[i];
    if (eq != std::string::npos && !ok) item = name + "=***";
    out += item;
    if (amp == std::string::npos) break;
    out += '&';
    start = amp + 1;
  }
  return out;
}

bool host_is_loopback(const std::string& host) {
  if (host == "localhost" || host == "[::1]") return true;
  // 127.0.0.0/8 as a dotted quad
  int parts = 0;
  std::size_t start = 0;
  std::vector<int> v;
  for (;;) {
    std::size_t dot = host.find('.', start);
    std::string p = host.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (p.empty() || p.size() > 3) return false;
    int n = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + (c - '0');
    }
    if (n > 255) return false;
    v.push_back(n);
    parts++;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return parts == 4 && v[0] == 127;
}

}  // namespace orgcrypt::uri_parts
