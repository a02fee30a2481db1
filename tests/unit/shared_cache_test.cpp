// The shared DEK cache algorithm over a plain memory region: single flight,
// TTL, clock eviction, generations read before the key row (stale begins,
// refused completions), orphaned flights, wipes that cost the org or the
// version rather than the table, flush, and wiping.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "shared_cache.hpp"

using namespace orgcrypt;
using R = SharedDekTable::Result;
using B = SharedDekTable::Begin;

namespace {

struct Table {
  explicit Table(std::uint32_t cap, std::uint32_t nprocs = 8) : mem(SharedDekTable::region_size(cap, nprocs)) {
    t = SharedDekTable::init(mem.data(), cap, nprocs);
  }
  std::vector<std::uint8_t> mem;
  SharedDekTable* t;
};

DekKey key(const std::string& org, std::uint32_t v, std::uint32_t db = 1, std::uint32_t keytab = 100,
           std::uint8_t tag = 0) {
  std::uint8_t t[DekKey::kTagLen] = {tag};
  return DekKey::make(db, keytab, org.data(), org.size(), v, t);
}

std::vector<std::uint8_t> dek_of(std::uint8_t b) { return std::vector<std::uint8_t>(32, b); }

// begin_flight with the generation read just now (before "reading the row").
B begin(SharedDekTable* t, const DekKey& k, std::int32_t pid, std::uint32_t proc, std::int64_t now = 1000,
        std::int64_t ttl = 0, std::int64_t hold = 1000000) {
  return t->begin_flight(k, pid, proc, t->org_generation(k), now, ttl, hold);
}

// Puts a DEK through the single-flight path.
void put(SharedDekTable* t, const DekKey& k, std::uint8_t b, std::int64_t now = 1000) {
  ASSERT_EQ(begin(t, k, 42, 0, now), B::Lead);
  ASSERT_TRUE(t->complete_flight(k, 42, dek_of(b).data(), now));
}

R get(SharedDekTable* t, const DekKey& k, std::uint8_t* out = nullptr, std::int64_t now = 1000, std::int64_t ttl = 0) {
  std::uint8_t buf[32];
  std::int64_t at = 0;
  return t->lookup(k, now, ttl, 1000000, out ? out : buf, &at);
}

}  // namespace

TEST(SharedCache, HitCopiesTheDek) {
  Table tb(16);
  EXPECT_EQ(get(tb.t, key("acme", 1)), R::Miss);
  put(tb.t, key("acme", 1), 0xAB);
  std::uint8_t out[32] = {};
  EXPECT_EQ(get(tb.t, key("acme", 1), out), R::Hit);
  EXPECT_EQ(std::vector<std::uint8_t>(out, out + 32), dek_of(0xAB));
  EXPECT_EQ(tb.t->entries(), 1u);
}

TEST(SharedCache, KeysIncludeDatabaseKeyTableOrgAndVersion) {
  Table tb(16);
  put(tb.t, key("acme", 1, 1, 100), 1);
  EXPECT_EQ(get(tb.t, key("acme", 1, 2, 100)), R::Miss);  // other database
  EXPECT_EQ(get(tb.t, key("acme", 1, 1, 101)), R::Miss);  // re-created extension
  EXPECT_EQ(get(tb.t, key("acme", 2, 1, 100)), R::Miss);  // other version
  EXPECT_EQ(get(tb.t, key("acmf", 1, 1, 100)), R::Miss);  // other org
  EXPECT_EQ(get(tb.t, key("acm", 1, 1, 100)), R::Miss);
  EXPECT_EQ(get(tb.t, key("acme", 1, 1, 100, 7)), R::Miss);  // another wrapped DEK, same version
  EXPECT_EQ(get(tb.t, key("acme", 1, 1, 100)), R::Hit);
  // wipe_version removes the version whatever its tag
  put(tb.t, key("acme", 1, 1, 100, 7), 2);
  EXPECT_EQ(tb.t->wipe_version(key("acme", 1, 1, 100, 99)), 2u);
  EXPECT_EQ(get(tb.t, key("acme", 1, 1, 100)), R::Miss);
}

TEST(SharedCache, SingleFlight) {
  Table tb(16);
  DekKey k = key("cold", 1);
  EXPECT_EQ(begin(tb.t, k, 1, 1), B::Lead);  // leader
  EXPECT_EQ(begin(tb.t, k, 2, 2), B::Busy);  // waiter
  EXPECT_EQ(get(tb.t, k), R::InFlight);
  EXPECT_FALSE(tb.t->complete_flight(k, 2, dek_of(9).data(), 1000));  // not the leader
  EXPECT_TRUE(tb.t->complete_flight(k, 1, dek_of(7).data(), 1000));
  std::uint8_t out[32];
  EXPECT_EQ(get(tb.t, k, out), R::Hit);
  EXPECT_EQ(out[0], 7);
}

