// create_wrapped_dek: wrap once, verify before writing. A real file provider,
// a real file replaced mid-creation, and fake providers whose key or unwrap
// misbehaves: a DEK that does not come back is never returned for storage.
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dek_create.hpp"
#include "envelope.hpp"
#include "error.hpp"
#include "keyring.hpp"
#include "provider.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using testutil::expect_error;
using testutil::tohex;

namespace {

constexpr const char* kSys = "58000";
constexpr const char* kNotStored = "did not return the data key it wrapped: the new key was not stored";

Bytes kek_n(int n) {
  Bytes k(32);
  for (int i = 0; i < 32; i++) k[i] = static_cast<std::uint8_t>(n * 71 + i * 13 + 5);
  return k;
}

Bytes B(const SecretBytes& s) { return Bytes(s.begin(), s.end()); }

// What a fake does wrong.
enum class Fault { None, UnwrapFlipsAByte, UnwrapThrows, WrapThrows };

// An AES-key-wrap provider with a KEK given at construction; it records every
// DEK it is asked to wrap (to check that no message leaks it).
class FakeProvider final : public KeyProvider {
 public:
  FakeProvider(std::string uri, Bytes kek, Bytes fp, Fault fault, std::vector<Bytes>* wrapped_deks)
      : uri_(std::move(uri)), kek_(std::move(kek)), fp_(std::move(fp)), fault_(fault), seen_(wrapped_deks) {}
  const std::string& uri() const override { return uri_; }
  void validate() override {}
  Bytes fingerprint() override { return fp_; }
  Bytes wrap(ByteView dek, ByteView aad) override {
    if (fault_ == Fault::WrapThrows) throw Error(kSys, "fake provider \"" + uri_ + "\" refused to wrap");
    if (seen_) seen_->emplace_back(dek.data, dek.data + dek.size);
    return keywrap_with_aad(ByteView(kek_), dek, aad);
  }
  SecretBytes unwrap(ByteView blob, ByteView aad) override {
    if (fault_ == Fault::UnwrapThrows) throw Error(kSys, "fake provider \"" + uri_ + "\" is unreachable");
    SecretBytes dek;
    if (!keyunwrap_with_aad(ByteView(kek_), blob, aad, dek))
      throw Error(kSys, "fake provider \"" + uri_ + "\" could not unwrap a DEK");
    if (fault_ == Fault::UnwrapFlipsAByte) dek[7] ^= 0x20;
    return dek;
  }

 private:
  std::string uri_;
  Bytes kek_, fp_;
  Fault fault_;
  std::vector<Bytes>* seen_;
};

// A factory for fakes that counts the objects it opens.
struct FakeFactory {
  int opens = 0;
  bool key_changes_per_open = false;  // open n uses K_n (else always K_1)
  Fault fault = Fault::None;
  std::vector<Bytes> wrapped_deks;
  std::vector<Bytes> keks;

  OpenProvider fn() {
    return [this](const std::string& uri) -> std::unique_ptr<KeyProvider> {
      opens++;
      Bytes k = kek_n(key_changes_per_open ? opens : 1);
      keks.push_back(k);
      return std::make_unique<FakeProvider>(uri, k, kek_fingerprint(ByteView(k)), fault, &wrapped_deks);
    };
  }
};

void expect_no_bytes(const std::string& msg, const Bytes& b) {
  std::string h = tohex(b);
  for (std::size_t i = 0; i + 16 <= h.size(); i += 8) {
    EXPECT_EQ(msg.find(h.substr(i, 16)), std::string::npos) << "key bytes (hex) in: " << msg;
    EXPECT_EQ(msg.find(testutil::upper(h.substr(i, 16))), std::string::npos) << "key bytes (HEX) in: " << msg;
  }
  EXPECT_EQ(msg.find(testutil::str_of(Bytes(b.begin(), b.begin() + 8))), std::string::npos) << msg;
}

DekRow row_of(const NewDek& d, const std::string& uri, std::uint32_t version) {
  DekRow r;
  r.version = version;
  r.state = DekState::Active;
  r.wrapped = d.wrapped;
  r.kek_uri = uri;
  r.kek_fp = d.kek_fp;
  return r;
}

class DekCreateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kek_ = kek_n(100);
    path_ = dir_.file("master.key");
    testutil::write_file(path_, tohex(kek_) + "\n", 0600);
    uri_ = "file:" + path_;
  }
  testutil::TempDir dir_;
  Bytes kek_;
  std::string path_, uri_;
  const std::string org_ = "acme";
};

}  // namespace

