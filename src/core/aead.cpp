#include "aead.hpp"

// src/core is built without the PostgreSQL include path (CMakeLists.txt), so
// it cannot include postgres.h; this checks it did not get it another way.
#ifdef POSTGRES_H
#error "src/core must not include postgres.h"
#endif

#include <openssl/rand.h>

#include <cstring>

#include "error.hpp"

namespace orgcrypt {

namespace {

[[noreturn]] void crypto_fail(const char* what) {
  throw Error(sqlstate::kInternal, std::string("OpenSSL failure: ") + what);
}

int ilen(std::size_t n) {
  if (n > static_cast<std::size_t>(INT32_MAX)) throw Error(sqlstate::kInvalidParameter, "value too large to encrypt");
  return static_cast<int>(n);
}

const EVP_CIPHER* gcm_for(std::size_t keylen) {
  switch (keylen) {
    case 16: return EVP_aes_128_gcm();
    case 24: return EVP_aes_192_gcm();
    case 32: return EVP_aes_256_gcm();
    default: throw Error(sqlstate::kInternal, "bad AES key length");
  }
}

struct CtxPtr {
  EVP_CIPHER_CTX* p;
  CtxPtr() : p(EVP_CIPHER_CTX_new()) {
    if (!p) throw std::bad_alloc();
  }
  ~CtxPtr() { EVP_CIPHER_CTX_free(p); }
  CtxPtr(const CtxPtr&) = delete;
  CtxPtr& operator=(const CtxPtr&) = delete;
};

}  // namespace

AesGcm::AesGcm(ByteView key) {
  if (key.size != kKeyLen) throw Error(sqlstate::kInternal, "DEK has wrong length");
  enc_ = EVP_CIPHER_CTX_new();
  dec_ = EVP_CIPHER_CTX_new();
  if (!enc_ || !dec_) {
    EVP_CIPHER_CTX_free(enc_);
    EVP_CIPHER_CTX_free(dec_);
    throw std::bad_alloc();
  }
  // The default GCM IV length is 12 bytes, which is what we use.
  if (EVP_EncryptInit_ex(enc_, EVP_aes_256_gcm(), nullptr, key.data, nullptr) != 1 ||
      EVP_DecryptInit_ex(dec_, EVP_aes_256_gcm(), nullptr, key.data, nullptr) != 1) {
    EVP_CIPHER_CTX_free(enc_);
    EVP_CIPHER_CTX_free(dec_);
    crypto_fail("EVP_CipherInit");
  }
}

AesGcm::~AesGcm() {
  EVP_CIPHER_CTX_free(enc_);
  EVP_CIPHER_CTX_free(dec_);
}

void AesGcm::seal(const std::uint8_t* nonce, ByteView aad, const std::uint8_t* pt, std::size_t len,
                  std::uint8_t* ct, std::uint8_t* tag) {
  int outl = 0;
  if (EVP_EncryptInit_ex(enc_, nullptr, nullptr, nullptr, nonce) != 1) crypto_fail("EVP_EncryptInit_ex");
  if (aad.size && EVP_EncryptUpdate(enc_, nullptr, &outl, aad.data, ilen(aad.size)) != 1)
    crypto_fail("EVP_EncryptUpdate(aad)");
  if (len && EVP_EncryptUpdate(enc_, ct, &outl, pt, ilen(len)) != 1) crypto_fail("EVP_EncryptUpdate");
  if (EVP_EncryptFinal_ex(enc_, ct + len, &outl) != 1) crypto_fail("EVP_EncryptFinal_ex");
  if (EVP_CIPHER_CTX_ctrl(enc_, EVP_CTRL_GCM_GET_TAG, kTagLen, tag) != 1) crypto_fail("GET_TAG");
}

bool AesGcm::open(const std::uint8_t* nonce, ByteView aad, const std::uint8_t* ct, std::size_t len,
                  const std::uint8_t* tag, std::uint8_t* pt) {
  int outl = 0;
  if (EVP_DecryptInit_ex(dec_, nullptr, nullptr, nullptr, nonce) != 1) crypto_fail("EVP_DecryptInit_ex");
  if (aad.size && EVP_DecryptUpdate(dec_, nullptr, &outl, aad.data, ilen(aad.size)) != 1)
    crypto_fail("EVP_DecryptUpdate(aad)");
  if (len && EVP_DecryptUpdate(dec_, pt, &outl, ct, ilen(len)) != 1) crypto_fail("EVP_DecryptUpdate");
  if (EVP_CIPHER_CTX_ctrl(dec_, EVP_CTRL_GCM_SET_TAG, kTagLen, const_cast<std::uint8_t*>(tag)) != 1)
    crypto_fail("SET_TAG");
  if (EVP_DecryptFinal_ex(dec_, pt + len, &outl) != 1) {
    if (len) OPENSSL_cleanse(pt, len);
    return false;
  }
  return true;
}

void gcm_encrypt(ByteView key, ByteView iv, ByteView aad, ByteView pt, Bytes& ct, Bytes& tag,
                 std::size_t tag_len) {
  CtxPtr c;
  int outl = 0;
  if (EVP_EncryptInit_ex(c.p, gcm_for(key.size), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.p, EVP_CTRL_GCM_SET_IVLEN, ilen(iv.size), nullptr) != 1 ||
      EVP_EncryptInit_ex(c.p, nullptr, nullptr, key.data, iv.data) != 1)
    crypto_fail("gcm init");
  if (aad.size && EVP_EncryptUpdate(c.p, nullptr, &outl, aad.data, ilen(aad.size)) != 1) crypto_fail("aad");
  ct.assign(pt.size, 0);
  if (pt.size && EVP_EncryptUpdate(c.p, ct.data(), &outl, pt.data, ilen(pt.size)) != 1) crypto_fail("update");
  std::uint8_t fin[16];
  if (EVP_EncryptFinal_ex(c.p, fin, &outl) != 1) crypto_fail("final");
  tag.assign(tag_len, 0);
  if (EVP_CIPHER_CTX_ctrl(c.p, EVP_CTRL_GCM_GET_TAG, ilen(tag_len), tag.data()) != 1) crypto_fail("tag");
}

bool gcm_decrypt(ByteView key, ByteView iv, ByteView aad, ByteView ct, ByteView tag, Bytes& pt) {
  pt.clear();
  // SP 800-38D tag lengths are 4..16 bytes; anything else is refused before
  // any plaintext is produced.
  if (tag.size < 4 || tag.size > 16) return false;
  CtxPtr c;
  int outl = 0;
  if (EVP_DecryptInit_ex(c.p, gcm_for(key.size), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.p, EVP_CTRL_GCM_SET_IVLEN, ilen(iv.size), nullptr) != 1 ||
      EVP_DecryptInit_ex(c.p, nullptr, nullptr, key.data, iv.data) != 1)
    crypto_fail("gcm init");
  if (aad.size && EVP_DecryptUpdate(c.p, nullptr, &outl, aad.data, ilen(aad.size)) != 1) crypto_fail("aad");
  pt.assign(ct.size, 0);
  if (ct.size && EVP_DecryptUpdate(c.p, pt.data(), &outl, ct.data, ilen(ct.size)) != 1) crypto_fail("update");
  std::uint8_t fin[16];
  if (EVP_CIPHER_CTX_ctrl(c.p, EVP_CTRL_GCM_SET_TAG, ilen(tag.size), const_cast<std::uint8_t*>(tag.data)) != 1 ||
      EVP_DecryptFinal_ex(c.p, fin, &outl) != 1) {
    OPENSSL_cleanse(pt.data(), pt.size());
    pt.clear();
    return false;
  }
  return true;
}

namespace {
const EVP_CIPHER* wrap_for(std::size_t keylen, bool pad) {
  switch (keylen) {
    case 16: return pad ? EVP_aes_128_wrap_pad() : EVP_aes_128_wrap();
    case 24: return pad ? EVP_aes_192_wrap_pad() : EVP_aes_192_wrap();
    case 32: return pad ? EVP_aes_256_wrap_pad() : EVP_aes_256_wrap();
    default: throw Error(sqlstate::kInternal, "bad AES key length");
  }
}
}  // namespace

Bytes aes_key_wrap(ByteView kek, ByteView in, bool pad) {
  if (!pad && (in.size < 16 || in.size % 8 != 0)) throw Error(sqlstate::kInternal, "key wrap input must be a multiple of 8 bytes, at least 16");
  if (in.size == 0) throw Error(sqlstate::kInternal, "key wrap input is empty");
  CtxPtr c;
  // The wrap modes need this flag to be usable through EVP.
  EVP_CIPHER_CTX_set_flags(c.p, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_EncryptInit_ex(c.p, wrap_for(kek.size, pad), nullptr, kek.data, nullptr) != 1) crypto_fail("wrap init");
  Bytes out(in.size + 16);
  int outl = 0, fin = 0;
  if (EVP_EncryptUpdate(c.p, out.data(), &outl, in.data, ilen(in.size)) != 1) crypto_fail("wrap");
  if (EVP_EncryptFinal_ex(c.p, out.data() + outl, &fin) != 1) crypto_fail("wrap final");
  out.resize(static_cast<std::size_t>(outl + fin));
  return out;
}

bool aes_key_unwrap(ByteView kek, ByteView in, bool pad, SecretBytes& out) {
  out.clear();
  if (in.size < 16 || in.size % 8 != 0) return false;
  CtxPtr c;
  EVP_CIPHER_CTX_set_flags(c.p, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_DecryptInit_ex(c.p, wrap_for(kek.size, pad), nullptr, kek.data, nullptr) != 1) crypto_fail("unwrap init");
  out.assign(in.size, 0);
  int outl = 0, fin = 0;
  if (EVP_DecryptUpdate(c.p, out.data(), &outl, in.data, ilen(in.size)) != 1 || outl <= 0) {
    out.clear();
    return false;
  }
  if (EVP_DecryptFinal_ex(c.p, out.data() + outl, &fin) != 1) {
    out.clear();
    return false;
  }
  out.resize(static_cast<std::size_t>(outl + fin));
  return true;
}

Bytes hmac_sha256(ByteView key, ByteView msg) {
  Bytes out(32);
  std::size_t len = 0;
  if (!EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data, key.size, msg.data, msg.size,
                 out.data(), out.size(), &len) || len != 32)
    crypto_fail("HMAC-SHA256");
  return out;
}

Bytes sha256(ByteView msg) {
  Bytes out(32);
  unsigned int len = 32;
  if (EVP_Digest(msg.data, msg.size, out.data(), &len, EVP_sha256(), nullptr) != 1) crypto_fail("SHA-256");
  return out;
}

void random_bytes(std::uint8_t* buf, std::size_t len) {
  if (RAND_bytes(buf, ilen(len)) != 1)
    throw Error(sqlstate::kInternal, "could not generate random bytes (RAND_bytes failed)");
}

}  // namespace orgcrypt
