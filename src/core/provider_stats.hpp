// Provider call statistics (view orgcrypt.provider_stats): per KEK URI, the
// number of calls and errors and a latency histogram in power-of-two
// microsecond buckets, from which p50 and p99 are read. Plain data with fixed
// slots: it lives in shared memory (or in a backend without preloading); the
// caller serialises access.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace orgcrypt {

struct ProviderStatsTable {
  static constexpr std::size_t kSlots = 64;
  static constexpr std::size_t kUriLen = 256;
  static constexpr int kBuckets = 32;  // bucket i: latencies in [2^i, 2^(i+1)) µs (bucket 0 also holds 0)
  struct Slot {
    bool used;
    char uri[kUriLen];  // truncated to kUriLen - 1 bytes
    std::uint64_t calls, errors;
    std::uint64_t hist[kBuckets];
  };
  Slot slots[kSlots];
  std::uint64_t dropped;  // calls of URIs that found no free slot

  void clear();
  // Counts one call. A URI beyond the 64 slots is counted in `dropped`.
  void add(const std::string& uri, bool ok, std::int64_t micros);
  // Adds another table's counts (folding a backend's counts into shared
  // memory).
  void merge(const ProviderStatsTable& other);
  bool empty() const;
  // The latency (ms) at quantile q (0 < q <= 1) of a slot: the upper bound of
  // the bucket that holds it; 0 for a slot without calls.
  static double quantile_ms(const Slot& s, double q);
  static int bucket_of(std::int64_t micros);
};

}  // namespace orgcrypt
