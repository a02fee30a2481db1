// The shared DEK cache algorithm over a plain memory region: single flight,
// TTL, clock eviction, destroy generations, flush, and wiping.
#include <gtest/gtest.h>

#include <cstring>
#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "shared_cache.hpp"

using namespace orgcrypt;
using R = SharedDekTable::Result;

namespace {

struct Table {
  explicit Table(std::uint32_t cap) : mem(SharedDekTable::region_size(cap) + 64) {
    t = SharedDekTable::init(mem.data(), cap);
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

// Puts a DEK through the single-flight path.
void put(SharedDekTable* t, const DekKey& k, std::uint8_t b, std::int64_t now = 1000) {
  ASSERT_TRUE(t->begin_flight(k, 42, now, 0, 1000000));
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
  EXPECT_TRUE(tb.t->begin_flight(k, 1, 1000, 0, 1000000));   // leader
  EXPECT_FALSE(tb.t->begin_flight(k, 2, 1000, 0, 1000000));  // waiter
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
  ASSERT_TRUE(tb.t->begin_flight(k, 1, 1000, 0, 500));
  tb.t->fail_flight(k, 1, "58000", "key server unreachable", 1000);
  std::uint8_t buf[32];
  char st[6] = {}, msg[SharedDekTable::kErrLen] = {};
  EXPECT_EQ(tb.t->lookup(k, 1200, 0, 500, buf, nullptr, st, msg), R::Failed);
  EXPECT_STREQ(st, "58000");
  EXPECT_STREQ(msg, "key server unreachable");
  EXPECT_FALSE(tb.t->begin_flight(k, 2, 1200, 0, 500));  // still held
  EXPECT_EQ(tb.t->lookup(k, 1600, 0, 500, buf, nullptr, st, msg), R::Expired);
  EXPECT_TRUE(tb.t->begin_flight(k, 2, 1600, 0, 500));   // a new leader
}

TEST(SharedCache, AbandonedFlightsAreRemoved) {
  Table tb(16);
  ASSERT_TRUE(tb.t->begin_flight(key("a", 1), 7, 1000, 0, 1000000));
  ASSERT_TRUE(tb.t->begin_flight(key("b", 1), 7, 1000, 0, 1000000));
  ASSERT_TRUE(tb.t->begin_flight(key("c", 1), 8, 1000, 0, 1000000));
  EXPECT_EQ(tb.t->abandon_flights(7), 2u);
  EXPECT_EQ(get(tb.t, key("a", 1)), R::Miss);
  EXPECT_EQ(get(tb.t, key("b", 1)), R::Miss);
  EXPECT_EQ(get(tb.t, key("c", 1)), R::InFlight);
  EXPECT_TRUE(tb.t->begin_flight(key("a", 1), 9, 1000, 0, 1000000));  // a waiter takes over
}

TEST(SharedCache, TtlExpiresAtLookupAgainstTheCurrentSetting) {
  Table tb(16);
  DekKey k = key("ttl", 1);
  put(tb.t, k, 5, /*now=*/1000);
  EXPECT_EQ(get(tb.t, k, nullptr, 1000 + 300, 300), R::Hit);
  EXPECT_EQ(get(tb.t, k, nullptr, 1000 + 301, 300), R::Expired);
  EXPECT_EQ(get(tb.t, k, nullptr, 1000 + 301, 0), R::Hit);  // ttl 0 = never
  EXPECT_EQ(get(tb.t, k, nullptr, 1000 + 301, 1000), R::Hit);  // setting raised
  EXPECT_TRUE(tb.t->begin_flight(k, 3, 1000 + 301, 300, 1000000));
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
  ASSERT_TRUE(tb.t->begin_flight(key("gone", 3), 5, 1000, 0, 1000000));  // began before the destroy
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
  ASSERT_TRUE(tb.t->begin_flight(key("c", 1), 5, 1000, 0, 1000000));
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
  ASSERT_TRUE(tb.t->begin_flight(key("t", 1), 1, 5000, 10, 1000000));  // expired: replaced
  EXPECT_FALSE(contains(0x5A));
}

// Random operations against a simple model: the open-addressing index with
// backward-shift deletion must find exactly what the model holds.
TEST(SharedCache, RandomOperationsMatchAModel) {
  Table tb(64);
  std::map<std::pair<std::string, std::uint32_t>, std::uint8_t> model;
  std::mt19937 rng(12345);
  for (int step = 0; step < 200000; step++) {
    std::string org = "org" + std::to_string(rng() % 40);
    std::uint32_t v = 1 + rng() % 4;
    DekKey k = key(org, v);
    int op = rng() % 10;
    if (op < 5) {
      std::uint8_t b = static_cast<std::uint8_t>(rng());
      if (tb.t->begin_flight(k, 1, 1000, 0, 1000000)) {
        ASSERT_TRUE(tb.t->complete_flight(k, 1, dek_of(b).data(), 1000));
        model[{org, v}] = b;
      }
    } else if (op < 8) {
      std::uint8_t out[32];
      R r = get(tb.t, k, out);
      auto it = model.find({org, v});
      if (r == R::Hit) {
        ASSERT_NE(it, model.end());
        ASSERT_EQ(out[0], it->second);
      } else {
        ASSERT_EQ(r, R::Miss);
        model.erase({org, v});  // evicted
      }
    } else if (op < 9) {
      tb.t->wipe_version(k);
      model.erase({org, v});
    } else {
      tb.t->wipe_org(key(org, 0));
      for (std::uint32_t x = 1; x <= 4; x++) model.erase({org, x});
    }
    ASSERT_LE(tb.t->entries(), 64u);
  }
  // everything the table holds is in the model with the same bytes
  for (auto& [k, b] : model) {
    std::uint8_t out[32];
    R r = get(tb.t, key(k.first, k.second), out);
    if (r == R::Hit) {
      ASSERT_EQ(out[0], b);
    }
  }
}
