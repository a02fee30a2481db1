// The shared DEK cache algorithm over a plain memory region (shared memory in
// the server; any buffer in the unit tests). No locking here: the caller
// holds a lock that covers every call (the glue uses one LWLock; a hit takes
// it in shared mode only through lookup(), which writes nothing but the
// clock reference bit, an idempotent single-byte store). Everything in the
// region is plain data linked by indices (no pointers), nothing allocates,
// nothing throws.
//
// Index: open addressing with linear probing over a power-of-two slot array
// (at most half full), backward-shift deletion, clock eviction when
// `capacity` entries are live. The index hashes (database, key table, org,
// version) without the wrapped-DEK tag, so every tag of one version lies in
// one probe run from one home slot: wipe_version costs that run, not the
// table. A second open-addressing index, keyed by the org, holds the head of
// an intrusive doubly-linked list of the org's entries: wipe_org costs the
// org's entries. In-flight entries are also on one list (abandon_flights).
// Only flush() sweeps the whole table. Every slot that stops holding a DEK is
// wiped (OPENSSL_cleanse).
//
// Single flight: the first backend to miss inserts an IN_FLIGHT slot and
// unwraps with no lock held; the others wait (the glue sleeps on a condition
// variable) and then find the DEK, or the same error (a FAILED slot kept for
// fail_hold_us), or nothing (the leader went away: one of them takes over).
//
// Generations: a per-(database, key table, org) counter (hashed into
// kGenBuckets buckets; a collision only costs a re-read), bumped by every wipe
// (wipe_org, wipe_version, flush; not by eviction or expiry), by touch_org and
// by touch_all. A caller reads
// org_generation(k) BEFORE it reads the key row and passes that value to
// begin_flight: if the generation has moved, its key state may be older than
// a destroy and begin_flight answers Stale (re-read the row, retry); a flight
// whose generation moves while it unwraps is refused by complete_flight.
//
// Orphans: each process slot `proc` in [0, nprocs) has a leader marker. A
// leader's flight gets a fresh table-wide serial, and marker[proc] = serial
// until the leader completes, fails or abandons it. A process leads one
// flight at a time, so an IN_FLIGHT entry whose marker[proc] != serial has no
// leader working on it (its error was caught in a subtransaction, say): lookup
// reports it Expired and begin_flight wipes it and lets the caller lead (as
// it does when the caller is the entry's own pid and proc, asking again).
// Entries with proc >= nprocs have no marker; only abandon_flights clears them.
#pragma once
#include <cstddef>
#include <cstdint>

namespace orgcrypt {

// Plain data (it lives in shared memory): (database OID, key table OID, org,
// DEK version) plus a digest of the wrapped DEK, so that a cached DEK stands
// only for the exact wrapped key it was unwrapped from, even if key rows were
// deleted and a version number written again by hand.
struct DekKey {
  static constexpr std::size_t kTagLen = 8;
  std::uint32_t db;
  std::uint32_t keytab;
  std::uint32_t version;
  std::uint8_t tag[kTagLen];
  std::uint8_t org_len;
  std::uint8_t org[255];
  // tag: kTagLen bytes, or null for "any" (only for wipe_org / wipe_version).
  static DekKey make(std::uint32_t db, std::uint32_t keytab, const void* org, std::size_t org_len,
                     std::uint32_t version, const std::uint8_t* tag = nullptr);
  bool same_org(const DekKey& o) const;
  bool same_version(const DekKey& o) const { return version == o.version && same_org(o); }
  bool operator==(const DekKey& o) const;
};

class SharedDekTable {
 public:
  static constexpr std::size_t kGenBuckets = 1024;
  static constexpr std::size_t kErrLen = 128;
  static constexpr std::uint32_t kFlightReserve = 256;  // in-flight slots beyond capacity
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;   // "no entry" in the lists

  enum class State : std::uint8_t { Free = 0, Valid = 1, InFlight = 2, Failed = 3 };

