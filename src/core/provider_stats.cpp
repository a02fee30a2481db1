#include "provider_stats.hpp"

#include <cstring>

namespace orgcrypt {

void ProviderStatsTable::clear() { std::memset(this, 0, sizeof *this); }

int ProviderStatsTable::bucket_of(std::int64_t micros) {
  int b = 0;
  while (micros > 1 && b < kBuckets - 1) {
    micros >>= 1;
    b++;
  }
  return b;
}

void ProviderStatsTable::add(const std::string& uri, bool ok, std::int64_t micros) {
  std::size_t len = uri.size() < kUriLen - 1 ? uri.size() : kUriLen - 1;
  Slot* free_slot = nullptr;
  for (auto& s : slots) {
    if (s.used && std::strlen(s.uri) == len && std::memcmp(s.uri, uri.data(), len) == 0) {
      free_slot = &s;
      break;
    }
    if (!s.used && !free_slot) free_slot = &s;
  }
  if (!free_slot) {
    dropped++;
    return;
  }
  Slot& s = *free_slot;
  if (!s.used) {
    s.used = true;
    std::memset(s.uri, 0, sizeof s.uri);
    std::memcpy(s.uri, uri.data(), len);
  }
  s.calls++;
  if (!ok) s.errors++;
  s.hist[bucket_of(micros < 0 ? 0 : micros)]++;
}

void ProviderStatsTable::merge(const ProviderStatsTable& other) {
  dropped += other.dropped;
  for (const auto& o : other.slots) {
    if (!o.used) continue;
    Slot* dst = nullptr;
    for (auto& s : slots) {
      if (s.used && std::strcmp(s.uri, o.uri) == 0) {
        dst = &s;
        break;
      }
      if (!s.used && !dst) dst = &s;
    }
    if (!dst) {
      dropped += o.calls;
      continue;
    }
    if (!dst->used) {
      dst->used = true;
      std::memcpy(dst->uri, o.uri, sizeof dst->uri);
    }
    dst->calls += o.calls;
    dst->errors += o.errors;
    for (int b = 0; b < kBuckets; b++) dst->hist[b] += o.hist[b];
  }
}

bool ProviderStatsTable::empty() const {
  if (dropped) return false;
  for (const auto& s : slots)
    if (s.used) return false;
  return true;
}

double ProviderStatsTable::quantile_ms(const Slot& s, double q) {
  if (s.calls == 0) return 0;
  double need = q * static_cast<double>(s.calls);
  double seen = 0;
  for (int b = 0; b < kBuckets; b++) {
    seen += static_cast<double>(s.hist[b]);
    if (seen >= need) return static_cast<double>(std::uint64_t{1} << (b + 1)) / 1000.0;
  }
  return static_cast<double>(std::uint64_t{1} << kBuckets) / 1000.0;
}

}  // namespace orgcrypt
