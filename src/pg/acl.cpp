#include "pg/acl.hpp"

#include "pg/audit.hpp"
#include "pg/guard.hpp"
#include "pg/keytable.hpp"
#include "pg/shmem.hpp"
#include "pg/state.hpp"

#include <cstring>
#include <string>
#include <unordered_map>

extern "C" {
#include "common/hashfn.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/syscache.h"
}

namespace orgcrypt::pg {

namespace {

Oid s_grants = InvalidOid;
// Set by the callbacks: every cached decision is dropped at the next check.
volatile bool s_stale = true;

// Cached decisions, valid for one generation (bumped at every reset).
struct AclCache {
  std::unordered_map<std::string, bool> orgs;  // role oid bytes + org bytes -> allowed
  std::unordered_map<Oid, bool> roles;         // role -> may use every org
  std::string key;                             // lookup buffer, reused
};
AclCache* s_cache = nullptr;
constexpr std::size_t kMaxOrgEntries = 65536;  // then the cache starts over
uint64_t s_gen = 1;
int s_public_rule = -1;  // -1 unknown, else 0/1, for this generation

// The last decision that allowed: (role, org) or (role, every org).
struct Fast {
  uint64_t gen = 0;
  Oid role = InvalidOid;
  bool all = false;
  std::size_t org_len = 0;
  char org[kMaxOrgLen * 4];
} s_fast;

// Recent per-org decisions, direct-mapped by a hash of (role, org), for
// orgs of up to kSlotOrgLen bytes (a UUID's text is 36): no allocation and
// no hash-map lookup when a statement alternates between a few orgs.
// Entries of an older generation are misses.
constexpr int kSlots = 256;  // a power of two
constexpr std::size_t kSlotOrgLen = 64;
struct Slot {
  uint64_t gen;
  Oid role;
  uint16 len;
  bool ok;
  char org[kSlotOrgLen];
};
Slot s_slots[kSlots];

AclCache& cache() {
  if (!s_cache) s_cache = new AclCache();
  return *s_cache;
}

void reset() {
  ORGCRYPT_CXX({
    AclCache& c = cache();
    c.orgs.clear();
    c.roles.clear();
  });
  s_gen++;
  s_public_rule = -1;
  s_stale = false;
}

void syscache_cb(Datum, int, uint32) { s_stale = true; }

bool has_privs_of(Oid role, const char* group) {
  Oid g = get_role_oid(group, true);
  return OidIsValid(g) && has_privs_of_role(role, g);
}

// May the role use every org? (No org is looked at.)
bool role_all(Oid role) {
  bool found = false, all = false;
  ORGCRYPT_CXX({
    auto& m = cache().roles;
    auto it = m.find(role);
    if (it != m.end()) {
      found = true;
      all = it->second;
    }
  });
  if (found) return all;
  all = superuser_arg(role) || role == key_table_owner() || has_privs_of(role, "orgcrypt_all_orgs");
  if (!all) {
    if (s_public_rule < 0) s_public_rule = kt_public_rule() ? 1 : 0;
    all = s_public_rule == 1;
  }
  ORGCRYPT_CXX(cache().roles[role] = all);
  return all;
}

bool org_allowed(Oid role, const OrgName& org) {
  bool found = false, ok = false;
  ORGCRYPT_CXX({
    AclCache& c = cache();
    c.key.assign(reinterpret_cast<const char*>(&role), sizeof role);
    c.key.append(reinterpret_cast<const char*>(org.bytes.data), org.bytes.size);
    auto it = c.orgs.find(c.key);
    if (it != c.orgs.end()) {
      found = true;
      ok = it->second;
    }
  });
  if (found) return ok;
  ok = kt_org_granted(role, org.db);
  ORGCRYPT_CXX({
    AclCache& c = cache();
    if (c.orgs.size() >= kMaxOrgEntries) c.orgs.clear();
    c.orgs[c.key] = ok;  // c.key still holds (role, org): nothing else sets it
  });
  return ok;
}

void fast_set(Oid role, bool all, const OrgName& org) {
  s_fast.gen = s_gen;
  s_fast.role = role;
  s_fast.all = all;
  s_fast.org_len = all ? 0 : org.bytes.size;
  if (!all) memcpy(s_fast.org, org.bytes.data, org.bytes.size);
}

[[noreturn]] void deny_org(const OrgName& org, Oid role) {
  g_counters.denials++;
  char* name = text_to_cstring(org.db);
  // First the server log (even if the caller catches the error), then the
  // error. The same error, whatever the org's state: nothing about it was
  // looked up.
  audit_log_denial(psprintf("use of organization %s", audit_quote(name, strlen(name))), role);
  ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                  errmsg("orgcrypt: permission denied to use organization \"%s\" for role \"%s\"",
                         name, GetUserNameFromId(role, false)),
                  errhint("An orgcrypt administrator can allow it with orgcrypt.grant_org(role, org), "
                          "or with GRANT orgcrypt_all_orgs TO role."),
                  errhidestmt(true)));
  pg_unreachable();
}

}  // namespace

