// The envelope format v1: round trips, overhead, and rejection of every
// truncation, every bit flip, and every mismatch of org or context.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "envelope.hpp"
#include "error.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using testutil::expect_error;

namespace {

constexpr const char* kBadText = "22P02";
constexpr const char* kAuth = "XX001";
constexpr const char* kBadParam = "22023";

Context no_ctx() { return Context{}; }
Context ctx_of(const std::string& s) {
  Context c;
  c.present = true;
  c.bytes = ByteView(s);
  return c;
}

class EnvelopeTest : public ::testing::Test {
 protected:
  EnvelopeTest() : key_(ByteView(Bytes(32, 0x42))) {}

  Bytes seal_(const std::string& org, const Context& ctx, const Bytes& pt, Kind kind = Kind::Bytea,
              std::uint32_t version = 1) {
    Bytes env(sealed_size(pt.size()));
    seal(key_, nonces_, aad_, kind, version, ByteView(org), ctx, ByteView(pt), env.data());
    return env;
  }
  Bytes open_(const Bytes& env, const std::string& org, const Context& ctx) {
    Header h = parse_header(env.data(), env.size());
    (void)h;
    Bytes out(env.size() - kOverhead);
    open(key_, aad_, env.data(), env.size(), ByteView(org), ctx, out.data());
    return out;
  }

  AesGcm key_;
  NonceSource nonces_;
  std::string aad_;
};

}  // namespace

TEST_F(EnvelopeTest, OverheadIs37) {
  EXPECT_EQ(kOverhead, 37u);
  EXPECT_EQ(sealed_size(0), 37u);
  EXPECT_EQ(sealed_size(100), 137u);
  Bytes env = seal_("org", no_ctx(), testutil::bytes_of("hello"));
  EXPECT_EQ(env.size(), 5u + 37u);
}

TEST_F(EnvelopeTest, HeaderLayout) {
  Bytes env = seal_("org", no_ctx(), testutil::bytes_of("x"), Kind::Text, 0x01020304);
  EXPECT_EQ(env[0], 0x4F);
  EXPECT_EQ(env[1], 0x43);
  EXPECT_EQ(env[2], 1);
  EXPECT_EQ(env[3], 1);
  EXPECT_EQ(env[4], 0);
  EXPECT_EQ(env[5], 1);
  EXPECT_EQ(env[6], 2);
  EXPECT_EQ(env[7], 3);
  EXPECT_EQ(env[8], 4);
  Header h = parse_header(env.data(), env.size());
  EXPECT_EQ(h.kind, Kind::Text);
  EXPECT_EQ(h.dek_version, 0x01020304u);
  Bytes env2 = seal_("org", no_ctx(), testutil::bytes_of("x"), Kind::Bytea, 7);
  h = parse_header(env2.data(), env2.size());
  EXPECT_EQ(h.kind, Kind::Bytea);
  EXPECT_EQ(h.dek_version, 7u);
}

TEST_F(EnvelopeTest, RoundTripKindsAndContexts) {
  const std::string empty;
  const std::vector<std::string> plains = {"", "a", "hello world", std::string("\0\x01\xff", 3),
                                           std::string(1000, 'z')};
  for (Kind kind : {Kind::Text, Kind::Bytea}) {
    for (int c = 0; c < 3; c++) {
      std::string cbytes = c == 2 ? "ctx:value" : "";
      Context ctx = c == 0 ? no_ctx() : ctx_of(cbytes);
      for (const auto& p : plains) {
        Bytes pt = testutil::bytes_of(p);
        Bytes env = seal_("tenant-1", ctx, pt, kind, 3);
        ASSERT_EQ(env.size(), pt.size() + 37);
        EXPECT_EQ(parse_header(env.data(), env.size()).kind, kind);
        EXPECT_EQ(open_(env, "tenant-1", ctx), pt);
      }
    }
  }
}

