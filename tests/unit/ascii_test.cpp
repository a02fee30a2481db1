// plain_ascii against a byte-by-byte reference, on random strings with
// injected NULs and high bytes at every position and length.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "ascii.hpp"

namespace {
bool reference(const std::string& s) {
  for (unsigned char c : s)
    if (c == 0 || c >= 0x80) return false;
  return true;
}
}  // namespace

TEST(PlainAscii, MatchesReference) {
  std::mt19937 rng(7);
  int ascii_cases = 0;
  for (int t = 0; t < 300000; t++) {
    std::string s(rng() % 40, 'a');
    for (auto& c : s) c = static_cast<char>(1 + rng() % 127);
    for (unsigned k = rng() % 3; k > 0 && !s.empty(); k--) {
      unsigned v = rng() % 3;
      s[rng() % s.size()] = v == 0 ? '\0' : v == 1 ? static_cast<char>(0x80 + rng() % 128) : 'x';
    }
    ASSERT_EQ(orgcrypt::plain_ascii(s.data(), s.size()), reference(s)) << t;
    ascii_cases += reference(s);
  }
  EXPECT_GT(ascii_cases, 50000);
}

TEST(PlainAscii, EdgeBytes) {
  for (int len = 0; len <= 17; len++)
    for (int pos = 0; pos < len; pos++)
      for (int b : {0x00, 0x01, 0x7F, 0x80, 0xC3, 0xFF}) {
        std::string s(len, 'a');
        s[pos] = static_cast<char>(b);
        EXPECT_EQ(orgcrypt::plain_ascii(s.data(), s.size()), b >= 1 && b <= 0x7F) << len << " " << pos << " " << b;
      }
}