void check_org_access(const OrgName& org) {
  if (!OidIsValid(s_grants)) return;  // extension SQL older than 1.3
  if (s_stale) reset();
  Oid role = GetUserId();
  if (s_fast.gen == s_gen && s_fast.role == role &&
      (s_fast.all || (s_fast.org_len == org.bytes.size && memcmp(s_fast.org, org.bytes.data, s_fast.org_len) == 0)))
    return;
  // A scan that alternates between orgs: the direct-mapped slot of this
  // (role, org), compared in full (a hash collision is only a miss).
  Slot* sl = nullptr;
  if (org.bytes.size <= kSlotOrgLen) {
    uint32 h = hash_bytes(org.bytes.data, (int)org.bytes.size) ^ (role * 0x9E3779B1u);
    sl = &s_slots[h & (kSlots - 1)];
    if (sl->gen == s_gen && sl->role == role && sl->len == org.bytes.size &&
        memcmp(sl->org, org.bytes.data, sl->len) == 0) {
      if (!sl->ok) deny_org(org, role);
      fast_set(role, false, org);
      return;
    }
  }
  if (role_all(role)) {
    fast_set(role, true, org);
    return;
  }
  bool ok = org_allowed(role, org);
  if (sl) {
    sl->gen = s_gen;
    sl->role = role;
    sl->len = (uint16)org.bytes.size;
    sl->ok = ok;
    memcpy(sl->org, org.bytes.data, org.bytes.size);
  }
  if (!ok) deny_org(org, role);
  fast_set(role, false, org);
}

void check_admin(const char* fn, bool auditor_ok) {
  if (!OidIsValid(s_grants)) return;  // extension SQL older than 1.3
  Oid role = GetUserId();
  if (superuser_arg(role) || role == key_table_owner() || has_privs_of(role, "orgcrypt_admin")) return;
  if (auditor_ok && has_privs_of(role, "orgcrypt_auditor")) return;
  g_counters.denials++;
  // In the server log only: the ERROR rolls back any audit_log row.
  audit_log_denial(fn, role);
  ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
                  errmsg("orgcrypt: permission denied for %s for role \"%s\"", fn, GetUserNameFromId(role, false)),
                  errhint("%s", auditor_ok ? "It needs a superuser, the extension owner, or a member of orgcrypt_admin or "
                                       "orgcrypt_auditor."
                                     : "It needs a superuser, the extension owner, or a member of orgcrypt_admin."),
                  errhidestmt(true)));
}

void acl_set_grants_table(Oid grants) {
  if (grants != s_grants) s_stale = true;
  s_grants = grants;
}

Oid acl_grants_table() { return s_grants; }

void acl_relcache(Oid relid) {
  if (relid == InvalidOid || relid == s_grants) s_stale = true;
}

void acl_register_callbacks() {
  // A role's attributes (superuser) and memberships.
  CacheRegisterSyscacheCallback(AUTHOID, syscache_cb, (Datum)0);
  CacheRegisterSyscacheCallback(AUTHMEMMEMROLE, syscache_cb, (Datum)0);
  CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, syscache_cb, (Datum)0);
}

namespace {
void check_role(Oid role) {
  if (!OidIsValid(role) || !SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_OBJECT), errmsg("role with OID %u does not exist", role),
                    errhidestmt(true)));
}
}  // namespace

void acl_grant(Oid role, const OrgName& org) {
  check_role(role);
  bool added = kt_grant(role, org.db, GetUserId());
  s_stale = true;  // our own change, from this statement on
  const char* grantee = GetUserNameFromId(role, false);
  audit_event("grant", org.db, 0, added ? grantee : psprintf("%s (already granted)", grantee));
}

void acl_revoke(Oid role, const OrgName& org) {
  check_role(role);
  int n = kt_revoke(role, org.db);
  s_stale = true;
  const char* grantee = GetUserNameFromId(role, false);
  audit_event("revoke", org.db, 0, n > 0 ? grantee : psprintf("%s (no such grant)", grantee));
}

void acl_revoke_public() {
  int n = kt_revoke_public();
  s_stale = true;
  audit_event("revoke_public_access", nullptr, 0, n > 0 ? nullptr : "there was no PUBLIC rule");
}

}  // namespace orgcrypt::pg
