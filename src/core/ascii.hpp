// Fast check for the common case of decrypted text: every byte in 1..0x7F
// (valid UTF-8 without NUL). Anything else goes to PostgreSQL's full check.
#pragma once
#include <cstdint>
#include <cstring>

namespace orgcrypt {

inline bool plain_ascii(const char* p, std::size_t n) {
  // For a word whose bytes are all in 1..0x7F, neither w nor w - 0x01..01
  // (no byte borrows) has a high bit set; a 0x00 byte becomes 0xFF and a
  // byte >= 0x80 keeps its high bit. OR-accumulated: no branch in the loop.
  std::uint64_t acc = 0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, p + i, 8);
    acc |= (w - 0x0101010101010101ULL) | w;
  }
  for (; i < n; i++) {
    auto c = static_cast<std::uint8_t>(p[i]);
    acc |= static_cast<std::uint8_t>(c - 1) | c;
  }
  return (acc & 0x8080808080808080ULL) == 0;
}

}  // namespace orgcrypt
