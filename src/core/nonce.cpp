#include "nonce.hpp"

#include <openssl/crypto.h>
#include <pthread.h>
#include <unistd.h>

#include "aead.hpp"

namespace orgcrypt {

namespace {
volatile std::uint64_t g_fork_gen = 0;
void on_fork_child() { g_fork_gen = g_fork_gen + 1; }
struct AtForkRegistration {
  AtForkRegistration() { pthread_atfork(nullptr, nullptr, on_fork_child); }
};
}  // namespace

std::uint64_t NonceSource::fork_generation() { return g_fork_gen; }

NonceSource::NonceSource() {
  static AtForkRegistration once;
  (void)once;
}

NonceSource::~NonceSource() { OPENSSL_cleanse(buf_, sizeof buf_); }

void NonceSource::refill() {
  OPENSSL_cleanse(buf_, sizeof buf_);
  pos_ = sizeof buf_;
  random_bytes(buf_, sizeof buf_);
  gen_ = fork_generation();
  owner_ = ::getpid();
  pos_ = 0;
  refills_++;
}

}  // namespace orgcrypt
