// Key providers: the master key (KEK) that wraps DEKs. A provider is named by
// a URI; the registry maps the URI scheme to a factory. Adding a provider is
// one new file plus one registry line (registry.cpp).
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "secure.hpp"

namespace orgcrypt {

// A provider object holds the KEK it reads for as long as it lives: every
// call on one object works with the same key (the file: provider reads its
// file once). Open a new object to see a replaced key.
class KeyProvider {
 public:
  virtual ~KeyProvider() = default;
  // The URI this provider was opened with (recorded with each wrapped DEK).
  virtual const std::string& uri() const = 0;
  // Checks that the KEK is usable; throws Error 58000 saying what failed.
  virtual void validate() = 0;
  // A fingerprint of the KEK (e.g. truncated HMAC-SHA256(KEK, label)), so a
  // replaced key is reported as such. Reveals nothing about the key.
  virtual Bytes fingerprint() = 0;
  // Wraps a DEK, binding aad. Throws Error 58000 on failure.
  virtual Bytes wrap(ByteView dek, ByteView aad) = 0;
  // Unwraps; throws Error 58000 if the blob does not authenticate under this
  // KEK and aad.
  virtual SecretBytes unwrap(ByteView blob, ByteView aad) = 0;
};

using ProviderFactory = std::unique_ptr<KeyProvider> (*)(const std::string& uri);

// Returns the scheme of a URI ("file" for "file:/x"), or "" if it has none.
std::string uri_scheme(const std::string& uri);

// Opens a provider for uri; throws Error 58000 for an unknown scheme or a
// malformed URI. Does not touch the key yet (validate/wrap/unwrap do).
std::unique_ptr<KeyProvider> open_provider(const std::string& uri);

// How core code opens providers: open_provider by default; tests inject
// fakes. Must return a provider or throw (a null result is treated as a
// provider failure, 58000).
using OpenProvider = std::function<std::unique_ptr<KeyProvider>(const std::string& uri)>;

// Checks only the syntax of a URI; returns "" if fine, else the reason.
std::string check_uri_syntax(const std::string& uri);

// The providers (one factory and one syntax check per scheme).
std::unique_ptr<KeyProvider> make_file_provider(const std::string& uri);
std::string check_file_uri(const std::string& uri);

// Parses key material in one of the accepted encodings: exactly 32 raw
// bytes, or 64 hex characters, or 44 base64 characters; one trailing newline
// (\n or \r\n) is allowed after a text form. Throws Error 58000 naming what
// was found (its length, never its bytes); source names the key in errors.
SecretBytes parse_key_material(ByteView content, const std::string& source);

// The fingerprint used by providers that hold the key bytes: first 8 bytes of
// HMAC-SHA256(KEK, "orgcrypt KEK fingerprint v1").
Bytes kek_fingerprint(ByteView kek);

// Wrap format shared by AES-key-wrap providers: RFC 3394 wrap of
// DEK || SHA-256(aad) under the KEK; unwrap checks the digest.
Bytes keywrap_with_aad(ByteView kek, ByteView dek, ByteView aad);
bool keyunwrap_with_aad(ByteView kek, ByteView blob, ByteView aad, SecretBytes& dek);

}  // namespace orgcrypt
