// AES-256-GCM with OpenSSL EVP, and AES key wrap (RFC 3394 / RFC 5649).
#pragma once
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>

#include "secure.hpp"

namespace orgcrypt {

constexpr std::size_t kKeyLen = 32;
constexpr std::size_t kNonceLen = 12;
constexpr std::size_t kTagLen = 16;

// One AES-256-GCM key with its encrypt and decrypt contexts initialised once
// (the key schedule is computed here, not per call). Not copyable. The EVP
// contexts are freed (and wiped by OpenSSL) in the destructor.
class AesGcm {
 public:
  explicit AesGcm(ByteView key);
  ~AesGcm();
  AesGcm(const AesGcm&) = delete;
  AesGcm& operator=(const AesGcm&) = delete;

  // Encrypts len bytes from pt into ct (may be the same buffer), writes the tag.
  void seal(const std::uint8_t* nonce, ByteView aad, const std::uint8_t* pt, std::size_t len,
            std::uint8_t* ct, std::uint8_t* tag);
  // Decrypts and authenticates; returns false on authentication failure (out
  // is then wiped).
  bool open(const std::uint8_t* nonce, ByteView aad, const std::uint8_t* ct, std::size_t len,
            const std::uint8_t* tag, std::uint8_t* pt);

 private:
  EVP_CIPHER_CTX* enc_ = nullptr;
  EVP_CIPHER_CTX* dec_ = nullptr;
};

// General GCM with any nonce and tag length (used for known-answer tests).
void gcm_encrypt(ByteView key, ByteView iv, ByteView aad, ByteView pt, Bytes& ct, Bytes& tag,
                 std::size_t tag_len);
bool gcm_decrypt(ByteView key, ByteView iv, ByteView aad, ByteView ct, ByteView tag, Bytes& pt);

// AES key wrap, RFC 3394 (input a multiple of 8 bytes, at least 16) and
// RFC 5649 (with padding, any length >= 1). Unwrap returns false on an
// integrity failure. Key length selects AES-128/192/256.
Bytes aes_key_wrap(ByteView kek, ByteView in, bool pad);
bool aes_key_unwrap(ByteView kek, ByteView in, bool pad, SecretBytes& out);

// HMAC-SHA256 and SHA-256.
Bytes hmac_sha256(ByteView key, ByteView msg);
Bytes sha256(ByteView msg);

// Fills buf with cryptographically strong random bytes or throws.
void random_bytes(std::uint8_t* buf, std::size_t len);

}  // namespace orgcrypt