// (1) A real file provider: the DEK comes back through unwrap_row.
TEST_F(DekCreateTest, FileProviderRoundTrip) {
  NewDek d = create_wrapped_dek(uri_, ByteView(org_), 1);
  ASSERT_EQ(d.dek.size(), kKeyLen);
  EXPECT_EQ(d.wrapped.size(), 72u);
  EXPECT_EQ(d.kek_fp, kek_fingerprint(ByteView(kek_)));
  SecretBytes back = unwrap_row(ByteView(org_), row_of(d, uri_, 1));
  EXPECT_EQ(B(back), B(d.dek));
  // Wrapped with the wrap AAD of this org and version, under the file's key.
  SecretBytes via;
  ASSERT_TRUE(keyunwrap_with_aad(ByteView(kek_), ByteView(d.wrapped), ByteView(wrap_aad(ByteView(org_), 1)), via));
  EXPECT_EQ(B(via), B(d.dek));
  EXPECT_FALSE(keyunwrap_with_aad(ByteView(kek_), ByteView(d.wrapped), ByteView(wrap_aad(ByteView(org_), 2)), via));
  EXPECT_EQ(tohex(d.wrapped).find(tohex(d.dek)), std::string::npos);

  // Fresh random DEKs each time.
  NewDek d2 = create_wrapped_dek(uri_, ByteView(org_), 2);
  EXPECT_NE(B(d2.dek), B(d.dek));
  EXPECT_EQ(B(unwrap_row(ByteView(org_), row_of(d2, uri_, 2))), B(d2.dek));

  // Exactly two provider objects: one to fingerprint and wrap, one to verify.
  int opens = 0;
  OpenProvider counting = [&](const std::string& u) {
    opens++;
    return open_provider(u);
  };
  NewDek d3 = create_wrapped_dek(uri_, ByteView(org_), 3, counting);
  EXPECT_EQ(opens, 2);
  EXPECT_EQ(B(unwrap_row(ByteView(org_), row_of(d3, uri_, 3), counting)), B(d3.dek));
  EXPECT_EQ(opens, 3);
}

TEST_F(DekCreateTest, ProviderErrorsPassThrough) {
  // A missing key file: the provider's own 58000.
  std::string missing = "file:" + dir_.file("none");
  std::string m = expect_error(kSys, [&] { create_wrapped_dek(missing, ByteView(org_), 1); }, "missing");
  EXPECT_NE(m.find("could not open master key file"), std::string::npos) << m;
  expect_error(kSys, [&] { create_wrapped_dek("nosuch:/x", ByteView(org_), 1); }, "unknown scheme");
  // A fake that refuses to wrap.
  FakeFactory f;
  f.fault = Fault::WrapThrows;
  m = expect_error(kSys, [&] { create_wrapped_dek("fake:1", ByteView(org_), 1, f.fn()); }, "wrap refused");
  EXPECT_NE(m.find("refused to wrap"), std::string::npos) << m;
  // A factory that returns no provider.
  OpenProvider null_factory = [](const std::string&) { return std::unique_ptr<KeyProvider>(); };
  expect_error(kSys, [&] { create_wrapped_dek("fake:1", ByteView(org_), 1, null_factory); }, "null provider");
}

