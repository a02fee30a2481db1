// The strict base64 codec of the ciphertext text form: RFC 4648 vectors,
// OpenSSL's EVP_EncodeBlock as the independent encoder, whitespace and line
// wrapping, and every kind of malformed input refused.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "base64.hpp"
#include "secure.hpp"

using namespace orgcrypt;

namespace {

// Encodes with our encoder into a buffer of exactly b64_encoded_len(n).
std::string enc(const Bytes& in) {
  std::size_t len = 0;
  EXPECT_TRUE(b64_encoded_len_ok(in.size(), 0x3fffffff, &len));
  EXPECT_EQ(len, b64_encoded_len(in.size()));
  std::vector<char> buf(len);  // exact size: ASan catches any overrun
  b64_encode(in.data(), in.size(), buf.data());
  return std::string(buf.begin(), buf.end());
}

// OpenSSL's encoder (no line breaks, padded): the independent reference.
std::string ossl_enc(const Bytes& in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(&out[0]), in.data(), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// Decodes s from a heap copy of exactly s.size() bytes (no NUL after it)
// into a buffer of exactly b64_decoded_max(s.size()) bytes.
bool dec(const std::string& s, Bytes& out) {
  std::vector<char> in(s.begin(), s.end());
  std::vector<std::uint8_t> buf(b64_decoded_max(s.size()));
  std::size_t n = 12345;
  bool ok = b64_decode(in.data(), in.size(), buf.data(), &n);
  if (ok) {
    EXPECT_LE(n, buf.size());
    out.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
  } else {
    EXPECT_EQ(n, 12345u) << "out_len written on failure";
  }
  return ok;
}

bool refuses(const std::string& s) {
  Bytes out;
  return !dec(s, out);
}

Bytes random_bytes_of(std::mt19937& rng, std::size_t n) {
  Bytes b(n);
  for (auto& x : b) x = static_cast<std::uint8_t>(rng());
  return b;
}

// Inserts a line break every `col` characters (as PostgreSQL's encode()).
std::string wrap_lines(const std::string& s, std::size_t col, const std::string& nl) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); i += col) {
    if (i) out += nl;
    out += s.substr(i, col);
  }
  return out;
}

std::string strip_ws(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\v' && c != '\f') out.push_back(c);
  return out;
}

const char kAlpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> v[] = {
      {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& t : v) {
    SCOPED_TRACE(t.first);
    Bytes in(t.first, t.first + std::strlen(t.first));
    EXPECT_EQ(enc(in), t.second);
    EXPECT_EQ(ossl_enc(in), t.second);
    Bytes out{1, 2, 3};
    ASSERT_TRUE(dec(t.second, out));
    EXPECT_EQ(out, in);
  }
}

TEST(Base64, EmptyAndWhitespaceOnlyDecodeToNothing) {
  Bytes out{9};
  ASSERT_TRUE(dec("", out));
  EXPECT_TRUE(out.empty());
  std::size_t n = 7;
  EXPECT_TRUE(b64_decode(nullptr, 0, nullptr, &n));
  EXPECT_EQ(n, 0u);
  ASSERT_TRUE(dec(" \t\n\r\v\f ", out));
  EXPECT_TRUE(out.empty());
}

TEST(Base64, EncoderMatchesOpenSslForLengths0To300) {
  std::mt19937 rng(4648);
  for (std::size_t n = 0; n <= 300; n++) {
    SCOPED_TRACE(n);
    Bytes in = random_bytes_of(rng, n);
    std::string e = enc(in);
    EXPECT_EQ(e.size(), 4 * ((n + 2) / 3));
    EXPECT_EQ(e, ossl_enc(in));
    Bytes back;
    ASSERT_TRUE(dec(e, back));
    EXPECT_EQ(back, in);
  }
}

