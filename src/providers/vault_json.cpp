// Vault request bodies and response parsers (see vault_json.hpp).
#include "vault_json.hpp"

#include <openssl/crypto.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base64.hpp"

namespace orgcrypt::vault {

namespace {

// A JSON document whose strings (and the parser's token buffer) wipe their
// memory when freed.
using WipedString = std::basic_string<char, std::char_traits<char>, CleansingAllocator<char>>;
using Json = nlohmann::basic_json<std::map, std::vector, WipedString>;

constexpr int kMaxDepth = 16;
struct TooDeep {};

// Parses body; false if it is not one JSON object (or too long, or nested
// deeper than kMaxDepth). Never throws.
bool parse_object(const std::string& body, Json* out) {
  if (body.size() > kMaxBody) return false;
  try {
    Json::parser_callback_t cb = [](int depth, nlohmann::json::parse_event_t, Json&) -> bool {
      if (depth > kMaxDepth) throw TooDeep();
      return true;
    };
    Json j = Json::parse(body.begin(), body.end(), cb, /*allow_exceptions=*/false);
    if (!j.is_object()) return false;
    *out = std::move(j);
    return true;
  } catch (...) {
    return false;
  }
}

const Json* member(const Json& j, const char* name) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(name);
  return it == j.end() ? nullptr : &*it;
}

std::string b64(ByteView v) {
  std::string s(b64_encoded_len(v.size), '\0');
  if (v.size) b64_encode(v.data, v.size, &s[0]);
  return s;
}

bool strict_b64_char(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// Standard padded base64 with no whitespace, decoded into out (at most max bytes).
bool strict_b64_decode(const char* p, std::size_t n, std::size_t max, SecretBytes* out) {
  if (n == 0 || n % 4 != 0 || b64_decoded_max(n) > max + 2) return false;
  for (std::size_t i = 0; i < n; i++) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    if (strict_b64_char(c)) continue;
    if (c == '=' && (i == n - 1 || (i == n - 2 && p[n - 1] == '='))) continue;
    return false;
  }
  SecretBytes buf(b64_decoded_max(n));
  std::size_t len = 0;
  if (!b64_decode(p, n, buf.data(), &len) || len > max) return false;
  buf.resize(len);
  *out = std::move(buf);
  return true;
}

// Printable ASCII; runs of tabs, line breaks and spaces become one space.
void append_printable(std::string& out, const WipedString& s, std::size_t max) {
  for (unsigned char c : s) {
    if (out.size() >= max) break;
    const bool space = c == ' ' || c == '\t' || c == '\n' || c == '\r';
    if (space) {
      if (!out.empty() && out.back() != ' ') out.push_back(' ');
      continue;
    }
    out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
  }
}

}  // namespace

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(&s[0], s.size());
  s.clear();
}

std::string encrypt_request(ByteView dek, ByteView aad) {
  std::string p = b64(dek), a = b64(aad);
  std::string body;
  body.reserve(p.size() + a.size() + 48);
  body += "{\"plaintext\":\"";
  body += p;
  body += "\",\"associated_data\":\"";
  body += a;
  body += "\"}";
  wipe(p);
  return body;
}

std::string decrypt_request(const std::string& ciphertext, ByteView aad) {
  // A valid_ciphertext is "vault:v", digits, ':' and base64: nothing to escape.
  return "{\"ciphertext\":\"" + ciphertext + "\",\"associated_data\":\"" + b64(aad) + "\"}";
}

bool credential_ok(ByteView v) {
  if (v.size == 0 || v.size > kMaxToken) return false;
  for (std::size_t i = 0; i < v.size; i++) {
    std::uint8_t c = v.data[i];
    if (c < 0x21 || c > 0x7e || c == '"' || c == '\\') return false;
  }
  return true;
}

std::string login_request(ByteView role_id, ByteView secret_id) {
  std::string body;
  body.reserve(role_id.size + secret_id.size + 32);
  body += "{\"role_id\":\"";
  body.append(reinterpret_cast<const char*>(role_id.data), role_id.size);
  body += "\",\"secret_id\":\"";
  body.append(reinterpret_cast<const char*>(secret_id.data), secret_id.size);
  body += "\"}";
  return body;
}

