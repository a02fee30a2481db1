// The exec: protocol, version 1 (docs/providers.md, "exec:"): the URI, the
// request orgcrypt writes to the program's standard input and the response it
// reads from its standard output. Pure functions, no process code, so that
// they can be unit-tested and fuzzed (tests/fuzz/fuzz_exec_response.cpp).
//
//   request (every line ends with LF; base64 is standard, padded, one line):
//     orgcrypt-exec 1
//     operation wrap|unwrap|fingerprint
//     org <base64 of the org, UTF-8>        wrap/unwrap, when aad is a wrap AAD
//     version <decimal>                     idem
//     aad <base64 of the wrap AAD>          wrap/unwrap
//     data <base64 of the DEK or the blob>  wrap/unwrap
//     <empty line>
//
//   response (the whole of standard output):
//     ok <base64>[LF]      or      error <text>[LF]
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "secure.hpp"

namespace orgcrypt::exec_proto {

constexpr int kVersion = 1;
constexpr std::size_t kMaxResponse = 64 * 1024;      // bytes of standard output
constexpr std::size_t kMaxErrorText = 200;           // characters of "error" text kept
constexpr unsigned kDefaultTimeoutMs = 30000;
constexpr unsigned kMaxTimeoutMs = 600000;

enum class Op { Wrap, Unwrap, Fingerprint };
const char* op_name(Op op);

// exec:/absolute/path[?timeout_ms=N]
struct Uri {
  std::string path;
  unsigned timeout_ms = kDefaultTimeoutMs;
};
// "" and *out filled, or the reason the URI is refused. Syntax only: the
// program is looked at when it is run.
std::string parse_uri(const std::string& uri, Uri* out);

// The request for op. aad and data are ignored for Fingerprint. The result
// holds the DEK (base64) for a wrap: it wipes itself when freed.
SecretBytes build_request(Op op, ByteView aad, ByteView data);

struct Response {
  bool ok = false;
  SecretBytes value;   // ok: the decoded bytes (an unwrapped DEK for unwrap)
  std::string error;   // error: the program's text, sanitised (printable ASCII)
};
// "" and *r filled, or why stdout is not a response. The reason never
// quotes the response (it may hold key bytes).
std::string parse_response(ByteView out, Response* r);

// Printable ASCII only: tabs and line breaks become spaces, other bytes '?';
// trailing spaces dropped; longer than max characters: cut, with "...".
std::string sanitize(ByteView text, std::size_t max);

}  // namespace orgcrypt::exec_proto
