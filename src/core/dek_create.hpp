// Creating a wrapped DEK: wrap once, verify before writing.
//
// One provider object takes the KEK fingerprint and wraps the new DEK (so
// both describe the same key, even if the key behind the URI is replaced
// meanwhile); then the row that would be stored is unwrapped again exactly as
// a later reader will (unwrap_row: a fresh provider, fingerprint check,
// unwrap) and compared with the DEK. Only a DEK that passed this check may be
// written to the key table: a new key can never be unrecoverable.
#pragma once
#include <cstdint>
#include <string>

#include "keyring.hpp"
#include "provider.hpp"
#include "secure.hpp"

namespace orgcrypt {

struct WrappedDek {
  std::string kek_uri;  // the URI of the KEK that wrapped it (KeyProvider::key_uri)
  Bytes wrapped;  // the wrapped DEK to store
  Bytes kek_fp;   // fingerprint of the KEK that wrapped it
};

// Wraps dek as version `version` of org under the KEK at uri, then verifies
// it as above. `what` names it in the error ("new key", "rewrapped key").
WrappedDek wrap_verified(const std::string& uri, ByteView org_utf8, std::uint32_t version, ByteView dek,
                         const OpenProvider& open, const std::string& what);

// Master-key rotation of one DEK: unwraps the row through the KEK that
// wrapped it (fingerprint checked), wraps the same DEK under new_uri and
// verifies it. The DEK itself never changes, so no value is re-encrypted.
WrappedDek rewrap_dek(const DekRow& row, ByteView org_utf8, const std::string& new_uri,
                      const OpenProvider& open = open_provider);

// Checks a KEK before it is given to an organization
// (set_org_master_key): opens the provider at uri, validates it, takes its
// fingerprint and wraps a random test key under a fixed label (never a real
// org's AAD), then unwraps it again exactly as a later reader would (a fresh
// provider at the resolved key URI, fingerprint checked) and compares.
// Returns the KEK's identity (kek_uri = KeyProvider::key_uri, kek_fp; no
// wrapped key). Provider failures throw their own Error 58000; a test key that
// does not come back throws Error 58000 "the key provider \"<uri>\" did not
// return the test key it wrapped".
WrappedDek check_kek(const std::string& uri, const OpenProvider& open = open_provider);

struct NewDek {
  SecretBytes dek;  // 32 random bytes, wiped when freed
  std::string kek_uri;  // the URI of the KEK that wrapped it (key table column kek_uri)
  Bytes wrapped;    // the wrapped DEK to store (key table column wrapped)
  Bytes kek_fp;     // fingerprint of the KEK that wrapped it (kek_fingerprint)
};

// Creates version `version` of org's DEK, wrapped by the KEK at uri with
// wrap_aad(org_utf8, version), and verified as above. Throws Error 58000 for
// any provider failure while wrapping, and Error 58000 "the key provider
// \"<uri>\" did not return the data key it wrapped: the new key was not
// stored" if the verification fails (unwrap error, fingerprint mismatch or
// different bytes). Messages never contain key bytes.
NewDek create_wrapped_dek(const std::string& uri, ByteView org_utf8, std::uint32_t version,
                          const OpenProvider& open = open_provider);

}  // namespace orgcrypt