TEST(SharedCache, LeaderErrorIsSharedThenRetried) {
  Table tb(16);
  DekKey k = key("bad", 1);
  ASSERT_EQ(begin(tb.t, k, 1, 1, 1000, 0, 500), B::Lead);
  tb.t->fail_flight(k, 1, "58000", "key server unreachable", 1000);
  std::uint8_t buf[32];
  char st[6] = {}, msg[SharedDekTable::kErrLen] = {};
  EXPECT_EQ(tb.t->lookup(k, 1200, 0, 500, buf, nullptr, st, msg), R::Failed);
  EXPECT_STREQ(st, "58000");
  EXPECT_STREQ(msg, "key server unreachable");
  EXPECT_EQ(begin(tb.t, k, 2, 2, 1200, 0, 500), B::Busy);  // still held
  EXPECT_EQ(tb.t->lookup(k, 1600, 0, 500, buf, nullptr, st, msg), R::Expired);
  EXPECT_EQ(begin(tb.t, k, 2, 2, 1600, 0, 500), B::Lead);  // a new leader
}

TEST(SharedCache, AbandonedFlightsAreRemoved) {
  Table tb(16);
  ASSERT_EQ(begin(tb.t, key("a", 1), 7, 107), B::Lead);  // procs >= nprocs: no marker
  ASSERT_EQ(begin(tb.t, key("b", 1), 7, 107), B::Lead);
  ASSERT_EQ(begin(tb.t, key("c", 1), 8, 108), B::Lead);
  EXPECT_EQ(tb.t->abandon_flights(7, 107), 2u);
  EXPECT_EQ(get(tb.t, key("a", 1)), R::Miss);
  EXPECT_EQ(get(tb.t, key("b", 1)), R::Miss);
  EXPECT_EQ(get(tb.t, key("c", 1)), R::InFlight);
  EXPECT_EQ(begin(tb.t, key("a", 1), 9, 109), B::Lead);  // a waiter takes over
}

TEST(SharedCache, TtlExpiresAtLookupAgainstTheCurrentSetting) {
  Table tb(16);
  DekKey k = key("ttl", 1);
  put(tb.t, k, 5, /*now=*/1000);
  EXPECT_EQ(get(tb.t, k, nullptr, 1000 + 300, 300), R::Hit);
  EXPECT_EQ(get(tb.t, k, nullptr, 1000 + 301, 300), R::Expired);
  EXPECT_EQ(get(tb.t, k, nullptr, 1000 + 301, 0), R::Hit);  // ttl 0 = never
  EXPECT_EQ(get(tb.t, k, nullptr, 1000 + 301, 1000), R::Hit);  // setting raised
  EXPECT_EQ(begin(tb.t, k, 3, 3, 1000 + 301, 300, 1000000), B::Lead);
  EXPECT_EQ(tb.t->counters().expirations, 1u);
  EXPECT_EQ(tb.t->entries(), 0u);
}

TEST(SharedCache, ClockEvictionKeepsCapacityAndPrefersUnreferenced) {
  Table tb(4);
  for (std::uint32_t v = 1; v <= 4; v++) put(tb.t, key("o", v), static_cast<std::uint8_t>(v));
  EXPECT_EQ(tb.t->entries(), 4u);
  // The first sweep clears the reference bits, then evicts.
  put(tb.t, key("o", 5), 5);
  EXPECT_EQ(tb.t->entries(), 4u);
  EXPECT_EQ(tb.t->counters().evictions, 1u);
  for (std::uint32_t v = 6; v <= 20; v++) put(tb.t, key("o", v), static_cast<std::uint8_t>(v));
  EXPECT_EQ(tb.t->entries(), 4u);
  EXPECT_EQ(tb.t->counters().evictions, 16u);
  EXPECT_EQ(get(tb.t, key("o", 20)), R::Hit);
  // a key used since the last sweep survives the next eviction
  put(tb.t, key("hot", 1), 1);
  for (std::uint32_t v = 21; v <= 22; v++) {
    EXPECT_EQ(get(tb.t, key("hot", 1)), R::Hit);
    put(tb.t, key("o", v), 1);
  }
  EXPECT_EQ(get(tb.t, key("hot", 1)), R::Hit);
}

