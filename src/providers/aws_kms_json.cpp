#include "aws_kms_json.hpp"

#include <openssl/crypto.h>

#include <cstring>
#include <map>
#include <vector>
#include <nlohmann/json.hpp>

#include "aws_ini.hpp"
#include "base64.hpp"
#include "envelope.hpp"
#include "http.hpp"

namespace orgcrypt {
namespace aws {

namespace {

using json = nlohmann::json;  // requests
// Answers are parsed into JSON whose strings (and the parser's own token
// buffer) live in wiped memory: a Decrypt answer holds the DEK, a
// credentials answer a secret key.
using sjson = nlohmann::basic_json<std::map, std::vector, SecretString, bool, std::int64_t, std::uint64_t, double,
                                   CleansingAllocator>;
std::string plain(const SecretString& s) { return std::string(s.data(), s.size()); }

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(&s[0], s.size());
}

std::string b64(ByteView v) {
  std::string out(b64_encoded_len(v.size), '\0');
  if (v.size) b64_encode(v.data, v.size, &out[0]);
  return out;
}

bool valid_utf8(ByteView v) {
  const std::uint8_t* p = v.data;
  std::size_t n = v.size, i = 0;
  while (i < n) {
    std::uint8_t c = p[i];
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      i++;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (std::size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

// Nesting depth of a JSON text (brackets outside strings), so a hostile
// answer cannot make the parser build deep structures.
bool depth_ok(const std::string& s, std::size_t max) {
  std::size_t depth = 0;
  bool in_str = false, esc = false;
  for (char c : s) {
    if (in_str) {
      if (esc)
        esc = false;
      else if (c == '\\')
        esc = true;
      else if (c == '"')
        in_str = false;
      continue;
    }
    if (c == '"') {
      in_str = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max) return false;
    } else if ((c == '}' || c == ']') && depth > 0) {
      depth--;
    }
  }
  return true;
}

// Parses a JSON object answer; "" or the reason.
std::string parse_object(const std::string& body, sjson* out) {
  if (body.size() > kMaxServiceResponse) return "the answer is longer than " + std::to_string(kMaxServiceResponse) + " bytes";
  if (!depth_ok(body, kMaxJsonDepth)) return "the answer nests deeper than " + std::to_string(kMaxJsonDepth) + " levels";
  sjson j = sjson::parse(body, nullptr, false);
  if (j.is_discarded()) return "the answer is not valid JSON";
  if (!j.is_object()) return "the answer is not a JSON object";
  *out = std::move(j);
  return {};
}

// The string member `name`, or nullptr if absent or not a string.
SecretString* str_member(sjson& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return nullptr;
  return &it->get_ref<SecretString&>();
}

std::string decode_b64(const SecretString& s, std::size_t max_out, Bytes* out) {
  if (s.empty()) return "is empty";
  if (b64_decoded_max(s.size()) > max_out + 3) return "is too long";
  Bytes buf(b64_decoded_max(s.size()));
  std::size_t n = 0;
  if (!b64_decode(s.data(), s.size(), buf.data(), &n)) return "is not valid base64";
  if (n > max_out) return "is too long";
  buf.resize(n);
  *out = std::move(buf);
  return {};
}

std::string context_json(const KmsContext& ctx) {
  json c = json::object();
  for (const auto& kv : ctx) c[kv.first] = kv.second;
  return c.dump();
}

std::string member_type(sjson& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end()) return "missing";
  return it->is_string() ? "a string" : "not a string";
}

}  // namespace

std::string printable(const std::string& s, std::size_t max) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out.push_back(c >= 0x20 && c < 0x7F ? static_cast<char>(c) : '?');
  }
  return out;
}

KmsContext encryption_context(ByteView aad) {
  ByteView org;
  std::uint32_t version = 0;
  if (parse_wrap_aad(aad, &org, &version) && valid_utf8(org))
    return {{"orgcrypt:org", std::string(reinterpret_cast<const char*>(org.data), org.size)},
            {"orgcrypt:purpose", "dek-wrap-v1"},
            {"orgcrypt:version", std::to_string(version)}};
  return {{"orgcrypt:aad", b64(aad)}, {"orgcrypt:purpose", "aad-v1"}};
}

std::string encrypt_body(const std::string& key_id, ByteView dek, const KmsContext& ctx) {
  // The plaintext is spliced in by hand (base64 needs no JSON escaping), so
  // that only this string, which the caller wipes, ever holds it.
  const std::string rest = json{{"KeyId", key_id}}.dump();  // {"KeyId":"..."}
  const std::string head = "{\"EncryptionContext\":" + context_json(ctx) + ",\"Plaintext\":\"";
  std::string enc = b64(dek);
  std::string out;
  out.reserve(head.size() + enc.size() + 2 + rest.size());  // exact: no reallocation leaves a copy behind
  out += head;
  out += enc;
  out += "\",";
  out.append(rest, 1, std::string::npos);
  wipe(enc);
  return out;
}

