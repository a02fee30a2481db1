#include "aws_uri.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "provider.hpp"

namespace orgcrypt {
namespace aws {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_alnum(char c) { return is_digit(c) || is_lower(c) || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

const char kForm[] =
    "an aws-kms: URI is aws-kms:arn:PARTITION:kms:REGION:ACCOUNT:key/KEY-ID or "
    "aws-kms:arn:PARTITION:kms:REGION:ACCOUNT:alias/NAME, optionally followed by ?name=value&...";

const char* const kParams[] = {"profile",        "config_file",  "credentials_file", "web_identity_token_file",
                               "role_arn",       "role_session_name", "endpoint",     "sts_endpoint",
                               "ca_file",        "timeout_ms",   "connect_timeout_ms"};

std::string param_list() {
  std::string s;
  for (const char* p : kParams) s += (s.empty() ? "" : ", ") + std::string(p);
  return s;
}

// A parameter name that would carry a secret.
bool secret_name(const std::string& lname) {
  if (lname == "web_identity_token_file") return false;
  static const char* const kWords[] = {"secret", "token", "password", "passwd", "access_key", "accesskey",
                                       "credential_process", "pin", "key_id", "session"};
  for (const char* w : kWords)
    if (lname.find(w) != std::string::npos) return true;
  return false;
}

bool check_region(const std::string& r) {
  if (r.empty() || r.size() > 32 || !is_lower(r[0]) || r.back() == '-') return false;
  for (std::size_t i = 0; i < r.size(); i++) {
    char c = r[i];
    if (!(is_lower(c) || is_digit(c) || c == '-')) return false;
    if (c == '-' && r[i - 1] == '-') return false;
  }
  return true;
}

bool check_account(const std::string& a) {
  if (a.size() != 12) return false;
  for (char c : a)
    if (!is_digit(c)) return false;
  return true;
}

// Key IDs: a UUID, "mrk-" + 32 hex digits (multi-Region keys), or (test
// services) letters, digits and hyphens.
bool check_key_id(const std::string& k) {
  if (k.empty() || k.size() > 128) return false;
  for (char c : k)
    if (!(is_alnum(c) || c == '-')) return false;
  return true;
}

bool check_alias_name(const std::string& a) {
  if (a.empty() || a.size() > 250) return false;
  for (char c : a)
    if (!(is_alnum(c) || c == '/' || c == '_' || c == '-')) return false;
  return true;
}

int hexval(char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// Percent-decodes; "" or the reason.
std::string pct_decode(const std::string& in, std::string* out) {
  std::string s;
  for (std::size_t i = 0; i < in.size(); i++) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size() || !is_hex(in[i + 1]) || !is_hex(in[i + 2])) return "a malformed %-escape";
      s.push_back(static_cast<char>(hexval(in[i + 1]) * 16 + hexval(in[i + 2])));
      i += 2;
    } else {
      s.push_back(c);
    }
  }
  *out = std::move(s);
  return {};
}

std::string check_path(const std::string& name, const std::string& v) {
  if (v.empty() || v[0] != '/') return name + " must be an absolute path";
  if (v.size() > 4096) return name + " is longer than 4096 bytes";
  for (unsigned char c : v)
    if (c < 0x20 || c == 0x7F) return name + " contains a control character";
  return {};
}

std::string check_ms(const std::string& name, const std::string& v, long* out) {
  const std::string why = name + " must be a whole number from 1 to " + std::to_string(kMaxTimeoutMs);
  if (v.empty() || v.size() > 6 || v[0] == '0') return why;
  long n = 0;
  for (char c : v) {
    if (!is_digit(c)) return why;
    n = n * 10 + (c - '0');
  }
  if (n > kMaxTimeoutMs) return why;
  *out = n;
  return {};
}

std::string check_profile_name(const std::string& v) {
  if (v.empty() || v.size() > 128) return "profile must be 1 to 128 characters";
  for (char c : v)
    if (!(is_alnum(c) || c == '_' || c == '-' || c == '.' || c == '+' || c == '@'))
      return "profile may contain only letters, digits and _ - . + @";
  return {};
}

std::string check_session_name(const std::string& v) {
  if (v.size() < 2 || v.size() > 64) return "role_session_name must be 2 to 64 characters";
  for (char c : v)
    if (!(is_alnum(c) || (c != '\0' && std::strchr("_+=,.@-", c)))) return "role_session_name may contain only letters, digits and _+=,.@-";
  return {};
}

std::string set_param(KmsUri& u, const std::string& name, const std::string& v) {
  std::string why;
  if (name == "profile") {
    why = check_profile_name(v);
    u.profile = v;
  } else if (name == "config_file" || name == "credentials_file" || name == "web_identity_token_file" ||
             name == "ca_file") {
    why = check_path(name, v);
    (name == "config_file"        ? u.config_file
     : name == "credentials_file" ? u.credentials_file
     : name == "ca_file"          ? u.ca_file
                                  : u.web_identity_token_file) = v;
  } else if (name == "role_arn") {
    why = check_role_arn(v);
    u.role_arn = v;
  } else if (name == "role_session_name") {
    why = check_session_name(v);
    u.role_session_name = v;
  } else if (name == "endpoint" || name == "sts_endpoint") {
    why = check_endpoint_url(v, name);
    (name == "endpoint" ? u.endpoint : u.sts_endpoint) = v;
  } else if (name == "timeout_ms") {
    why = check_ms(name, v, &u.timeout_ms);
  } else if (name == "connect_timeout_ms") {
    why = check_ms(name, v, &u.connect_timeout_ms);
  }
  return why;
}

std::string parse_query(const std::string& q, KmsUri& u) {
  if (q.empty()) return "an empty query after '?'";
  std::vector<std::string> seen;
  std::size_t i = 0;
  while (i <= q.size()) {
    std::size_t j = q.find('&', i);
    if (j == std::string::npos) j = q.size();
    const std::string item = q.substr(i, j - i);
    i = j + 1;
    if (item.empty()) return "an empty parameter (\"&&\" or a trailing \"&\")";
    const std::size_t eq = item.find('=');
    std::string name;
    std::string why = pct_decode(item.substr(0, eq), &name);
    if (!why.empty()) return "a parameter name contains " + why;
    std::string lname;
    for (char c : name) lname.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    bool known = false;
    for (const char* p : kParams) known = known || name == p;
    if (!known) {
      bool printable = name.size() <= 64;
      for (unsigned char c : name) printable = printable && c > 0x20 && c < 0x7F;
      const std::string shown = printable ? "\"" + name + "\"" : "a parameter";
      if (secret_name(lname))
        return "the URI must not carry a secret (" + shown +
               "): put credentials in the environment, a credentials file or a web identity token file";
      return "unknown parameter " + shown + " (known: " + param_list() + ")";
    }
    if (eq == std::string::npos) return "parameter " + name + " has no value (write " + name + "=...)";
    for (const auto& s : seen)
      if (s == name) return "parameter " + name + " is given twice";
    seen.push_back(name);
    std::string v;
    why = pct_decode(item.substr(eq + 1), &v);
    if (!why.empty()) return "parameter " + name + " contains " + why;
    if (v.empty()) return "parameter " + name + " is empty";
    if (v.find('\0') != std::string::npos) return "parameter " + name + " contains a NUL byte";
    why = set_param(u, name, v);
    if (!why.empty()) return why;
  }
  if (u.role_arn.empty() != u.web_identity_token_file.empty())
    return "web_identity_token_file and role_arn go together (AssumeRoleWithWebIdentity needs both)";
  if (!u.role_session_name.empty() && u.role_arn.empty()) return "role_session_name needs role_arn and web_identity_token_file";
  if (!u.role_arn.empty() && !u.profile.empty()) return "give either profile or role_arn/web_identity_token_file, not both";
  return {};
}

}  // namespace