TEST_F(EnvelopeTest, RoundTripEmptyAndOneMiB) {
  Bytes empty;
  Bytes env = seal_("o", no_ctx(), empty);
  EXPECT_EQ(env.size(), 37u);
  EXPECT_TRUE(open_(env, "o", no_ctx()).empty());

  Bytes big(1 << 20);
  for (std::size_t i = 0; i < big.size(); i++) big[i] = static_cast<std::uint8_t>(i * 31 + (i >> 8));
  std::string c = "big";
  Bytes env2 = seal_("o", ctx_of(c), big);
  EXPECT_EQ(env2.size(), big.size() + 37);
  // The ciphertext does not contain the plaintext in the clear.
  EXPECT_NE(std::memcmp(env2.data() + 21, big.data(), 64), 0);
  EXPECT_EQ(open_(env2, "o", ctx_of(c)), big);
}

TEST_F(EnvelopeTest, MaxOrgLength) {
  std::string org255(255, 'q');
  Bytes env = seal_(org255, no_ctx(), testutil::bytes_of("v"));
  EXPECT_EQ(open_(env, org255, no_ctx()), testutil::bytes_of("v"));
  std::string org256(256, 'q');
  Bytes out(64);
  expect_error(kBadParam, [&] {
    seal(key_, nonces_, aad_, Kind::Text, 1, ByteView(org256), no_ctx(), ByteView(out.data(), 1), out.data());
  });
  expect_error(kBadParam, [&] {
    Bytes tmp(env.size() - kOverhead);
    open(key_, aad_, env.data(), env.size(), ByteView(org256), no_ctx(), tmp.data());
  });
  expect_error(kBadParam, [&] {
    Bytes tmp(env.size() - kOverhead);
    open(key_, aad_, env.data(), env.size(), ByteView(), no_ctx(), tmp.data());
  });
}

TEST_F(EnvelopeTest, NoncesDifferBetweenSeals) {
  Bytes pt = testutil::bytes_of("same plaintext");
  Bytes a = seal_("o", no_ctx(), pt), b = seal_("o", no_ctx(), pt);
  EXPECT_NE(Bytes(a.begin() + 9, a.begin() + 21), Bytes(b.begin() + 9, b.begin() + 21));
  EXPECT_NE(a, b);
}

// Every proper prefix of a sealed envelope is rejected: shorter than the
// 37-byte minimum by parse_header (22P02), longer by authentication (XX001).
TEST_F(EnvelopeTest, EveryTruncationRejected) {
  Bytes pt = testutil::bytes_of("a secret value of some length");
  Bytes env = seal_("org", ctx_of("c"), pt, Kind::Text, 5);
  std::string c = "c";
  int header_rejects = 0, auth_rejects = 0;
  for (std::size_t len = 0; len < env.size(); len++) {
    SCOPED_TRACE("length " + std::to_string(len));
    // A copy of exactly len bytes, so ASan catches any read past the end.
    Bytes cut(env.begin(), env.begin() + static_cast<std::ptrdiff_t>(len));
    const std::uint8_t* p = len ? cut.data() : nullptr;
    if (len < kOverhead) {
      expect_error(kBadText, [&] { parse_header(p, len); });
      Bytes out(1);
      expect_error(kBadText, [&] { open(key_, aad_, p, len, ByteView(std::string("org")), ctx_of(c), out.data()); });
      header_rejects++;
    } else {
      Header h = parse_header(cut.data(), len);  // the header itself is intact
      EXPECT_EQ(h.dek_version, 5u);
      Bytes out(len - kOverhead + 1, 0xEE);
      expect_error(kAuth, [&] { open(key_, aad_, cut.data(), len, ByteView(std::string("org")), ctx_of(c), out.data()); });
      // Nothing of the plaintext is left in the output buffer.
      for (std::size_t i = 0; i < len - kOverhead; i++) ASSERT_EQ(out[i], 0) << "byte " << i;
      auth_rejects++;
    }
  }
  EXPECT_EQ(header_rejects, 37);
  EXPECT_EQ(auth_rejects, static_cast<int>(pt.size()));
  EXPECT_EQ(open_(env, "org", ctx_of(c)), pt);
}