std::string decrypt_body(const std::string& key_id, ByteView blob, const KmsContext& ctx) {
  json j = {{"KeyId", key_id}, {"CiphertextBlob", b64(blob)}};
  j["EncryptionContext"] = json::parse(context_json(ctx));
  return j.dump();
}

std::string describe_key_body(const std::string& key_id) { return json{{"KeyId", key_id}}.dump(); }

std::string parse_encrypt_response(const std::string& body, Bytes* blob, std::string* key_id) {
  sjson j;
  std::string why = parse_object(body, &j);
  if (!why.empty()) return why;
  SecretString* cb = str_member(j, "CiphertextBlob");
  SecretString* kid = str_member(j, "KeyId");
  if (!cb) return "CiphertextBlob is " + member_type(j, "CiphertextBlob");
  if (!kid) return "KeyId is " + member_type(j, "KeyId");
  why = decode_b64(*cb, 6144, blob);
  if (!why.empty()) return "CiphertextBlob " + why;
  if (kid->size() > 2048) return "KeyId is too long";
  *key_id = plain(*kid);
  return {};
}

std::string parse_decrypt_response(const std::string& body, SecretBytes* plaintext, std::string* key_id) {
  sjson j;
  std::string why = parse_object(body, &j);
  if (!why.empty()) return why;
  SecretString* pt = str_member(j, "Plaintext");
  SecretString* kid = str_member(j, "KeyId");
  if (!pt) return "Plaintext is " + member_type(j, "Plaintext");
  if (!kid) return "KeyId is " + member_type(j, "KeyId");
  if (kid->size() > 2048) return "KeyId is too long";
  SecretBytes out(b64_decoded_max(pt->size()) > 4096 ? 0 : b64_decoded_max(pt->size()));
  std::size_t n = 0;
  bool ok = !out.empty() && b64_decode(pt->data(), pt->size(), out.data(), &n);
  if (!ok) return "Plaintext is empty, too long or not valid base64";
  out.resize(n);
  *plaintext = std::move(out);
  *key_id = plain(*kid);
  return {};
}

std::string parse_describe_key_response(const std::string& body, std::string* key_arn) {
  sjson j;
  std::string why = parse_object(body, &j);
  if (!why.empty()) return why;
  auto it = j.find("KeyMetadata");
  if (it == j.end() || !it->is_object()) return "KeyMetadata is missing or not an object";
  SecretString* arn = str_member(*it, "Arn");
  if (!arn) return "KeyMetadata.Arn is " + member_type(*it, "Arn");
  if (arn->size() > 2048) return "KeyMetadata.Arn is too long";
  *key_arn = plain(*arn);
  return {};
}

std::string sanitize_error_code(const std::string& raw) {
  // As the AWS SDKs do: "a,b" -> a; "Name:http://..." -> Name; "ns#Name" -> Name.
  std::string s = raw.substr(0, raw.find(','));
  s = s.substr(0, s.find(':'));
  const std::size_t h = s.find('#');
  if (h != std::string::npos) s = s.substr(h + 1);
  std::string out;
  for (char c : s) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
      return "";
    out.push_back(c);
  }
  return out.size() > 128 ? "" : out;
}

ServiceError parse_kms_error(const std::string& error_type_header, const std::string& body) {
  ServiceError e;
  sjson j;
  const bool parsed = parse_object(body, &j).empty();
  if (!error_type_header.empty()) e.type = sanitize_error_code(error_type_header);
  if (parsed) {
    for (const char* k : {"code", "__type"}) {
      if (!e.type.empty()) break;
      if (SecretString* t = str_member(j, k)) e.type = sanitize_error_code(plain(*t));
    }
    for (const char* k : {"message", "Message", "errorMessage"}) {
      if (SecretString* m = str_member(j, k)) {
        e.message = printable(plain(m->substr(0, m->find('\n'))), kMaxServiceMessage);
        break;
      }
    }
  }
  return e;
}

Verdict kms_verdict(long status, const std::string& type, bool temporary_credentials) {
  if (status == 200) return Verdict::Ok;
  if (type == "ThrottlingException" || type == "ThrottledException" || type == "RequestLimitExceeded" ||
      type == "TooManyRequestsException" || status == 429)
    return Verdict::Retry;
  if (type == "ExpiredTokenException" || (temporary_credentials && type == "UnrecognizedClientException"))
    return Verdict::ExpiredCredentials;
  if (status >= 500 && status <= 599) return Verdict::Retry;
  return Verdict::Fail;
}

