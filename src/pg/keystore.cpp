#include "pg/keystore.hpp"

#include "pg/guard.hpp"
#include "pg/keyops.hpp"
#include "pg/shmem.hpp"
#include "pg/state.hpp"

extern "C" {
#include "utils/builtins.h"
#include "utils/timestamp.h"
}

#include "envelope.hpp"

namespace orgcrypt::pg {

namespace {

// Versions found destroyed must not stay in shared memory (a standby
// replaying a destroy wipes them here). Versions this backend already knew
// as destroyed were wiped when it learnt it.
void wipe_newly_destroyed(const OrgName& org, const PgRowSet& rs) {
  OrgState* prev = nullptr;
  ORGCRYPT_CXX(prev = backend().ring.find(org.bytes));
  bool all = rs.n > 0 && !rs.any_live;
  if (all) {
    if (!(prev && prev->destroyed && prev->max_version == (uint32)rs.max_version)) shared_wipe_org(org.bytes);
    return;
  }
  for (int i = 0; i < rs.n; i++) {
    if (rs.rows[i].state != DekState::Destroyed) continue;
    bool known = false;
    if (prev) {
      auto it = prev->versions.find((uint32)rs.rows[i].version);
      known = it != prev->versions.end() && it->second.row.state == DekState::Destroyed;
    }
    if (!known) shared_wipe_version(org.bytes, (uint32)rs.rows[i].version);
  }
}

[[noreturn]] void no_keys_error(const OrgName& org) {
  ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                  errmsg("organization \"%s\" has no key", text_to_cstring(org.db)),
                  errhint("Create it with orgcrypt.create_org_key(), or turn on orgcrypt.auto_create_org_keys."),
                  errhidestmt(true)));
  pg_unreachable();
}

// The last key used for each direction, valid within one statement while the
// ring has not changed (key state and TTL are fixed per statement): a hit
// costs a length check and a memcmp of the org.
struct FastKey {
  uint64_t stmt = 0, ring_gen = 0;
  uint32_t version = 0;
  size_t org_len = 0;
  char org[kMaxOrgLen * 4];
  AesGcm* key = nullptr;
  bool match(const OrgName& o) const {
    return key && stmt == stmt_id() && g_backend && ring_gen == g_backend->ring.generation() &&
           org_len == o.bytes.size && memcmp(org, o.bytes.data, org_len) == 0;
  }
  void set(const OrgName& o, uint32_t v, AesGcm* k) {
    stmt = stmt_id();
    ring_gen = g_backend ? g_backend->ring.generation() : 0;
    version = v;
    org_len = o.bytes.size;
    memcpy(org, o.bytes.data, org_len);
    key = k;
  }
};
FastKey s_fast_enc, s_fast_dec;

// Finds a version's slot; nullptr for a version the state does not list.
// A destroyed version raises its 55000.
DekSlot* find_slot(const OrgName& org, OrgState* st, uint32_t version) {
  DekSlot* slot = nullptr;
  if (st->versions.find(version) == st->versions.end()) return nullptr;
  ORGCRYPT_CXX(slot = &backend().ring.slot(org.utf8, *st, version));
  return slot;
}

// Unwraps a slot's DEK in this backend (local mode, our own uncommitted key,
// or a shared flight that could not be bound to current key state).
AesGcm* unwrap_locally(const OrgName& org, DekSlot* slot) {
  AesGcm* k = nullptr;
  g_counters.provider_calls++;
  debug_unwrap_delay();
  int64 now = GetCurrentTimestamp();
  ORGCRYPT_CXX({
    SecretBytes d = unwrap_row(org.utf8, slot->row);
    k = &backend().ring.install(*slot, ByteView(d), now);
  });
  return k;
}