TEST(SharedCache, DestroyWipesTheOrgAndStopsUnwrapsInFlight) {
  Table tb(16);
  put(tb.t, key("gone", 1), 1);
  put(tb.t, key("gone", 2), 2);
  put(tb.t, key("kept", 1), 3);
  ASSERT_EQ(begin(tb.t, key("gone", 3), 5, 5), B::Lead);  // began before the destroy
  EXPECT_EQ(tb.t->wipe_org(key("gone", 0)), 2u);
  EXPECT_EQ(get(tb.t, key("gone", 1)), R::Miss);
  EXPECT_EQ(get(tb.t, key("gone", 2)), R::Miss);
  EXPECT_EQ(get(tb.t, key("kept", 1)), R::Hit);
  EXPECT_FALSE(tb.t->complete_flight(key("gone", 3), 5, dek_of(4).data(), 1000));
  EXPECT_EQ(get(tb.t, key("gone", 3)), R::Miss);
  // a new unwrap after the destroy may insert again (a later version)
  put(tb.t, key("gone", 4), 4);
  EXPECT_EQ(get(tb.t, key("gone", 4)), R::Hit);
}

TEST(SharedCache, FlushWipesEverythingAndDiscardsFlights) {
  Table tb(16);
  put(tb.t, key("a", 1), 1);
  put(tb.t, key("b", 1), 2);
  ASSERT_EQ(begin(tb.t, key("c", 1), 5, 5), B::Lead);
  EXPECT_EQ(tb.t->flush(), 2u);
  EXPECT_EQ(tb.t->entries(), 0u);
  EXPECT_FALSE(tb.t->complete_flight(key("c", 1), 5, dek_of(3).data(), 1000));
  EXPECT_EQ(get(tb.t, key("c", 1)), R::Miss);
}

TEST(SharedCache, RemovedDeksLeaveNoBytesBehind) {
  Table tb(8);
  auto contains = [&](std::uint8_t b) {
    std::vector<std::uint8_t> pat(32, b);
    return std::search(tb.mem.begin(), tb.mem.end(), pat.begin(), pat.end()) != tb.mem.end();
  };
  put(tb.t, key("w", 1), 0xE1);
  put(tb.t, key("w", 2), 0xE2);
  put(tb.t, key("x", 1), 0xE3);
  ASSERT_TRUE(contains(0xE1));
  tb.t->wipe_org(key("w", 0));
  EXPECT_FALSE(contains(0xE1));
  EXPECT_FALSE(contains(0xE2));
  EXPECT_TRUE(contains(0xE3));
  tb.t->flush();
  EXPECT_FALSE(contains(0xE3));
  for (std::uint32_t v = 1; v <= 20; v++) put(tb.t, key("ev", v), static_cast<std::uint8_t>(0xC0 + v));
  for (std::uint32_t v = 1; v <= 12; v++) EXPECT_FALSE(contains(static_cast<std::uint8_t>(0xC0 + v))) << v;
  put(tb.t, key("t", 1), 0x5A, 1000);
  ASSERT_EQ(begin(tb.t, key("t", 1), 1, 1, 5000, 10, 1000000), B::Lead);  // expired: replaced
  EXPECT_FALSE(contains(0x5A));
}