// Appending bytes is rejected too.
TEST_F(EnvelopeTest, ExtensionRejected) {
  Bytes env = seal_("org", no_ctx(), testutil::bytes_of("value"));
  for (int extra = 1; extra <= 17; extra++) {
    Bytes longer = env;
    longer.resize(env.size() + static_cast<std::size_t>(extra), 0);
    Bytes out(longer.size() - kOverhead);
    expect_error(kAuth, [&] { open(key_, aad_, longer.data(), longer.size(), ByteView(std::string("org")), no_ctx(), out.data()); });
  }
}

// Every single-bit flip anywhere in the envelope is rejected, by the header
// checks (22P02) or by authentication (XX001); nothing else is acceptable.
TEST_F(EnvelopeTest, EveryBitFlipRejected) {
  for (int withctx = 0; withctx < 2; withctx++) {
    std::string c = "row:17";
    Context ctx = withctx ? ctx_of(c) : no_ctx();
    Bytes pt = testutil::bytes_of("bit flip target, 32 bytes long!!");
    Bytes env = seal_("org-x", ctx, pt, Kind::Text, 9);
    int header = 0, auth = 0;
    for (std::size_t i = 0; i < env.size(); i++) {
      for (int b = 0; b < 8; b++) {
        Bytes m = env;
        m[i] ^= static_cast<std::uint8_t>(1u << b);
        Bytes out(m.size() - kOverhead);
        try {
          parse_header(m.data(), m.size());
          open(key_, aad_, m.data(), m.size(), ByteView(std::string("org-x")), ctx, out.data());
          ADD_FAILURE() << "bit " << b << " of byte " << i << " flipped and the envelope still opened";
        } catch (const Error& e) {
          std::string st = e.sqlstate();
          if (st == kBadText) header++;
          else if (st == kAuth) auth++;
          else ADD_FAILURE() << "byte " << i << " bit " << b << ": unexpected SQLSTATE " << st;
          // Header-only fields (magic, format, algorithm) must fail in the
          // header check, before any decryption.
          if (i < 4) {
            EXPECT_EQ(st, kBadText) << "byte " << i << " bit " << b;
          }
        }
      }
    }
    EXPECT_EQ(header + auth, static_cast<int>(env.size() * 8));
    // magic 16 + format 8 + alg 8 + kind 7 (bit 0 gives kind 1, valid) + version high bit 1.
    EXPECT_EQ(header, 16 + 8 + 8 + 7 + 1);
    EXPECT_EQ(open_(env, "org-x", ctx), pt);
  }
}

// The kind and version bytes are authenticated: rewriting them to other valid
// values fails authentication.
TEST_F(EnvelopeTest, HeaderFieldsAreAuthenticated) {
  Bytes env = seal_("org", no_ctx(), testutil::bytes_of("abc"), Kind::Text, 2);
  Bytes m = env;
  m[4] = 1;  // Text -> Bytea
  EXPECT_EQ(parse_header(m.data(), m.size()).kind, Kind::Bytea);
  expect_error(kAuth, [&] { open_(m, "org", no_ctx()); });
  m = env;
  m[8] = 3;  // version 2 -> 3
  EXPECT_EQ(parse_header(m.data(), m.size()).dek_version, 3u);
  expect_error(kAuth, [&] { open_(m, "org", no_ctx()); });
}

