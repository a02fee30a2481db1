// KeyRing: metadata rows, unwrapping through a real file provider, counters,
// state errors, and eviction.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "envelope.hpp"
#include "error.hpp"
#include "keyring.hpp"
#include "provider.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using testutil::expect_error;
using testutil::tohex;

namespace {

constexpr const char* kState = "55000";
constexpr const char* kSys = "58000";

Bytes make_key(std::uint8_t seed) {
  Bytes k(32);
  for (int i = 0; i < 32; i++) k[i] = static_cast<std::uint8_t>(seed * 53 + i * 7 + 1);
  return k;
}

class KeyRingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kek_ = make_key(200);
    kek_path_ = dir_.file("master.key");
    testutil::write_file(kek_path_, tohex(kek_) + "\n", 0600);
    uri_ = "file:" + kek_path_;
  }

  Bytes dek(std::uint32_t v, const std::string& org = "acme") {
    Bytes d = make_key(static_cast<std::uint8_t>(v));
    d[0] ^= static_cast<std::uint8_t>(org.size());
    return d;
  }

  // A key-table row for version v of org, wrapped the way the glue wraps it.
  DekRow row(const std::string& org, std::uint32_t v, DekState state) {
    DekRow r;
    r.version = v;
    r.state = state;
    if (state != DekState::Destroyed) {
      Bytes d = dek(v, org);
      r.wrapped = keywrap_with_aad(ByteView(kek_), ByteView(d), ByteView(wrap_aad(ByteView(org), v)));
      r.kek_uri = uri_;
      r.kek_fp = kek_fingerprint(ByteView(kek_));
    }
    return r;
  }

  // Checks that k is the AES-GCM key dek(v, org): a value it seals opens
  // under an independently built AesGcm of that DEK.
  void expect_is_dek(AesGcm& k, std::uint32_t v, const std::string& org = "acme") {
    AesGcm ref{ByteView(dek(v, org))};
    std::uint8_t nonce[12] = {1, 2, 3};
    std::string msg = "check";
    std::uint8_t ct[5], tag[16], pt[5];
    k.seal(nonce, ByteView(), reinterpret_cast<const std::uint8_t*>(msg.data()), 5, ct, tag);
    EXPECT_TRUE(ref.open(nonce, ByteView(), ct, 5, tag, pt)) << "version " << v;
    EXPECT_EQ(std::string(reinterpret_cast<char*>(pt), 5), msg);
  }

  static ByteView O(const std::string& s) { return ByteView(s); }

  testutil::TempDir dir_;
  Bytes kek_;
  std::string kek_path_, uri_;
  const std::string acme_ = "acme";
};

}  // namespace

TEST(DekState, Names) {
  for (DekState s : {DekState::Active, DekState::Retired, DekState::Destroyed}) {
    DekState back;
    ASSERT_TRUE(parse_dek_state(dek_state_name(s), back));
    EXPECT_EQ(back, s);
  }
  DekState x;
  EXPECT_FALSE(parse_dek_state("Active", x));
  EXPECT_FALSE(parse_dek_state("", x));
}