std::string kms_error_hint(const std::string& type, const std::string& op) {
  if (type == "AccessDeniedException")
    return "The IAM identity of the server's credentials may not call kms:" + op +
           " on this key (with this encryption context): check the key policy and the IAM policy "
           "(docs/providers.md, \"aws-kms:\").";
  if (type == "DisabledException") return "The KMS key is disabled: enable it (aws kms enable-key), or name another key.";
  if (type == "KMSInvalidStateException")
    return "The KMS key cannot be used in its current state (pending deletion, pending import, or disabled): "
           "cancel the deletion or restore the key.";
  if (type == "NotFoundException")
    return "KMS has no such key or alias in this account and region: check the ARN, the credentials' account, and the "
           "endpoint.";
  if (type == "InvalidCiphertextException")
    return "KMS could not decrypt the wrapped DEK with its encryption context (organization and version): the row was "
           "altered or copied to another organization or version.";
  if (type == "IncorrectKeyException")
    return "The wrapped DEK was encrypted under another KMS key than the key ARN its row records.";
  if (type == "UnrecognizedClientException")
    return "KMS does not know the access key ID of the server's credentials (wrong, deleted or expired credentials).";
  if (type == "InvalidSignatureException")
    return "The request signature did not verify: the secret access key does not match the access key ID, or the "
           "server's clock is more than 5 minutes off.";
  if (type == "ExpiredTokenException") return "The session token has expired: renew the server's credentials.";
  if (type == "ThrottlingException")
    return "KMS throttled the requests and the retries: lower the request rate or raise orgcrypt.cache_ttl.";
  if (type == "InvalidKeyUsageException")
    return "The KMS key is not a symmetric ENCRYPT_DECRYPT key: name such a key.";
  return {};
}

std::string sts_web_identity_body(const std::string& role_arn, const std::string& session_name, ByteView token) {
  std::string tok(reinterpret_cast<const char*>(token.data), token.size);
  std::string out = "Action=AssumeRoleWithWebIdentity&RoleArn=" + http::uri_encode(role_arn, false) +
                    "&RoleSessionName=" + http::uri_encode(session_name, false) + "&Version=2011-06-15" +
                    "&WebIdentityToken=";
  std::string enc = http::uri_encode(tok, false);
  out += enc;
  wipe(tok);
  wipe(enc);
  return out;
}

namespace {

// The text of the only <name>...</name> inside [from, to) of doc, with the
// five XML entities decoded; false if absent, repeated, or malformed.
bool xml_element(const std::string& doc, std::size_t from, std::size_t to, const std::string& name, std::string* out,
                 std::size_t max) {
  const std::string open = "<" + name + ">", close = "</" + name + ">";
  std::size_t a = doc.find(open, from);
  if (a == std::string::npos || a >= to) return false;
  std::size_t b = doc.find(close, a);
  if (b == std::string::npos || b + close.size() > to) return false;
  std::size_t again = doc.find(open, b);
  if (again != std::string::npos && again < to) return false;
  std::string v;
  v.reserve(b - a - open.size());  // decoding only shrinks: no reallocation leaves a copy of a secret behind
  for (std::size_t i = a + open.size(); i < b; i++) {
    char c = doc[i];
    if (c == '<') return false;
    if (c == '&') {
      static const char* const kEnt[][2] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}};
      bool ok = false;
      for (const auto& e : kEnt) {
        const std::size_t n = std::strlen(e[0]);
        if (doc.compare(i, n, e[0]) == 0) {
          v += e[1];
          i += n - 1;
          ok = true;
          break;
        }
      }
      if (!ok) {
        wipe(v);
        return false;
      }
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n' && c != '\r' && c != '\t') {
      wipe(v);
      return false;
    }
    v.push_back(c);
  }
  if (v.size() > max) {
    wipe(v);
    return false;
  }
  *out = std::move(v);
  return true;
}

bool key_id_ok(const std::string& s) {
  if (s.size() < 16 || s.size() > 128) return false;
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z'))) return false;
  return true;
}

// A secret or token: printable ASCII without spaces.
template <class S>
bool token_ok(const S& s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (unsigned char c : s)
    if (c <= 0x20 || c >= 0x7F) return false;
  return true;
}

SecretBytes to_secret(std::string& s) {
  SecretBytes b(s.begin(), s.end());
  wipe(s);
  return b;
}

}  // namespace

