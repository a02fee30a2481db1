// pkcs11: — a KEK inside an HSM, named by an RFC 7512 URI:
//   pkcs11:token=orgcrypt;object=kek1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/orgcrypt/hsm.pin
//
// The key is an AES-256 secret key, sensitive and not extractable; it never
// leaves the token. Every operation is CKM_AES_GCM inside the token
// (docs/providers.md):
//   wrap:        blob = 0x01 || IV (12 random bytes) || C_Encrypt(DEK) (32 bytes + 16-byte tag),
//                with the wrap AAD as GCM AAD;
//   unwrap:      C_Decrypt of the same; a tag that does not verify is 58000;
//   fingerprint: first 8 bytes of SHA-256(C_Encrypt of a fixed 32-byte label
//                under an all-zero IV and a fixed AAD): deterministic, it
//                reveals nothing about the key, and another key gives another
//                fingerprint. Wrap never uses the all-zero IV.
//
// One provider object pins the key it first used: if the process has to find
// the key again (a new session after the token came back), the object checks
// that the fingerprint is unchanged, so fingerprint() and wrap() of one object
// always describe the same key (as the file: provider does by reading its
// file once).
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "aead.hpp"
#include "error.hpp"
#include "pkcs11_ckr.hpp"
#include "pkcs11_token.hpp"
#include "pkcs11_uri.hpp"
#include "provider.hpp"

namespace orgcrypt {

namespace {

constexpr std::uint8_t kBlobV1 = 1;
constexpr std::size_t kBlobLen = 1 + kNonceLen + kKeyLen + kTagLen;  // 61
constexpr int kAttempts = 10;  // about 1.1 s of waits in all
const char kFpLabel[] = "orgcrypt KEK fingerprint, pkcs11";  // 32 bytes
const char kFpAad[] = "orgcrypt pkcs11 KEK fingerprint v1";
static_assert(sizeof kFpLabel - 1 == 32, "the fingerprint label is 32 bytes");

// One CKM_AES_GCM C_Encrypt or C_Decrypt with a 128-bit tag.
p11::Failure gcm(const p11::KeyRef& k, bool encrypt, const std::uint8_t* iv, ByteView aad, ByteView in,
                 std::uint8_t* out, unsigned long* out_len) {
  struct ck_gcm_params params;
  std::memset(&params, 0, sizeof params);
  params.iv_ptr = const_cast<std::uint8_t*>(iv);
  params.iv_len = kNonceLen;
  params.iv_bits = kNonceLen * 8;
  params.aad_ptr = const_cast<std::uint8_t*>(aad.data);
  params.aad_len = aad.size;
  params.tag_bits = kTagLen * 8;
  struct ck_mechanism mech = {CKM_AES_GCM, &params, sizeof params};
  auto* in_ptr = const_cast<std::uint8_t*>(in.data);
  if (encrypt) {
    ck_rv_t rv = k.fl->C_EncryptInit(k.session, &mech, k.key);
    if (rv != CKR_OK) return p11::call_failed("C_EncryptInit", rv);
    rv = k.fl->C_Encrypt(k.session, in_ptr, in.size, out, out_len);
    if (rv != CKR_OK) return p11::call_failed("C_Encrypt", rv);
  } else {
    ck_rv_t rv = k.fl->C_DecryptInit(k.session, &mech, k.key);
    if (rv != CKR_OK) return p11::call_failed("C_DecryptInit", rv);
    rv = k.fl->C_Decrypt(k.session, in_ptr, in.size, out, out_len);
    if (rv != CKR_OK) return p11::call_failed("C_Decrypt", rv);
  }
  return {};
}

std::string hint_for(const char* fn, unsigned long rv) {
  if (std::strcmp(fn, "C_Initialize") == 0)
    return "The module could not start. For SoftHSM: SOFTHSM2_CONF must be in the server's environment, and the "
           "configuration and its tokendir readable by the server's OS user.";
  switch (rv) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_LEN_RANGE:
      return "Check the user PIN in the file named by pin-source.";
    case CKR_PIN_LOCKED:
      return "The token's user PIN is locked: its security officer must unlock it.";
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_RECOGNIZED:
      return "Is the token present? For SoftHSM, SOFTHSM2_CONF must be in the server's environment and its tokendir "
             "readable by the server's OS user.";
    case CKR_GENERAL_ERROR:
    case CKR_ENCRYPTED_DATA_INVALID:
    case CKR_ENCRYPTED_DATA_LEN_RANGE:
      return "";
    case CKR_MECHANISM_INVALID:
    case CKR_MECHANISM_PARAM_INVALID:
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
      return "The key must allow CKM_AES_GCM encryption and decryption with a caller-supplied 12-byte IV.";
    default:
      return "";
  }
}

class Pkcs11Provider final : public KeyProvider {
 public:
  explicit Pkcs11Provider(std::string uri) : uri_(std::move(uri)), target_(uri_) {}
  const std::string& uri() const override { return uri_; }
  bool production_ready() const override { return true; }  // the key stays in the HSM

  void validate() override {
    run("validate", [](const p11::KeyRef&) { return p11::Failure{}; });
  }

  Bytes fingerprint() override {
    run("fingerprint", [](const p11::KeyRef&) { return p11::Failure{}; });
    return fp_;
  }

