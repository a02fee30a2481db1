#include "exec_protocol.hpp"

#include <cstring>

#include "base64.hpp"
#include "envelope.hpp"

namespace orgcrypt::exec_proto {

namespace {

constexpr std::size_t kMaxPath = 4096;

bool is_b64_char(std::uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
         c == '=';
}

// Appends "<key> <base64 of v>\n".
void add_b64_line(SecretBytes& out, const char* key, ByteView v) {
  out.insert(out.end(), key, key + std::strlen(key));
  out.push_back(' ');
  const std::size_t start = out.size();
  out.resize(start + b64_encoded_len(v.size));
  b64_encode(v.data, v.size, reinterpret_cast<char*>(out.data() + start));
  out.push_back('\n');
}

void add_line(SecretBytes& out, const std::string& line) {
  out.insert(out.end(), line.begin(), line.end());
  out.push_back('\n');
}

// Path segments: no empty, "." or ".." one (a prefix in
// orgcrypt.allowed_key_uris must not be escaped with "/../").
std::string check_path(const std::string& path) {
  if (path.size() < 2 || path[0] != '/') return "the program is named by an absolute path: exec:/path/to/program";
  if (path.size() > kMaxPath) return "the path is longer than " + std::to_string(kMaxPath) + " bytes";
  for (unsigned char c : path) {
    if (c == '\0') return "the path contains a NUL byte";
    if (c < 0x20 || c == 0x7F || c == ' ') return "the path contains a space or a control character";
  }
  std::size_t i = 1;
  while (i <= path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string seg = path.substr(i, j - i);
    if (seg.empty()) return j == path.size() ? "the path names a directory (it ends with /)" : "the path contains an empty segment (//)";
    if (seg == "." || seg == "..") return "the path contains a \".\" or \"..\" segment: write it without them";
    i = j + 1;
  }
  return {};
}

std::string parse_query(const std::string& q, Uri* out) {
  static const char kKey[] = "timeout_ms=";
  const std::size_t klen = sizeof kKey - 1;
  if (q.compare(0, klen, kKey) != 0) return "unknown parameter in \"?" + q + "\" (the only one is timeout_ms=N)";
  const std::string v = q.substr(klen);
  if (v.empty() || v.size() > 6 || v[0] == '0') return "timeout_ms must be a whole number from 1 to " + std::to_string(kMaxTimeoutMs);
  unsigned n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return "timeout_ms must be a whole number from 1 to " + std::to_string(kMaxTimeoutMs);
    n = n * 10 + static_cast<unsigned>(c - '0');
  }
  if (n > kMaxTimeoutMs) return "timeout_ms must be a whole number from 1 to " + std::to_string(kMaxTimeoutMs);
  if (out) out->timeout_ms = n;
  return {};
}

}  // namespace

const char* op_name(Op op) {
  switch (op) {
    case Op::Wrap: return "wrap";
    case Op::Unwrap: return "unwrap";
    case Op::Fingerprint: return "fingerprint";
  }
  return "?";
}

std::string parse_uri(const std::string& uri, Uri* out) {
  if (uri.compare(0, 5, "exec:") != 0) return "an exec: key URI is exec:/absolute/path/to/program";
  if (uri.compare(0, 7, "exec://") == 0) return "write exec:/absolute/path (one slash), not exec://";
  const std::string rest = uri.substr(5);
  const std::size_t qm = rest.find('?');
  Uri u;
  u.path = rest.substr(0, qm);
  std::string why = check_path(u.path);
  if (why.empty() && qm != std::string::npos) why = parse_query(rest.substr(qm + 1), &u);
  if (!why.empty()) return why;
  if (out) *out = std::move(u);
  return {};
}

SecretBytes build_request(Op op, ByteView aad, ByteView data) {
  SecretBytes out;
  out.reserve(128 + 2 * aad.size + 2 * data.size);
  add_line(out, "orgcrypt-exec " + std::to_string(kVersion));
  add_line(out, std::string("operation ") + op_name(op));
  if (op != Op::Fingerprint) {
    ByteView org;
    std::uint32_t version = 0;
    if (parse_wrap_aad(aad, &org, &version)) {
      add_b64_line(out, "org", org);
      add_line(out, "version " + std::to_string(version));
    }
    add_b64_line(out, "aad", aad);
    add_b64_line(out, "data", data);
  }
  out.push_back('\n');
  return out;
}

std::string parse_response(ByteView out, Response* r) {
  if (out.size == 0) return "the program wrote nothing to standard output";
  if (out.size > kMaxResponse) return "standard output is longer than " + std::to_string(kMaxResponse) + " bytes";
  const std::uint8_t* p = out.data;
  std::size_t n = out.size;
  // One line: an optional final LF, nothing after it.
  const void* lf = std::memchr(p, '\n', n);
  if (lf) {
    std::size_t at = static_cast<std::size_t>(static_cast<const std::uint8_t*>(lf) - p);
    if (at != n - 1) return "more than one line on standard output";
    n = at;
  }
  if (n >= 3 && std::memcmp(p, "ok ", 3) == 0) {
    const std::uint8_t* b = p + 3;
    const std::size_t bn = n - 3;
    if (bn == 0) return "\"ok\" without a value";
    for (std::size_t i = 0; i < bn; i++)
      if (!is_b64_char(b[i])) return "the value after \"ok\" is not base64 (standard alphabet, padded, one line)";
    SecretBytes v(b64_decoded_max(bn));
    std::size_t vn = 0;
    if (!b64_decode(reinterpret_cast<const char*>(b), bn, v.data(), &vn))
      return "the value after \"ok\" is not base64 (standard alphabet, padded, one line)";
    if (vn == 0) return "\"ok\" without a value";
    v.resize(vn);
    if (r) {
      r->ok = true;
      r->value = std::move(v);
      r->error.clear();
    }
    return {};
  }
  if (n >= 6 && std::memcmp(p, "error ", 6) == 0) {
    if (n == 6) return "\"error\" without a text";
    if (std::memchr(p + 6, '\0', n - 6)) return "the text after \"error\" contains a NUL byte";
    if (r) {
      r->ok = false;
      r->value.clear();
      r->error = sanitize(ByteView(p + 6, n - 6), kMaxErrorText);
    }
    return {};
  }
  return "the response starts with neither \"ok \" nor \"error \"";
}

std::string sanitize(ByteView text, std::size_t max) {
  std::string s;
  s.reserve(text.size < max ? text.size : max);
  for (std::size_t i = 0; i < text.size; i++) {
    if (s.size() >= max) {
      while (!s.empty() && s.back() == ' ') s.pop_back();
      return s + "...";
    }
    const std::uint8_t c = text.data[i];
    if (c == '\n' || c == '\r' || c == '\t') s.push_back(' ');
    else if (c >= 0x20 && c < 0x7F) s.push_back(static_cast<char>(c));
    else s.push_back('?');
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

}  // namespace orgcrypt::exec_proto
