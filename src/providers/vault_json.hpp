// Vault HTTP API bodies for the vault-transit:// provider: request building
// and response parsing, as pure functions (unit tests, and
// tests/fuzz/fuzz_vault_response.cpp feeds arbitrary bytes to every parser).
//
// Every response is untrusted input: parsers bound its size and nesting,
// never throw, and return "" or a short reason that never quotes the body
// (a decrypt response holds a DEK). JSON parsing is nlohmann-json with a
// string type whose memory is wiped when freed (values and the parser's
// token buffer), so a DEK or token read from a body leaves no copy behind.
#pragma once
#include <cstdint>
#include <string>

#include "secure.hpp"

namespace orgcrypt::vault {

constexpr std::size_t kMaxBody = 64 * 1024;        // bytes of a response we parse
constexpr std::size_t kMaxCiphertext = 4096;       // a "vault:vN:..." string
constexpr std::size_t kMaxToken = 4096;            // a client token
constexpr std::size_t kMaxErrorText = 500;         // characters of errors[] kept
constexpr std::int64_t kMaxLeaseSeconds = 10LL * 366 * 24 * 3600;

// Wipes a string's characters (OPENSSL_cleanse) and empties it.
void wipe(std::string& s);

// {"plaintext": base64(dek), "associated_data": base64(aad)}. Holds the DEK:
// the caller wipes it after the request is sent.
std::string encrypt_request(ByteView dek, ByteView aad);
// {"ciphertext": ciphertext, "associated_data": base64(aad)}; ciphertext must
// have passed valid_ciphertext.
std::string decrypt_request(const std::string& ciphertext, ByteView aad);
// {"role_id": ..., "secret_id": ...}; both must pass credential_ok. The caller
// wipes the result.
std::string login_request(ByteView role_id, ByteView secret_id);

// A role_id, secret_id or token we can send: 1..kMaxToken bytes of visible
// ASCII (0x21..0x7e) other than '"' and '\' (so it fits a JSON string and an
// HTTP header as is).
bool credential_ok(ByteView v);

// "vault:v<N>:<base64>": N a decimal key version from 1 to 2^31-1 without a
// leading zero, then standard padded base64 of at least one byte; at most
// kMaxCiphertext characters in all.
bool valid_ciphertext(ByteView s);

// POST <mount>/encrypt/<name>: data.ciphertext (which must be a
// valid_ciphertext). A warning that names associated_data (a Vault older
// than 1.13 answers "Endpoint ignored these unrecognized parameters:
// [associated_data]") is refused: the AAD would not be bound.
std::string parse_encrypt_response(const std::string& body, std::string* ciphertext);
// POST <mount>/decrypt/<name>: data.plaintext, base64, decoded into *plaintext
// (at most 1024 bytes; the caller checks the length it expects).
std::string parse_decrypt_response(const std::string& body, SecretBytes* plaintext);

// POST auth/<approle>/login and auth/token/renew-self: the "auth" object.
struct AuthInfo {
  SecretBytes token;               // auth.client_token (credential_ok)
  std::int64_t lease_seconds = 0;  // auth.lease_duration; 0 = does not expire
  bool renewable = false;          // auth.renewable
};
std::string parse_auth_response(const std::string& body, AuthInfo* out);

// An error response's errors[] joined with "; ", as printable ASCII of at
// most kMaxErrorText characters; "" if the body has none.
std::string parse_errors(const std::string& body);

}  // namespace orgcrypt::vault
