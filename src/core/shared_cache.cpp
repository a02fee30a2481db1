#include "shared_cache.hpp"

#include <openssl/crypto.h>

#include <cstring>
#include <new>

namespace orgcrypt {

namespace {
constexpr std::uint32_t kMagic = 0x4F434332;  // "OCC2"

std::uint32_t fnv(std::uint32_t h, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::uint8_t*>(p);
  for (std::size_t i = 0; i < n; i++) h = (h ^ b[i]) * 16777619u;
  return h;
}
// The indexes use the low bits: mix them well (murmur3's finaliser).
std::uint32_t fmix(std::uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  return h ^ (h >> 16);
}
std::uint32_t org_fnv(const DekKey& k) {
  std::uint32_t h = 2166136261u;
  h = fnv(h, &k.db, sizeof k.db);
  h = fnv(h, &k.keytab, sizeof k.keytab);
  return fnv(h, &k.org_len, 1) ^ fnv(h, k.org, k.org_len);
}
std::uint32_t next_pow2(std::uint64_t v) {
  std::uint64_t p = 1;
  while (p < v) p <<= 1;
  return static_cast<std::uint32_t>(p);
}
std::size_t align64(std::size_t n) { return (n + 63) & ~std::size_t{63}; }

// Sizes of the parts of a region (capacity already clamped to >= 1).
struct Layout {
  std::uint32_t nentries, nindex;
  std::size_t index_bytes, markers_bytes, entries_bytes;
  Layout(std::uint32_t capacity, std::uint32_t nprocs) {
    nentries = capacity + SharedDekTable::kFlightReserve;
    nindex = next_pow2(2 * std::uint64_t{nentries});
    index_bytes = align64(std::size_t{nindex} * 8);
    markers_bytes = align64(std::size_t{nprocs} * sizeof(std::uint64_t));
    entries_bytes = std::size_t{nentries} * sizeof(SharedDekTable::Entry);
  }
};
std::uint32_t clamp_capacity(std::uint32_t c) {
  if (c == 0) return 1;
  constexpr std::uint32_t kMax = (1u << 30) - SharedDekTable::kFlightReserve;  // nindex fits in 32 bits
  return c > kMax ? kMax : c;
}
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

std::uint32_t org_key_hash(const DekKey& k) { return fmix(org_fnv(k)); }

std::uint32_t dek_key_hash(const DekKey& k) {
  // No tag: every wrapped DEK of one version shares a probe run.
  return fmix(fnv(org_fnv(k), &k.version, sizeof k.version) ^ 0x9e3779b9u);
}

// ---- layout ----

std::size_t SharedDekTable::header_size() { return align64(sizeof(SharedDekTable)); }

std::size_t SharedDekTable::region_size(std::uint32_t capacity, std::uint32_t nprocs) {
  Layout l(clamp_capacity(capacity), nprocs);
  return header_size() + 2 * l.index_bytes + l.markers_bytes + l.entries_bytes;
}

SharedDekTable::IndexSlot* SharedDekTable::index() const {
  auto* base = reinterpret_cast<std::uint8_t*>(const_cast<SharedDekTable*>(this));
  return reinterpret_cast<IndexSlot*>(base + header_size());
}

SharedDekTable::IndexSlot* SharedDekTable::org_index() const {
  auto* base = reinterpret_cast<std::uint8_t*>(const_cast<SharedDekTable*>(this));
  return reinterpret_cast<IndexSlot*>(base + org_index_off_);
}

std::uint64_t* SharedDekTable::markers() const {
  auto* base = reinterpret_cast<std::uint8_t*>(const_cast<SharedDekTable*>(this));
  return reinterpret_cast<std::uint64_t*>(base + markers_off_);
}

SharedDekTable::Entry* SharedDekTable::entries_array() const {
  auto* base = reinterpret_cast<std::uint8_t*>(const_cast<SharedDekTable*>(this));
  return reinterpret_cast<Entry*>(base + entries_off_);
}

std::size_t SharedDekTable::gen_bucket(const DekKey& k) { return org_key_hash(k) % kGenBuckets; }

SharedDekTable* SharedDekTable::init(void* region, std::uint32_t capacity, std::uint32_t nprocs) {
  capacity = clamp_capacity(capacity);
  static_assert(sizeof(IndexSlot) == 8, "index slot size (Layout)");
  std::memset(region, 0, region_size(capacity, nprocs));
  auto* t = new (region) SharedDekTable();
  Layout l(capacity, nprocs);
  t->magic_ = kMagic;
  t->capacity_ = capacity;
  t->nprocs_ = nprocs;
  t->nentries_ = l.nentries;
  t->nindex_ = l.nindex;
  t->org_index_off_ = header_size() + l.index_bytes;
  t->markers_off_ = t->org_index_off_ + l.index_bytes;
  t->entries_off_ = t->markers_off_ + l.markers_bytes;
  t->stored_ = t->used_ = t->hand_ = 0;
  t->serial_ = t->work_ = t->last_wipe_visits_ = 0;
  t->global_gen_ = 0;
  t->flight_head_ = kNone;
  IndexSlot* ix = t->index();
  IndexSlot* ox = t->org_index();
  for (std::uint32_t i = 0; i < t->nindex_; i++) ix[i].entry = ox[i].entry = -1;
  Entry* e = t->entries_array();
  for (std::uint32_t i = 0; i < t->nentries_; i++) e[i].next_free = i + 1 < t->nentries_ ? i + 1 : kNone;
  t->free_head_ = 0;
  return t;
}

// ---- the indexes and lists ----

std::int32_t SharedDekTable::find(const DekKey& k, std::uint32_t h, std::size_t* pos) const {
  // Also runs under a shared lock: writes nothing (not even work_).
  const IndexSlot* ix = index();
  const Entry* e = entries_array();
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

std::size_t SharedDekTable::index_pos_of(std::uint32_t ei) {
  IndexSlot* ix = index();
  std::uint32_t mask = nindex_ - 1;
  std::uint32_t i = entries_array()[ei].hash & mask;
  for (std::uint32_t n = 0; n < nindex_; i = (i + 1) & mask, n++) {
    work_++;
    if (ix[i].entry == static_cast<std::int32_t>(ei)) break;
  }
  return i;  // a live entry is always in its probe run
}

std::int32_t SharedDekTable::org_slot(const DekKey& k, std::uint32_t oh) {
  IndexSlot* ox = org_index();
  const Entry* e = entries_array();
  std::uint32_t mask = nindex_ - 1;
  for (std::uint32_t i = oh & mask, n = 0; n < nindex_; i = (i + 1) & mask, n++) {
    work_++;
    if (ox[i].entry < 0) return -1;
    if (ox[i].hash == oh && e[ox[i].entry].key.same_org(k)) return static_cast<std::int32_t>(i);
  }
  return -1;
}

void SharedDekTable::shift_delete(IndexSlot* ix, std::size_t pos) {
  // Backward-shift deletion keeps every probe sequence unbroken.
  std::uint32_t mask = nindex_ - 1;
  std::uint32_t i = static_cast<std::uint32_t>(pos), j = i;
  for (;;) {
    j = (j + 1) & mask;
    work_++;
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

void SharedDekTable::org_link(std::uint32_t ei) {
  Entry* entries = entries_array();
  Entry& e = entries[ei];
  e.org_prev = kNone;
  std::int32_t pos = org_slot(e.key, e.org_hash);
  IndexSlot* ox = org_index();
  if (pos >= 0) {
    std::uint32_t head = static_cast<std::uint32_t>(ox[pos].entry);
    e.org_next = head;
    entries[head].org_prev = ei;
    ox[pos].entry = static_cast<std::int32_t>(ei);
    return;
  }
  e.org_next = kNone;
  std::uint32_t mask = nindex_ - 1;
  std::uint32_t i = e.org_hash & mask;
  while (ox[i].entry >= 0) {
    i = (i + 1) & mask;
    work_++;
  }
  ox[i].hash = e.org_hash;
  ox[i].entry = static_cast<std::int32_t>(ei);
}

void SharedDekTable::org_unlink(std::uint32_t ei) {
  Entry* entries = entries_array();
  Entry& e = entries[ei];
  if (e.org_next != kNone) entries[e.org_next].org_prev = e.org_prev;
  if (e.org_prev != kNone) {
    entries[e.org_prev].org_next = e.org_next;
  } else {  // the head: its org slot points at it
    std::int32_t pos = org_slot(e.key, e.org_hash);
    if (pos >= 0) {
      if (e.org_next != kNone)
        org_index()[pos].entry = static_cast<std::int32_t>(e.org_next);
      else
        shift_delete(org_index(), static_cast<std::size_t>(pos));
    }
  }
  e.org_prev = e.org_next = kNone;
}

void SharedDekTable::flight_link(std::uint32_t ei) {
  Entry* entries = entries_array();
  entries[ei].flight_prev = kNone;
  entries[ei].flight_next = flight_head_;
  if (flight_head_ != kNone) entries[flight_head_].flight_prev = ei;
  flight_head_ = ei;
}

void SharedDekTable::flight_unlink(std::uint32_t ei) {
  Entry* entries = entries_array();
  Entry& e = entries[ei];
  if (e.flight_next != kNone) entries[e.flight_next].flight_prev = e.flight_prev;
  if (e.flight_prev != kNone)
    entries[e.flight_prev].flight_next = e.flight_next;
  else
    flight_head_ = e.flight_next;
  e.flight_prev = e.flight_next = kNone;
}

void SharedDekTable::end_flight(Entry& e) {
  flight_unlink(static_cast<std::uint32_t>(&e - entries_array()));
  // The leader is done with this flight (not with a later one it may lead).
  if (e.proc < nprocs_ && markers()[e.proc] == e.serial) markers()[e.proc] = 0;
  e.owner = 0;
  e.proc = 0;
  e.serial = 0;
}

bool SharedDekTable::orphaned(const Entry& e) const {
  return e.state == State::InFlight && e.proc < nprocs_ && markers()[e.proc] != e.serial;
}

std::uint64_t SharedDekTable::next_serial() {
  if (++serial_ == 0) ++serial_;
  return serial_;
}

std::int32_t SharedDekTable::insert(const DekKey& k, std::uint32_t h) {
  if (free_head_ == kNone) return -1;
  std::uint32_t ei = free_head_;
  Entry* e = &entries_array()[ei];
  free_head_ = e->next_free;
  std::memset(e, 0, sizeof *e);
  e->hash = h;
  e->org_hash = org_key_hash(k);
  e->key = k;
  e->next_free = kNone;
  e->flight_prev = e->flight_next = kNone;
  IndexSlot* ix = index();
  std::uint32_t mask = nindex_ - 1;
  std::uint32_t i = h & mask;
  while (ix[i].entry >= 0) i = (i + 1) & mask;
  ix[i].hash = h;
  ix[i].entry = static_cast<std::int32_t>(ei);
  org_link(ei);
  used_++;
  return static_cast<std::int32_t>(ei);
}

void SharedDekTable::remove(std::size_t pos) {
  IndexSlot* ix = index();
  Entry* entries = entries_array();
  std::uint32_t ei = static_cast<std::uint32_t>(ix[pos].entry);
  Entry* e = &entries[ei];
  if (e->state == State::InFlight) end_flight(*e);
  if (e->state == State::Valid || e->state == State::Failed) stored_--;
  org_unlink(ei);
  OPENSSL_cleanse(e, sizeof *e);
  e->state = State::Free;
  e->next_free = free_head_;
  free_head_ = ei;
  used_--;
  shift_delete(ix, pos);
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
    remove_entry(at);
    counters_.evictions++;
    return true;
  }
  return false;
}

// ---- operations ----

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
      return orphaned(e) ? Result::Expired : Result::InFlight;
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

SharedDekTable::Begin SharedDekTable::begin_flight(const DekKey& k, std::int32_t pid, std::uint32_t proc,
                                                   std::uint64_t read_gen, std::int64_t now_us,
                                                   std::int64_t ttl_us, std::int64_t fail_hold_us) {
  // The caller's key row may predate a destroy: it must not lead, nor stop
  // anyone else from leading.
  if (read_gen != org_generation(k)) return Begin::Stale;
  std::uint32_t h = dek_key_hash(k);
  std::size_t pos;
  std::int32_t ei = find(k, h, &pos);
  if (ei >= 0) {
    Entry& e = entries_array()[ei];
    bool replace = false;
    switch (e.state) {
      case State::Valid:
        replace = ttl_us > 0 && now_us - e.time_us > ttl_us;
        if (replace) counters_.expirations++;
        break;
      case State::Failed:
        replace = now_us - e.time_us > fail_hold_us;
        break;
      case State::InFlight:
        // Nobody works on it: its leader's marker moved on, or its leader is
        // the caller (which is asking to lead again, so it has given it up).
        replace = orphaned(e) || (e.owner == pid && e.proc == proc);
        if (replace) counters_.orphans++;
        break;
      case State::Free:
        break;
    }
    if (!replace) return Begin::Busy;
    remove(pos);
  }
  while (stored_ >= capacity_ && used_ >= capacity_)
    if (!evict_one()) break;
  ei = insert(k, h);
  if (ei < 0) {  // every slot is in flight: lead without a slot to publish to
    if (proc < nprocs_) markers()[proc] = 0;  // any earlier flight of proc is over
    return Begin::Lead;
  }
  Entry& e = entries_array()[ei];
  e.state = State::InFlight;
  e.owner = pid;
  e.proc = proc;
  e.serial = next_serial();
  e.gen = read_gen;
  e.time_us = now_us;
  flight_link(static_cast<std::uint32_t>(ei));
  if (proc < nprocs_) markers()[proc] = e.serial;
  return Begin::Lead;
}

bool SharedDekTable::complete_flight(const DekKey& k, std::int32_t pid, const std::uint8_t* dek, std::int64_t now_us) {
  std::size_t pos;
  std::int32_t ei = find(k, dek_key_hash(k), &pos);
  if (ei < 0) return false;
  Entry& e = entries_array()[ei];
  if (e.state != State::InFlight || e.owner != pid) return false;
  if (e.gen != org_generation(k)) {  // wiped, destroyed, changed or flushed meanwhile
    remove(pos);
    return false;
  }
  while (stored_ >= capacity_)
    if (!evict_one()) break;
  if (stored_ >= capacity_) {
    remove_entry(static_cast<std::uint32_t>(ei));  // evictions may have moved its index slot
    return false;
  }
  end_flight(e);
  std::memcpy(e.dek, dek, sizeof e.dek);
  e.state = State::Valid;
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
  while (stored_ >= capacity_)
    if (!evict_one()) break;
  if (stored_ >= capacity_) {
    remove_entry(static_cast<std::uint32_t>(ei));
    return;
  }
  end_flight(e);
  e.state = State::Failed;
  e.time_us = now_us;
  std::memset(e.sqlstate, 0, sizeof e.sqlstate);
  std::memset(e.message, 0, sizeof e.message);
  std::strncpy(e.sqlstate, sqlstate, sizeof e.sqlstate - 1);
  std::strncpy(e.message, message, sizeof e.message - 1);
  stored_++;
}

std::size_t SharedDekTable::abandon_flights(std::int32_t pid, std::uint32_t proc) {
  std::uint64_t start = work_;
  std::size_t n = 0;
  Entry* entries = entries_array();
  for (std::uint32_t ei = flight_head_; ei != kNone;) {
    work_++;
    std::uint32_t next = entries[ei].flight_next;
    if (entries[ei].owner == pid) {
      remove_entry(ei);
      n++;
    }
    ei = next;
  }
  if (proc < nprocs_) markers()[proc] = 0;
  last_wipe_visits_ = work_ - start;
  return n;
}

std::size_t SharedDekTable::wipe_org(const DekKey& org_key) {
  std::uint64_t start = work_;
  touch_org(org_key);
  std::size_t n = 0;
  std::int32_t pos = org_slot(org_key, org_key_hash(org_key));
  if (pos >= 0) {
    Entry* entries = entries_array();
    for (std::uint32_t ei = static_cast<std::uint32_t>(org_index()[pos].entry); ei != kNone;) {
      work_++;
      std::uint32_t next = entries[ei].org_next;
      if (entries[ei].state != State::InFlight) {  // a flight is refused at completion
        remove_entry(ei);
        n++;
      }
      ei = next;
    }
  }
  last_wipe_visits_ = work_ - start;
  return n;
}

std::size_t SharedDekTable::wipe_version(const DekKey& k) {
  std::uint64_t start = work_;
  touch_org(k);
  std::size_t n = 0;
  IndexSlot* ix = index();
  Entry* entries = entries_array();
  std::uint32_t h = dek_key_hash(k);
  std::uint32_t mask = nindex_ - 1;
  // Every tag of the version lies in the run from its home slot to the next
  // free slot; a removal shifts later slots back into i (never before it).
  for (std::uint32_t i = h & mask, seen = 0; seen < nindex_; seen++) {
    work_++;
    if (ix[i].entry < 0) break;
    const Entry& e = entries[ix[i].entry];
    if (ix[i].hash == h && e.state != State::InFlight && e.key.same_version(k)) {
      remove(i);
      n++;
      continue;
    }
    i = (i + 1) & mask;
  }
  last_wipe_visits_ = work_ - start;
  return n;
}

std::size_t SharedDekTable::flush() {
  std::uint64_t start = work_;
  touch_all();
  std::size_t n = 0;
  IndexSlot* ix = index();
  Entry* entries = entries_array();
  for (std::uint32_t i = 0; i < nindex_;) {
    work_++;
    if (ix[i].entry >= 0 && entries[ix[i].entry].state != State::InFlight) {
      remove(i);
      n++;
      continue;  // another entry may have shifted into slot i
    }
    i++;
  }
  last_wipe_visits_ = work_ - start;
  return n;
}

// ---- tests ----

bool SharedDekTable::check_invariants() const {
  if (magic_ != kMagic) return false;
  const IndexSlot* ix = index();
  const IndexSlot* ox = org_index();
  const Entry* entries = entries_array();
  const std::uint64_t* mk = markers();
  std::uint32_t mask = nindex_ - 1;
  std::uint32_t used = 0, stored = 0, flying = 0;
  for (std::uint32_t ei = 0; ei < nentries_; ei++) {
    const Entry& e = entries[ei];
    if (e.state == State::Free) continue;
    used++;
    if (e.state == State::Valid || e.state == State::Failed) stored++;
    if (e.hash != dek_key_hash(e.key) || e.org_hash != org_key_hash(e.key)) return false;
    // In the index, reachable from its home slot.
    bool found = false;
    for (std::uint32_t i = e.hash & mask, n = 0; n < nindex_ && ix[i].entry >= 0; i = (i + 1) & mask, n++)
      if (ix[i].entry == static_cast<std::int32_t>(ei)) {
        found = ix[i].hash == e.hash;
        break;
      }
    if (!found) return false;
    // On its org's list: a head is what the org index gives for the org.
    if (e.org_prev == kNone) {
      bool head = false;
      for (std::uint32_t i = e.org_hash & mask, n = 0; n < nindex_ && ox[i].entry >= 0; i = (i + 1) & mask, n++)
        if (ox[i].hash == e.org_hash && entries[ox[i].entry].key.same_org(e.key)) {
          head = ox[i].entry == static_cast<std::int32_t>(ei);
          break;
        }
      if (!head) return false;
    } else if (e.org_prev >= nentries_ || entries[e.org_prev].org_next != ei ||
               !entries[e.org_prev].key.same_org(e.key)) {
      return false;
    }
    if (e.org_next != kNone && (e.org_next >= nentries_ || entries[e.org_next].org_prev != ei)) return false;
    if (e.state == State::InFlight) {
      flying++;
      if (e.serial == 0 || e.serial > serial_) return false;
      if (e.proc < nprocs_ && mk[e.proc] > serial_) return false;
      if (e.flight_prev == kNone ? flight_head_ != ei
                                 : (e.flight_prev >= nentries_ || entries[e.flight_prev].flight_next != ei))
        return false;
      if (e.flight_next != kNone && (e.flight_next >= nentries_ || entries[e.flight_next].flight_prev != ei))
        return false;
    } else if (e.flight_prev != kNone || e.flight_next != kNone || e.serial != 0) {
      return false;
    }
  }
  if (used != used_ || stored != stored_ || stored_ > capacity_) return false;
  // The index holds exactly the live entries; the org lists cover them all
  // (no detached cycle); the flight list holds every flight.
  std::uint32_t slots = 0, listed = 0;
  for (std::uint32_t i = 0; i < nindex_; i++) {
    if (ix[i].entry >= 0) {
      slots++;
      if (static_cast<std::uint32_t>(ix[i].entry) >= nentries_ || entries[ix[i].entry].state == State::Free)
        return false;
    }
    if (ox[i].entry >= 0) {
      if (static_cast<std::uint32_t>(ox[i].entry) >= nentries_ || entries[ox[i].entry].state == State::Free ||
          entries[ox[i].entry].org_prev != kNone)
        return false;
      for (std::uint32_t ei = static_cast<std::uint32_t>(ox[i].entry); ei != kNone; ei = entries[ei].org_next)
        if (++listed > used_) return false;
    }
  }
  if (slots != used_ || listed != used_) return false;
  std::uint32_t in_flight_list = 0;
  for (std::uint32_t ei = flight_head_; ei != kNone; ei = entries[ei].flight_next) {
    if (ei >= nentries_ || entries[ei].state != State::InFlight || ++in_flight_list > flying) return false;
  }
  if (in_flight_list != flying) return false;
  std::uint32_t free_count = 0;
  for (std::uint32_t ei = free_head_; ei != kNone; ei = entries[ei].next_free) {
    if (ei >= nentries_ || entries[ei].state != State::Free || ++free_count > nentries_ - used_) return false;
  }
  return free_count == nentries_ - used_;
}

}  // namespace orgcrypt
