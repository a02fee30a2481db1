// provider_stats: calls, errors and latency quantiles per KEK URI, and the
// observer that open_provider installs around every provider.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "provider.hpp"
#include "provider_stats.hpp"
#include "test_util.hpp"

using namespace orgcrypt;

TEST(ProviderStats, CountsCallsErrorsAndQuantiles) {
  static ProviderStatsTable t;
  t.clear();
  for (int i = 0; i < 98; i++) t.add("file:/a", true, 100);  // bucket [64, 128) µs
  t.add("file:/a", false, 5000);                             // [4096, 8192)
  t.add("file:/a", true, 5000);
  t.add("exec:/b", true, 0);
  const auto& a = t.slots[0];
  EXPECT_STREQ(a.uri, "file:/a");
  EXPECT_EQ(a.calls, 100u);
  EXPECT_EQ(a.errors, 1u);
  EXPECT_DOUBLE_EQ(ProviderStatsTable::quantile_ms(a, 0.5), 0.128);
  EXPECT_DOUBLE_EQ(ProviderStatsTable::quantile_ms(a, 0.99), 8.192);
  EXPECT_STREQ(t.slots[1].uri, "exec:/b");
  EXPECT_DOUBLE_EQ(ProviderStatsTable::quantile_ms(t.slots[1], 0.5), 0.002);
  EXPECT_EQ(ProviderStatsTable::bucket_of(1), 0);
  EXPECT_EQ(ProviderStatsTable::bucket_of(2), 1);
  EXPECT_EQ(ProviderStatsTable::bucket_of(INT64_MAX), ProviderStatsTable::kBuckets - 1);
}

TEST(ProviderStats, MergeAddsByUri) {
  static ProviderStatsTable a, b;
  a.clear();
  b.clear();
  EXPECT_TRUE(b.empty());
  a.add("file:/x", true, 10);
  b.add("exec:/y", false, 10);
  b.add("file:/x", true, 10);
  EXPECT_FALSE(b.empty());
  a.merge(b);
  EXPECT_EQ(a.slots[0].calls, 2u);
  EXPECT_STREQ(a.slots[1].uri, "exec:/y");
  EXPECT_EQ(a.slots[1].errors, 1u);
}

TEST(ProviderStats, FullTableCountsDropped) {
  static ProviderStatsTable t;
  t.clear();
  for (std::size_t i = 0; i < ProviderStatsTable::kSlots + 3; i++) t.add("file:/k" + std::to_string(i), true, 1);
  EXPECT_EQ(t.dropped, 3u);
  t.add(std::string(1000, 'x'), true, 1);  // long URIs are truncated, never overflow
  EXPECT_EQ(t.dropped, 4u);
}

namespace {
std::vector<std::string> g_seen;
void observe(const std::string& uri, const char* op, bool ok, std::int64_t) {
  g_seen.push_back(uri + " " + op + (ok ? " ok" : " failed"));
}
}  // namespace

TEST(ProviderStats, TheObserverSeesEveryCall) {
  testutil::TempDir dir;
  std::string path = dir.file("kek");
  testutil::write_file(path, std::string(32, 'k'));
  set_provider_observer(observe);
  g_seen.clear();
  {
    auto p = open_provider("file:" + path);
    Bytes fp = p->fingerprint();
    Bytes blob = p->wrap(ByteView(std::string(32, 'd')), ByteView(std::string("aad")));
    EXPECT_THROW(p->unwrap(ByteView(blob), ByteView(std::string("other aad"))), std::exception);
  }
  set_provider_observer(nullptr);
  ASSERT_EQ(g_seen.size(), 3u);
  EXPECT_EQ(g_seen[0], "file:" + path + " fingerprint ok");
  EXPECT_EQ(g_seen[1], "file:" + path + " wrap ok");
  EXPECT_EQ(g_seen[2], "file:" + path + " unwrap failed");
}
