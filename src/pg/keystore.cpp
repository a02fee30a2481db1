#include "pg/keystore.hpp"

#include <openssl/crypto.h>

#include "pg/guard.hpp"
#include "pg/shmem.hpp"
#include "pg/state.hpp"

extern "C" {
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
}

#include "envelope.hpp"
#include "provider.hpp"

namespace orgcrypt::pg {

namespace {

struct PgRow {
  int32 version;
  DekState state;
  bytea* wrapped;  // NULL for a tombstone
  char* kek_uri;
  bytea* kek_fp;   // may be NULL
  bool uncommitted;  // written by this transaction
};

struct PgRowSet {
  int n;
  PgRow* rows;
  int32 max_version;
  bool any_live;
};

struct AsOwner {
  Oid save_uid;
  int save_sec;
};

void become_owner(AsOwner* s) {
  GetUserIdAndSecContext(&s->save_uid, &s->save_sec);
  SetUserIdAndSecContext(key_table_owner(),
                         s->save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
}

void restore_user(const AsOwner* s) { SetUserIdAndSecContext(s->save_uid, s->save_sec); }

const char* kSelectRows =
    "SELECT version, state, wrapped, kek_uri, kek_fingerprint, xmin FROM orgcrypt.org_dek "
    "WHERE org OPERATOR(pg_catalog.=) $1 ORDER BY version";

// Inside an SPI connection: reads the org's rows into memory of context mcxt.
// latest: read with a fresh snapshot (as catalogs are), except in parallel
// mode where no new snapshot can be taken.
void spi_read_rows(text* org, MemoryContext mcxt, PgRowSet* out) {
  Oid argtypes[1] = {TEXTOID};
  Datum values[1] = {PointerGetDatum(org)};
  SPIPlanPtr plan = SPI_prepare(kSelectRows, 1, argtypes);
  if (!plan) elog(ERROR, "orgcrypt: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
  Snapshot snap = IsInParallelMode() ? InvalidSnapshot : GetLatestSnapshot();
  int rc = SPI_execute_snapshot(plan, values, nullptr, snap, InvalidSnapshot, true, false, 0);
  if (rc != SPI_OK_SELECT) elog(ERROR, "orgcrypt: reading the key table failed: %s", SPI_result_code_string(rc));
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

void read_rows(text* org, PgRowSet* out) {
  MemoryContext caller = CurrentMemoryContext;
  g_counters.misses++;
  AsOwner s;
  become_owner(&s);
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "orgcrypt: SPI_connect failed");
  spi_read_rows(org, caller, out);
  SPI_finish();
  restore_user(&s);
}

std::vector<DekRow> to_core(const PgRowSet& rs) {
  std::vector<DekRow> v;
  v.reserve(static_cast<std::size_t>(rs.n));
  for (int i = 0; i < rs.n; i++) {
    const PgRow& r = rs.rows[i];
    DekRow d;
    d.version = static_cast<std::uint32_t>(r.version);
    d.state = r.state;
    if (r.wrapped) d.wrapped.assign((uint8_t*)VARDATA_ANY(r.wrapped), (uint8_t*)VARDATA_ANY(r.wrapped) + VARSIZE_ANY_EXHDR(r.wrapped));
    d.kek_uri = r.kek_uri;
    d.uncommitted = r.uncommitted;
    if (r.kek_fp) d.kek_fp.assign((uint8_t*)VARDATA_ANY(r.kek_fp), (uint8_t*)VARDATA_ANY(r.kek_fp) + VARSIZE_ANY_EXHDR(r.kek_fp));
    v.push_back(std::move(d));
  }
  return v;
}

OrgState* load_from(const OrgName& org, const PgRowSet& rs) {
  OrgState* st = nullptr;
  ORGCRYPT_CXX(st = &backend().ring.load(org.bytes, to_core(rs), stmt_epoch()));
  // A version found destroyed must not stay in shared memory (a standby
  // replaying a destroy wipes it here).
  for (int i = 0; i < rs.n; i++)
    if (rs.rows[i].state == DekState::Destroyed) shared_wipe_version(org.bytes, (uint32)rs.rows[i].version);
  return st;
}

// Orgs whose keys this transaction destroyed (their shared copies are wiped
// at commit) or created/rotated (their generation is bumped at commit), and
// whether the key table changed outside key_op (manual DML, a restore).
List* s_destroyed = NIL;
List* s_touched = NIL;
bool s_in_key_op = false;
bool s_unknown_change = false;

void remember_org(List** list, const OrgName& org) {
  MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
  *list = lappend(*list, pnstrdup((const char*)org.bytes.data, org.bytes.size));
  MemoryContextSwitchTo(old);
}

bytea* bytes_to_bytea(const Bytes& b) {
  bytea* r = (bytea*)palloc(VARHDRSZ + b.size());
  SET_VARSIZE(r, VARHDRSZ + b.size());
  if (!b.empty()) memcpy(VARDATA(r), b.data(), b.size());
  return r;
}

[[noreturn]] void org_destroyed_error(const OrgName& org) {
  ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                  errmsg("the keys of organization \"%s\" were destroyed", text_to_cstring(org.db)),
                  errdetail("An organization whose keys were destroyed is never given new keys silently."),
                  errhidestmt(true)));
  pg_unreachable();
}

}  // namespace

OrgName read_org(Datum d) {
  OrgName o;
  o.db = DatumGetTextPP(d);
  o.bytes = ByteView(VARDATA_ANY(o.db), VARSIZE_ANY_EXHDR(o.db));
  if (o.bytes.size < 1 || o.bytes.size > kMaxOrgLen)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("organization name must be 1 to 255 bytes long, not %zu", o.bytes.size),
                    errhidestmt(true)));
  int enc = GetDatabaseEncoding();
  if (enc == PG_UTF8 || enc == PG_SQL_ASCII) {
    o.utf8 = o.bytes;
  } else {
    const char* src = (const char*)o.bytes.data;
    char* u = pg_server_to_any(src, (int)o.bytes.size, PG_UTF8);
    o.utf8 = ByteView(u, u == src ? o.bytes.size : strlen(u));
  }
  return o;
}

