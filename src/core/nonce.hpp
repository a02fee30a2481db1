// Per-process nonce source: 96-bit random nonces cut from a buffer that one
// RAND_bytes call fills (RAND_bytes per value costs ~1 us in OpenSSL 3.0).
// The buffer belongs to the process that filled it: a pthread_atfork child
// handler bumps a fork generation, so a forked child discards an inherited
// buffer unused and refills it. A nonce is handed out once and never again.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace orgcrypt {

class NonceSource {
 public:
  static constexpr std::size_t kBatch = 256;  // nonces per RAND_bytes call
  NonceSource();
  ~NonceSource();
  NonceSource(const NonceSource&) = delete;
  NonceSource& operator=(const NonceSource&) = delete;

  // Copies the next unused 12-byte nonce into out.
  void next(std::uint8_t* out) {
    if (pos_ >= sizeof buf_ || gen_ != fork_generation()) refill();
    for (int i = 0; i < 12; i++) out[i] = buf_[pos_ + i];
    pos_ += 12;
  }
  std::uint64_t refills() const { return refills_; }
  pid_t owner() const { return owner_; }

  static std::uint64_t fork_generation();

 private:
  void refill();
  std::uint8_t buf_[kBatch * 12] = {};
  std::size_t pos_ = sizeof buf_;
  std::uint64_t gen_ = ~std::uint64_t{0};
  pid_t owner_ = 0;
  std::uint64_t refills_ = 0;
};

}  // namespace orgcrypt
