#include "dek_create.hpp"

#include <openssl/crypto.h>

#include <memory>

#include "aead.hpp"
#include "envelope.hpp"
#include "error.hpp"
#include "keyring.hpp"

namespace orgcrypt {

namespace {

[[noreturn]] void not_returned(const std::string& uri, ByteView org, std::uint32_t version, const std::string& why) {
  throw Error(sqlstate::kSystemError,
              "the key provider \"" + uri + "\" did not return the data key it wrapped: the new key was not stored",
              "Creating DEK version " + std::to_string(version) + " of organization \"" +
                  std::string(reinterpret_cast<const char*>(org.data), org.size) + "\": " + why,
              "Check that the master key at this URI is stable and not being replaced, then retry.");
}

}  // namespace

NewDek create_wrapped_dek(const std::string& uri, ByteView org, std::uint32_t version, const OpenProvider& open) {
  NewDek out;
  out.dek.resize(kKeyLen);
  random_bytes(out.dek.data(), out.dek.size());
  const Bytes aad = wrap_aad(org, version);

  // Fingerprint and wrap through one provider object: both see one key.
  {
    std::unique_ptr<KeyProvider> p = open(uri);
    if (!p)
      throw Error(sqlstate::kSystemError, "could not open the key provider \"" + uri + "\"",
                  "The provider factory returned no provider.");
    out.kek_fp = p->fingerprint();
    out.wrapped = p->wrap(ByteView(out.dek), ByteView(aad));
  }

  // Verify: read the row back the way every later reader will.
  DekRow row;
  row.version = version;
  row.state = DekState::Active;
  row.wrapped = out.wrapped;
  row.kek_uri = uri;
  row.kek_fp = out.kek_fp;
  SecretBytes back;
  try {
    back = unwrap_row(org, row, open);
  } catch (const Error& e) {
    // e's message names the URI, org and version, never key bytes.
    not_returned(uri, org, version, std::string("unwrapping it again failed: ") + e.what());
  }
  if (back.size() != out.dek.size() || CRYPTO_memcmp(back.data(), out.dek.data(), out.dek.size()) != 0)
    not_returned(uri, org, version, "unwrapping it again gave different bytes.");
  return out;
}

}  // namespace orgcrypt