// The fake harness itself: a stable fake key verifies, so the failures below
// come from the faults, not from the harness.
TEST_F(DekCreateTest, StableFakeSucceeds) {
  FakeFactory f;
  NewDek d = create_wrapped_dek("fake:stable", ByteView(org_), 4, f.fn());
  EXPECT_EQ(f.opens, 2);
  ASSERT_EQ(f.wrapped_deks.size(), 1u);
  EXPECT_EQ(f.wrapped_deks[0], B(d.dek));
  EXPECT_EQ(d.kek_fp, kek_fingerprint(ByteView(kek_n(1))));
}

// (2) The key behind the URI changes on every open: the fingerprint recorded
// is K_1's, the verification opens K_2. Refused, 58000, no key bytes.
TEST_F(DekCreateTest, KeyChangingBetweenOpensIsRefused) {
  FakeFactory f;
  f.key_changes_per_open = true;
  std::string m = expect_error(kSys, [&] { create_wrapped_dek("fake:rotating", ByteView(org_), 1, f.fn()); },
                               "key changes per open");
  EXPECT_NE(m.find(std::string("the key provider \"fake:rotating\" ") + kNotStored), std::string::npos) << m;
  EXPECT_NE(m.find("acme"), std::string::npos) << m;
  EXPECT_NE(m.find("not the key that wrapped"), std::string::npos) << m;  // the cause, in the detail
  EXPECT_EQ(f.opens, 2);
  ASSERT_EQ(f.wrapped_deks.size(), 1u);
  expect_no_bytes(m, f.wrapped_deks[0]);
  for (const auto& k : f.keks) expect_no_bytes(m, k);

  // Without a fingerprint check the unwrap itself fails: still refused. (A
  // provider with an empty fingerprint.)
  struct NoFp : FakeFactory {
    OpenProvider fn2() {
      return [this](const std::string& uri) -> std::unique_ptr<KeyProvider> {
        opens++;
        return std::make_unique<FakeProvider>(uri, kek_n(opens), Bytes(), Fault::None, &wrapped_deks);
      };
    }
  } g;
  m = expect_error(kSys, [&] { create_wrapped_dek("fake:nofp", ByteView(org_), 1, g.fn2()); }, "no fingerprint");
  EXPECT_NE(m.find(kNotStored), std::string::npos) << m;
  EXPECT_NE(m.find("could not unwrap"), std::string::npos) << m;
  ASSERT_EQ(g.wrapped_deks.size(), 1u);
  expect_no_bytes(m, g.wrapped_deks[0]);
}

// (3) Same fingerprint, but unwrap returns other bytes (or fails): refused.
TEST_F(DekCreateTest, UnwrapReturningOtherBytesIsRefused) {
  FakeFactory f;
  f.fault = Fault::UnwrapFlipsAByte;
  std::string m = expect_error(kSys, [&] { create_wrapped_dek("fake:liar", ByteView(org_), 2, f.fn()); }, "liar");
  EXPECT_NE(m.find(std::string("the key provider \"fake:liar\" ") + kNotStored), std::string::npos) << m;
  EXPECT_NE(m.find("different bytes"), std::string::npos) << m;
  EXPECT_EQ(f.opens, 2);
  ASSERT_EQ(f.wrapped_deks.size(), 1u);
  expect_no_bytes(m, f.wrapped_deks[0]);
  Bytes flipped = f.wrapped_deks[0];
  flipped[7] ^= 0x20;
  expect_no_bytes(m, flipped);

  FakeFactory g;
  g.fault = Fault::UnwrapThrows;
  m = expect_error(kSys, [&] { create_wrapped_dek("fake:down", ByteView(org_), 2, g.fn()); }, "unwrap throws");
  EXPECT_NE(m.find(kNotStored), std::string::npos) << m;
  EXPECT_NE(m.find("unreachable"), std::string::npos) << m;
}

