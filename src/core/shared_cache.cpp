#include "shared_cache.hpp"

#include <openssl/crypto.h>

#include <cstring>
#include <new>

namespace orgcrypt {

namespace {
constexpr std::uint32_t kMagic = 0x4F434331;  // "OCC1"
constexpr std::uint32_t kNoFree = 0xFFFFFFFFu;

std::uint32_t fnv(std::uint32_t h, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  for (std::size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
  return h;
}
std::uint32_t next_pow2(std::uint64_t v) {
  std::uint64_t p = 1;
  while (p < v) p <<= 1;
  return static_cast<std::uint32_t>(p);
}
std::size_t align64(std::size_t n) { return (n + 63) & ~std::size_t{63}; }
}  // namespace

DekKey DekKey::make(std::uint32_t db, std::uint32_t keytab, const void* org, std::size_t org_len,
                    std::uint32_t version, const std::uint8_t* tag) {
  DekKey k{};
  if (tag) std::memcpy(k.tag, tag, kTagLen);
  k.db = db;
  k.keytab = keytab;
  k.version = version;
  k.org_len = static_cast<std::uint8_t>(org_len > 255 ? 255 : org_len);
  std::memcpy(k.org, org, k.org_len);
  return k;
}

bool DekKey::same_org(const DekKey& o) const {
  return db == o.db && keytab == o.keytab && org_len == o.org_len && std::memcmp(org, o.org, org_len) == 0;
}

bool DekKey::operator==(const DekKey& o) const {
  return version == o.version && std::memcmp(tag, o.tag, kTagLen) == 0 && same_org(o);
}

std::uint32_t org_key_hash(const DekKey& k) {
  std::uint32_t h = 2166136261u;
  h = fnv(h, &k.db, sizeof k.db);
  h = fnv(h, &k.keytab, sizeof k.keytab);
  return fnv(h, k.org, k.org_len) ^ k.org_len;
}

std::uint32_t dek_key_hash(const DekKey& k) {
  return fnv(fnv(org_key_hash(k), &k.version, sizeof k.version), k.tag, DekKey::kTagLen);
}

std::size_t SharedDekTable::header_size() { return align64(sizeof(SharedDekTable)); }

std::size_t SharedDekTable::region_size(std::uint32_t capacity) {
  std::uint64_t nentries = std::uint64_t{capacity} + kFlightReserve;
  std::uint64_t nindex = next_pow2(2 * nentries);
  return header_size() + align64(nindex * sizeof(IndexSlot)) + nentries * sizeof(Entry);
}

SharedDekTable::IndexSlot* SharedDekTable::index() {
  return reinterpret_cast<IndexSlot*>(reinterpret_cast<std::uint8_t*>(this) + header_size());
}

SharedDekTable::Entry* SharedDekTable::entries_array() {
  return reinterpret_cast<Entry*>(reinterpret_cast<std::uint8_t*>(index()) + align64(nindex_ * sizeof(IndexSlot)));
}

const void* SharedDekTable::key_region(std::size_t* len) const {
  auto* self = const_cast<SharedDekTable*>(this);
  *len = std::size_t{nentries_} * sizeof(Entry);
  return self->entries_array();
}

SharedDekTable* SharedDekTable::init(void* region, std::uint32_t capacity) {
  if (capacity == 0) capacity = 1;
  std::memset(region, 0, region_size(capacity));
  auto* t = new (region) SharedDekTable();
  t->magic_ = kMagic;
  t->capacity_ = capacity;
  t->nentries_ = capacity + kFlightReserve;
  t->nindex_ = next_pow2(2 * std::uint64_t{t->nentries_});
  t->stored_ = t->used_ = t->hand_ = 0;
  IndexSlot* ix = t->index();
  for (std::uint32_t i = 0; i < t->nindex_; i++) ix[i].entry = -1;
  Entry* e = t->entries_array();
  for (std::uint32_t i = 0; i < t->nentries_; i++) e[i].next_free = i + 1 < t->nentries_ ? i + 1 : kNoFree;
  t->free_head_ = 0;
  return t;
}

std::uint64_t& SharedDekTable::gen_of(const DekKey& k) { return gens_[org_key_hash(k) % kGenBuckets]; }

std::int32_t SharedDekTable::find(const DekKey& k, std::uint32_t h, std::size_t* pos) {
  IndexSlot* ix = index();
  Entry* e = entries_array();
  std::uint32_t mask = nindex_ - 1;
  for (std::uint32_t i = h & mask, n = 0; n < nindex_; i = (i + 1) & mask, n++) {
    if (ix[i].entry < 0) return -1;
    if (ix[i].hash == h && e[ix[i].entry].key == k) {
      if (pos) *pos = i;
      return ix[i].entry;
    }
  }
  return -1;
}

std::int32_t SharedDekTable::insert(const DekKey& k, std::uint32_t h) {
  if (free_head_ == kNoFree) return -1;
  std::uint32_t ei = free_head_;
  Entry* e = &entries_array()[ei];
  free_head_ = e->next_free;
  std::memset(e, 0, sizeof *e);
  e->hash = h;
  e->key = k;
  IndexSlot* ix = index();
  std::uint32_t mask = nindex_ - 1;
  std::uint32_t i = h & mask;
  while (ix[i].entry >= 0) i = (i + 1) & mask;
  ix[i].hash = h;
  ix[i].entry = static_cast<std::int32_t>(ei);
  used_++;
  return static_cast<std::int32_t>(ei);
}

void SharedDekTable::remove(std::size_t pos) {
  IndexSlot* ix = index();
  Entry* entries = entries_array();
  std::uint32_t ei = static_cast<std::uint32_t>(ix[pos].entry);
  Entry* e = &entries[ei];
  if (e->state == State::Valid || e->state == State::Failed) stored_--;
  OPENSSL_cleanse(e, sizeof *e);
  e->state = State::Free;
  e->next_free = free_head_;
  free_head_ = ei;
  used_--;
  // Backward-shift deletion keeps every probe sequence unbroken.
  std::uint32_t mask = nindex_ - 1;
  std::uint32_t i = static_cast<std::uint32_t>(pos), j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (ix[j].entry < 0) break;
    std::uint32_t home = ix[j].hash & mask;
    bool stays = (i <= j) ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    ix[i] = ix[j];
    i = j;
  }
  ix[i].entry = -1;
  ix[i].hash = 0;
}

bool SharedDekTable::evict_one() {
  Entry* entries = entries_array();
  for (std::uint32_t n = 0; n < 2 * nentries_ + 1; n++) {
    Entry* e = &entries[hand_];
    std::uint32_t at = hand_;
    hand_ = (hand_ + 1) % nentries_;
    if (e->state != State::Valid && e->state != State::Failed) continue;
    if (e->ref) {
      e->ref = 0;
      continue;
    }
    std::size_t pos;
    if (find(e->key, e->hash, &pos) != static_cast<std::int32_t>(at)) continue;  // cannot happen
    remove(pos);
    counters_.evictions++;
    return true;
  }
  return false;
}

SharedDekTable::Result SharedDekTable::lookup(const DekKey& k, std::int64_t now_us, std::int64_t ttl_us,
                                              std::int64_t fail_hold_us, std::uint8_t* dek_out,
                                              std::int64_t* unwrapped_at, char* sqlstate, char* message) {
  std::int32_t ei = find(k, dek_key_hash(k), nullptr);
  if (ei < 0) return Result::Miss;
  Entry& e = entries_array()[ei];
  switch (e.state) {
    case State::Valid:
      if (ttl_us > 0 && now_us - e.time_us > ttl_us) return Result::Expired;
      if (!e.ref) e.ref = 1;
      std::memcpy(dek_out, e.dek, sizeof e.dek);
      if (unwrapped_at) *unwrapped_at = e.time_us;
      return Result::Hit;
    case State::InFlight:
      return Result::InFlight;
    case State::Failed:
      if (now_us - e.time_us > fail_hold_us) return Result::Expired;
      if (sqlstate) std::memcpy(sqlstate, e.sqlstate, sizeof e.sqlstate);
      if (message) std::memcpy(message, e.message, sizeof e.message);
      return Result::Failed;
    case State::Free:
      break;
  }
  return Result::Miss;
}

bool SharedDekTable::begin_flight(const DekKey& k, std::int32_t pid, std::int64_t now_us, std::int64_t ttl_us,
                                  std::int64_t fail_hold_us) {
  std::uint32_t h = dek_key_hash(k);
  std::size_t pos;
  std::int32_t ei = find(k, h, &pos);
  if (ei >= 0) {
    Entry& e = entries_array()[ei];
    bool expired = (e.state == State::Valid && ttl_us > 0 && now_us - e.time_us > ttl_us) ||
                   (e.state == State::Failed && now_us - e.time_us > fail_hold_us);
    if (!expired) return false;
    if (e.state == State::Valid) counters_.expirations++;
    remove(pos);
  }
  while (stored_ >= capacity_ && used_ >= capacity_)
    if (!evict_one()) break;
  ei = insert(k, h);
  if (ei < 0) {  // every slot is in flight: lead without a slot to publish to
    return true;
  }
  Entry& e = entries_array()[ei];
  e.state = State::InFlight;
  e.owner = pid;
  e.gen = gen_of(k);
  e.time_us = now_us;
  return true;
}

bool SharedDekTable::complete_flight(const DekKey& k, std::int32_t pid, const std::uint8_t* dek, std::int64_t now_us) {
  std::size_t pos;
  std::int32_t ei = find(k, dek_key_hash(k), &pos);
  if (ei < 0) return false;
  Entry& e = entries_array()[ei];
  if (e.state != State::InFlight || e.owner != pid) return false;
  if (e.gen != gen_of(k)) {  // destroyed or flushed meanwhile
    remove(pos);
    return false;
  }
  while (stored_ >= capacity_)
    if (!evict_one()) break;
  if (stored_ >= capacity_) {
    remove(pos);
    return false;
  }
  std::memcpy(e.dek, dek, sizeof e.dek);
  e.state = State::Valid;
  e.owner = 0;
  e.time_us = now_us;
  e.ref = 1;
  stored_++;
  return true;
}

void SharedDekTable::fail_flight(const DekKey& k, std::int32_t pid, const char* sqlstate, const char* message,
                                 std::int64_t now_us) {
  std::size_t pos;
  std::int32_t ei = find(k, dek_key_hash(k), &pos);
  if (ei < 0) return;
  Entry& e = entries_array()[ei];
  if (e.state != State::InFlight || e.owner != pid) return;
  if (stored_ >= capacity_ && !evict_one()) {
    remove(pos);
    return;
  }
  e.state = State::Failed;
  e.owner = 0;
  e.time_us = now_us;
  std::memset(e.sqlstate, 0, sizeof e.sqlstate);
  std::memset(e.message, 0, sizeof e.message);
  std::strncpy(e.sqlstate, sqlstate, sizeof e.sqlstate - 1);
  std::strncpy(e.message, message, sizeof e.message - 1);
  stored_++;
}

template <typename Pred>
std::size_t SharedDekTable::remove_if(Pred pred) {
  std::size_t n = 0;
  IndexSlot* ix = index();
  Entry* entries = entries_array();
  for (std::uint32_t i = 0; i < nindex_;) {
    if (ix[i].entry >= 0 && pred(entries[ix[i].entry])) {
      remove(i);
      n++;
      continue;  // another entry may have shifted into slot i
    }
    i++;
  }
  return n;
}

std::size_t SharedDekTable::abandon_flights(std::int32_t pid) {
  return remove_if([pid](const Entry& e) { return e.state == State::InFlight && e.owner == pid; });
}

std::size_t SharedDekTable::wipe_org(const DekKey& org_key) {
  gen_of(org_key)++;
  return remove_if([&](const Entry& e) { return e.state != State::InFlight && e.key.same_org(org_key); });
}

std::size_t SharedDekTable::wipe_version(const DekKey& k) {
  return remove_if([&](const Entry& e) {
    return e.state != State::InFlight && e.key.version == k.version && e.key.same_org(k);
  });
}

std::size_t SharedDekTable::flush() {
  for (auto& g : gens_) g++;
  global_gen_++;
  return remove_if([](const Entry& e) { return e.state != State::InFlight; });
}

}  // namespace orgcrypt