std::string check_endpoint_url(const std::string& url, const std::string& what) {
  std::size_t p;
  if (url.compare(0, 8, "https://") == 0)
    p = 8;
  else if (url.compare(0, 7, "http://") == 0)
    p = 7;
  else
    return what + " must be an https:// (or, for tests on loopback, http://) URL";
  std::string hostport = url.substr(p);
  if (!hostport.empty() && hostport.back() == '/') hostport.pop_back();
  if (hostport.empty()) return what + " has no host";
  if (hostport.size() > 255) return what + " is longer than 255 bytes";
  for (unsigned char c : hostport) {
    if (c == '@') return what + " must not contain user information (@)";
    if (c == '/' || c == '?' || c == '#') return what + " must be scheme://host[:port] without a path, query or fragment";
    if (c <= 0x20 || c >= 0x7F || c == '%' || c == '\\') return what + " contains a character not allowed in a host name";
  }
  return {};
}

std::string check_role_arn(const std::string& arn) {
  static const char kWhy[] = "role_arn must be an IAM role ARN: arn:PARTITION:iam::ACCOUNT:role/NAME";
  for (const char* part : {"arn:aws:iam::", "arn:aws-cn:iam::", "arn:aws-us-gov:iam::"}) {
    const std::size_t n = std::strlen(part);
    if (arn.compare(0, n, part) != 0) continue;
    if (arn.size() < n + 12 + 7 || !check_account(arn.substr(n, 12)) || arn.compare(n + 12, 6, ":role/") != 0) return kWhy;
    const std::string name = arn.substr(n + 18);
    if (name.empty() || name.size() > 512) return kWhy;
    for (char c : name)
      if (!(is_alnum(c) || (c != '\0' && std::strchr("_+=,.@-/", c)))) return kWhy;
    return {};
  }
  return kWhy;
}