OrgState* org_state(const OrgName& org) {
  OrgState* st = nullptr;
  ORGCRYPT_CXX(st = backend().ring.find(org.bytes));
  if (st && st->epoch == stmt_epoch()) return st;
  // An invalidation arrived. If this org's key state has not changed since we
  // read it (same shared generations), it is still valid: no key-table read.
  uint64 og = 0, gg = 0;
  bool have = shared_org_gens(org.bytes, &og, &gg);  // read before the rows
  if (st && have && st->seen_valid && st->seen_org_gen == og && st->seen_global_gen == gg) {
    st->epoch = stmt_epoch();
    return st;
  }
  PgRowSet rs;
  read_rows(org.db, &rs);
  st = load_from(org, rs);
  if (have) {
    st->seen_valid = true;
    st->seen_org_gen = og;
    st->seen_global_gen = gg;
  }
  return st;
}

int32 key_op(const OrgName& org, KeyOp op) {
  MemoryContext caller = CurrentMemoryContext;
  if (op != KeyOp::Destroy && (guc_master_key == nullptr || guc_master_key[0] == '\0'))
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("no master key is configured for orgcrypt"),
                    errhint("Set orgcrypt.master_key in postgresql.conf (for example "
                            "'file:/etc/postgresql/orgcrypt.key', a 32-byte key file with mode 0600) and reload."),
                    errhidestmt(true)));
  PreventCommandIfReadOnly("orgcrypt key management");
  AsOwner s;
  become_owner(&s);
  if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "orgcrypt: SPI_connect failed");

  // Serialise key changes per org (two-key advisory lock: key table OID, hash
  // of the org), held to the end of the transaction.
  {
    Oid argtypes[2] = {INT4OID, INT4OID};
    Datum values[2] = {Int32GetDatum((int32)key_table_oid()),
                       Int32GetDatum((int32)hash_bytes(org.bytes.data, (int)org.bytes.size))};
    int rc = SPI_execute_with_args("SELECT pg_catalog.pg_advisory_xact_lock($1, $2)", 2, argtypes, values,
                                   nullptr, false, 0);
    if (rc != SPI_OK_SELECT) elog(ERROR, "orgcrypt: could not lock the organization's keys");
  }
  PgRowSet rs;
  spi_read_rows(org.db, caller, &rs);
  int32 result = 0;
  // What we read under the lock is the org's current state: use it (another
  // session may have created the key while we waited).
  OrgState* st = load_from(org, rs);

  switch (op) {
    case KeyOp::AutoCreate:
      if (rs.n > 0) {  // created meanwhile (or destroyed): use what is there
        result = 0;
        goto done;
      }
      break;
    case KeyOp::Create:
      if (rs.n > 0 && rs.any_live)
        ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
                        errmsg("organization \"%s\" already has keys", text_to_cstring(org.db)),
                        errhint("Use orgcrypt.rotate_org_dek() to make a new key version."), errhidestmt(true)));
      if (rs.n > 0) org_destroyed_error(org);
      break;
    case KeyOp::Rotate:
      if (rs.n == 0)
        ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                        errmsg("organization \"%s\" has no keys to rotate", text_to_cstring(org.db)),
                        errhint("Use orgcrypt.create_org_key() to create its first key."), errhidestmt(true)));
      if (!rs.any_live) org_destroyed_error(org);
      break;
    case KeyOp::Destroy: {
      Oid argtypes[1] = {TEXTOID};
      Datum values[1] = {PointerGetDatum(org.db)};
      s_in_key_op = true;  // (reset at transaction end if this errors)
      int rc = SPI_execute_with_args(
          "UPDATE orgcrypt.org_dek SET state = 'destroyed', wrapped = NULL, destroyed_at = pg_catalog.now() "
          "WHERE org OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.<>) 'destroyed'",
          1, argtypes, values, nullptr, false, 0);
      s_in_key_op = false;
      if (rc != SPI_OK_UPDATE) elog(ERROR, "orgcrypt: destroying keys failed: %s", SPI_result_code_string(rc));
      result = (int32)SPI_processed;
      g_pending = true;
      ORGCRYPT_CXX(backend().ring.erase(org.bytes));
      remember_org(&s_destroyed, org);
      goto done;
    }
  }

  {
    if (rs.max_version >= PG_INT32_MAX) elog(ERROR, "orgcrypt: DEK version numbers exhausted");
    int32 version = rs.max_version + 1;
    uint8_t dek[kKeyLen];
    bytea* wrapped = nullptr;
    bytea* fp = nullptr;
    PG_TRY();
    {
      const char* uri = guc_master_key;
      ORGCRYPT_CXX({
        Backend& b = backend();
        random_bytes(dek, sizeof dek);
        std::unique_ptr<KeyProvider> p = open_provider(uri);
        b.fp_out = p->fingerprint();
        Bytes aad = wrap_aad(org.utf8, static_cast<std::uint32_t>(version));
        b.wrapped_out = p->wrap(ByteView(dek, sizeof dek), ByteView(aad));
      });
      g_counters.provider_calls++;
      wrapped = bytes_to_bytea(backend().wrapped_out);
      fp = bytes_to_bytea(backend().fp_out);

      Oid argtypes[5] = {TEXTOID, INT4OID, BYTEAOID, TEXTOID, BYTEAOID};
      Datum values[5] = {PointerGetDatum(org.db), Int32GetDatum(version), PointerGetDatum(wrapped),
                         CStringGetTextDatum(uri), PointerGetDatum(fp)};
      int rc;
      s_in_key_op = true;
      if (op == KeyOp::Rotate) {
        rc = SPI_execute_with_args(
            "UPDATE orgcrypt.org_dek SET state = 'retired' "
            "WHERE org OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'active'",
            1, argtypes, values, nullptr, false, 0);
        if (rc != SPI_OK_UPDATE) elog(ERROR, "orgcrypt: retiring the active key failed");
      }
      rc = SPI_execute_with_args(
          "INSERT INTO orgcrypt.org_dek (org, version, state, wrapped, kek_uri, kek_fingerprint) "
          "VALUES ($1, $2, 'active', $3, $4, $5) ON CONFLICT DO NOTHING",
          5, argtypes, values, nullptr, false, 0);
      s_in_key_op = false;
      if (rc != SPI_OK_INSERT) elog(ERROR, "orgcrypt: storing the new key failed");
      if (SPI_processed != 1)
        ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                        errmsg("could not create a key for organization \"%s\" due to a concurrent change",
                               text_to_cstring(org.db)),
                        errhint("Retry the transaction."), errhidestmt(true)));
      g_pending = true;
      remember_org(&s_touched, org);
      int64 now = GetCurrentTimestamp();
      ORGCRYPT_CXX({
        DekRow row;
        row.version = static_cast<std::uint32_t>(version);
        row.state = DekState::Active;
        row.wrapped = backend().wrapped_out;
        row.kek_uri = uri;
        row.kek_fp = backend().fp_out;
        row.uncommitted = true;
        backend().ring.put_new(org.bytes, *st, row, ByteView(dek, sizeof dek), now);
      });
    }
    PG_FINALLY();
    {
      OPENSSL_cleanse(dek, sizeof dek);
    }
    PG_END_TRY();
    result = version;
  }