TEST_F(KeyRingTest, LoadThenUnwrapThroughFileProvider) {
  KeyRing ring(16);
  EXPECT_EQ(ring.find(O(acme_)), nullptr);
  std::vector<DekRow> rows;
  rows.push_back(row(acme_, 1, DekState::Retired));
  rows.push_back(row(acme_, 2, DekState::Active));
  OrgState& st = ring.load(O(acme_), std::move(rows), 42);
  EXPECT_EQ(st.epoch, 42u);
  EXPECT_EQ(st.active, 2u);
  EXPECT_EQ(st.max_version, 2u);
  EXPECT_FALSE(st.destroyed);
  EXPECT_TRUE(st.has_keys());
  EXPECT_EQ(ring.find(O(acme_)), &st);
  EXPECT_EQ(ring.find(O(std::string("acm"))), nullptr);
  EXPECT_EQ(ring.entries(), 0u);

  AesGcm& k2 = ring.key(O(acme_), st, 2);
  expect_is_dek(k2, 2);
  EXPECT_EQ(ring.stats().misses, 1u);
  EXPECT_EQ(ring.stats().provider_calls, 1u);
  EXPECT_EQ(ring.stats().hits, 0u);
  EXPECT_EQ(ring.entries(), 1u);

  AesGcm& again = ring.key(O(acme_), st, 2);
  EXPECT_EQ(&again, &k2);
  EXPECT_EQ(ring.stats().hits, 1u);
  EXPECT_EQ(ring.stats().misses, 1u);
  EXPECT_EQ(ring.stats().provider_calls, 1u);

  AesGcm& k1 = ring.key(O(acme_), st, 1);  // retired versions still decrypt
  expect_is_dek(k1, 1);
  EXPECT_EQ(ring.stats().misses, 2u);
  EXPECT_EQ(ring.entries(), 2u);

  // Reloading identical rows keeps the unwrapped keys (no provider call).
  std::vector<DekRow> same;
  same.push_back(row(acme_, 1, DekState::Retired));
  same.push_back(row(acme_, 2, DekState::Active));
  OrgState& st2 = ring.load(O(acme_), std::move(same), 43);
  EXPECT_EQ(&st2, &st);
  EXPECT_EQ(ring.entries(), 2u);
  ring.key(O(acme_), st2, 1);
  ring.key(O(acme_), st2, 2);
  EXPECT_EQ(ring.stats().provider_calls, 2u);
  EXPECT_EQ(ring.stats().hits, 3u);

  // A row whose wrapped DEK changed (another DEK under the same version) is
  // unwrapped again; the stale key is dropped.
  std::vector<DekRow> changed;
  changed.push_back(row(acme_, 1, DekState::Retired));
  DekRow r2 = row(acme_, 2, DekState::Active);
  Bytes other = dek(2, "xx");  // differs from dek(2, "acme")
  ASSERT_NE(other, dek(2));
  r2.wrapped = keywrap_with_aad(ByteView(kek_), ByteView(other), ByteView(wrap_aad(O(acme_), 2)));
  changed.push_back(r2);
  OrgState& st3 = ring.load(O(acme_), std::move(changed), 44);
  EXPECT_EQ(ring.entries(), 1u);
  AesGcm& k2b = ring.key(O(acme_), st3, 2);
  EXPECT_EQ(ring.stats().provider_calls, 3u);
  expect_is_dek(k2b, 2, "xx");

  ring.erase(O(acme_));
  EXPECT_EQ(ring.find(O(acme_)), nullptr);
  EXPECT_EQ(ring.entries(), 0u);
}

TEST_F(KeyRingTest, UnknownAndDestroyedVersionsGive55000) {
  KeyRing ring(16);
  std::vector<DekRow> rows;
  rows.push_back(row(acme_, 1, DekState::Destroyed));
  rows.push_back(row(acme_, 2, DekState::Active));
  OrgState& st = ring.load(O(acme_), std::move(rows), 1);
  EXPECT_FALSE(st.destroyed);
  std::string m = expect_error(kState, [&] { ring.key(O(acme_), st, 3); }, "unknown version");
  EXPECT_NE(m.find("no DEK version 3"), std::string::npos) << m;
  m = expect_error(kState, [&] { ring.key(O(acme_), st, 1); }, "destroyed version");
  EXPECT_NE(m.find("destroyed"), std::string::npos) << m;
  EXPECT_EQ(ring.stats().provider_calls, 0u);
  expect_is_dek(ring.key(O(acme_), st, 2), 2);

  // Destroying a version whose key is in the ring wipes it.
  EXPECT_EQ(ring.entries(), 1u);
  std::vector<DekRow> all_gone;
  all_gone.push_back(row(acme_, 1, DekState::Destroyed));
  all_gone.push_back(row(acme_, 2, DekState::Destroyed));
  OrgState& gone = ring.load(O(acme_), std::move(all_gone), 2);
  EXPECT_TRUE(gone.destroyed);
  EXPECT_EQ(gone.active, 0u);
  EXPECT_EQ(ring.entries(), 0u);
  m = expect_error(kState, [&] { ring.key(O(acme_), gone, 2); }, "all destroyed");
  EXPECT_NE(m.find("were destroyed"), std::string::npos) << m;

  // An org without keys.
  std::string empty_org = "nokeys";
  OrgState& none = ring.load(O(empty_org), {}, 1);
  EXPECT_FALSE(none.has_keys());
  EXPECT_FALSE(none.destroyed);
  m = expect_error(kState, [&] { ring.key(O(empty_org), none, 1); }, "no keys");
  EXPECT_NE(m.find("has no keys"), std::string::npos) << m;
}