// (4, end to end) A real key file replaced while a DEK is being created. The
// decorator replaces the file right after the first fingerprint() call; the
// provider read its file once, so the wrap is under the original key, and
// the verification (a new object, reading the new file) refuses the DEK.
TEST_F(DekCreateTest, KeyFileReplacedDuringCreationIsRefused) {
  struct Replacing final : KeyProvider {
    std::unique_ptr<KeyProvider> inner;
    std::function<void()> after_fp;
    const std::string& uri() const override { return inner->uri(); }
    void validate() override { inner->validate(); }
    Bytes fingerprint() override {
      Bytes fp = inner->fingerprint();
      if (after_fp) after_fp();
      return fp;
    }
    Bytes wrap(ByteView dek, ByteView aad) override { return inner->wrap(dek, aad); }
    SecretBytes unwrap(ByteView blob, ByteView aad) override { return inner->unwrap(blob, aad); }
  };
  const Bytes other = kek_n(101);
  int opens = 0;
  OpenProvider open = [&](const std::string& u) -> std::unique_ptr<KeyProvider> {
    auto r = std::make_unique<Replacing>();
    r->inner = open_provider(u);
    if (++opens == 1) r->after_fp = [&] { testutil::write_file(path_, testutil::str_of(other), 0600); };
    return r;
  };
  std::string m = expect_error(kSys, [&] { create_wrapped_dek(uri_, ByteView(org_), 1, open); }, "replaced");
  EXPECT_NE(m.find(kNotStored), std::string::npos) << m;
  EXPECT_NE(m.find("replaced"), std::string::npos) << m;
  expect_no_bytes(m, kek_);
  expect_no_bytes(m, other);
  EXPECT_EQ(opens, 2);
  // With the file stable again, creation works under the new key.
  NewDek d = create_wrapped_dek(uri_, ByteView(org_), 1);
  EXPECT_EQ(d.kek_fp, kek_fingerprint(ByteView(other)));
}

// unwrap_row uses the factory it is given.
TEST_F(DekCreateTest, UnwrapRowUsesInjectedFactory) {
  FakeFactory f;
  NewDek d = create_wrapped_dek("fake:x", ByteView(org_), 9, f.fn());
  EXPECT_EQ(f.opens, 2);
  EXPECT_EQ(B(unwrap_row(ByteView(org_), row_of(d, "fake:x", 9), f.fn())), B(d.dek));
  EXPECT_EQ(f.opens, 3);
  // The default factory does not know the scheme.
  expect_error(kSys, [&] { unwrap_row(ByteView(org_), row_of(d, "fake:x", 9)); }, "default factory");
}

// ---- rewrap_dek: master-key rotation of one DEK (same DEK, new KEK)

namespace {
// Two KEKs by URI: "fake:a" and "fake:b"; "fake:b" may misbehave.
struct TwoKeks {
  Fault b_fault = Fault::None;
  bool a_replaced = false;
  OpenProvider fn() {
    return [this](const std::string& uri) -> std::unique_ptr<KeyProvider> {
      Bytes k = kek_n(uri == "fake:a" ? (a_replaced ? 9 : 1) : 2);
      Fault f = uri == "fake:b" ? b_fault : Fault::None;
      return std::make_unique<FakeProvider>(uri, k, kek_fingerprint(ByteView(k)), f, nullptr);
    };
  }
};
}  // namespace

TEST(RewrapDek, MovesTheSameDekToTheNewKek) {
  TwoKeks f;
  const std::string org = "acme";
  NewDek d = create_wrapped_dek("fake:a", ByteView(org), 3, f.fn());
  WrappedDek w = rewrap_dek(row_of(d, "fake:a", 3), ByteView(org), "fake:b", f.fn());
  EXPECT_NE(w.wrapped, d.wrapped);
  EXPECT_EQ(w.kek_fp, kek_fingerprint(ByteView(kek_n(2))));
  DekRow moved;
  moved.version = 3;
  moved.wrapped = w.wrapped;
  moved.kek_uri = "fake:b";
  moved.kek_fp = w.kek_fp;
  EXPECT_EQ(B(unwrap_row(ByteView(org), moved, f.fn())), B(d.dek));
  // and it is bound to its place: another version does not unwrap
  moved.version = 4;
  expect_error(kSys, [&] { unwrap_row(ByteView(org), moved, f.fn()); }, "could not unwrap");
  // and back again
  moved.version = 3;
  WrappedDek back = rewrap_dek(moved, ByteView(org), "fake:a", f.fn());
  EXPECT_EQ(back.kek_fp, d.kek_fp);
}