done:
  SPI_finish();
  restore_user(&s);
  return result;
}

namespace {
// The last key used for each direction, valid within one statement while the
// ring has not changed (key state and TTL are fixed per statement): a hit
// costs a length check and a memcmp of the org.
struct FastKey {
  uint64_t stmt = 0, ring_gen = 0;
  uint32_t version = 0;
  size_t org_len = 0;
  char org[kMaxOrgLen];
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
}  // namespace

AesGcm* active_key(const OrgName& org, uint32_t* version) {
  if (s_fast_enc.match(org)) {
    g_counters.hits++;
    *version = s_fast_enc.version;
    return s_fast_enc.key;
  }
  OrgState* st = org_state(org);
  if (!st->has_keys()) {
    if (!guc_auto_create)
      ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                      errmsg("organization \"%s\" has no key", text_to_cstring(org.db)),
                      errhint("Create it with orgcrypt.create_org_key(), or turn on orgcrypt.auto_create_org_keys."),
                      errhidestmt(true)));
    (void)key_op(org, KeyOp::AutoCreate);
    st = org_state(org);
  }
  if (st->destroyed) org_destroyed_error(org);
  if (st->active == 0)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("organization \"%s\" has no active key", text_to_cstring(org.db)), errhidestmt(true)));
  *version = st->active;
  AesGcm* k = get_key(org, st, st->active);
  s_fast_enc.set(org, *version, k);
  return k;
}