std::string parse_sts_response(const std::string& body, TempCredentials* out) {
  if (body.size() > kMaxServiceResponse) return "the answer is longer than " + std::to_string(kMaxServiceResponse) + " bytes";
  if (body.find("<AssumeRoleWithWebIdentityResponse") == std::string::npos)
    return "the answer is not an AssumeRoleWithWebIdentityResponse";
  const std::size_t a = body.find("<Credentials>");
  const std::size_t b = body.find("</Credentials>");
  if (a == std::string::npos || b == std::string::npos || b < a) return "the answer has no <Credentials> element";
  if (body.find("<Credentials>", a + 1) != std::string::npos) return "the answer has more than one <Credentials> element";
  std::string akid, secret, token, exp;
  TempCredentials t;
  if (!xml_element(body, a, b, "AccessKeyId", &akid, 128) || !key_id_ok(akid))
    return "AccessKeyId is missing, repeated or malformed";
  if (!xml_element(body, a, b, "SecretAccessKey", &secret, 1024) || !token_ok(secret, 1024)) {
    wipe(secret);
    return "SecretAccessKey is missing, repeated or malformed";
  }
  t.secret_access_key = to_secret(secret);
  if (!xml_element(body, a, b, "SessionToken", &token, 8192) || !token_ok(token, 8192)) {
    wipe(token);
    return "SessionToken is missing, repeated or malformed";
  }
  t.session_token = to_secret(token);
  if (!xml_element(body, a, b, "Expiration", &exp, 64) || !parse_iso8601(exp, &t.expiration))
    return "Expiration is missing, repeated or malformed";
  t.access_key_id = akid;
  *out = std::move(t);
  return {};
}

ServiceError parse_sts_error(const std::string& body) {
  ServiceError e;
  if (body.size() > kMaxServiceResponse) return e;
  const std::size_t a = body.find("<Error>");
  const std::size_t b = body.find("</Error>");
  if (a == std::string::npos || b == std::string::npos || b < a) return e;
  std::string code, msg;
  if (xml_element(body, a, b, "Code", &code, 256)) e.type = sanitize_error_code(code);
  if (xml_element(body, a, b, "Message", &msg, 4096)) e.message = printable(msg, kMaxServiceMessage);
  return e;
}

std::string parse_container_credentials(const std::string& body, TempCredentials* out) {
  sjson j;
  std::string why = parse_object(body, &j);
  if (!why.empty()) return why;
  if (SecretString* code = str_member(j, "Code")) {
    if (*code != "Success") return "Code is \"" + printable(plain(*code), 64) + "\", not Success";
  }
  TempCredentials t;
  SecretString* akid = str_member(j, "AccessKeyId");
  SecretString* secret = str_member(j, "SecretAccessKey");
  SecretString* token = str_member(j, "Token");
  SecretString* exp = str_member(j, "Expiration");
  bool ok = true;
  if (!akid || !key_id_ok(plain(*akid))) {
    why = "AccessKeyId is missing or malformed";
    ok = false;
  } else if (!secret || !token_ok(*secret, 1024)) {
    why = "SecretAccessKey is missing or malformed";
    ok = false;
  } else if (!token || !token_ok(*token, 8192)) {
    why = "Token is missing or malformed";
    ok = false;
  } else if (!exp || !parse_iso8601(plain(*exp), &t.expiration)) {
    why = "Expiration is missing or malformed";
    ok = false;
  }
  if (ok) {
    t.access_key_id = plain(*akid);
    t.secret_access_key.assign(secret->begin(), secret->end());
    t.session_token.assign(token->begin(), token->end());
    *out = std::move(t);
  }
  return why;
}

std::string parse_imds_role(const std::string& body, std::string* role) {
  if (body.size() > 4096) return "the role list is longer than 4096 bytes";
  std::string r = body.substr(0, body.find('\n'));
  if (!r.empty() && r.back() == '\r') r.pop_back();
  if (r.empty() || r.size() > 128) return "the instance has no IAM role (an empty role list)";
  for (char c : r)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c != '\0' && std::strchr("_+=,.@-", c))))
      return "the role name contains a character an IAM role name cannot have";
  *role = r;
  return {};
}

bool parse_iso8601(const std::string& s, std::time_t* out) {
  // YYYY-MM-DDTHH:MM:SS[.fff]Z
  if (s.size() < 20 || s.size() > 40) return false;
  auto num = [&](std::size_t at, std::size_t n, int* v) {
    int x = 0;
    for (std::size_t i = at; i < at + n; i++) {
      if (s[i] < '0' || s[i] > '9') return false;
      x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
  };
  int Y, M, D, h, m, sec;
  if (!num(0, 4, &Y) || s[4] != '-' || !num(5, 2, &M) || s[7] != '-' || !num(8, 2, &D) || (s[10] != 'T' && s[10] != 't') ||
      !num(11, 2, &h) || s[13] != ':' || !num(14, 2, &m) || s[16] != ':' || !num(17, 2, &sec))
    return false;
  std::size_t i = 19;
  if (s[i] == '.') {
    i++;
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') i++;
    if (i == start) return false;
  }
  if (i + 1 != s.size() || (s[i] != 'Z' && s[i] != 'z')) return false;
  if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) return false;
  struct tm tm {};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = sec;
  std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return false;
  *out = t;
  return true;
}

}  // namespace aws
}  // namespace orgcrypt
