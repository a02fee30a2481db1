#include "keyring.hpp"

#include <cstring>

#include "envelope.hpp"
#include "error.hpp"
#include "provider.hpp"

namespace orgcrypt {

const char* dek_state_name(DekState s) {
  switch (s) {
    case DekState::Active: return "active";
    case DekState::Retired: return "retired";
    case DekState::Destroyed: return "destroyed";
  }
  return "?";
}

bool parse_dek_state(const std::string& s, DekState& out) {
  if (s == "active") out = DekState::Active;
  else if (s == "retired") out = DekState::Retired;
  else if (s == "destroyed") out = DekState::Destroyed;
  else return false;
  return true;
}

static std::string org_str(ByteView org) { return std::string(reinterpret_cast<const char*>(org.data), org.size); }

OrgState& KeyRing::load(ByteView org, std::vector<DekRow>&& rows, std::uint64_t epoch) {
  gen_++;
  std::string k = org_str(org);
  // Bound the metadata a backend keeps: past max_orgs(), start over (every
  // org's state is re-read from the key table when next used).
  if (orgs_.size() >= max_orgs() && orgs_.find(k) == orgs_.end()) {
    stats_.evictions += live_keys_;
    clear();
  }
  OrgState& st = orgs_[k];
  for (auto& kv : st.versions)
    if (kv.second.key) live_keys_--;
  std::map<std::uint32_t, DekSlot> fresh;
  st.active = 0;
  st.max_version = 0;
  bool all_destroyed = !rows.empty();
  for (auto& r : rows) {
    DekSlot slot;
    auto old = st.versions.find(r.version);
    if (old != st.versions.end() && old->second.key && r.state != DekState::Destroyed &&
        old->second.row.wrapped == r.wrapped) {
      slot.key = std::move(old->second.key);  // same wrapped DEK: keep it
      slot.unwrapped_at = old->second.unwrapped_at;
    }
    if (r.state == DekState::Active) st.active = r.version;
    if (r.state != DekState::Destroyed) all_destroyed = false;
    if (r.version > st.max_version) st.max_version = r.version;
    std::uint32_t v = r.version;
    slot.row = std::move(r);
    fresh.emplace(v, std::move(slot));
  }
  // Whatever was not carried over is freed here (AesGcm frees and wipes its
  // EVP contexts).
  st.versions.swap(fresh);
  for (auto& kv : st.versions)
    if (kv.second.key) live_keys_++;
  st.destroyed = all_destroyed;
  st.epoch = epoch;
  st.seen_valid = false;  // the caller records the generations it read first
  return st;
}

DekSlot& KeyRing::slot(ByteView org, OrgState& st, std::uint32_t version) {
  auto it = st.versions.find(version);
  if (it == st.versions.end())
    throw Error(sqlstate::kNotInPrerequisiteState,
                st.has_keys() ? "organization \"" + org_str(org) + "\" has no DEK version " + std::to_string(version)
                              : "organization \"" + org_str(org) + "\" has no keys",
                "The value was sealed with a DEK that this database does not hold.");
  DekSlot& slot = it->second;
  if (slot.row.state == DekState::Destroyed)
    throw Error(sqlstate::kNotInPrerequisiteState,
                st.destroyed ? "the keys of organization \"" + org_str(org) + "\" were destroyed"
                             : "DEK version " + std::to_string(version) + " of organization \"" + org_str(org) + "\" was destroyed",
                "Values sealed with a destroyed key can never be decrypted again.");
  return slot;
}

AesGcm* KeyRing::cached(DekSlot& slot, std::int64_t now_us, std::int64_t ttl_us) {
  if (!slot.key) return nullptr;
  if (ttl_us > 0 && now_us - slot.unwrapped_at > ttl_us) {
    gen_++;
    slot.key.reset();  // frees and wipes the EVP contexts
    live_keys_--;
    stats_.expirations++;
    return nullptr;
  }
  stats_.hits++;
  return slot.key.get();
}

AesGcm& KeyRing::install(DekSlot& slot, ByteView dek, std::int64_t unwrapped_at) {
  gen_++;
  if (!slot.key) make_room();
  auto k = std::make_unique<AesGcm>(dek);
  if (!slot.key) live_keys_++;
  slot.key = std::move(k);
  slot.unwrapped_at = unwrapped_at;
  return *slot.key;
}

SecretBytes unwrap_row(ByteView org, const DekRow& row, const OpenProvider& open) {
  std::unique_ptr<KeyProvider> p = open(row.kek_uri);
  if (!p)
    throw Error(sqlstate::kSystemError, "could not open the key provider \"" + row.kek_uri + "\"",
                "The provider factory returned no provider.");
  if (!row.kek_fp.empty()) {
    Bytes fp = p->fingerprint();
    if (fp != row.kek_fp)
      throw Error(sqlstate::kSystemError,
                  "the master key at \"" + row.kek_uri + "\" is not the key that wrapped DEK version " +
                      std::to_string(row.version) + " of organization \"" + org_str(org) + "\"",
                  "The KEK fingerprint differs from the one recorded with the DEK: the key was replaced.",
                  "Restore the original key at that location.");
  }
  Bytes aad = wrap_aad(org, row.version);
  return p->unwrap(ByteView(row.wrapped), ByteView(aad));
}

AesGcm& KeyRing::key(ByteView org, OrgState& st, std::uint32_t version) {
  DekSlot& s = slot(org, st, version);
  if (AesGcm* k = cached(s, 0, 0)) return *k;
  stats_.misses++;
  stats_.provider_calls++;
  SecretBytes dek = unwrap_row(org, s.row);
  return install(s, ByteView(dek), 0);
}

void KeyRing::put_new(ByteView org, OrgState& st, const DekRow& row, ByteView dek, std::int64_t now_us) {
  gen_++;
  (void)org;
  DekSlot& slot = st.versions[row.version];
  slot.row = row;
  install(slot, dek, now_us);
  if (row.state == DekState::Active) {
    for (auto& kv : st.versions)
      if (kv.first != row.version && kv.second.row.state == DekState::Active) kv.second.row.state = DekState::Retired;
    st.active = row.version;
  }
  if (row.version > st.max_version) st.max_version = row.version;
  st.destroyed = false;
}

void KeyRing::make_room() {
  if (live_keys_ < capacity_) return;
  gen_++;
  // Simple policy for the backend-local ring: drop every unwrapped key (they
  // are re-unwrapped on demand); metadata stays.
  for (auto& o : orgs_)
    for (auto& v : o.second.versions)
      if (v.second.key) {
        v.second.key.reset();
        stats_.evictions++;
      }
  live_keys_ = 0;
}

void KeyRing::erase(ByteView org) {
  gen_++;
  std::string k = org_str(org);
  auto it = orgs_.find(k);
  if (it == orgs_.end()) return;
  for (auto& v : it->second.versions)
    if (v.second.key) live_keys_--;
  if (last_ == &it->second) last_ = nullptr;
  orgs_.erase(it);
}

void KeyRing::clear() {
  gen_++;
  last_ = nullptr;
  last_key_.clear();
  orgs_.clear();
  live_keys_ = 0;
}

}  // namespace orgcrypt
