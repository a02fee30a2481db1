// The shared DEK cache algorithm over a plain memory region (shared memory in
// the server; any buffer in the unit tests). No locking here: the caller
// holds a lock that covers every call (the glue uses one LWLock; a hit takes
// it in shared mode only through lookup(), which writes nothing but the
// clock reference bit, an idempotent single-byte store).
//
// Open addressing with linear probing over a power-of-two slot array (at most
// half full), backward-shift deletion, clock eviction when `capacity` entries
// are live. Every slot that stops holding a DEK is wiped (OPENSSL_cleanse).
//
// Single flight: the first backend to miss inserts an IN_FLIGHT slot and
// unwraps with no lock held; the others wait (the glue sleeps on a
// condition variable) and then find the DEK, or the same error (a FAILED slot
// kept for a short time), or nothing (the leader went away: one of them takes
// over). A per-(database, org) generation, bumped when an org's keys are
// destroyed, stops an unwrap that began before the destroy from inserting.
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
  bool operator==(const DekKey& o) const;
};

class SharedDekTable {
 public:
  static constexpr std::size_t kGenBuckets = 1024;
  static constexpr std::size_t kErrLen = 128;
  static constexpr std::uint32_t kFlightReserve = 256;  // in-flight slots beyond capacity

  enum class State : std::uint8_t { Free = 0, Valid = 1, InFlight = 2, Failed = 3 };

  struct Entry {
    State state;
    std::uint8_t ref;  // clock reference bit
    std::uint32_t hash;
    std::uint32_t next_free;
    std::int32_t owner;     // pid of the unwrapping leader (InFlight)
    std::uint64_t gen;      // org generation when the unwrap began
    std::int64_t time_us;   // unwrap time (Valid) or failure time (Failed)
    DekKey key;
    std::uint8_t dek[32];
    char sqlstate[6];       // Failed: the leader's error (never key material)
    char message[kErrLen];
  };

  struct Counters {
    std::uint64_t evictions = 0, expirations = 0;
  };

  // Bytes needed for a table of `capacity` entries.
  static std::size_t region_size(std::uint32_t capacity);
  // Initialises (zeroes) a region; returns the table living in it.
  static SharedDekTable* init(void* region, std::uint32_t capacity);

  enum class Result { Hit, Miss, InFlight, Failed, Expired };
  // Looks a key up; writes nothing but the entry's clock bit (safe under a
  // shared lock). Hit: copies the DEK and its unwrap time. Expired: an entry
  // older than ttl_us (0 = never), or a failure older than fail_hold_us; the
  // caller replaces it through begin_flight (under an exclusive lock).
  // Failed: copies the leader's error.
  Result lookup(const DekKey& k, std::int64_t now_us, std::int64_t ttl_us, std::int64_t fail_hold_us,
                std::uint8_t* dek_out, std::int64_t* unwrapped_at, char* sqlstate = nullptr,
                char* message = nullptr);

  // Starts an unwrap: if the key is absent, expired or a stale failure,
  // inserts an IN_FLIGHT entry owned by pid and returns true (the caller is the
  // leader); false if a fresh entry, a fresh failure or a flight is there.
  bool begin_flight(const DekKey& k, std::int32_t pid, std::int64_t now_us, std::int64_t ttl_us,
                    std::int64_t fail_hold_us);
  // Leader done: stores the DEK unless the org's keys were destroyed (or the
  // cache flushed) since begin_flight; then wipes it and returns false.
  bool complete_flight(const DekKey& k, std::int32_t pid, const std::uint8_t* dek, std::int64_t now_us);
  // Leader failed: keeps its error for the waiters.
  void fail_flight(const DekKey& k, std::int32_t pid, const char* sqlstate, const char* message,
                   std::int64_t now_us);
  // Leader gone (error path, cancel, exit): removes its in-flight entries.
  std::size_t abandon_flights(std::int32_t pid);

  // Destroy: wipes every version of the org and bumps its generation.
  std::size_t wipe_org(const DekKey& org_key);
  // Wipes every entry of one version, whatever its tag (e.g. a standby that
  // found the version destroyed).
  std::size_t wipe_version(const DekKey& k);
  // Wipes every DEK; in-flight unwraps are not stored.
  std::size_t flush();

  // Key-state generations: bumped at commit when an org's keys change
  // (touch_org; wipe_org does it too) or when an unknown set of orgs changed
  // (touch_all: a manual change to the key table, a restore). A backend that
  // read an org's key state when both were (g, G) need not read it again
  // while they still are.
  std::uint64_t org_generation(const DekKey& org_key) { return gen_of(org_key); }
  std::uint64_t global_generation() const { return global_gen_; }
  void touch_org(const DekKey& org_key) { gen_of(org_key)++; }
  void touch_all() { global_gen_++; }

  std::uint32_t capacity() const { return capacity_; }
  std::uint32_t entries() const { return stored_; }
  const Counters& counters() const { return counters_; }
  // The entries' bytes (for mlock / MADV_DONTDUMP).
  const void* key_region(std::size_t* len) const;

 private:
  struct IndexSlot {
    std::uint32_t hash;
    std::int32_t entry;  // -1: free
  };
  SharedDekTable() = default;
  static std::size_t header_size();
  IndexSlot* index();
  Entry* entries_array();
  std::int32_t find(const DekKey& k, std::uint32_t h, std::size_t* pos);  // entry, or -1
  std::int32_t insert(const DekKey& k, std::uint32_t h);
  void remove(std::size_t pos);  // by index position; wipes the entry
  bool evict_one();
  // Removes (and wipes) every entry for which pred(entry) holds.
  template <typename Pred>
  std::size_t remove_if(Pred pred);
  std::uint64_t& gen_of(const DekKey& k);

  std::uint32_t magic_;
  std::uint32_t capacity_;  // Valid + Failed entries at most
  std::uint32_t nentries_;  // capacity + kFlightReserve
  std::uint32_t nindex_;    // power of two, >= 2 * nentries
  std::uint32_t stored_;    // Valid + Failed
  std::uint32_t used_;      // all non-free entries
  std::uint32_t free_head_;
  std::uint32_t hand_;
  Counters counters_;
  std::uint64_t global_gen_;
  std::uint64_t gens_[kGenBuckets];
};

std::uint32_t dek_key_hash(const DekKey& k);
std::uint32_t org_key_hash(const DekKey& k);

}  // namespace orgcrypt