TEST_F(EnvelopeTest, WrongOrgOrContextFails) {
  std::string c1 = "ctx", c2 = "ctX", empty;
  Bytes pt = testutil::bytes_of("payload");
  Bytes with = seal_("acme", ctx_of(c1), pt);
  Bytes without = seal_("acme", no_ctx(), pt);
  Bytes with_empty = seal_("acme", ctx_of(empty), pt);

  EXPECT_EQ(open_(with, "acme", ctx_of(c1)), pt);
  EXPECT_EQ(open_(without, "acme", no_ctx()), pt);
  EXPECT_EQ(open_(with_empty, "acme", ctx_of(empty)), pt);

  expect_error(kAuth, [&] { open_(with, "acme2", ctx_of(c1)); }, "other org");
  expect_error(kAuth, [&] { open_(with, "acm", ctx_of(c1)); }, "prefix org");
  expect_error(kAuth, [&] { open_(with, "ACME", ctx_of(c1)); }, "org case");
  expect_error(kAuth, [&] { open_(with, "acme", ctx_of(c2)); }, "other context");
  expect_error(kAuth, [&] { open_(with, "acme", no_ctx()); }, "context present, opened without");
  expect_error(kAuth, [&] { open_(with, "acme", ctx_of(empty)); }, "context present, opened with ''");
  expect_error(kAuth, [&] { open_(without, "acme", ctx_of(empty)); }, "no context, opened with ''");
  expect_error(kAuth, [&] { open_(without, "acme", ctx_of(c1)); }, "no context, opened with one");
  expect_error(kAuth, [&] { open_(with_empty, "acme", no_ctx()); }, "'' context, opened without");
  expect_error(kAuth, [&] { open_(with_empty, "acme", ctx_of(c1)); }, "'' context, opened with other");
  expect_error(kAuth, [&] { open_(without, "other", no_ctx()); }, "other org, no context");

  // Another key fails as well.
  AesGcm other{ByteView(Bytes(32, 0x43))};
  Bytes out(pt.size());
  expect_error(kAuth, [&] { open(other, aad_, with.data(), with.size(), ByteView(std::string("acme")), ctx_of(c1), out.data()); });
}

TEST(EnvelopeAad, Unambiguous) {
  std::uint8_t header[kHeaderLen] = {0x4F, 0x43, 1, 1, 0, 0, 0, 0, 1};
  std::string a, b;
  std::string o1 = "a", c1 = "b:c", o2 = "a:b", c2 = "c";
  build_aad(a, header, ByteView(o1), ctx_of(c1));
  build_aad(b, header, ByteView(o2), ctx_of(c2));
  EXPECT_NE(a, b);

  // Concatenations that would collide without length prefixes.
  std::string o3 = "ab", c3 = "", o4 = "a", c4 = "b";
  build_aad(a, header, ByteView(o3), ctx_of(c3));
  build_aad(b, header, ByteView(o4), ctx_of(c4));
  EXPECT_NE(a, b);

  std::string empty;
  build_aad(a, header, ByteView(o1), no_ctx());
  build_aad(b, header, ByteView(o1), ctx_of(empty));
  EXPECT_NE(a, b);

  // The layout documented in envelope.hpp.
  build_aad(a, header, ByteView(o2), ctx_of(c2));
  std::string expect(reinterpret_cast<const char*>(header), kHeaderLen);
  expect += std::string("\0\0\0\3a:b\1\0\0\0\1c", 13);
  EXPECT_EQ(a, expect);
  build_aad(a, header, ByteView(o2), no_ctx());
  expect = std::string(reinterpret_cast<const char*>(header), kHeaderLen) + std::string("\0\0\0\3a:b\0", 8);
  EXPECT_EQ(a, expect);

  // The header is bound too.
  std::uint8_t header2[kHeaderLen] = {0x4F, 0x43, 1, 1, 1, 0, 0, 0, 1};
  build_aad(a, header, ByteView(o1), no_ctx());
  build_aad(b, header2, ByteView(o1), no_ctx());
  EXPECT_NE(a, b);
}