TEST(Base64, EncodedLengthNeverWraps) {
  const std::size_t kMax = std::numeric_limits<std::size_t>::max();
  const std::size_t kLimit = 0x3fffffff;  // PostgreSQL's MaxAllocSize
  std::size_t out = 42;
  EXPECT_FALSE(b64_encoded_len_ok(kMax / 2, kLimit, &out));
  EXPECT_EQ(out, 42u);
  EXPECT_FALSE(b64_encoded_len_ok(kMax, kLimit, &out));
  EXPECT_FALSE(b64_encoded_len_ok(kMax, kMax, &out));  // 4/3 of it does not fit in size_t
  EXPECT_FALSE(b64_encoded_len_ok(kMax / 4 * 3 + 1, kMax, &out));
  EXPECT_EQ(out, 42u);
  // SIZE_MAX/2 = 3q + 1: the exact length, computed without wrapping.
  ASSERT_EQ((kMax / 2) % 3, 1u);
  EXPECT_EQ(b64_encoded_len(kMax / 2), (kMax / 2) / 3 * 4 + 4);
  EXPECT_GT(b64_encoded_len(kMax / 2), kMax / 2);
  EXPECT_EQ(b64_encoded_len(kMax), kMax);  // does not fit: saturates
  EXPECT_EQ(b64_encoded_len(kMax / 4 * 3 + 1), kMax);

  // The boundaries, exactly.
  const std::size_t k = kMax / 4;
  ASSERT_TRUE(b64_encoded_len_ok(3 * k, kMax, &out));
  EXPECT_EQ(out, 4 * k);
  EXPECT_FALSE(b64_encoded_len_ok(3 * k + 1, kMax, &out));
  const std::size_t g = kLimit / 4;  // 0x0fffffff groups: 0x3ffffffc characters
  ASSERT_TRUE(b64_encoded_len_ok(3 * g, kLimit, &out));
  EXPECT_EQ(out, 0x3ffffffcu);
  EXPECT_FALSE(b64_encoded_len_ok(3 * g + 1, kLimit, &out));
  EXPECT_FALSE(b64_encoded_len_ok(1, 3, &out));
  ASSERT_TRUE(b64_encoded_len_ok(1, 4, &out));
  EXPECT_EQ(out, 4u);
  ASSERT_TRUE(b64_encoded_len_ok(0, 0, &out));
  EXPECT_EQ(out, 0u);
  for (std::size_t n = 0; n < 100; n++) EXPECT_EQ(b64_encoded_len(n), 4 * ((n + 2) / 3)) << n;

  // The decoded bound never exceeds the input and is exact for whole groups.
  EXPECT_EQ(b64_decoded_max(0), 0u);
  EXPECT_EQ(b64_decoded_max(3), 0u);
  EXPECT_EQ(b64_decoded_max(4), 3u);
  EXPECT_EQ(b64_decoded_max(kMax), (kMax / 4) * 3);
}

TEST(Base64, WhitespaceAnywhereIsIgnored) {
  const Bytes foobar{'f', 'o', 'o', 'b', 'a', 'r'};
  const Bytes fooba{'f', 'o', 'o', 'b', 'a'};
  const Bytes foob{'f', 'o', 'o', 'b'};
  const char* spaces[] = {" ", "\t", "\n", "\r", "\v", "\f", "\r\n", " \t\n\r\v\f"};
  struct V {
    std::string enc;
    Bytes plain;
  };
  const V vs[] = {{"Zm9vYmFy", foobar}, {"Zm9vYmE=", fooba}, {"Zm9vYg==", foob}};
  for (const auto& v : vs) {
    for (const char* ws : spaces) {
      // One run of whitespace at every position, including before the first
      // and after the last character and between the two '='.
      for (std::size_t pos = 0; pos <= v.enc.size(); pos++) {
        std::string s = v.enc;
        s.insert(pos, ws);
        SCOPED_TRACE(testing::PrintToString(s));
        Bytes out;
        ASSERT_TRUE(dec(s, out));
        EXPECT_EQ(out, v.plain);
      }
      // Whitespace between every character.
      std::string s;
      for (char c : v.enc) {
        s += ws;
        s.push_back(c);
      }
      s += ws;
      Bytes out;
      ASSERT_TRUE(dec(s, out)) << testing::PrintToString(s);
      EXPECT_EQ(out, v.plain);
    }
  }
}

TEST(Base64, LineWrappedLongBuffersDecode) {
  std::mt19937 rng(76);
  for (std::size_t n : {57u, 58u, 100u, 1000u, 4096u, 4097u, 4098u, 65537u}) {
    SCOPED_TRACE(n);
    Bytes in = random_bytes_of(rng, n);
    const std::string flat = ossl_enc(in);  // independent encoder
    ASSERT_EQ(enc(in), flat);
    // PostgreSQL's encode(..., 'base64'): 76 characters per line, "\n".
    for (const char* nl : {"\n", "\r\n"}) {
      std::string wrapped = wrap_lines(flat, 76, nl);
      if (n > 57) {
        ASSERT_NE(wrapped.find(nl), std::string::npos);
      }
      Bytes out;
      ASSERT_TRUE(dec(wrapped, out));
      EXPECT_EQ(out, in);
      ASSERT_TRUE(dec(wrapped + nl, out));  // with a final line break too
      EXPECT_EQ(out, in);
    }
    // PEM-style output of OpenSSL's streaming encoder (64-column lines).
    EVP_ENCODE_CTX* ctx = EVP_ENCODE_CTX_new();
    ASSERT_NE(ctx, nullptr);
    std::string pem(n * 2 + 100, '\0');
    int len = 0, total = 0;
    EVP_EncodeInit(ctx);
    ASSERT_EQ(EVP_EncodeUpdate(ctx, reinterpret_cast<unsigned char*>(&pem[0]), &len, in.data(),
                               static_cast<int>(in.size())),
              1);
    total = len;
    EVP_EncodeFinal(ctx, reinterpret_cast<unsigned char*>(&pem[static_cast<std::size_t>(total)]), &len);
    total += len;
    EVP_ENCODE_CTX_free(ctx);
    pem.resize(static_cast<std::size_t>(total));
    EXPECT_EQ(strip_ws(pem), flat);
    Bytes out;
    ASSERT_TRUE(dec(pem, out));
    EXPECT_EQ(out, in);
  }
}