  Bytes wrap(ByteView dek, ByteView aad) override {
    if (dek.size != kKeyLen) throw Error(sqlstate::kSystemError, "pkcs11 wrap failed: a data key is 32 bytes");
    Bytes blob(kBlobLen + 16);
    blob[0] = kBlobV1;
    std::uint8_t* iv = blob.data() + 1;
    do random_bytes(iv, kNonceLen);
    while (is_zero(iv, kNonceLen));  // the all-zero IV is the fingerprint's
    run("wrap", [&](const p11::KeyRef& k) {
      unsigned long len = blob.size() - 1 - kNonceLen;
      p11::Failure f = gcm(k, true, iv, aad, dek, blob.data() + 1 + kNonceLen, &len);
      if (!f && len != kKeyLen + kTagLen)
        f = {"C_Encrypt", 0, "the module returned " + std::to_string(len) + " bytes, not 48"};
      return f;
    });
    blob.resize(kBlobLen);
    return blob;
  }

  SecretBytes unwrap(ByteView blob, ByteView aad) override {
    if (blob.size != kBlobLen || blob.data[0] != kBlobV1)
      throw Error(sqlstate::kSystemError, "pkcs11 unwrap failed: the wrapped DEK is malformed",
                  "Expected " + std::to_string(kBlobLen) + " bytes starting with format version 1, found " +
                      std::to_string(blob.size) + " bytes.");
    SecretBytes dek(kKeyLen + kTagLen);
    run("unwrap", [&](const p11::KeyRef& k) {
      unsigned long len = dek.size();
      p11::Failure f = gcm(k, false, blob.data + 1, aad, ByteView(blob.data + 1 + kNonceLen, kKeyLen + kTagLen),
                           dek.data(), &len);
      if (!f && len != kKeyLen) f = {"C_Decrypt", 0, "the module returned " + std::to_string(len) + " bytes, not 32"};
      return f;
    });
    dek.resize(kKeyLen);
    return dek;
  }

 private:
  static bool is_zero(const std::uint8_t* p, std::size_t n) {
    std::uint8_t acc = 0;
    for (std::size_t i = 0; i < n; i++) acc |= p[i];
    return acc == 0;
  }

  // Computes the fingerprint of a key found anew and checks that it is the
  // key this object used before.
  p11::Failure pin(const p11::KeyRef& k) {
    if (k.generation == pinned_) return {};
    static const std::uint8_t zero_iv[kNonceLen] = {};
    std::uint8_t out[32 + kTagLen + 16];
    unsigned long len = sizeof out;
    p11::Failure f = gcm(k, true, zero_iv, ByteView(kFpAad, sizeof kFpAad - 1), ByteView(kFpLabel, 32), out, &len);
    if (f) return f;
    Bytes digest = sha256(ByteView(out, len));
    digest.resize(8);
    if (!fp_.empty() && digest != fp_)
      throw Error(sqlstate::kSystemError, "the key object changed while in use",
                  target_.describe() + ": the key found again has another fingerprint.",
                  "Retry: a new operation uses the key the URI now names.");
    fp_ = digest;
    pinned_ = k.generation;
    return {};
  }

  [[noreturn]] void raise(const char* op, const p11::Failure& f) const {
    std::string what = f.what.empty() ? std::string(f.fn) + " returned " + ckr_name(f.rv)
                                      : f.what + (f.rv ? " (" + ckr_name(f.rv) + ")" : "");
    std::string detail = target_.describe() + ".";
    if (std::strcmp(op, "unwrap") == 0 && std::strcmp(f.fn, "C_Decrypt") == 0 && f.what.empty())
      detail += " The wrapped DEK does not authenticate under this key for this organization and version "
                "(damaged, or wrapped by another key).";
    throw Error(sqlstate::kSystemError, "pkcs11 " + std::string(op) + " failed: " + what, detail, hint_for(f.fn, f.rv));
  }

  // Sleeps before the next attempt, in slices, asking whether to stop.
  void pause(const char* op, int attempt) {
    long ms = std::min(10L << (attempt - 1), 200L) + (static_cast<long>(::getpid()) * 7 + attempt * 13) % 11;
    while (ms > 0) {
      if (provider_interrupted()) throw_interrupted("pkcs11", op);
      long step = std::min(ms, 50L);
      struct timespec ts = {0, step * 1000000L};
      ::nanosleep(&ts, nullptr);
      ms -= step;
    }
  }

  // Runs one operation on the key, retrying what may be transient. PKCS#11
  // calls cannot be interrupted; the interrupt check is asked before every
  // attempt and while waiting between attempts.
  template <class F>
  void run(const char* op, F&& f) {
    for (int attempt = 1;; attempt++) {
      if (provider_interrupted()) throw_interrupted("pkcs11", op);
      p11::Failure fail;
      try {
        std::lock_guard<std::mutex> lock(p11::mutex());
        p11::KeyRef k;
        fail = p11::acquire(target_, &k);
        if (!fail) fail = pin(k);
        if (!fail) fail = f(k);
        if (fail.retry) p11::forget(target_, fail.rv, attempt >= 2);
      } catch (const Error& e) {  // not a PKCS#11 code: the module, the PIN file, a replaced key
        throw Error(e.sqlstate(), "pkcs11 " + std::string(op) + " failed: " + e.what(), e.detail(), e.hint());
      }
      if (!fail) return;
      if (!fail.retry || attempt == kAttempts) raise(op, fail);
      pause(op, attempt);
    }
  }

  std::string uri_;
  p11::Target target_;
  Bytes fp_;                   // fingerprint of the key this object uses
  std::uint64_t pinned_ = 0;   // generation of the handle fp_ was checked for
};

}  // namespace

std::unique_ptr<KeyProvider> make_pkcs11_provider(const std::string& uri) {
  return std::make_unique<Pkcs11Provider>(uri);
}

}  // namespace orgcrypt
