// A backend-local key ring: for each org, the metadata of its DEK versions
// (state, wrapped DEK, KEK URI and fingerprint, as read from the key table)
// and the unwrapped DEKs in use, each as an initialised AES-GCM context.
// The glue decides when metadata is stale (invalidation epochs); this class
// only holds state and unwraps.
#pragma once
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "aead.hpp"
#include "provider.hpp"
#include "secure.hpp"

namespace orgcrypt {

enum class DekState : std::uint8_t { Active, Retired, Destroyed };

const char* dek_state_name(DekState s);
bool parse_dek_state(const std::string& s, DekState& out);

struct DekRow {
  std::uint32_t version = 0;
  DekState state = DekState::Active;
  Bytes wrapped;        // empty for a destroyed (tombstoned) version
  std::string kek_uri;  // KEK that wrapped it
  Bytes kek_fp;         // fingerprint of that KEK
  bool uncommitted = false;  // written by the reading transaction itself
};

struct DekSlot {
  DekRow row;
  std::unique_ptr<AesGcm> key;  // set once unwrapped
  std::int64_t unwrapped_at = 0;  // microseconds, for the TTL
  // Digest of the wrapped DEK that names it in the shared cache (computed
  // once, on the first shared lookup).
  bool tag_set = false;
  std::uint8_t tag[8] = {};
};

// Unwraps a row's DEK through a fresh provider for the URI named in the row
// (opened with `open`), after checking the KEK fingerprint (58000 on any
// provider failure).
SecretBytes unwrap_row(ByteView org_utf8, const DekRow& row, const OpenProvider& open = open_provider);

struct OrgState {
  std::uint64_t epoch = 0;      // invalidation epoch this metadata is valid for
  std::uint32_t active = 0;     // active version, 0 if none
  std::uint32_t max_version = 0;
  bool destroyed = false;       // has versions, all destroyed
  std::map<std::uint32_t, DekSlot> versions;
  // Shared key-state generations seen just before this metadata was read
  // (valid only if seen_valid; see SharedDekTable::org_generation).
  bool seen_valid = false;
  std::uint64_t seen_org_gen = 0, seen_global_gen = 0;
  bool has_keys() const { return !versions.empty(); }
};

struct KeyRingStats {
  std::uint64_t hits = 0, misses = 0, provider_calls = 0, evictions = 0, expirations = 0;
};

class KeyRing {
 public:
  explicit KeyRing(std::size_t capacity) : capacity_(capacity) {}
  ~KeyRing() { clear(); }

  // Finds the org's state, or nullptr. No allocation once warm.
  OrgState* find(ByteView org) {
    if (last_ && last_key_.size() == org.size && std::memcmp(last_key_.data(), org.data, org.size) == 0)
      return last_;
    scratch_.assign(reinterpret_cast<const char*>(org.data), org.size);
    auto it = orgs_.find(scratch_);
    if (it == orgs_.end()) return nullptr;
    last_ = &it->second;
    last_key_ = it->first;
    return last_;
  }

  // Replaces the org's metadata with rows read from the key table. Unwrapped
  // keys are kept for versions whose row is unchanged and not destroyed; the
  // others are wiped.
  OrgState& load(ByteView org, std::vector<DekRow>&& rows, std::uint64_t epoch);

  // The slot of a version of a loaded org; throws Error 55000 for an unknown
  // or destroyed version.
  DekSlot& slot(ByteView org, OrgState& st, std::uint32_t version);
  // The unwrapped key if this ring holds it and it is younger than ttl_us
  // (0 = no expiry; an expired key is wiped), else nullptr. Counts a hit.
  AesGcm* cached(DekSlot& slot, std::int64_t now_us, std::int64_t ttl_us);
  // Installs an unwrapped DEK into a slot.
  AesGcm& install(DekSlot& slot, ByteView dek, std::int64_t unwrapped_at);
  // slot + cached + unwrap_row + install, with no TTL (local use, tests).
  AesGcm& key(ByteView org, OrgState& st, std::uint32_t version);

  // Puts a DEK that this backend just created (and wrapped) into the ring.
  void put_new(ByteView org, OrgState& st, const DekRow& row, ByteView dek, std::int64_t now_us = 0);

  // Wipes one org, or everything.
  void erase(ByteView org);
  void clear();

  // Bumped by every change that may free or replace a key or org state: a
  // pointer obtained at one generation is valid while it has not moved.
  std::uint64_t generation() const { return gen_; }

  std::size_t entries() const { return live_keys_; }
  std::size_t orgs() const { return orgs_.size(); }
  // Org metadata kept at most (a session touching more orgs re-reads them).
  std::size_t max_orgs() const { return 8 * capacity_; }
  std::size_t capacity() const { return capacity_; }
  KeyRingStats& stats() { return stats_; }

 private:
  void make_room();
  std::unordered_map<std::string, OrgState> orgs_;
  std::size_t capacity_;
  std::size_t live_keys_ = 0;
  std::uint64_t gen_ = 1;
  OrgState* last_ = nullptr;
  std::string last_key_;
  std::string scratch_;
  KeyRingStats stats_;
};

}  // namespace orgcrypt