bool valid_ciphertext(ByteView s) {
  static const char kPre[] = "vault:v";
  const std::size_t plen = sizeof kPre - 1;
  if (s.size > kMaxCiphertext || s.size < plen + 3) return false;
  if (std::memcmp(s.data, kPre, plen) != 0) return false;
  std::size_t i = plen;
  if (s.data[i] < '1' || s.data[i] > '9') return false;
  std::uint64_t v = 0;
  while (i < s.size && s.data[i] >= '0' && s.data[i] <= '9') {
    v = v * 10 + (s.data[i] - '0');
    if (v > 0x7fffffffULL) return false;
    i++;
  }
  if (i >= s.size || s.data[i] != ':') return false;
  i++;
  SecretBytes dummy;
  return strict_b64_decode(reinterpret_cast<const char*>(s.data + i), s.size - i, kMaxCiphertext, &dummy);
}

std::string parse_encrypt_response(const std::string& body, std::string* ciphertext) {
  Json j;
  if (!parse_object(body, &j)) return "the response is not a JSON object";
  if (const Json* w = member(j, "warnings"); w && w->is_array()) {
    for (const auto& e : *w)
      if (e.is_string() && e.get_ref<const WipedString&>().find("associated_data") != WipedString::npos)
        return "Vault ignored associated_data (it warned: the parameter is unknown to it): Vault 1.13 or later, or "
               "OpenBao, is needed to bind the organization and version to the wrapped DEK";
  }
  const Json* data = member(j, "data");
  if (!data || !data->is_object()) return "the response has no \"data\" object";
  const Json* ct = member(*data, "ciphertext");
  if (!ct || !ct->is_string()) return "the response has no data.ciphertext string";
  const WipedString& s = ct->get_ref<const WipedString&>();
  if (!valid_ciphertext(ByteView(s.data(), s.size())))
    return "data.ciphertext is not a Transit ciphertext (vault:v<N>:<base64>, at most " + std::to_string(kMaxCiphertext) +
           " characters)";
  ciphertext->assign(s.data(), s.size());
  return {};
}

std::string parse_decrypt_response(const std::string& body, SecretBytes* plaintext) {
  Json j;
  if (!parse_object(body, &j)) return "the response is not a JSON object";
  const Json* data = member(j, "data");
  if (!data || !data->is_object()) return "the response has no \"data\" object";
  const Json* pt = member(*data, "plaintext");
  if (!pt || !pt->is_string()) return "the response has no data.plaintext string";
  const WipedString& s = pt->get_ref<const WipedString&>();
  if (!strict_b64_decode(s.data(), s.size(), 1024, plaintext))
    return "data.plaintext is not base64 of 1 to 1024 bytes";
  return {};
}

std::string parse_auth_response(const std::string& body, AuthInfo* out) {
  Json j;
  if (!parse_object(body, &j)) return "the response is not a JSON object";
  const Json* auth = member(j, "auth");
  if (!auth || !auth->is_object()) return "the response has no \"auth\" object";
  const Json* tok = member(*auth, "client_token");
  if (!tok || !tok->is_string()) return "the response has no auth.client_token string";
  const WipedString& t = tok->get_ref<const WipedString&>();
  if (!credential_ok(ByteView(t.data(), t.size())))
    return "auth.client_token is empty, longer than " + std::to_string(kMaxToken) +
           " bytes, or has characters a token cannot have";
  AuthInfo a;
  const Json* lease = member(*auth, "lease_duration");
  if (lease) {
    if (lease->is_number_unsigned()) {
      std::uint64_t v = lease->get<std::uint64_t>();
      if (v > static_cast<std::uint64_t>(kMaxLeaseSeconds)) return "auth.lease_duration is out of range";
      a.lease_seconds = static_cast<std::int64_t>(v);
    } else if (lease->is_number_integer()) {
      return "auth.lease_duration is negative";
    } else {
      return "auth.lease_duration is not a whole number of seconds";
    }
  }
  const Json* ren = member(*auth, "renewable");
  if (ren) {
    if (!ren->is_boolean()) return "auth.renewable is not true or false";
    a.renewable = ren->get<bool>();
  }
  a.token.assign(t.begin(), t.end());
  *out = std::move(a);
  return {};
}

std::string parse_errors(const std::string& body) {
  Json j;
  if (!parse_object(body, &j)) return {};
  const Json* errs = member(j, "errors");
  if (!errs || !errs->is_array()) return {};
  std::string out;
  for (const auto& e : *errs) {
    if (!e.is_string() || out.size() >= kMaxErrorText) continue;
    if (!out.empty()) out += "; ";
    append_printable(out, e.get_ref<const WipedString&>(), kMaxErrorText);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (out.size() >= kMaxErrorText) out += "...";
  return out;
}

}  // namespace orgcrypt::vault
