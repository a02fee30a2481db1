// libFuzzer target for the exec: protocol (src/providers/exec_protocol.hpp):
// the response parser above all (a key program's standard output is
// untrusted input), and the URI parser and request builder.
//
// Build (clang only), as for fuzz_envelope:
//   CC=clang CXX=clang++ cmake -S . -B build-fuzz -DORGCRYPT_FUZZ=ON -DORGCRYPT_TESTS=OFF
//   cmake --build build-fuzz --target fuzz_exec_response
//   ./build-fuzz/fuzz_exec_response -max_total_time=60 [corpus_dir]
//
// Invariants (a violation aborts):
//  1. parse_response never reads past its input and either refuses it with a
//     reason or accepts it; an accepted "ok" has exactly one encoding
//     ("ok " + base64(value), an optional final LF); an accepted "error"
//     carries printable ASCII of bounded length; a reason is short
//     printable text.
//  2. parse_uri accepts only exec:/ paths without empty, "." or ".."
//     segments, spaces or control characters, and a timeout in range.
//  3. build_request of any aad and data gives lines of printable ASCII with
//     the header first and one empty line last.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base64.hpp"
#include "exec_protocol.hpp"

using namespace orgcrypt;
using namespace orgcrypt::exec_proto;

namespace {

[[noreturn]] void die(const char* why) {
  std::fprintf(stderr, "fuzz_exec_response: invariant violated: %s\n", why);
  std::abort();
}

bool printable(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7E) return false;
  return true;
}

void as_response(const std::uint8_t* data, std::size_t size) {
  Response r;
  const std::string why = parse_response(ByteView(data, size), &r);
  if (!why.empty()) {
    if (!printable(why) || why.size() > 200) die("a reason is not short printable text");
    return;
  }
  std::string in(reinterpret_cast<const char*>(data), size);
  if (!in.empty() && in.back() == '\n') in.pop_back();
  if (r.ok) {
    if (r.value.empty()) die("ok with an empty value");
    std::string enc(b64_encoded_len(r.value.size()), '\0');
    b64_encode(r.value.data(), r.value.size(), &enc[0]);
    if ("ok " + enc != in) die("an accepted ok response is not the one encoding of its value");
  } else {
    if (in.compare(0, 6, "error ") != 0) die("an error response that does not start with \"error \"");
    if (r.error.size() > kMaxErrorText + 3 || !printable(r.error)) die("error text not bounded printable ASCII");
    if (!r.value.empty()) die("an error response with a value");
  }
}

void as_uri(const std::uint8_t* data, std::size_t size) {
  const std::string uri = "exec:" + std::string(reinterpret_cast<const char*>(data), size);
  Uri u;
  if (!parse_uri(uri, &u).empty()) return;
  if (u.path.empty() || u.path[0] != '/') die("accepted a relative path");
  if (u.path.find("//") != std::string::npos || u.path.back() == '/') die("accepted an empty segment");
  if ((u.path + "/").find("/../") != std::string::npos || (u.path + "/").find("/./") != std::string::npos)
    die("accepted a . or .. segment");
  for (unsigned char c : u.path)
    if (c <= 0x20 || c == 0x7F || c == '?') die("accepted a space, control character or ? in the path");
  if (u.timeout_ms < 1 || u.timeout_ms > kMaxTimeoutMs) die("accepted a timeout out of range");
  Uri again;
  if (!parse_uri(uri, &again).empty() || again.path != u.path || again.timeout_ms != u.timeout_ms)
    die("parse_uri is not deterministic");
}

void as_request(const std::uint8_t* data, std::size_t size) {
  const std::size_t half = size / 2;
  for (Op op : {Op::Wrap, Op::Unwrap, Op::Fingerprint}) {
    SecretBytes req = build_request(op, ByteView(data, half), ByteView(data + half, size - half));
    std::string s(req.begin(), req.end());
    if (s.compare(0, 16, "orgcrypt-exec 1\n") != 0) die("request header");
    if (s.size() < 2 || s.compare(s.size() - 2, 2, "\n\n") != 0) die("request does not end with an empty line");
    if (s.find("\n\n") != s.size() - 2) die("an empty line inside the request");
    for (unsigned char c : s)
      if (c != '\n' && (c < 0x20 || c > 0x7E)) die("a request byte that is not printable ASCII");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > kMaxResponse + 16) return 0;
  as_response(size ? data : nullptr, size);
  as_uri(data, size);
  as_request(data, size);
  return 0;
}