// The destroyed-DEK bug: a backend read the org's generation, then its key
// row; a destroy committed (wipe_org) before it began the flight. Its key
// state is older than the destroy, so it must not lead, and must insert
// nothing. A flight whose generation moves before completion is refused.
TEST(SharedCache, FlightsAreBoundToTheGenerationReadBeforeTheKeyRow) {
  Table tb(16);
  DekKey k = key("doomed", 3);
  std::uint64_t read_gen = tb.t->org_generation(k);  // then the key row is read
  tb.t->wipe_org(key("doomed", 0));                   // the destroy commits
  EXPECT_EQ(tb.t->begin_flight(k, 1, 1, read_gen, 1000, 0, 1000000), B::Stale);
  EXPECT_EQ(get(tb.t, k), R::Miss);  // nothing inserted, nothing to wait for
  EXPECT_EQ(begin(tb.t, k, 2, 2), B::Lead);  // a fresh read may lead
  EXPECT_TRUE(tb.t->check_invariants());

  // A stale caller does not replace what is there either.
  put(tb.t, key("live", 1), 7, 1000);
  std::uint64_t old_gen = tb.t->org_generation(key("live", 1));
  tb.t->touch_org(key("live", 0));
  EXPECT_EQ(tb.t->begin_flight(key("live", 1), 3, 3, old_gen, 999999, 10, 1000000), B::Stale);
  EXPECT_EQ(get(tb.t, key("live", 1)), R::Hit);

  // The generation recorded is the caller's, not the one current at begin.
  DekKey v = key("org", 1);
  std::uint64_t g = tb.t->org_generation(v);
  tb.t->touch_org(v);  // a rotation committed after the row read
  EXPECT_EQ(tb.t->begin_flight(v, 4, 4, g, 1000, 0, 1000000), B::Stale);
  ASSERT_EQ(tb.t->begin_flight(v, 4, 4, tb.t->org_generation(v), 1000, 0, 1000000), B::Lead);
  tb.t->wipe_version(key("org", 1, 1, 100, 5));  // any tag: bumps the org's generation
  EXPECT_FALSE(tb.t->complete_flight(v, 4, dek_of(1).data(), 1000));
  EXPECT_EQ(get(tb.t, v), R::Miss);

  // A change to the key table that names no org (manual DML, a restore)
  // makes every earlier read stale.
  DekKey m = key("manual", 1);
  std::uint64_t gm = tb.t->org_generation(m);
  ASSERT_EQ(begin(tb.t, key("manual", 2), 5, 5), B::Lead);
  tb.t->touch_all();
  EXPECT_EQ(tb.t->begin_flight(m, 6, 6, gm, 1000, 0, 1000000), B::Stale);
  EXPECT_FALSE(tb.t->complete_flight(key("manual", 2), 5, dek_of(1).data(), 1000));
  EXPECT_TRUE(tb.t->check_invariants());
}

// Every wipe bumps the org's generation: wipe_version (new), wipe_org, flush.
TEST(SharedCache, EveryWipeBumpsTheGeneration) {
  Table tb(16);
  DekKey k = key("g", 2);
  std::uint64_t g0 = tb.t->org_generation(k);
  tb.t->wipe_version(k);
  std::uint64_t g1 = tb.t->org_generation(k);
  EXPECT_NE(g1, g0);
  tb.t->wipe_org(k);
  std::uint64_t g2 = tb.t->org_generation(k);
  EXPECT_NE(g2, g1);
  tb.t->flush();
  EXPECT_NE(tb.t->org_generation(k), g2);

  // A standby finds version 2 destroyed and wipes it while a backend that
  // read the row before the destroy is between its read and its begin, or
  // already unwrapping: neither may publish the destroyed DEK.
  std::uint64_t before = tb.t->org_generation(k);
  ASSERT_EQ(begin(tb.t, k, 1, 1), B::Lead);
  tb.t->wipe_version(k);
  EXPECT_EQ(tb.t->begin_flight(k, 2, 2, before, 1000, 0, 1000000), B::Stale);
  EXPECT_FALSE(tb.t->complete_flight(k, 1, dek_of(2).data(), 1000));
  EXPECT_EQ(get(tb.t, k), R::Miss);
  EXPECT_EQ(tb.t->entries(), 0u);
}

