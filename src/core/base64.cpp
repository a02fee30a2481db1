#include "base64.hpp"

#include <cstdint>
#include <limits>

namespace orgcrypt {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Decoding classes: 0..63 a digit's value, else one of these.
constexpr std::int8_t kInvalid = -1;
constexpr std::int8_t kSpace = -2;
constexpr std::int8_t kPad = -3;

struct DecodeTable {
  std::int8_t v[256];
  constexpr DecodeTable() : v() {
    for (int i = 0; i < 256; i++) v[i] = kInvalid;
    for (int i = 0; i < 64; i++) v[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
    v[static_cast<unsigned char>(' ')] = kSpace;
    v[static_cast<unsigned char>('\t')] = kSpace;
    v[static_cast<unsigned char>('\n')] = kSpace;
    v[static_cast<unsigned char>('\r')] = kSpace;
    v[static_cast<unsigned char>('\v')] = kSpace;
    v[static_cast<unsigned char>('\f')] = kSpace;
    v[static_cast<unsigned char>('=')] = kPad;
  }
};

constexpr DecodeTable kDecode;

}  // namespace

bool b64_encoded_len_ok(std::size_t n, std::size_t limit, std::size_t* out) {
  const std::size_t groups = n / 3;
  const std::size_t tail = (n % 3) ? 4 : 0;
  if (limit < tail) return false;
  if (groups > (limit - tail) / 4) return false;
  *out = groups * 4 + tail;
  return true;
}

std::size_t b64_encoded_len(std::size_t n) {
  std::size_t len;
  if (!b64_encoded_len_ok(n, std::numeric_limits<std::size_t>::max(), &len))
    return std::numeric_limits<std::size_t>::max();
  return len;
}

void b64_encode(const std::uint8_t* in, std::size_t n, char* out) {
  std::size_t i = 0;
  for (; n - i >= 3; i += 3) {
    std::uint32_t w = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
    *out++ = kAlphabet[(w >> 18) & 63];
    *out++ = kAlphabet[(w >> 12) & 63];
    *out++ = kAlphabet[(w >> 6) & 63];
    *out++ = kAlphabet[w & 63];
  }
  if (n - i == 1) {
    std::uint32_t w = std::uint32_t{in[i]} << 16;
    *out++ = kAlphabet[(w >> 18) & 63];
    *out++ = kAlphabet[(w >> 12) & 63];
    *out++ = '=';
    *out++ = '=';
  } else if (n - i == 2) {
    std::uint32_t w = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
    *out++ = kAlphabet[(w >> 18) & 63];
    *out++ = kAlphabet[(w >> 12) & 63];
    *out++ = kAlphabet[(w >> 6) & 63];
    *out++ = '=';
  }
}

std::size_t b64_decoded_max(std::size_t n) { return (n / 4) * 3; }

bool b64_decode(const char* in, std::size_t n, std::uint8_t* out, std::size_t* out_len) {
  std::uint8_t* o = out;
  std::uint32_t quad[4];
  int q = 0;         // significant characters in the current group
  int pads = 0;      // '=' seen in the current group
  bool done = false;  // a padded group ended: nothing significant may follow
  for (std::size_t i = 0; i < n; i++) {
    const std::int8_t c = kDecode.v[static_cast<unsigned char>(in[i])];
    if (c == kSpace) continue;
    if (c == kInvalid || done) return false;
    if (c == kPad) {
      // "xx==" or "xxx=": padding only in the last two places of a group,
      // and once it starts the group is padding to its end.
      if (q < 2) return false;
      pads++;
      q++;
    } else {
      if (pads) return false;  // a digit after '=' ("xx=x")
      quad[q++] = static_cast<std::uint32_t>(c);
    }
    if (q < 4) continue;
    if (pads == 0) {
      std::uint32_t w = (quad[0] << 18) | (quad[1] << 12) | (quad[2] << 6) | quad[3];
      *o++ = static_cast<std::uint8_t>(w >> 16);
      *o++ = static_cast<std::uint8_t>(w >> 8);
      *o++ = static_cast<std::uint8_t>(w);
    } else if (pads == 2) {
      if (quad[1] & 0x0f) return false;  // unused bits must be zero
      *o++ = static_cast<std::uint8_t>((quad[0] << 2) | (quad[1] >> 4));
      done = true;
    } else {  // one '='
      if (quad[2] & 0x03) return false;
      std::uint32_t w = (quad[0] << 18) | (quad[1] << 12) | (quad[2] << 6);
      *o++ = static_cast<std::uint8_t>(w >> 16);
      *o++ = static_cast<std::uint8_t>(w >> 8);
      done = true;
    }
    q = 0;
    pads = 0;
  }
  if (q != 0) return false;  // not a whole number of groups
  *out_len = static_cast<std::size_t>(o - out);
  return true;
}

}  // namespace orgcrypt
