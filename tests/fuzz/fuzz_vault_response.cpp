// libFuzzer target for the vault-transit:// provider's parsers
// (src/providers/vault_json.hpp, vault_uri.hpp): every response body a Vault
// server (or anything answering in its place) may send is untrusted input.
//
// Build (clang only), as for fuzz_envelope:
//   CC=clang CXX=clang++ cmake -S . -B build-fuzz -DORGCRYPT_FUZZ=ON -DORGCRYPT_TESTS=OFF
//   cmake --build build-fuzz --target fuzz_vault_response
//   ./build-fuzz/fuzz_vault_response -max_total_time=60 [corpus_dir]
//
// The input is fed to each parser: encrypt, decrypt, auth (login and
// renew-self), errors[], the ciphertext-string check, and the URI parser.
// Invariants (a violation aborts):
//  1. an accepted encrypt response yields a ciphertext that valid_ciphertext
//     accepts (so it can be sent back as is) and that fits kMaxCiphertext;
//  2. an accepted decrypt response yields 1..1024 bytes;
//  3. an accepted auth response yields a credential_ok token and a lease in
//     0..kMaxLeaseSeconds;
//  4. errors text is printable ASCII of bounded length;
//  5. a refusal reason is short printable text that does not quote the body;
//  6. an accepted URI has a non-empty mount and key name and a port 1..65535.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "vault_json.hpp"
#include "vault_uri.hpp"

using namespace orgcrypt;
using namespace orgcrypt::vault;

namespace {

[[noreturn]] void die(const char* why) {
  std::fprintf(stderr, "fuzz_vault_response: invariant violated: %s\n", why);
  std::abort();
}

bool printable(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

void check_reason(const std::string& why) {
  if (why.size() > 400 || !printable(why)) die("reason not short printable text");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);

  std::string ct;
  std::string why = parse_encrypt_response(body, &ct);
  if (why.empty()) {
    if (!valid_ciphertext(ByteView(ct)) || ct.size() > kMaxCiphertext) die("accepted ciphertext is not valid");
    // it must round-trip through a decrypt request as one JSON string
    const std::string req = decrypt_request(ct, ByteView(body.data(), body.size() < 64 ? body.size() : 64));
    if (req.find(ct) == std::string::npos) die("decrypt request lost the ciphertext");
  } else {
    check_reason(why);
  }

  SecretBytes pt;
  why = parse_decrypt_response(body, &pt);
  if (why.empty()) {
    if (pt.empty() || pt.size() > 1024) die("decrypt plaintext out of bounds");
  } else {
    check_reason(why);
  }

  AuthInfo a;
  why = parse_auth_response(body, &a);
  if (why.empty()) {
    if (!credential_ok(ByteView(a.token))) die("accepted token is not credential_ok");
    if (a.lease_seconds < 0 || a.lease_seconds > kMaxLeaseSeconds) die("lease out of range");
  } else {
    check_reason(why);
    if (!a.token.empty()) die("refused auth left a token");
  }

  const std::string errs = parse_errors(body);
  if (errs.size() > kMaxErrorText + 3 || !printable(errs)) die("errors text not bounded printable");

  (void)valid_ciphertext(ByteView(body));
  (void)credential_ok(ByteView(body));

  VaultUri u;
  const std::string uri = "vault-transit://" + body;
  why = parse_vault_uri(uri, &u);
  (void)vault_uri_redacted(uri);
  (void)vault_uri_redacted(body);
  if (why.empty()) {
    if (u.mount.empty() || u.name.empty() || u.port < 1 || u.port > 65535) die("accepted URI incomplete");
    if (!u.tls && !vault_host_is_loopback(u.host)) die("plain http to a non-loopback host accepted");
    (void)vault_trust_scope(uri);
  }
  return 0;
}