TEST(EnvelopeHeader, BadFieldsGive22P02) {
  Bytes good = {0x4F, 0x43, 1, 1, 0, 0, 0, 0, 1};
  good.resize(kOverhead + 4, 0);
  EXPECT_NO_THROW(parse_header(good.data(), good.size()));

  auto bad = [&](std::size_t idx, std::uint8_t v, const char* must_say) {
    Bytes m = good;
    m[idx] = v;
    std::string msg = expect_error(kBadText, [&] { parse_header(m.data(), m.size()); });
    EXPECT_NE(msg.find(must_say), std::string::npos) << msg;
  };
  bad(0, 'X', "magic");
  bad(1, 'X', "magic");
  bad(2, 0, "format version");
  bad(2, 2, "format version");
  bad(2, 255, "format version");
  bad(3, 0, "algorithm");
  bad(3, 2, "algorithm");
  bad(4, 2, "kind");
  bad(4, 255, "kind");
  bad(8, 0, "version");  // DEK version 0

  Bytes m = good;
  m[5] = 0x80;  // DEK version >= 2^31
  expect_error(kBadText, [&] { parse_header(m.data(), m.size()); });
  m[5] = 0x7F;
  m[6] = m[7] = m[8] = 0xFF;
  EXPECT_EQ(parse_header(m.data(), m.size()).dek_version, 0x7FFFFFFFu);

  // An unknown format version is reported as such even when the rest is short
  // (a newer format may have another layout).
  Bytes v2 = {0x4F, 0x43, 2};
  std::string msg = expect_error(kBadText, [&] { parse_header(v2.data(), v2.size()); });
  EXPECT_NE(msg.find("format version 2"), std::string::npos) << msg;

  expect_error(kBadText, [&] { parse_header(nullptr, 0); });
}

TEST(EnvelopeOrg, CheckOrg) {
  expect_error(kBadParam, [] { check_org(0); });
  expect_error(kBadParam, [] { check_org(256); });
  expect_error(kBadParam, [] { check_org(100000); });
  EXPECT_NO_THROW(check_org(1));
  EXPECT_NO_THROW(check_org(255));
}

TEST(EnvelopeWrapAad, BindsOrgAndVersion) {
  std::string a = "a", ab = "ab", b = "b";
  EXPECT_NE(wrap_aad(ByteView(a), 1), wrap_aad(ByteView(a), 2));
  EXPECT_NE(wrap_aad(ByteView(a), 1), wrap_aad(ByteView(b), 1));
  EXPECT_NE(wrap_aad(ByteView(a), 1), wrap_aad(ByteView(ab), 1));
  EXPECT_EQ(wrap_aad(ByteView(a), 1), wrap_aad(ByteView(a), 1));
  // Length-prefixed: "a" + version 0x62000000 vs "ab" + ... cannot collide.
  EXPECT_NE(wrap_aad(ByteView(a), 0x62000000u), wrap_aad(ByteView(ab), 0));
}

// The AAD is built in a stack buffer when it fits and in a string otherwise:
// both paths must give the same AAD as build_aad (checked by authenticating
// across them) and bind the whole context, around the boundary.
TEST_F(EnvelopeTest, LongContextsAroundTheStackBoundary) {
  const std::string org(255, 'o');
  for (std::size_t len : {0u, 100u, 200u, 233u, 234u, 235u, 236u, 300u, 5000u}) {
    std::string c(len, 'c');
    Bytes env = seal_(org, ctx_of(c), testutil::bytes_of("payload"));
    EXPECT_EQ(open_(env, org, ctx_of(c)), testutil::bytes_of("payload")) << len;
    // the AAD equals build_aad's encoding: a GCM over it with the same nonce
    // gives the same tag
    std::string ref;
    build_aad(ref, env.data(), ByteView(org), ctx_of(c));
    Bytes ct, tag;
    gcm_encrypt(ByteView(Bytes(32, 0x42)), ByteView(env.data() + kHeaderLen, kNonceLen), ByteView(ref),
                ByteView(testutil::bytes_of("payload")), ct, tag, 16);
    EXPECT_EQ(0, std::memcmp(tag.data(), env.data() + env.size() - kTagLen, kTagLen)) << len;
    if (len > 0) {
      std::string other = c;
      other[len - 1] = 'd';
      expect_error(kAuth, [&] { open_(env, org, ctx_of(other)); });
    }
  }
}