TEST(RewrapDek, RefusesWhenTheOldKekWasReplaced) {
  TwoKeks f;
  const std::string org = "acme";
  NewDek d = create_wrapped_dek("fake:a", ByteView(org), 1, f.fn());
  f.a_replaced = true;
  expect_error(kSys, [&] { rewrap_dek(row_of(d, "fake:a", 1), ByteView(org), "fake:b", f.fn()); },
               "is not the key that wrapped DEK version 1");
}

TEST(RewrapDek, NeverReturnsAFormThatDoesNotUnwrap) {
  TwoKeks f;
  const std::string org = "acme";
  NewDek d = create_wrapped_dek("fake:a", ByteView(org), 1, f.fn());
  for (Fault fault : {Fault::UnwrapFlipsAByte, Fault::UnwrapThrows}) {
    f.b_fault = fault;
    try {
      rewrap_dek(row_of(d, "fake:a", 1), ByteView(org), "fake:b", f.fn());
      FAIL() << "a rewrap that does not come back was returned";
    } catch (const Error& e) {
      EXPECT_STREQ(e.sqlstate(), kSys);
      EXPECT_NE(std::string(e.what()).find("the rewrapped key was not stored"), std::string::npos) << e.what();
      expect_no_bytes(std::string(e.what()) + e.detail(), B(d.dek));
    }
  }
}

// ---- check_kek: set_org_master_key tries a KEK before storing it

TEST(CheckKek, ReturnsTheKeksIdentityAndWrapsNoRealOrg) {
  TwoKeks f;
  WrappedDek w = check_kek("fake:b", f.fn());
  EXPECT_EQ(w.kek_uri, "fake:b");
  EXPECT_EQ(w.kek_fp, kek_fingerprint(ByteView(kek_n(2))));
  EXPECT_TRUE(w.wrapped.empty());  // nothing to store but the identity
}

TEST(CheckKek, RefusesAKekThatDoesNotGiveTheTestKeyBack) {
  TwoKeks f;
  f.b_fault = Fault::WrapThrows;  // the provider's own 58000 comes through
  EXPECT_NE(expect_error(kSys, [&] { check_kek("fake:b", f.fn()); }).find("fake provider \"fake:b\" refused to wrap"),
            std::string::npos);
  for (Fault fault : {Fault::UnwrapFlipsAByte, Fault::UnwrapThrows}) {
    f.b_fault = fault;
    EXPECT_EQ(expect_error(kSys, [&] { check_kek("fake:b", f.fn()); })
                  .rfind("the key provider \"fake:b\" did not return the test key it wrapped\nunwrapping it again", 0),
              0u);
  }
  OpenProvider null_factory = [](const std::string&) { return std::unique_ptr<KeyProvider>(); };
  EXPECT_NE(expect_error(kSys, [&] { check_kek("fake:b", null_factory); }).find("could not open the key provider \"fake:b\""),
            std::string::npos);
}

TEST_F(DekCreateTest, CheckKekWithARealKeyFile) {
  WrappedDek w = check_kek(uri_);
  EXPECT_EQ(w.kek_uri, uri_);
  EXPECT_EQ(w.kek_fp, kek_fingerprint(ByteView(kek_)));
  EXPECT_NE(expect_error(kSys, [&] { check_kek("file:" + dir_.file("missing.key")); }).find("could not open master key file"),
            std::string::npos);
}
