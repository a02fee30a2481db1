// libFuzzer target for the KMIP TTLV decoder (src/core/ttlv.cpp).
//
// Build (clang only):
//   CC=clang CXX=clang++ cmake -S . -B build-fuzz -DORGCRYPT_FUZZ=ON -DORGCRYPT_TESTS=OFF
//   cmake --build build-fuzz --target fuzz_ttlv
//   ./build-fuzz/fuzz_ttlv -dict=tests/fuzz/fuzz_ttlv.dict -max_total_time=60
//
// Every input is decoded under small limits (so the limits are reached) and
// under the defaults. orgcrypt::Error with SQLSTATE 58000 is the only
// acceptable refusal. Whatever decodes must encode to exactly the input (TTLV
// has one encoding per tree) and decode again to the same tree.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "error.hpp"
#include "ttlv.hpp"

using namespace orgcrypt;

namespace {

void check(const std::uint8_t* data, std::size_t size, const ttlv::Limits& lim) {
  ttlv::Item it;
  try {
    it = ttlv::decode(ByteView(data, size), lim);
  } catch (const Error& e) {
    if (std::strcmp(e.sqlstate(), "58000") != 0) std::abort();
    if (std::strncmp(e.what(), "KMIP: malformed response: ", 26) != 0) std::abort();
    return;
  }
  SecretBytes enc = ttlv::encode(it);
  if (enc.size() != size || std::memcmp(enc.data(), data, size) != 0) std::abort();
  ttlv::Item again = ttlv::decode(enc, lim);
  SecretBytes enc2 = ttlv::encode(again);
  if (enc2 != enc) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ttlv::Limits small;
  small.max_message = 4096;
  small.max_depth = 4;
  small.max_items = 64;
  check(data, size, small);
  check(data, size, ttlv::Limits{});
  return 0;
}