TEST_F(KeyRingTest, FingerprintMismatchGives58000) {
  KeyRing ring(16);
  DekRow r = row(acme_, 1, DekState::Active);
  r.kek_fp = kek_fingerprint(ByteView(make_key(201)));
  std::vector<DekRow> rows;
  rows.push_back(r);
  OrgState& st = ring.load(O(acme_), std::move(rows), 1);
  std::string m = expect_error(kSys, [&] { ring.key(O(acme_), st, 1); }, "fingerprint");
  EXPECT_NE(m.find("replaced"), std::string::npos) << m;
  EXPECT_EQ(m.find(tohex(kek_)), std::string::npos) << m;
  EXPECT_EQ(m.find(tohex(dek(1))), std::string::npos) << m;
  EXPECT_EQ(ring.entries(), 0u);

  // The key file replaced under a row that records the right fingerprint.
  std::vector<DekRow> good;
  good.push_back(row(acme_, 1, DekState::Active));
  OrgState& st2 = ring.load(O(acme_), std::move(good), 2);
  testutil::write_file(kek_path_, tohex(make_key(201)), 0600);
  m = expect_error(kSys, [&] { ring.key(O(acme_), st2, 1); }, "key file replaced");
  EXPECT_EQ(m.find(tohex(make_key(201))), std::string::npos) << m;

  // Without a recorded fingerprint the unwrap itself fails.
  std::vector<DekRow> nofp;
  nofp.push_back(row(acme_, 1, DekState::Active));
  nofp.back().kek_fp.clear();
  OrgState& st3 = ring.load(O(acme_), std::move(nofp), 3);
  expect_error(kSys, [&] { ring.key(O(acme_), st3, 1); }, "unwrap under replaced key");

  // The original key back: works again.
  testutil::write_file(kek_path_, testutil::str_of(kek_), 0600);
  expect_is_dek(ring.key(O(acme_), st3, 1), 1);
}

TEST_F(KeyRingTest, ProviderFailuresGive58000) {
  KeyRing ring(16);
  DekRow missing = row(acme_, 1, DekState::Active);
  missing.kek_uri = "file:" + dir_.file("no-such-key");
  DekRow bad_uri = row(acme_, 2, DekState::Retired);
  bad_uri.kek_uri = "nosuch:/x";
  std::vector<DekRow> rows;
  rows.push_back(missing);
  rows.push_back(bad_uri);
  OrgState& st = ring.load(O(acme_), std::move(rows), 1);
  expect_error(kSys, [&] { ring.key(O(acme_), st, 1); }, "missing key file");
  expect_error(kSys, [&] { ring.key(O(acme_), st, 2); }, "unknown scheme");
  EXPECT_EQ(ring.entries(), 0u);
}

// A wrapped DEK is bound to its org and version: copied elsewhere it does not
// unwrap.
TEST_F(KeyRingTest, WrappedDekCopiedElsewhereFails) {
  KeyRing ring(16);
  DekRow acme1 = row(acme_, 1, DekState::Active);

  std::string evil = "evil";
  std::vector<DekRow> rows;
  rows.push_back(acme1);  // same version number, other org
  OrgState& ev = ring.load(O(evil), std::move(rows), 1);
  std::string m = expect_error(kSys, [&] { ring.key(O(evil), ev, 1); }, "other org");
  EXPECT_EQ(m.find(tohex(kek_)), std::string::npos) << m;

  std::vector<DekRow> moved;
  DekRow as_v2 = acme1;
  as_v2.version = 2;  // same org, other version
  moved.push_back(as_v2);
  OrgState& st = ring.load(O(acme_), std::move(moved), 1);
  expect_error(kSys, [&] { ring.key(O(acme_), st, 2); }, "other version");
  EXPECT_EQ(ring.entries(), 0u);

  std::vector<DekRow> right;
  right.push_back(acme1);
  OrgState& ok = ring.load(O(acme_), std::move(right), 2);
  expect_is_dek(ring.key(O(acme_), ok, 1), 1);
}