// A leader whose error was caught (a PL/pgSQL EXCEPTION block) leaves its
// in-flight entry; once its process leads anything else, or abandons its
// flights, waiters see the entry as abandoned and one of them takes over.
TEST(SharedCache, OrphanedFlightsAreTakenOver) {
  Table tb(16, 4);
  DekKey a = key("a", 1), b = key("b", 1);
  ASSERT_EQ(begin(tb.t, a, 100, 0), B::Lead);
  EXPECT_EQ(get(tb.t, a), R::InFlight);  // its leader is still at it
  EXPECT_EQ(begin(tb.t, a, 200, 1), B::Busy);
  // The leader's error was caught; the same process leads another key.
  ASSERT_EQ(begin(tb.t, b, 100, 0), B::Lead);
  EXPECT_EQ(get(tb.t, a), R::Expired);   // abandoned: go to begin_flight
  EXPECT_EQ(get(tb.t, b), R::InFlight);  // its live flight
  EXPECT_EQ(begin(tb.t, b, 200, 1), B::Busy);
  EXPECT_EQ(begin(tb.t, a, 200, 1), B::Lead);  // a waiter takes over
  EXPECT_EQ(tb.t->counters().orphans, 1u);
  EXPECT_EQ(get(tb.t, a), R::InFlight);
  EXPECT_FALSE(tb.t->complete_flight(a, 100, dek_of(1).data(), 1000));  // not its flight any more
  EXPECT_TRUE(tb.t->complete_flight(a, 200, dek_of(2).data(), 1000));
  std::uint8_t out[32];
  EXPECT_EQ(get(tb.t, a, out), R::Hit);
  EXPECT_EQ(out[0], 2);
  EXPECT_TRUE(tb.t->complete_flight(b, 100, dek_of(3).data(), 1000));
  EXPECT_TRUE(tb.t->check_invariants());

  // The caller itself asking to lead its own stale flight takes it back.
  DekKey c = key("c", 1);
  ASSERT_EQ(begin(tb.t, c, 300, 2), B::Lead);
  EXPECT_EQ(begin(tb.t, c, 300, 2), B::Lead);

  // abandon_flights(pid, proc) clears the marker: an entry of proc 3 left
  // behind by an earlier process in that slot (pid 400) is abandoned once
  // the slot's process says so, and is removed with its own pid.
  DekKey d = key("d", 1), e = key("e", 1);
  ASSERT_EQ(begin(tb.t, d, 400, 3), B::Lead);
  ASSERT_EQ(begin(tb.t, e, 400, 3), B::Lead);  // d is orphaned now
  EXPECT_EQ(tb.t->abandon_flights(400, 3), 2u);
  EXPECT_EQ(get(tb.t, d), R::Miss);
  EXPECT_EQ(get(tb.t, e), R::Miss);
  ASSERT_EQ(begin(tb.t, d, 401, 3), B::Lead);
  EXPECT_EQ(tb.t->abandon_flights(999, 3), 0u);  // another pid: nothing removed, marker cleared
  EXPECT_EQ(get(tb.t, d), R::Expired);

  // fail_flight clears the marker too: the failure is held, not orphaned.
  DekKey f = key("f", 1);
  ASSERT_EQ(begin(tb.t, f, 500, 1), B::Lead);
  tb.t->fail_flight(f, 500, "58000", "down", 1000);
  EXPECT_EQ(get(tb.t, f), R::Failed);

  // A process slot beyond nprocs has no marker: only abandon_flights ends it.
  DekKey g = key("g", 1), h = key("h", 1);
  ASSERT_EQ(begin(tb.t, g, 600, 4), B::Lead);
  ASSERT_EQ(begin(tb.t, h, 600, 4), B::Lead);
  EXPECT_EQ(get(tb.t, g), R::InFlight);
  EXPECT_EQ(begin(tb.t, g, 601, 0), B::Busy);
  EXPECT_EQ(tb.t->abandon_flights(600, 4), 2u);
  EXPECT_EQ(get(tb.t, g), R::Miss);
  EXPECT_TRUE(tb.t->check_invariants());
}

// A zero capacity is raised to one everywhere (region_size and init agree).
TEST(SharedCache, ZeroCapacityStaysInsideItsRegion) {
  std::size_t n = SharedDekTable::region_size(0, 3);
  EXPECT_EQ(n, SharedDekTable::region_size(1, 3));
  EXPECT_LT(SharedDekTable::region_size(1, 3), SharedDekTable::region_size(1, 3000));
  std::vector<std::uint8_t> mem(n);
  SharedDekTable* t = SharedDekTable::init(mem.data(), 0, 3);
  EXPECT_EQ(t->capacity(), 1u);
  EXPECT_EQ(t->nprocs(), 3u);
  put(t, key("z", 1), 1);
  EXPECT_EQ(get(t, key("z", 1)), R::Hit);
  EXPECT_TRUE(t->check_invariants());
}

// With cache_size = 100000 and many orgs, wiping one version or one org
// visits a handful of slots, not the table (a full sweep visits 262144).
TEST(SharedCache, WipesCostTheOrgNotTheTable) {
  Table tb(100000, 64);
  constexpr std::uint32_t kOrgs = 20000;
  for (std::uint32_t o = 0; o < kOrgs; o++)
    for (std::uint32_t v = 1; v <= 4; v++) put(tb.t, key("org" + std::to_string(o), v), static_cast<std::uint8_t>(v));
  // a few wrapped DEKs (tags) for one version
  for (std::uint8_t tag = 1; tag <= 5; tag++) put(tb.t, key("org77", 2, 1, 100, tag), 0xA0);
  ASSERT_EQ(tb.t->entries(), kOrgs * 4 + 5);

  EXPECT_EQ(tb.t->wipe_version(key("org77", 2, 1, 100, 99)), 6u);
  EXPECT_LT(tb.t->last_wipe_visits(), 100u);
  EXPECT_EQ(get(tb.t, key("org77", 1)), R::Hit);
  EXPECT_EQ(get(tb.t, key("org77", 2)), R::Miss);
  EXPECT_EQ(get(tb.t, key("org77", 2, 1, 100, 3)), R::Miss);
  EXPECT_EQ(get(tb.t, key("org77", 3)), R::Hit);

  EXPECT_EQ(tb.t->wipe_org(key("org123", 0)), 4u);
  EXPECT_LT(tb.t->last_wipe_visits(), 100u);
  for (std::uint32_t v = 1; v <= 4; v++) EXPECT_EQ(get(tb.t, key("org123", v)), R::Miss);
  EXPECT_EQ(get(tb.t, key("org124", 1)), R::Hit);

  EXPECT_EQ(tb.t->wipe_org(key("nobody", 0)), 0u);
  EXPECT_LT(tb.t->last_wipe_visits(), 20u);
  EXPECT_EQ(tb.t->wipe_version(key("nobody", 1)), 0u);
  EXPECT_LT(tb.t->last_wipe_visits(), 20u);

  // abandon_flights costs the flights, not the table
  ASSERT_EQ(begin(tb.t, key("org5", 9), 77, 3), B::Lead);
  EXPECT_EQ(tb.t->abandon_flights(77, 3), 1u);
  EXPECT_LT(tb.t->last_wipe_visits(), 20u);

  EXPECT_EQ(tb.t->entries(), kOrgs * 4 + 5 - 6 - 4);
  EXPECT_TRUE(tb.t->check_invariants());
}