std::string parse_kms_arn(const std::string& arn, KmsUri* out) {
  // arn:PARTITION:kms:REGION:ACCOUNT:key/ID
  std::vector<std::string> f;
  std::size_t i = 0;
  for (int k = 0; k < 5; k++) {
    std::size_t j = arn.find(':', i);
    if (j == std::string::npos) return std::string("malformed ARN: ") + kForm;
    f.push_back(arn.substr(i, j - i));
    i = j + 1;
  }
  const std::string res = arn.substr(i);
  if (f[0] != "arn") return std::string("malformed ARN: ") + kForm;
  if (f[1] != "aws" && f[1] != "aws-cn" && f[1] != "aws-us-gov")
    return "unknown partition in the ARN (aws, aws-cn or aws-us-gov)";
  if (f[2] != "kms") return "the ARN does not name a KMS key (its service is not kms)";
  if (!check_region(f[3])) return "malformed region in the ARN (e.g. eu-west-1)";
  if (!check_account(f[4])) return "the account in the ARN must be 12 digits";
  KmsUri u;
  if (res.compare(0, 4, "key/") == 0) {
    if (!check_key_id(res.substr(4))) return "malformed key ID in the ARN (key/ then a key ID such as 1234abcd-12ab-34cd-56ef-1234567890ab)";
    u.resource = res.substr(4);
  } else if (res.compare(0, 6, "alias/") == 0) {
    if (!check_alias_name(res.substr(6))) return "malformed alias name in the ARN (alias/ then letters, digits, / _ -)";
    u.alias = true;
    u.resource = res.substr(6);
  } else {
    return "the ARN must name key/KEY-ID or alias/NAME";
  }
  if (out) {
    out->arn = arn;
    out->partition = f[1];
    out->region = f[3];
    out->account = f[4];
    out->alias = u.alias;
    out->resource = u.resource;
  }
  return {};
}

std::string parse_kms_uri(const std::string& uri, KmsUri* out) {
  static const char kScheme[] = "aws-kms:";
  if (uri.compare(0, 8, kScheme) != 0) return kForm;
  if (uri.size() > kMaxUri) return "the URI is longer than " + std::to_string(kMaxUri) + " bytes";
  for (unsigned char c : uri)
    if (c <= 0x20 || c >= 0x7F || c == '#') return "the URI contains a space, a control character, '#' or a non-ASCII byte (percent-encode it)";
  const std::string rest = uri.substr(8);
  const std::size_t qm = rest.find('?');
  KmsUri u;
  std::string why = parse_kms_arn(rest.substr(0, qm), &u);
  if (!why.empty()) return why;
  if (qm != std::string::npos) {
    u.query = rest.substr(qm + 1);
    why = parse_query(u.query, u);
    if (!why.empty()) return why;
  }
  if (out) *out = std::move(u);
  return {};
}

std::string key_uri_with_arn(const KmsUri& u, const std::string& key_arn) {
  return "aws-kms:" + key_arn + (u.query.empty() ? "" : "?" + u.query);
}

std::size_t kms_uri_service_length(const std::string& uri) {
  const std::size_t base = std::min(uri.find('?'), uri.size());
  std::size_t at = 0;
  for (int colons = 0; colons < 6; colons++) {
    const std::size_t c = uri.find(':', at);
    if (c == std::string::npos || c >= base) return base;
    at = c + 1;
  }
  return at;
}

}  // namespace aws
}  // namespace orgcrypt