AesGcm* version_key(const OrgName& org, uint32_t version) {
  if (s_fast_dec.version == version && s_fast_dec.match(org)) {
    g_counters.hits++;
    return s_fast_dec.key;
  }
  AesGcm* k = get_key(org, org_state(org), version);
  s_fast_dec.set(org, version, k);
  return k;
}

AesGcm* get_key(const OrgName& org, OrgState* st, uint32_t version) {
  DekSlot* slot = nullptr;
  AesGcm* k = nullptr;
  // First level: this backend's ring (no lock, no syscall), TTL read against
  // the statement's start time.
  ORGCRYPT_CXX({
    KeyRing& ring = backend().ring;
    slot = &ring.slot(org.utf8, *st, version);
    std::uint64_t expired = ring.stats().expirations;
    k = ring.cached(*slot, stmt_now_us(), ttl_us());
    g_counters.expirations += ring.stats().expirations - expired;
  });
  if (k) {
    g_counters.hits++;
    return k;
  }
  // Second level: shared memory, with a single unwrap for the whole server.
  // A DEK this transaction wrote itself is never published there.
  if (shared_mode() && !slot->row.uncommitted) return shared_get_key(org.bytes, org.utf8, *slot);
  // Backend-local mode (or our own uncommitted key): unwrap here.
  g_counters.provider_calls++;
  debug_unwrap_delay();
  int64 now = GetCurrentTimestamp();
  ORGCRYPT_CXX({
    SecretBytes d = unwrap_row(org.utf8, slot->row);
    k = &backend().ring.install(*slot, ByteView(d), now);
  });
  return k;
}

void at_commit_wipe_destroyed() {
  ListCell* lc;
  foreach (lc, s_destroyed) {
    const char* o = (const char*)lfirst(lc);
    shared_wipe_org(ByteView(o, strlen(o)));  // also bumps the org's generation
  }
  foreach (lc, s_touched) {
    const char* o = (const char*)lfirst(lc);
    shared_touch_org(ByteView(o, strlen(o)));
  }
  if (s_unknown_change) shared_touch_all();
  at_abort_forget_destroyed();
}

void at_abort_forget_destroyed() {
  s_destroyed = NIL;
  s_touched = NIL;
  s_unknown_change = false;
  s_in_key_op = false;
}

void at_prepare_key_changes() {
  if (s_destroyed != NIL || s_touched != NIL || s_unknown_change) shared_distrust_generations();
  at_abort_forget_destroyed();
}

void note_key_table_change() {
  if (!s_in_key_op) s_unknown_change = true;
}

}  // namespace orgcrypt::pg