  struct Entry {
    State state;
    std::uint8_t ref;        // clock reference bit
    std::uint32_t hash;      // dek_key_hash (db, keytab, org, version; no tag)
    std::uint32_t org_hash;  // org_key_hash
    std::uint32_t next_free;
    std::uint32_t org_prev, org_next;        // the org's list (kNone ends it)
    std::uint32_t flight_prev, flight_next;  // the in-flight list (InFlight only)
    std::int32_t owner;      // pid of the unwrapping leader (InFlight)
    std::uint32_t proc;      // the leader's process slot (InFlight)
    std::uint64_t serial;    // the leader's flight serial (InFlight), never 0
    std::uint64_t gen;       // org generation the leader read before its key row
    std::int64_t time_us;    // unwrap time (Valid) or failure time (Failed)
    DekKey key;
    std::uint8_t dek[32];
    char sqlstate[6];        // Failed: the leader's error (never key material)
    char message[kErrLen];
  };

  struct Counters {
    std::uint64_t evictions = 0, expirations = 0;
    std::uint64_t orphans = 0;  // abandoned flights taken over by a waiter
  };

  // Bytes needed for a table of `capacity` entries and `nprocs` process slots.
  static std::size_t region_size(std::uint32_t capacity, std::uint32_t nprocs);
  // Initialises (zeroes) a region of region_size(capacity, nprocs) bytes;
  // returns the table living in it.
  static SharedDekTable* init(void* region, std::uint32_t capacity, std::uint32_t nprocs);

  enum class Result { Hit, Miss, InFlight, Failed, Expired };
  // Looks a key up; writes nothing but the entry's clock bit (safe under a
  // shared lock). Hit: copies the DEK and its unwrap time. Expired: an entry
  // older than ttl_us (0 = never), a failure older than fail_hold_us, or an
  // abandoned flight; the caller replaces it through begin_flight (under an
  // exclusive lock). Failed: copies the leader's error.
  Result lookup(const DekKey& k, std::int64_t now_us, std::int64_t ttl_us, std::int64_t fail_hold_us,
                std::uint8_t* dek_out, std::int64_t* unwrapped_at, char* sqlstate = nullptr,
                char* message = nullptr);

  enum class Begin {
    Lead,   // the caller unwraps, then complete_flight or fail_flight (also
            // when every slot is in flight and none could be reserved)
    Busy,   // a fresh entry, a fresh failure or a live flight: lookup again / wait
    Stale,  // read_gen is not the org's generation: re-read the key row (and
            // the generation before it) and retry; nothing was inserted
  };
  // Starts an unwrap by process `pid` in process slot `proc`, whose key row
  // was read after it read org_generation(k) == read_gen. Replaces an expired
  // entry, a stale failure or an abandoned flight.
  Begin begin_flight(const DekKey& k, std::int32_t pid, std::uint32_t proc, std::uint64_t read_gen,
                     std::int64_t now_us, std::int64_t ttl_us, std::int64_t fail_hold_us);
  // Leader done: stores the DEK and returns true, unless the org's generation
  // moved since read_gen (a wipe, a key change, a flush) or the flight was
  // taken over; then removes (wipes) its entry and returns false.
  bool complete_flight(const DekKey& k, std::int32_t pid, const std::uint8_t* dek, std::int64_t now_us);
  // Leader failed: keeps its error for the waiters.
  void fail_flight(const DekKey& k, std::int32_t pid, const char* sqlstate, const char* message,
                   std::int64_t now_us);
  // Leader gone (error path, cancel, exit): removes the in-flight entries of
  // pid and clears proc's marker. Costs the in-flight entries, not the table.
  std::size_t abandon_flights(std::int32_t pid, std::uint32_t proc);

  // Destroy: wipes every version of the org and bumps its generation (an
  // unwrap in flight for it is then refused). Costs the org's entries.
  std::size_t wipe_org(const DekKey& org_key);
  // Wipes every entry of one version, whatever its tag (e.g. a standby that
  // found the version destroyed), and bumps the org's generation. Costs the
  // version's probe run.
  std::size_t wipe_version(const DekKey& k);
  // Wipes every DEK and bumps every generation; in-flight unwraps are not
  // stored. A full sweep.
  std::size_t flush();

