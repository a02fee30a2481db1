#include "pg/keytable.hpp"

#include "pg/guard.hpp"
#include "pg/shmem.hpp"
#include "pg/state.hpp"

extern "C" {
#include "access/parallel.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
}

namespace orgcrypt::pg {

namespace {

struct AsOwner {
  Oid save_uid;
  int save_sec;
};
AsOwner s_owner;

void become_owner() {
  GetUserIdAndSecContext(&s_owner.save_uid, &s_owner.save_sec);
  SetUserIdAndSecContext(key_table_owner(),
                         s_owner.save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
}

// The statements, prepared once per backend (SPI_keepplan). They name the
// table by its qualified name: if the extension is dropped and created
// again, the plan cache re-plans them against the new table.
enum Plan { kRead, kLock, kInsert, kRetire, kTombstone, kForeign, kRewrap, kUris,
            kPublicRule, kGranted, kGrant, kRevoke, kRevokePublic,
            kOrgKek, kSetOrgKek, kClearOrgKek, kForeignOrgKek, kUrisOrgKek, kNumPlans };
struct PlanDef {
  const char* sql;
  int nargs;
  Oid types[5];
};
const PlanDef kPlans[kNumPlans] = {
    {"SELECT version, state, wrapped, kek_uri, kek_fingerprint, xmin FROM orgcrypt.org_dek "
     "WHERE org OPERATOR(pg_catalog.=) $1 ORDER BY version",
     1, {TEXTOID}},
    {"SELECT 1 FROM orgcrypt.org_dek WHERE org OPERATOR(pg_catalog.=) $1 FOR UPDATE", 1, {TEXTOID}},
    {"INSERT INTO orgcrypt.org_dek (org, version, state, wrapped, kek_uri, kek_fingerprint) "
     "VALUES ($1, $2, 'active', $3, $4, $5) ON CONFLICT DO NOTHING",
     5, {TEXTOID, INT4OID, BYTEAOID, TEXTOID, BYTEAOID}},
    {"UPDATE orgcrypt.org_dek SET state = 'retired' "
     "WHERE org OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'active'",
     1, {TEXTOID}},
    {"UPDATE orgcrypt.org_dek SET state = 'destroyed', wrapped = NULL, destroyed_at = pg_catalog.now() "
     "WHERE org OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.<>) 'destroyed'",
     1, {TEXTOID}},
    {"SELECT org, version, state, wrapped, kek_uri, kek_fingerprint FROM orgcrypt.org_dek "
     "WHERE state OPERATOR(pg_catalog.<>) 'destroyed' AND (kek_uri OPERATOR(pg_catalog.<>) $1 "
     "OR kek_fingerprint IS NULL OR kek_fingerprint OPERATOR(pg_catalog.<>) $2) "
     "ORDER BY org, version LIMIT $3 FOR UPDATE",
     3, {TEXTOID, BYTEAOID, INT4OID}},
    {"UPDATE orgcrypt.org_dek SET wrapped = $3, kek_uri = $4, kek_fingerprint = $5 "
     "WHERE org OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2 "
     "AND state OPERATOR(pg_catalog.<>) 'destroyed'",
     5, {TEXTOID, INT4OID, BYTEAOID, TEXTOID, BYTEAOID}},
    {"SELECT DISTINCT kek_uri FROM orgcrypt.org_dek WHERE state OPERATOR(pg_catalog.<>) 'destroyed' ORDER BY 1",
     0, {}},
    // The grants (1.3). pg_has_role(oid, oid, 'USAGE') is "has the privileges
    // of" (membership honoured, NOINHERIT respected); a dropped grantee's
    // oid matches no role.
    {"SELECT EXISTS (SELECT FROM orgcrypt.org_grants WHERE grantee IS NULL)", 0, {}},
    {"SELECT EXISTS (SELECT FROM orgcrypt.org_grants g WHERE g.org OPERATOR(pg_catalog.=) $2 "
     "AND pg_catalog.pg_has_role($1, g.grantee::pg_catalog.oid, 'USAGE'))",
     2, {OIDOID, TEXTOID}},
    {"INSERT INTO orgcrypt.org_grants (grantee, org, granted_by) "
     "VALUES ($1::pg_catalog.regrole, $2, $3::pg_catalog.regrole) ON CONFLICT DO NOTHING",
     3, {OIDOID, TEXTOID, OIDOID}},
    {"DELETE FROM orgcrypt.org_grants WHERE grantee::pg_catalog.oid OPERATOR(pg_catalog.=) $1 "
     "AND org OPERATOR(pg_catalog.=) $2",
     2, {OIDOID, TEXTOID}},
    {"DELETE FROM orgcrypt.org_grants WHERE grantee IS NULL", 0, {}},
    // Per-org master keys (1.3).
    {"SELECT kek_uri, kek_fp FROM orgcrypt.org_master_keys WHERE org OPERATOR(pg_catalog.=) $1", 1, {TEXTOID}},
    {"INSERT INTO orgcrypt.org_master_keys AS m (org, kek_uri, kek_fp, set_by) "
     "VALUES ($1, $2, $3, $4::pg_catalog.regrole) ON CONFLICT (org) DO UPDATE "
     "SET kek_uri = excluded.kek_uri, kek_fp = excluded.kek_fp, set_by = excluded.set_by, set_at = pg_catalog.now()",
     4, {TEXTOID, TEXTOID, BYTEAOID, OIDOID}},
    {"DELETE FROM orgcrypt.org_master_keys WHERE org OPERATOR(pg_catalog.=) $1", 1, {TEXTOID}},
    // Rewrap with per-org KEKs: each live DEK's target is its org's KEK if
    // it has one, else the master key ($1, $2); a DEK already under its
    // target (URI and fingerprint) is not selected.
    {"SELECT d.org, d.version, d.state, d.wrapped, d.kek_uri, d.kek_fingerprint, m.kek_uri, m.kek_fp "
     "FROM orgcrypt.org_dek d LEFT JOIN orgcrypt.org_master_keys m ON m.org OPERATOR(pg_catalog.=) d.org "
     "WHERE d.state OPERATOR(pg_catalog.<>) 'destroyed' AND (d.kek_fingerprint IS NULL OR CASE WHEN m.org IS NULL "
     "THEN d.kek_uri OPERATOR(pg_catalog.<>) $1 OR d.kek_fingerprint OPERATOR(pg_catalog.<>) $2 "
     "ELSE d.kek_uri OPERATOR(pg_catalog.<>) m.kek_uri OR d.kek_fingerprint OPERATOR(pg_catalog.<>) m.kek_fp END) "
     "ORDER BY d.org, d.version LIMIT $3 FOR UPDATE OF d",
     3, {TEXTOID, BYTEAOID, INT4OID}},
    {"SELECT kek_uri FROM orgcrypt.org_dek WHERE state OPERATOR(pg_catalog.<>) 'destroyed' "
     "UNION SELECT kek_uri FROM orgcrypt.org_master_keys ORDER BY 1",
     0, {}},
};
SPIPlanPtr s_plans[kNumPlans];

SPIPlanPtr plan(Plan p) {
  if (!s_plans[p]) {
    SPIPlanPtr pl = SPI_prepare(kPlans[p].sql, kPlans[p].nargs, const_cast<Oid*>(kPlans[p].types));
    if (!pl) internal_error("preparing a key table statement failed: %s", SPI_result_code_string(SPI_result));
    if (SPI_keepplan(pl) != 0) internal_error("keeping a key table statement failed");
    s_plans[p] = pl;
  }
  return s_plans[p];
}

// Runs a kept statement; latest: with a fresh snapshot (key state is read and
// changed as of now, not as of the transaction's snapshot).
int run(Plan p, Datum* values, bool latest, bool read_only, int expect) {
  int rc = 0;
  ORGCRYPT_HIDDEN({
    SPIPlanPtr pl = plan(p);
    if (latest)
      rc = SPI_execute_snapshot(pl, values, nullptr, GetLatestSnapshot(), InvalidSnapshot, read_only, true, 0);
    else
      rc = SPI_execute_plan(pl, values, nullptr, read_only, 0);
  });
  if (rc != expect) internal_error("a key table statement failed: %s", SPI_result_code_string(rc));
  return (int)SPI_processed;
}

bytea* to_bytea(const Bytes& b) {
  bytea* r = (bytea*)palloc(VARHDRSZ + b.size());
  SET_VARSIZE(r, VARHDRSZ + b.size());
  if (!b.empty()) memcpy(VARDATA(r), b.data(), b.size());
  return r;
}

}  // namespace

void kt_open() {
  become_owner();
  int rc = 0;
  ORGCRYPT_HIDDEN(rc = SPI_connect());
  if (rc != SPI_OK_CONNECT) internal_error("SPI_connect failed");
}

void kt_close() {
  SPI_finish();
  SetUserIdAndSecContext(s_owner.save_uid, s_owner.save_sec);
}

void kt_read_in(text* org, PgRowSet* out, MemoryContext mcxt) {
  Datum values[1] = {PointerGetDatum(org)};
  bool parallel = IsInParallelMode();
  run(kRead, values, !parallel, true, SPI_OK_SELECT);
  MemoryContext old = MemoryContextSwitchTo(mcxt);
  out->n = (int)SPI_processed;
  out->rows = (PgRow*)palloc0(sizeof(PgRow) * (out->n ? out->n : 1));
  out->max_version = 0;
  out->any_live = false;
  TupleDesc td = SPI_tuptable->tupdesc;
  for (int i = 0; i < out->n; i++) {
    HeapTuple tup = SPI_tuptable->vals[i];
    bool isnull;
    PgRow* r = &out->rows[i];
    r->version = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
    char* st = TextDatumGetCString(SPI_getbinval(tup, td, 2, &isnull));
    if (strcmp(st, "active") == 0) r->state = DekState::Active;
    else if (strcmp(st, "retired") == 0) r->state = DekState::Retired;
    else r->state = DekState::Destroyed;
    Datum w = SPI_getbinval(tup, td, 3, &isnull);
    r->wrapped = isnull ? nullptr : DatumGetByteaPCopy(w);
    r->kek_uri = TextDatumGetCString(SPI_getbinval(tup, td, 4, &isnull));
    Datum fp = SPI_getbinval(tup, td, 5, &isnull);
    r->kek_fp = isnull ? nullptr : DatumGetByteaPCopy(fp);
    r->uncommitted = TransactionIdIsCurrentTransactionId(DatumGetTransactionId(SPI_getbinval(tup, td, 6, &isnull)));
    if (r->version > out->max_version) out->max_version = r->version;
    if (r->state != DekState::Destroyed) out->any_live = true;
  }
  MemoryContextSwitchTo(old);
}

void kt_read(text* org, PgRowSet* out) {
  MemoryContext caller = CurrentMemoryContext;
  g_counters.misses++;
  kt_open();
  kt_read_in(org, out, caller);
  kt_close();
}

int kt_lock_org(text* org) {
  Datum values[1] = {PointerGetDatum(org)};
  return run(kLock, values, true, false, SPI_OK_SELECT);
}

bool kt_insert(text* org, int32 version, const Bytes& wrapped, const char* uri, const Bytes& fp) {
  Datum values[5] = {PointerGetDatum(org), Int32GetDatum(version), PointerGetDatum(to_bytea(wrapped)),
                     CStringGetTextDatum(uri), PointerGetDatum(to_bytea(fp))};
  if (!IsolationUsesXactSnapshot()) return run(kInsert, values, false, false, SPI_OK_INSERT) == 1;
  // Under REPEATABLE READ, ON CONFLICT DO NOTHING raises 40001 when the
  // conflicting row (another session's first key, committed while we waited
  // for it) is not in our snapshot. Key state is read fresh, as catalogs
  // are: treat it as a conflict, in a subtransaction we can roll back.
  MemoryContext mcxt = CurrentMemoryContext;
  ResourceOwner owner = CurrentResourceOwner;
  volatile bool inserted = false;
  BeginInternalSubTransaction(nullptr);
  MemoryContextSwitchTo(mcxt);
  PG_TRY();
  {
    SPIPlanPtr pl = plan(kInsert);
    int rc = SPI_execute_plan(pl, values, nullptr, false, 0);
    if (rc != SPI_OK_INSERT) elog(ERROR, "orgcrypt: storing a key failed: %s", SPI_result_code_string(rc));
    inserted = SPI_processed == 1;
    ReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(mcxt);
    CurrentResourceOwner = owner;
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(mcxt);
    ErrorData* e = CopyErrorData();
    FlushErrorState();
    RollbackAndReleaseCurrentSubTransaction();
    MemoryContextSwitchTo(mcxt);
    CurrentResourceOwner = owner;
    if (e->sqlerrcode != ERRCODE_T_R_SERIALIZATION_FAILURE) {
      e->hide_stmt = true;
      ReThrowError(e);
    }
    FreeErrorData(e);
    inserted = false;
  }
  PG_END_TRY();
  return inserted;
}

void kt_retire_active(text* org) {
  Datum values[1] = {PointerGetDatum(org)};
  (void)run(kRetire, values, true, false, SPI_OK_UPDATE);
}

int kt_tombstone(text* org) {
  Datum values[1] = {PointerGetDatum(org)};
  return run(kTombstone, values, true, false, SPI_OK_UPDATE);
}

int kt_lock_foreign(const char* uri, const Bytes& fp, int limit, ForeignRow** rows, MemoryContext mcxt) {
  Datum values[3] = {CStringGetTextDatum(uri), PointerGetDatum(to_bytea(fp)), Int32GetDatum(limit)};
  bool org_keks = OidIsValid(org_kek_table());
  int n = run(org_keks ? kForeignOrgKek : kForeign, values, true, false, SPI_OK_SELECT);
  MemoryContext old = MemoryContextSwitchTo(mcxt);
  ForeignRow* out = (ForeignRow*)palloc0(sizeof(ForeignRow) * (n ? n : 1));
  TupleDesc td = SPI_tuptable->tupdesc;
  for (int i = 0; i < n; i++) {
    HeapTuple tup = SPI_tuptable->vals[i];
    bool isnull;
    out[i].org = DatumGetTextPCopy(SPI_getbinval(tup, td, 1, &isnull));
    PgRow* r = &out[i].row;
    r->version = DatumGetInt32(SPI_getbinval(tup, td, 2, &isnull));
    char* st = TextDatumGetCString(SPI_getbinval(tup, td, 3, &isnull));
    r->state = strcmp(st, "active") == 0 ? DekState::Active : DekState::Retired;
    r->wrapped = DatumGetByteaPCopy(SPI_getbinval(tup, td, 4, &isnull));
    r->kek_uri = TextDatumGetCString(SPI_getbinval(tup, td, 5, &isnull));
    Datum f = SPI_getbinval(tup, td, 6, &isnull);
    r->kek_fp = isnull ? nullptr : DatumGetByteaPCopy(f);
    out[i].target_uri = nullptr;
    out[i].target_fp = nullptr;
    if (org_keks) {
      Datum tu = SPI_getbinval(tup, td, 7, &isnull);
      if (!isnull) {
        out[i].target_uri = TextDatumGetCString(tu);
        out[i].target_fp = DatumGetByteaPCopy(SPI_getbinval(tup, td, 8, &isnull));
      }
    }
  }
  MemoryContextSwitchTo(old);
  *rows = out;
  return n;
}

void kt_rewrap(text* org, int32 version, const Bytes& wrapped, const char* uri, const Bytes& fp) {
  Datum values[5] = {PointerGetDatum(org), Int32GetDatum(version), PointerGetDatum(to_bytea(wrapped)),
                     CStringGetTextDatum(uri), PointerGetDatum(to_bytea(fp))};
  if (run(kRewrap, values, true, false, SPI_OK_UPDATE) != 1) internal_error("a locked key row to rewrap is gone");
}

int kt_kek_uris(char*** uris, MemoryContext mcxt) {
  int n = run(OidIsValid(org_kek_table()) ? kUrisOrgKek : kUris, nullptr, true, true, SPI_OK_SELECT);
  MemoryContext old = MemoryContextSwitchTo(mcxt);
  char** out = (char**)palloc0(sizeof(char*) * (n ? n : 1));
  for (int i = 0; i < n; i++) {
    bool isnull;
    out[i] = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
  }
  MemoryContextSwitchTo(old);
  *uris = out;
  return n;
}

bool kt_org_kek(text* org, char** uri, bytea** fp, MemoryContext mcxt) {
  *uri = nullptr;
  *fp = nullptr;
  if (!OidIsValid(org_kek_table())) return false;  // extension SQL older than 1.3
  Datum values[1] = {PointerGetDatum(org)};
  if (run(kOrgKek, values, true, true, SPI_OK_SELECT) == 0) return false;
  HeapTuple tup = SPI_tuptable->vals[0];
  TupleDesc td = SPI_tuptable->tupdesc;
  bool isnull;
  MemoryContext old = MemoryContextSwitchTo(mcxt);
  *uri = TextDatumGetCString(SPI_getbinval(tup, td, 1, &isnull));
  *fp = DatumGetByteaPCopy(SPI_getbinval(tup, td, 2, &isnull));
  MemoryContextSwitchTo(old);
  return true;
}

void kt_set_org_kek(text* org, const char* uri, const Bytes& fp, Oid by) {
  Datum values[4] = {PointerGetDatum(org), CStringGetTextDatum(uri), PointerGetDatum(to_bytea(fp)),
                     ObjectIdGetDatum(by)};
  (void)run(kSetOrgKek, values, false, false, SPI_OK_INSERT);
}

int kt_clear_org_kek(text* org) {
  Datum values[1] = {PointerGetDatum(org)};
  return run(kClearOrgKek, values, false, false, SPI_OK_DELETE);
}

namespace {
bool read_bool(Plan p, Datum* values) {
  kt_open();
  run(p, values, !IsInParallelMode(), true, SPI_OK_SELECT);
  bool isnull = true;
  bool r = SPI_processed == 1 && DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
  r = r && !isnull;
  kt_close();
  return r;
}
int write_grants(Plan p, Datum* values, int expect) {
  kt_open();
  int n = run(p, values, false, false, expect);
  kt_close();
  return n;
}
}  // namespace

bool kt_public_rule() { return read_bool(kPublicRule, nullptr); }

bool kt_org_granted(Oid role, text* org) {
  Datum values[2] = {ObjectIdGetDatum(role), PointerGetDatum(org)};
  return read_bool(kGranted, values);
}

bool kt_grant(Oid role, text* org, Oid by) {
  Datum values[3] = {ObjectIdGetDatum(role), PointerGetDatum(org), ObjectIdGetDatum(by)};
  return write_grants(kGrant, values, SPI_OK_INSERT) == 1;
}

int kt_revoke(Oid role, text* org) {
  Datum values[2] = {ObjectIdGetDatum(role), PointerGetDatum(org)};
  return write_grants(kRevoke, values, SPI_OK_DELETE);
}

int kt_revoke_public() { return write_grants(kRevokePublic, nullptr, SPI_OK_DELETE); }

DekRow to_core_row(const PgRow& r) {
  PgRowSet one;
  one.n = 1;
  one.rows = const_cast<PgRow*>(&r);
  return to_core(one).front();
}

std::vector<DekRow> to_core(const PgRowSet& rs) {
  std::vector<DekRow> v;
  v.reserve(static_cast<std::size_t>(rs.n));
  for (int i = 0; i < rs.n; i++) {
    const PgRow& r = rs.rows[i];
    DekRow d;
    d.version = static_cast<std::uint32_t>(r.version);
    d.state = r.state;
    if (r.wrapped)
      d.wrapped.assign((uint8_t*)VARDATA_ANY(r.wrapped), (uint8_t*)VARDATA_ANY(r.wrapped) + VARSIZE_ANY_EXHDR(r.wrapped));
    d.kek_uri = r.kek_uri;
    d.uncommitted = r.uncommitted;
    if (r.kek_fp)
      d.kek_fp.assign((uint8_t*)VARDATA_ANY(r.kek_fp), (uint8_t*)VARDATA_ANY(r.kek_fp) + VARSIZE_ANY_EXHDR(r.kek_fp));
    v.push_back(std::move(d));
  }
  return v;
}

}  // namespace orgcrypt::pg