// Random operations against a std::map model, checked after every step: the
// open-addressing index (tags of a version sharing a run, backward-shift
// deletion of several entries of one run), the org lists, single flight,
// stale begins, refused completions, orphan takeover, failures held then
// expired, TTL, eviction (accounted for exactly), wipe_version with any tag,
// wipe_org, abandon_flights, touch_org / touch_all and flush.
TEST(SharedCache, RandomOperationsMatchAModel) {
  constexpr std::uint32_t kCap = 40, kProcs = 4, kOrgs = 12, kVersions = 3, kTags = 3;
  constexpr std::int64_t kTtl = 300, kHold = 200;
  Table tb(kCap, kProcs);
  SharedDekTable* t = tb.t;
  enum class S { Valid, InFlight, Failed };
  struct M {
    S s;
    std::uint8_t b = 0;            // Valid: DEK byte
    std::int64_t time = 0;         // Valid / Failed
    std::int32_t pid = 0;          // InFlight
    std::uint32_t proc = 0;
    std::uint64_t serial = 0, gen = 0;
  };
  using Id = std::tuple<std::uint32_t, std::uint32_t, std::uint8_t>;  // org, version (index), tag
  std::map<Id, M> model;
  std::vector<std::uint64_t> gens(SharedDekTable::kGenBuckets, 0);
  std::vector<std::uint64_t> marker(kProcs, 0);
  std::uint64_t serial = 0, evictions = 0, expirations = 0, orphans = 0;
  std::uint64_t stale_begins = 0, refused = 0, multi_tag_wipes = 0;  // coverage of the run
  // Probe runs that wrap around the end of an index are where backward-shift
  // deletion is subtle: some orgs have their org-index home, some versions
  // their index home, within 6 slots of the end of the (1024-slot) indexes.
  std::uint32_t nindex = 1;
  while (nindex < 2 * (kCap + SharedDekTable::kFlightReserve)) nindex <<= 1;
  auto near_end = [&](std::uint32_t h) { return (h & (nindex - 1)) >= nindex - 6 || (h & (nindex - 1)) < 6; };
  std::vector<std::string> orgs;
  std::vector<std::vector<std::uint32_t>> versions;  // per org, kVersions of them
  for (std::uint32_t o = 0; o < kOrgs; o++) {
    std::string name = "org" + std::to_string(o);
    for (int n = 0; o % 2 && !near_end(org_key_hash(key(name, 0))); n++)
      name = "org" + std::to_string(o) + "." + std::to_string(n);
    orgs.push_back(name);
    std::vector<std::uint32_t> vs;
    for (std::uint32_t v = 1; vs.size() < kVersions; v++)
      if (o % 3 == 0 || near_end(dek_key_hash(key(name, v)))) vs.push_back(v);
    versions.push_back(vs);
  }
  auto org_name = [&](std::uint32_t o) { return orgs[o]; };
  auto kid = [&](const Id& id) {
    return key(orgs[std::get<0>(id)], versions[std::get<0>(id)][std::get<1>(id)], 1, 100, std::get<2>(id));
  };
  auto bucket = [](const DekKey& k) { return org_key_hash(k) % SharedDekTable::kGenBuckets; };
  auto live = [&](const M& m) { return m.proc >= kProcs || marker[m.proc] == m.serial; };
  auto end_flight = [&](const M& m) {
    if (m.proc < kProcs && marker[m.proc] == m.serial) marker[m.proc] = 0;
  };
  // pids 1..4 in procs 0..3; pid 5 in proc 9 (>= nprocs, no marker)
  auto proc_of = [](std::int32_t pid) { return pid == 5 ? 9u : static_cast<std::uint32_t>(pid - 1); };
  std::mt19937 rng(20240601);
  std::int64_t now = 1000;

  for (int step = 0; step < 40000; step++) {
    now += 1 + rng() % 3;
    Id id{rng() % kOrgs, rng() % kVersions, static_cast<std::uint8_t>(rng() % kTags)};
    DekKey k = kid(id);
    std::int32_t pid = 1 + static_cast<std::int32_t>(rng() % 5);
    std::uint32_t proc = proc_of(pid);
    int op = static_cast<int>(rng() % 100);
    if (op < 35) {  // begin (maybe with a stale generation), maybe complete or fail at once
      bool stale = rng() % 8 == 0;
      std::uint64_t read_gen = t->org_generation(k) + (stale ? 1 + rng() % 3 : 0);
      if (stale && rng() % 2 && t->org_generation(k) > 0) read_gen = t->org_generation(k) - 1;
      B expect = B::Lead;
      auto it = model.find(id);
      if (stale) {
        expect = B::Stale;
        stale_begins++;
      } else if (it != model.end()) {
        const M& m = it->second;
        bool replace = m.s == S::Valid    ? now - m.time > kTtl
                       : m.s == S::Failed ? now - m.time > kHold
                                          : !live(m) || (m.pid == pid && m.proc == proc);
        expect = replace ? B::Lead : B::Busy;
        if (replace && m.s == S::Valid) expirations++;
        if (replace && m.s == S::InFlight) orphans++;
      }
      ASSERT_EQ(t->begin_flight(k, pid, proc, read_gen, now, kTtl, kHold), expect) << step;
      if (expect == B::Lead) {
        M m{S::InFlight};
        m.pid = pid;
        m.proc = proc;
        m.serial = ++serial;
        m.gen = read_gen;
        if (proc < kProcs) marker[proc] = m.serial;
        model[id] = m;
        int then = static_cast<int>(rng() % 4);
        std::uint8_t b = static_cast<std::uint8_t>(rng());
        if (then == 0) {
          ASSERT_TRUE(t->complete_flight(k, pid, dek_of(b).data(), now)) << step;
          model[id] = M{S::Valid, b, now};
          end_flight(m);
        } else if (then == 1) {
          t->fail_flight(k, pid, "58000", "down", now);
          model[id] = M{S::Failed, 0, now};
          end_flight(m);
        }  // else: stays in flight (completed, failed or orphaned later)
      }
    } else if (op < 55) {  // a leader completes or fails (sometimes the wrong pid)
      std::vector<Id> flying;
      for (auto& [i, m] : model)
        if (m.s == S::InFlight) flying.push_back(i);
      if (!flying.empty() && rng() % 5) {
        id = flying[rng() % flying.size()];
        k = kid(id);
        pid = model[id].pid;
      }
      auto it = model.find(id);
      bool ours = it != model.end() && it->second.s == S::InFlight && it->second.pid == pid;
      std::uint8_t b = static_cast<std::uint8_t>(rng());
      if (rng() % 4) {
        bool ok = ours && it->second.gen == t->org_generation(k);
        ASSERT_EQ(t->complete_flight(k, pid, dek_of(b).data(), now), ok) << step;
        if (ours) {
          end_flight(it->second);
          if (ok) {
            it->second = M{S::Valid, b, now};
          } else {
            model.erase(it);  // refused: removed
            refused++;
          }
        }
      } else {
        t->fail_flight(k, pid, "58000", "down", now);
        if (ours) {
          end_flight(it->second);
          it->second = M{S::Failed, 0, now};
        }
      }
    } else if (op < 80) {  // lookups: checked below for every key anyway
      std::uint8_t out[32];
      (void)get(t, k, out, now, kTtl);
    } else if (op < 88) {  // wipe_version, whatever tag the caller has
      std::size_t n = 0;
      for (auto it = model.begin(); it != model.end();) {
        if (std::get<0>(it->first) == std::get<0>(id) && std::get<1>(it->first) == std::get<1>(id) &&
            it->second.s != S::InFlight) {
          it = model.erase(it);
          n++;
        } else {
          ++it;
        }
      }
      gens[bucket(k)]++;
      if (n >= 2) multi_tag_wipes++;
      ASSERT_EQ(t->wipe_version(kid({std::get<0>(id), std::get<1>(id), static_cast<std::uint8_t>(rng() % 9)})), n)
          << step;
    } else if (op < 93) {  // wipe_org
      std::size_t n = 0;
      for (auto it = model.begin(); it != model.end();) {
        if (std::get<0>(it->first) == std::get<0>(id) && it->second.s != S::InFlight) {
          it = model.erase(it);
          n++;
        } else {
          ++it;
        }
      }
      gens[bucket(k)]++;
      ASSERT_EQ(t->wipe_org(key(org_name(std::get<0>(id)), 0)), n) << step;
    } else if (op < 96) {  // a leader's process gives up its flights
      std::size_t n = 0;
      for (auto it = model.begin(); it != model.end();) {
        if (it->second.s == S::InFlight && it->second.pid == pid) {
          it = model.erase(it);
          n++;
        } else {
          ++it;
        }
      }
      if (proc < kProcs) marker[proc] = 0;
      ASSERT_EQ(t->abandon_flights(pid, proc), n) << step;
    } else if (op < 99) {  // a key change commits (one org, or unknown orgs)
      if (rng() % 10) {
        gens[bucket(k)]++;
        t->touch_org(k);
      } else {
        for (auto& g : gens) g++;
        t->touch_all();
      }
    } else if (rng() % 20 == 0) {
      std::size_t n = 0;
      for (auto it = model.begin(); it != model.end();) {
        if (it->second.s != S::InFlight) {
          it = model.erase(it);
          n++;
        } else {
          ++it;
        }
      }
      for (auto& g : gens) g++;
      ASSERT_EQ(t->flush(), n) << step;
    }

    // The whole table against the model (evictions are the only slack).
    ASSERT_TRUE(t->check_invariants()) << step;
    for (std::uint32_t o = 0; o < kOrgs; o++)
      ASSERT_EQ(t->org_generation(key(org_name(o), 0)), gens[bucket(key(org_name(o), 0))]) << step;
    std::size_t stored = 0;
    for (std::uint32_t o = 0; o < kOrgs; o++)
      for (std::uint32_t v = 0; v < kVersions; v++)
        for (std::uint8_t tag = 0; tag < kTags; tag++) {
          Id i{o, v, tag};
          std::uint8_t out[32] = {};
          std::int64_t at = 0;
          char st[6] = {}, msg[SharedDekTable::kErrLen] = {};
          R r = t->lookup(kid(i), now, kTtl, kHold, out, &at, st, msg);
          auto it = model.find(i);
          if (it == model.end()) {
            ASSERT_EQ(r, R::Miss) << step;
            continue;
          }
          const M& m = it->second;
          if (m.s != S::InFlight && r == R::Miss) {  // evicted
            model.erase(it);
            evictions++;
            continue;
          }
          switch (m.s) {
            case S::Valid:
              if (now - m.time > kTtl) {
                ASSERT_EQ(r, R::Expired) << step;
              } else {
                ASSERT_EQ(r, R::Hit) << step;
                ASSERT_EQ(std::vector<std::uint8_t>(out, out + 32), dek_of(m.b)) << step;
                ASSERT_EQ(at, m.time) << step;
              }
              stored++;
              break;
            case S::Failed:
              ASSERT_EQ(r, now - m.time > kHold ? R::Expired : R::Failed) << step;
              if (r == R::Failed) {
                ASSERT_STREQ(st, "58000");
              }
              stored++;
              break;
            case S::InFlight:
              ASSERT_EQ(r, live(m) ? R::InFlight : R::Expired) << step;
              break;
          }
        }
    ASSERT_EQ(t->entries(), stored) << step;
    ASSERT_LE(t->entries(), kCap);
    ASSERT_EQ(t->counters().evictions, evictions) << step;
    ASSERT_EQ(t->counters().expirations, expirations) << step;
    ASSERT_EQ(t->counters().orphans, orphans) << step;
  }
  EXPECT_GT(evictions, 100u);
  EXPECT_GT(orphans, 50u);
  EXPECT_GT(expirations, 100u);
  EXPECT_GT(stale_begins, 500u);
  EXPECT_GT(refused, 100u);
  EXPECT_GT(multi_tag_wipes, 100u);
  std::printf("model run: %llu evictions, %llu expirations, %llu orphans taken over, %llu stale begins, "
              "%llu refused completions, %llu multi-tag wipe_version\n",
              (unsigned long long)evictions, (unsigned long long)expirations, (unsigned long long)orphans,
              (unsigned long long)stale_begins, (unsigned long long)refused, (unsigned long long)multi_tag_wipes);
}