  // Key-state generations: bumped at commit when an org's keys change
  // (touch_org; every wipe does it too) or when an unknown set of orgs changed
  // (touch_all: a manual change to the key table, a restore; it bumps every
  // org's generation too, so flights begun before it are stale). A backend
  // that read an org's key state when both were (g, G) need not read it again
  // while they still are.
  std::uint64_t org_generation(const DekKey& org_key) const { return gens_[gen_bucket(org_key)]; }
  std::uint64_t global_generation() const { return global_gen_; }
  void touch_org(const DekKey& org_key) { gens_[gen_bucket(org_key)]++; }
  void touch_all() {
    for (auto& g : gens_) g++;
    global_gen_++;
  }

  std::uint32_t capacity() const { return capacity_; }
  std::uint32_t nprocs() const { return nprocs_; }
  std::uint32_t entries() const { return stored_; }
  const Counters& counters() const { return counters_; }

  // Tests: index slots, list nodes and shifted slots visited by the last
  // wipe_org / wipe_version / flush / abandon_flights.
  std::uint64_t last_wipe_visits() const { return last_wipe_visits_; }
  // Tests: walks the whole table and checks every structural invariant
  // (indexes, lists, counts, markers); true if all hold.
  bool check_invariants() const;

 private:
  struct IndexSlot {
    std::uint32_t hash;
    std::int32_t entry;  // -1: free. Org index: the head of the org's list.
  };
  SharedDekTable() = default;
  static std::size_t header_size();
  static std::size_t gen_bucket(const DekKey& k);
  IndexSlot* index() const;
  IndexSlot* org_index() const;
  std::uint64_t* markers() const;
  Entry* entries_array() const;
  std::int32_t find(const DekKey& k, std::uint32_t h, std::size_t* pos) const;  // entry, or -1
  std::size_t index_pos_of(std::uint32_t ei);  // position of a live entry in index()
  std::int32_t org_slot(const DekKey& k, std::uint32_t oh);  // org index position, or -1
  std::int32_t insert(const DekKey& k, std::uint32_t h);
  void remove(std::size_t pos);  // by index position; wipes the entry
  void remove_entry(std::uint32_t ei) { remove(index_pos_of(ei)); }
  void shift_delete(IndexSlot* ix, std::size_t pos);
  void org_link(std::uint32_t ei);
  void org_unlink(std::uint32_t ei);
  void flight_link(std::uint32_t ei);
  void flight_unlink(std::uint32_t ei);
  void end_flight(Entry& e);  // leaves InFlight: unlinks, clears the leader's marker
  bool orphaned(const Entry& e) const;
  std::uint64_t next_serial();
  bool evict_one();

  std::uint32_t magic_;
  std::uint32_t capacity_;  // Valid + Failed entries at most
  std::uint32_t nentries_;  // capacity + kFlightReserve
  std::uint32_t nindex_;    // power of two, >= 2 * nentries (both indexes)
  std::uint32_t nprocs_;    // leader markers
  std::uint64_t org_index_off_, markers_off_, entries_off_;  // bytes from `this`
  std::uint32_t stored_;    // Valid + Failed
  std::uint32_t used_;      // all non-free entries
  std::uint32_t free_head_;
  std::uint32_t flight_head_;
  std::uint32_t hand_;
  std::uint64_t serial_;    // last flight serial handed out
  std::uint64_t work_;      // slots visited by exclusive-lock maintenance
  std::uint64_t last_wipe_visits_;
  Counters counters_;
  std::uint64_t global_gen_;
  std::uint64_t gens_[kGenBuckets];
};

// Hash of (db, keytab, org, version): the tag is left out on purpose.
std::uint32_t dek_key_hash(const DekKey& k);
std::uint32_t org_key_hash(const DekKey& k);

}  // namespace orgcrypt
