// RFC 7512 PKCS#11 URI parser and the pkcs11: provider's URI check.
#include "pkcs11_uri.hpp"

#include <cstring>
#include <string>

namespace orgcrypt {

namespace {

constexpr const char kPrefix[] = "pkcs11:";
constexpr std::size_t kPrefixLen = sizeof kPrefix - 1;

// RFC 7512, section 2.3: the path attributes and the query attributes.
const char* const kPathAttrs[] = {"token",  "manufacturer", "serial", "model", "library-manufacturer",
                                  "library-version", "library-description", "object", "type", "id",
                                  "slot-description", "slot-manufacturer", "slot-id"};
const char* const kQueryAttrs[] = {"pin-source", "pin-value", "module-name", "module-path"};

// Is n an attribute of the query (query) or of the path (!query)?
bool is_attr(bool query, const std::string& n) {
  if (query) {
    for (const char* s : kQueryAttrs)
      if (n == s) return true;
  } else {
    for (const char* s : kPathAttrs)
      if (n == s) return true;
  }
  return false;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_unreserved(char c) { return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~'; }
// pk11-path-res-avail and pk11-query-res-avail (the query also admits / ? |).
bool is_path_res(char c) { return c != '\0' && std::strchr(":[]@!$'()*+,=", c) != nullptr; }
bool is_query_res(char c) { return is_path_res(c) || c == '/' || c == '?' || c == '|'; }

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A name quoted in a reason only if it looks like an attribute name (so a
// malformed URI cannot smuggle a secret into a message).
std::string quoted_name(const std::string& n) {
  bool plain = !n.empty() && n.size() <= 32;
  for (char c : n) plain = plain && (is_alpha(c) || is_digit(c) || c == '-' || c == '_');
  return plain ? "\"" + n + "\"" : "an attribute";
}

// Decodes one attribute value; "" on success, else why it is refused.
std::string decode_value(const std::string& raw, bool query, std::string* out) {
  out->clear();
  for (std::size_t i = 0; i < raw.size(); i++) {
    char c = raw[i];
    if (c == '%') {
      int hi = i + 1 < raw.size() ? hexval(raw[i + 1]) : -1;
      int lo = i + 2 < raw.size() ? hexval(raw[i + 2]) : -1;
      if (hi < 0 || lo < 0) return "a '%' must be followed by two hexadecimal digits";
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (is_unreserved(c) || (query ? is_query_res(c) : is_path_res(c))) {
      out->push_back(c);
    } else {
      return std::string("a character that must be percent-encoded") +
             (c == ' ' ? " (a space: write %20)" : c == '#' ? " ('#': write %23)" : "");
    }
  }
  return {};
}

bool all_digits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_digit(c)) return false;
  return true;
}

// The value rules RFC 7512 gives a few attributes.
std::string check_value(const std::string& name, const std::string& v) {
  if (name == "type" && v != "public" && v != "private" && v != "cert" && v != "secret-key" && v != "data")
    return "type is one of public, private, cert, secret-key, data";
  if (name == "slot-id" && (!all_digits(v) || v.size() > 19)) return "slot-id is a decimal number";
  if (name == "library-version") {
    auto dot = v.find('.');
    bool ok = dot == std::string::npos ? all_digits(v) : all_digits(v.substr(0, dot)) && all_digits(v.substr(dot + 1));
    if (!ok || v.size() > 7) return "library-version is MAJOR or MAJOR.MINOR (decimal)";
  }
  return {};
}

// Parses one component (path or query) into out.
std::string parse_component(const std::string& s, bool query, std::map<std::string, std::string>* out) {
  const char sep = query ? '&' : ';';
  const char* where = query ? "query" : "path";
  std::size_t pos = 0;
  while (pos <= s.size() && !s.empty()) {
    std::size_t end = s.find(sep, pos);
    if (end == std::string::npos) end = s.size();
    std::string attr = s.substr(pos, end - pos);
    if (attr.empty()) return std::string("an empty attribute in the ") + where + " (a stray '" + sep + "')";
    std::size_t eq = attr.find('=');
    if (eq == std::string::npos) return std::string("an attribute without '=' in the ") + where;
    std::string name = attr.substr(0, eq);
    if (!is_attr(query, name)) {
      if (is_attr(!query, name))
        return quoted_name(name) + " belongs in the " + (query ? "path (before '?')" : "query (after '?')");
      return "unknown attribute " + quoted_name(name) + " in the " + where +
             " (orgcrypt accepts only the attributes RFC 7512 defines)";
    }
    if (out->count(name)) return "attribute \"" + name + "\" appears twice";
    std::string value;
    std::string why = decode_value(attr.substr(eq + 1), query, &value);
    if (why.empty()) why = check_value(name, value);
    if (!why.empty()) return "attribute \"" + name + "\": " + why;
    (*out)[name] = std::move(value);
    pos = end + 1;
    if (end == s.size()) break;
  }
  return {};
}

bool has_nul(const std::string& s) { return s.find('\0') != std::string::npos; }

}  // namespace

const std::string* Pkcs11Uri::find(const std::string& name) const {
  auto it = path.find(name);
  if (it != path.end()) return &it->second;
  it = query.find(name);
  return it != query.end() ? &it->second : nullptr;
}

std::string parse_pkcs11_uri(const std::string& uri, Pkcs11Uri* out) {
  if (uri.compare(0, kPrefixLen, kPrefix) != 0) return "a PKCS#11 URI starts with pkcs11:";
  std::string rest = uri.substr(kPrefixLen);
  std::size_t q = rest.find('?');
  std::string path = rest.substr(0, q);
  std::string query = q == std::string::npos ? std::string() : rest.substr(q + 1);
  Pkcs11Uri u;
  std::string why = parse_component(path, false, &u.path);
  if (why.empty()) why = parse_component(query, true, &u.query);
  if (!why.empty()) return why;
  if (out) *out = std::move(u);
  return {};
}

std::string pkcs11_pin_path(const std::string& pin_source) {
  return pin_source.compare(0, 5, "file:") == 0 ? pin_source.substr(5) : std::string();
}

std::string check_pkcs11_uri(const std::string& uri) {
  Pkcs11Uri u;
  std::string why = parse_pkcs11_uri(uri, &u);
  if (!why.empty()) return "not a valid PKCS#11 URI (RFC 7512): " + why;
  if (u.query.count("pin-value"))
    return "pin-value would put the PIN in the URI (and so in settings, key-table rows and logs): "
           "put the PIN in a file readable only by the server's OS user and name it with pin-source=file:/absolute/path";
  const std::string* mp = u.find("module-path");
  if (!mp) return "module-path is required: name the PKCS#11 module to load, e.g. ?module-path=/usr/lib/softhsm/libsofthsm2.so";
  if (mp->empty() || (*mp)[0] != '/' || has_nul(*mp)) return "module-path must be an absolute path";
  if (const std::string* ps = u.find("pin-source")) {
    std::string p = pkcs11_pin_path(*ps);
    if (p.empty() || p[0] != '/' || p.compare(0, 2, "//") == 0 || has_nul(p))
      return "pin-source must be file:/absolute/path (a file that holds the PIN)";
  }
  if (!u.find("object") && !u.find("id")) return "name the key: object=<label> and/or id=<CKA_ID>";
  if (const std::string* t = u.find("type"))
    if (*t != "secret-key") return "a master key is a secret key: type must be secret-key (or left out)";
  // Values longer than the PKCS#11 fields they are compared with never match.
  static const struct {
    const char* name;
    std::size_t max;
  } kFields[] = {{"token", 32},           {"manufacturer", 32},        {"serial", 16},
                 {"model", 16},           {"library-manufacturer", 32}, {"library-description", 32},
                 {"slot-description", 64}, {"slot-manufacturer", 32}};
  for (const auto& f : kFields)
    if (const std::string* v = u.find(f.name))
      if (v->size() > f.max)
        return std::string(f.name) + " is at most " + std::to_string(f.max) + " bytes (the PKCS#11 field it is compared with)";
  return {};
}

bool pkcs11_uri_runs_code(const std::string& uri) {
  Pkcs11Uri u;
  if (!parse_pkcs11_uri(uri, &u).empty()) return true;
  return u.find("module-path") != nullptr;
}

std::string pkcs11_uri_redacted(const std::string& uri) {
  std::size_t q = uri.find('?');
  if (q == std::string::npos) return uri;
  // Keep only the query attributes known to hold no secret; any other value
  // (pin-value, or whatever a malformed URI holds) is replaced.
  std::string out = uri.substr(0, q + 1);
  std::size_t pos = q + 1;
  bool first = true;
  while (pos <= uri.size()) {
    std::size_t end = uri.find('&', pos);
    if (end == std::string::npos) end = uri.size();
    std::string attr = uri.substr(pos, end - pos);
    std::size_t eq = attr.find('=');
    std::string name = attr.substr(0, eq);
    if (!first) out += '&';
    first = false;
    if (eq != std::string::npos && (name == "module-path" || name == "module-name" || name == "pin-source"))
      out += attr;
    else if (eq != std::string::npos && quoted_name(name)[0] == '"')
      out += name + "=***";
    else
      out += "***";
    pos = end + 1;
  }
  return out;
}

}  // namespace orgcrypt