TEST_F(KeyRingTest, PutNewActivatesAndRetiresPrevious) {
  KeyRing ring(16);
  std::vector<DekRow> rows;
  rows.push_back(row(acme_, 1, DekState::Active));
  OrgState& st = ring.load(O(acme_), std::move(rows), 1);
  EXPECT_EQ(st.active, 1u);

  DekRow r2 = row(acme_, 2, DekState::Active);
  Bytes d2 = dek(2);
  ring.put_new(O(acme_), st, r2, ByteView(d2));
  EXPECT_EQ(st.active, 2u);
  EXPECT_EQ(st.max_version, 2u);
  EXPECT_EQ(st.versions.at(1).row.state, DekState::Retired);
  EXPECT_EQ(st.versions.at(2).row.state, DekState::Active);
  EXPECT_EQ(ring.entries(), 1u);
  // The new key is served from the ring, without a provider call.
  expect_is_dek(ring.key(O(acme_), st, 2), 2);
  EXPECT_EQ(ring.stats().provider_calls, 0u);
  EXPECT_EQ(ring.stats().hits, 1u);
  // The retired one still unwraps through the provider.
  expect_is_dek(ring.key(O(acme_), st, 1), 1);
  EXPECT_EQ(ring.stats().provider_calls, 1u);

  DekRow r3 = row(acme_, 3, DekState::Active);
  Bytes d3 = dek(3);
  ring.put_new(O(acme_), st, r3, ByteView(d3));
  EXPECT_EQ(st.active, 3u);
  EXPECT_EQ(st.versions.at(2).row.state, DekState::Retired);
  EXPECT_EQ(st.versions.at(1).row.state, DekState::Retired);
  int active = 0;
  for (auto& kv : st.versions) active += kv.second.row.state == DekState::Active;
  EXPECT_EQ(active, 1);
  EXPECT_EQ(ring.entries(), 3u);

  // put_new on a fresh org (first key), after its destroyed tombstones.
  std::string neworg = "fresh";
  std::vector<DekRow> tomb;
  tomb.push_back(row(neworg, 1, DekState::Destroyed));
  OrgState& fs = ring.load(O(neworg), std::move(tomb), 1);
  EXPECT_TRUE(fs.destroyed);
  DekRow f2 = row(neworg, 2, DekState::Active);
  Bytes fd2 = dek(2, neworg);
  ring.put_new(O(neworg), fs, f2, ByteView(fd2));
  EXPECT_FALSE(fs.destroyed);
  EXPECT_EQ(fs.active, 2u);
  expect_is_dek(ring.key(O(neworg), fs, 2), 2, neworg);
}

TEST_F(KeyRingTest, CapacityEvictionIsCounted) {
  KeyRing ring(2);
  EXPECT_EQ(ring.capacity(), 2u);
  const std::vector<std::string> orgs = {"a", "b", "c"};
  std::vector<OrgState*> sts;
  for (const auto& o : orgs) {
    std::vector<DekRow> rows;
    rows.push_back(row(o, 1, DekState::Active));
    sts.push_back(&ring.load(O(o), std::move(rows), 1));
  }
  expect_is_dek(ring.key(O(orgs[0]), *sts[0], 1), 1, orgs[0]);
  expect_is_dek(ring.key(O(orgs[1]), *sts[1], 1), 1, orgs[1]);
  EXPECT_EQ(ring.entries(), 2u);
  EXPECT_EQ(ring.stats().evictions, 0u);

  expect_is_dek(ring.key(O(orgs[2]), *sts[2], 1), 1, orgs[2]);  // full: makes room
  EXPECT_LE(ring.entries(), 2u);
  EXPECT_GE(ring.stats().evictions, 1u);
  std::uint64_t ev = ring.stats().evictions;
  EXPECT_EQ(ev + ring.entries(), 3u) << "every key is either live or counted as evicted";

  // An evicted key is unwrapped again on demand.
  std::uint64_t calls = ring.stats().provider_calls;
  expect_is_dek(ring.key(O(orgs[0]), *sts[0], 1), 1, orgs[0]);
  EXPECT_LE(ring.entries(), 2u);
  EXPECT_GE(ring.stats().provider_calls, calls);
  EXPECT_EQ(ring.stats().misses, ring.stats().provider_calls);

  // put_new respects the capacity too.
  DekRow r2 = row(orgs[1], 2, DekState::Active);
  Bytes d2 = dek(2, orgs[1]);
  ring.put_new(O(orgs[1]), *sts[1], r2, ByteView(d2));
  EXPECT_LE(ring.entries(), 2u);

  // Many more lookups never exceed the capacity.
  for (int round = 0; round < 10; round++)
    for (std::size_t i = 0; i < orgs.size(); i++) {
      ring.key(O(orgs[i]), *sts[i], 1);
      ASSERT_LE(ring.entries(), 2u);
    }
  EXPECT_GT(ring.stats().evictions, ev);

  ring.clear();
  EXPECT_EQ(ring.entries(), 0u);
  EXPECT_EQ(ring.find(O(orgs[0])), nullptr);
}

// A backend touching many orgs keeps a bounded amount of org metadata.
TEST(KeyRingBound, OrgMetadataIsBounded) {
  KeyRing ring(4);  // max_orgs() = 32
  for (int i = 0; i < 1000; i++) {
    std::string org = "org" + std::to_string(i);
    std::vector<DekRow> rows(1);
    rows[0].version = 1;
    rows[0].state = DekState::Active;
    rows[0].wrapped = Bytes(40, 1);
    rows[0].kek_uri = "file:/nonexistent";
    OrgState& st = ring.load(ByteView(org), std::move(rows), 1);
    EXPECT_EQ(st.active, 1u);
    ASSERT_LE(ring.orgs(), ring.max_orgs());
  }
  EXPECT_GT(ring.orgs(), 0u);
}
