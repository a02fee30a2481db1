#include "dek_create.hpp"

#include <openssl/crypto.h>

#include <memory>

#include "aead.hpp"
#include "envelope.hpp"
#include "error.hpp"
#include "keyring.hpp"

namespace orgcrypt {

namespace {

[[noreturn]] void not_returned(const std::string& uri, ByteView org, std::uint32_t version, const std::string& what,
                               const std::string& why) {
  throw Error(sqlstate::kSystemError,
              "the key provider \"" + uri + "\" did not return the data key it wrapped: the " + what + " was not stored",
              "DEK version " + std::to_string(version) + " of organization \"" +
                  std::string(reinterpret_cast<const char*>(org.data), org.size) + "\": " + why,
              "Check that the master key at this URI is stable and not being replaced, then retry.");
}

// Reads a key just wrapped back the way every later reader will: "" if it
// unwraps to `dek`, else why not (a cancel is rethrown). Messages name the
// URI, org and version, never key bytes; the provider's own hint (a Vault
// policy, a KMS key state) goes into the reason.
std::string unwrap_problem(const WrappedDek& w, ByteView org, std::uint32_t version, ByteView dek,
                           const OpenProvider& open) {
  DekRow row;
  row.version = version;
  row.state = DekState::Active;
  row.wrapped = w.wrapped;
  row.kek_uri = w.kek_uri;
  row.kek_fp = w.kek_fp;
  SecretBytes back;
  try {
    back = unwrap_row(org, row, open);
  } catch (const Error& e) {
    if (std::string(e.sqlstate()) == sqlstate::kQueryCanceled) throw;
    std::string why = std::string("unwrapping it again failed: ") + e.what();
    if (!e.hint().empty()) why += " (" + e.hint() + ")";
    return why;
  }
  if (back.size() != dek.size || CRYPTO_memcmp(back.data(), dek.data, dek.size) != 0)
    return "unwrapping it again gave different bytes.";
  return {};
}

}  // namespace

WrappedDek wrap_verified(const std::string& uri, ByteView org, std::uint32_t version, ByteView dek,
                         const OpenProvider& open, const std::string& what) {
  WrappedDek out;
  const Bytes aad = wrap_aad(org, version);
  // Fingerprint and wrap through one provider object: both see one key.
  {
    std::unique_ptr<KeyProvider> p = open(uri);
    if (!p)
      throw Error(sqlstate::kSystemError, "could not open the key provider \"" + uri + "\"",
                  "The provider factory returned no provider.");
    out.kek_fp = p->fingerprint();
    out.wrapped = p->wrap(dek, ByteView(aad));
    out.kek_uri = p->key_uri();
  }
  // Verify: read the row back the way every later reader will.
  const std::string why = unwrap_problem(out, org, version, dek, open);
  if (!why.empty()) not_returned(out.kek_uri, org, version, what, why);
  return out;
}

WrappedDek check_kek(const std::string& uri, const OpenProvider& open) {
  static const char kLabel[] = "orgcrypt KEK check";
  const ByteView label(kLabel, sizeof kLabel - 1);
  SecretBytes dek(kKeyLen);
  random_bytes(dek.data(), dek.size());
  const Bytes aad = wrap_aad(label, 1);
  WrappedDek out;
  {
    std::unique_ptr<KeyProvider> p = open(uri);
    if (!p)
      throw Error(sqlstate::kSystemError, "could not open the key provider \"" + uri + "\"",
                  "The provider factory returned no provider.");
    p->validate();
    out.kek_fp = p->fingerprint();
    out.wrapped = p->wrap(ByteView(dek), ByteView(aad));
    out.kek_uri = p->key_uri();
  }
  const std::string why = unwrap_problem(out, label, 1, ByteView(dek), open);
  if (!why.empty())
    throw Error(sqlstate::kSystemError, "the key provider \"" + out.kek_uri + "\" did not return the test key it wrapped",
                why, "Check that the key at this URI is stable and not being replaced, then retry.");
  out.wrapped.clear();
  return out;
}

NewDek create_wrapped_dek(const std::string& uri, ByteView org, std::uint32_t version, const OpenProvider& open) {
  NewDek out;
  out.dek.resize(kKeyLen);
  random_bytes(out.dek.data(), out.dek.size());
  WrappedDek w = wrap_verified(uri, org, version, ByteView(out.dek), open, "new key");
  out.kek_uri = std::move(w.kek_uri);
  out.wrapped = std::move(w.wrapped);
  out.kek_fp = std::move(w.kek_fp);
  return out;
}

WrappedDek rewrap_dek(const DekRow& row, ByteView org, const std::string& new_uri, const OpenProvider& open) {
  SecretBytes dek = unwrap_row(org, row, open);  // through the KEK that wrapped it
  return wrap_verified(new_uri, org, row.version, ByteView(dek), open, "rewrapped key");
}

}  // namespace orgcrypt