TEST(Base64, MalformedInputRefused) {
  const std::vector<std::string> bad = {
      // padding in the wrong place
      "=", "==", "===", "====", "=Zg=", "Z===", "Zg==Zg==", "Zg==Zm9v", "Zm8=Zm8=", "Zm=v", "Zm9v=", "Zm9v==",
      "Zm9v====", "Zg===", "Zg== =", "Zm8==", "Zg==A", "Zg==\n=", "Zm9vY===",
      // incomplete groups
      "Z", "Zg", "Zg=", "Zm9", "Zm9vY", "Zm9vYg", "Zm9vYg=", "Zm9vYmE", " Zg= ",
      // non-zero unused bits
      "Zh==", "Zm9=", "Zm9vYmF=", "Zm9vYh==", "AB==", "AAB=", "//==", "///=",
      // characters outside the standard alphabet
      "Zm9-", "Zm9_", "Zm9*", "Zm9v!mFy", "Zm9v.mFy", "Zm9v\xff" "mFy", "Zm9v\x80" "mFy", "Zm9v\bmFy",
      "Zm9v\x1b" "mFy", "Zm9v\x7f" "mFy", "-_-_", "Zm9v:", "Zm9v,", std::string("Zm9v\0YmFy", 9),
      std::string("Zg==\0", 5), std::string("\0", 1), std::string("Zm9vYmFy\0", 9),
  };
  for (const auto& s : bad) EXPECT_TRUE(refuses(s)) << testing::PrintToString(s);
  // A NUL is never a terminator: "Zm9v" followed by NUL and more must not
  // decode as "foo".
  Bytes out;
  EXPECT_FALSE(dec(std::string("Zm9v\0\0\0\0", 8), out));
}

TEST(Base64, UnusedBitsMustBeZeroExhaustive) {
  // "Q?==": the second digit carries 2 bits of the byte and 4 unused bits.
  int accepted = 0;
  for (int i = 0; i < 64; i++) {
    std::string s = std::string("Q") + kAlpha[i] + "==";
    Bytes out;
    bool ok = dec(s, out);
    EXPECT_EQ(ok, (i & 15) == 0) << s;
    if (ok) {
      accepted++;
      ASSERT_EQ(out.size(), 1u);
      EXPECT_EQ(enc(out), s);
    }
  }
  EXPECT_EQ(accepted, 4);
  // "QUJ?=" style: the third digit carries 4 bits and 2 unused bits.
  accepted = 0;
  for (int i = 0; i < 64; i++) {
    std::string s = std::string("Zm9vYm") + kAlpha[i] + "=";
    Bytes out;
    bool ok = dec(s, out);
    EXPECT_EQ(ok, (i & 3) == 0) << s;
    if (ok) {
      accepted++;
      ASSERT_EQ(out.size(), 5u);
      EXPECT_EQ(enc(out), s);
    }
  }
  EXPECT_EQ(accepted, 16);
}

// Every accepted input is the canonical encoding of what it decodes to (once
// whitespace is removed), and agrees with OpenSSL's decoder; mutations of
// valid encodings exercise the refusals.
TEST(Base64, RandomMutationsAreCanonicalOrRefused) {
  std::mt19937 rng(2024);
  const char extra[] = "= \n\t-_*!\0\xff";
  int accepted = 0, refused = 0;
  for (int iter = 0; iter < 20000; iter++) {
    Bytes in = random_bytes_of(rng, rng() % 20);
    std::string s = ossl_enc(in);
    int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; e++) {
      std::size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
      char c = (rng() % 2) ? kAlpha[rng() % 64] : extra[rng() % (sizeof extra - 1)];
      switch (rng() % 3) {
        case 0: s.insert(pos, 1, c); break;
        case 1: if (pos < s.size()) s[pos] = c; break;
        default: if (pos < s.size()) s.erase(pos, 1); break;
      }
    }
    Bytes out;
    if (!dec(s, out)) {
      refused++;
      continue;
    }
    accepted++;
    const std::string flat = strip_ws(s);
    EXPECT_EQ(enc(out), flat) << testing::PrintToString(s);
    // OpenSSL's decoder counts padding as zero bytes; drop them.
    std::vector<unsigned char> ref(flat.size());
    int r = EVP_DecodeBlock(ref.data(), reinterpret_cast<const unsigned char*>(flat.data()),
                            static_cast<int>(flat.size()));
    ASSERT_GE(r, 0) << testing::PrintToString(s);
    std::size_t pads = 0;
    for (std::size_t k = flat.size(); k > 0 && flat[k - 1] == '='; k--) pads++;
    EXPECT_EQ(Bytes(ref.begin(), ref.begin() + (r - static_cast<int>(pads))), out)
        << testing::PrintToString(s);
  }
  EXPECT_GT(accepted, 1000);
  EXPECT_GT(refused, 1000);
}