// The key for a version, through every cache level. *st may be re-read (the
// pointer stays valid: a reload keeps the org's entry).
AesGcm* get_key(const OrgName& org, OrgState* st, bool fresh, uint32_t version) {
  for (int attempt = 0;; attempt++) {
    DekSlot* slot = find_slot(org, st, version);
    if (!slot) {
      // A commit is visible before its invalidation arrives: read the org's
      // rows again once before saying the version does not exist.
      if (!fresh) {
        st = org_state(org, true);
        fresh = true;
        continue;
      }
      ORGCRYPT_CXX((void)backend().ring.slot(org.utf8, *st, version));  // raises its 55000
      internal_error("version lookup did not fail");
    }
    // First level: this backend's ring (no lock, no syscall), TTL read
    // against the statement's start time.
    AesGcm* k = nullptr;
    uint64 expired = 0;
    ORGCRYPT_CXX({
      KeyRing& ring = backend().ring;
      std::uint64_t before = ring.stats().expirations;
      k = ring.cached(*slot, stmt_now_us(), ttl_us());
      expired = ring.stats().expirations - before;
    });
    if (k) {
      g_counters.hits++;
      return k;
    }
    if (expired) {
      // An expired key is unwrapped again only from current key state (a
      // change that arrived without an invalidation must not be missed).
      g_counters.expirations += expired;
      if (!fresh) {
        st = org_state(org, true);
        fresh = true;
        continue;
      }
    }
    // Second level: shared memory, with a single unwrap for the whole
    // server. A DEK this transaction wrote itself is never published there.
    if (shared_mode() && !slot->row.uncommitted) {
      bool stale = false;
      k = shared_get_key(org.bytes, org.utf8, *slot, st->seen_org_gen, &stale);
      if (k) return k;
      // The org's keys changed (destroy, flush, another wipe) after we read
      // its rows: read them again, then retry.
      st = org_state(org, true);
      fresh = true;
      if (attempt < 3) continue;
      slot = find_slot(org, st, version);
      if (!slot) continue;  // raises above
      return unwrap_locally(org, slot);
    }
    // Backend-local mode (or our own uncommitted key): unwrap here.
    return unwrap_locally(org, slot);
  }
}

}  // namespace

OrgState* load_rows(const OrgName& org, const PgRowSet& rs, uint64 read_gen, bool trusted) {
  wipe_newly_destroyed(org, rs);
  OrgState* st = nullptr;
  ORGCRYPT_CXX(st = &backend().ring.load(org.bytes, to_core(rs), stmt_epoch()));
  st->seen_org_gen = read_gen;
  st->seen_valid = trusted;
  return st;
}

OrgState* org_state(const OrgName& org, bool force, bool* fresh) {
  OrgState* st = nullptr;
  ORGCRYPT_CXX(st = backend().ring.find(org.bytes));
  if (fresh) *fresh = false;
  if (!force && st && st->epoch == stmt_epoch()) return st;
  // The generations are read before the rows: a key change that commits
  // after this point bumps them, which refuses a shared flight bound to what
  // we read and makes later statements read again.
  uint64 og = 0, gg = 0;
  bool trusted = false;
  shared_org_gens(org.bytes, &og, &gg, &trusted);
  // An invalidation arrived. If this org's key state has not changed since we
  // read it (same shared generations), it is still valid: no key-table read.
  if (!force && st && trusted && st->seen_valid && st->seen_org_gen == og && st->seen_global_gen == gg) {
    st->epoch = stmt_epoch();
    return st;
  }
  PgRowSet rs;
  kt_read(org.db, &rs);
  st = load_rows(org, rs, og, trusted);
  st->seen_global_gen = gg;
  if (fresh) *fresh = true;
  return st;
}

AesGcm* active_key(const OrgName& org, uint32_t* version) {
  if (s_fast_enc.match(org)) {
    g_counters.hits++;
    *version = s_fast_enc.version;
    return s_fast_enc.key;
  }
  bool fresh = false;
  OrgState* st = org_state(org, false, &fresh);
  if (!st->has_keys() || st->active == 0) {
    if (!fresh) st = org_state(org, true, &fresh);  // a commit seen before its invalidation
    if (!st->has_keys()) {
      if (!guc_auto_create) no_keys_error(org);
      (void)key_op(org, KeyOp::AutoCreate);
      st = org_state(org, false, &fresh);
    }
  }
  if (st->destroyed) org_destroyed_error(org);
  if (st->active == 0)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("organization \"%s\" has no active key", text_to_cstring(org.db)), errhidestmt(true)));
  *version = st->active;
  AesGcm* k = get_key(org, st, fresh, st->active);
  s_fast_enc.set(org, *version, k);
  return k;
}

AesGcm* version_key(const OrgName& org, uint32_t version) {
  if (s_fast_dec.version == version && s_fast_dec.match(org)) {
    g_counters.hits++;
    return s_fast_dec.key;
  }
  bool fresh = false;
  OrgState* st = org_state(org, false, &fresh);
  AesGcm* k = get_key(org, st, fresh, version);
  s_fast_dec.set(org, version, k);
  return k;
}

}  // namespace orgcrypt::pg
