#include "pg/keyops.hpp"

#include <openssl/crypto.h>

#include "pg/audit.hpp"
#include "pg/guard.hpp"
#include "pg/keystore.hpp"
#include "pg/keytable.hpp"
#include "pg/shmem.hpp"
#include "pg/state.hpp"

extern "C" {
#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
}

#include "dek_create.hpp"
#include "envelope.hpp"

namespace orgcrypt::pg {

namespace {

// Orgs whose keys this transaction destroyed (their shared copies are wiped
// at commit) or created/rotated (their generation is bumped at commit), and
// whether the key table changed outside key_op (manual DML, a restore, rows
// applied by logical replication).
List* s_destroyed = NIL;
List* s_touched = NIL;
bool s_in_key_op = false;
bool s_unknown_change = false;
// The (sub)transaction that queued the key table's invalidation: one per
// transaction is enough (a subtransaction's abort drops its own).
TransactionId s_inval_xid = InvalidTransactionId;
SubTransactionId s_inval_subxid = InvalidSubTransactionId;

void remember_org(List** list, const OrgName& org) {
  MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
  *list = lappend(*list, pnstrdup((const char*)org.bytes.data, org.bytes.size));
  MemoryContextSwitchTo(old);
}

[[noreturn]] void has_keys_error(const OrgName& org) {
  ereport(ERROR, (errcode(ERRCODE_DUPLICATE_OBJECT),
                  errmsg("organization \"%s\" already has keys", text_to_cstring(org.db)),
                  errhint("Use orgcrypt.rotate_org_dek() to make a new key version."), errhidestmt(true)));
  pg_unreachable();
}

[[noreturn]] void concurrent_change_error(const OrgName& org) {
  ereport(ERROR, (errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
                  errmsg("could not create a key for organization \"%s\" due to a concurrent change",
                         text_to_cstring(org.db)),
                  errhint("Retry the transaction."), errhidestmt(true)));
  pg_unreachable();
}

// Key management writes: refused (statement hidden) where it cannot write.
void check_writable() {
  if (RecoveryInProgress())
    ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
                    errmsg("cannot create or change orgcrypt keys on a hot standby"),
                    errhint("Create keys on the primary; decryption works on a standby."), errhidestmt(true)));
  if (XactReadOnly)
    ereport(ERROR, (errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
                    errmsg("cannot create or change orgcrypt keys in a read-only transaction"),
                    errhint("An organization's first encryption creates its key: run it in a read-write transaction, "
                            "or create the key beforehand with orgcrypt.create_org_key()."),
                    errhidestmt(true)));
}

void check_master_key() {
  if (guc_master_key == nullptr || guc_master_key[0] == '\0')
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("no master key is configured for orgcrypt"),
                    errhint("Set orgcrypt.master_key in postgresql.conf (for example "
                            "'file:/etc/postgresql/orgcrypt.key', a 32-byte key file with mode 0600) and reload."),
                    errhidestmt(true)));
  if (!guc_allow_file_master_key && strncmp(guc_master_key, "file:", 5) == 0)
    ereport(ERROR, (errcode(ERRCODE_SYSTEM_ERROR),
                    errmsg("orgcrypt.master_key is a file: key, and orgcrypt.allow_file_master_key is off"),
                    errdetail("A file: key may unwrap existing data keys (to rewrap them) but not wrap new ones."),
                    errhint("Set orgcrypt.master_key to an HSM or KMS key URI, or turn orgcrypt.allow_file_master_key on."),
                    errhidestmt(true)));
}

// An org's own KEK may wrap new DEKs (as a new DEK's KEK or a rewrap
// target) only under the rule that applies to the master key.
void check_org_kek(const char* uri, const OrgName& org) {
  if (!guc_allow_file_master_key && strncmp(uri, "file:", 5) == 0)
    ereport(ERROR, (errcode(ERRCODE_SYSTEM_ERROR),
                    errmsg("the KEK of organization \"%s\" is a file: key, and orgcrypt.allow_file_master_key is off",
                           text_to_cstring(org.db)),
                    errdetail("A file: key may unwrap existing data keys (to rewrap them) but not wrap new ones."),
                    errhint("Give the organization an HSM or KMS key with orgcrypt.set_org_master_key(), or turn "
                            "orgcrypt.allow_file_master_key on."),
                    errhidestmt(true)));
}

// Throws (inside a C++ block) if the KEK that just wrapped a DEK of the org
// is not the one recorded by set_org_master_key (a key replaced at its URI).
void check_org_kek_fp(const OrgName& org, const char* uri, const bytea* recorded, const Bytes& fp) {
  if (recorded == nullptr) return;
  Bytes want((const uint8_t*)VARDATA_ANY(recorded), (const uint8_t*)VARDATA_ANY(recorded) + VARSIZE_ANY_EXHDR(recorded));
  if (want == fp) return;
  throw Error(sqlstate::kSystemError,
              "the KEK of organization \"" + std::string((const char*)org.bytes.data, org.bytes.size) + "\" at \"" +
                  uri_for_message(uri) + "\" is not the key that was set for it",
              "Its fingerprint differs from the one recorded by orgcrypt.set_org_master_key(): the key was replaced.",
              "Restore the original key at that location, or, if the new key is meant, run "
              "orgcrypt.set_org_master_key() again.");
}

// Creates version `version` of the org: a new DEK wrapped once by the org's
// own KEK (orgcrypt.org_master_keys, read in the open session with a fresh
// snapshot) or else the master key, and unwrapped again for comparison before
// anything is written; then the row (false if another transaction inserted a
// conflicting row first). On success the DEK goes into this backend's ring
// (uncommitted).
bool insert_new_version(const OrgName& org, OrgState* st, int32 version, bool retire) {
  char* org_uri = nullptr;
  bytea* org_fp = nullptr;
  const char* uri;
  if (kt_org_kek(org.db, &org_uri, &org_fp, CurrentMemoryContext)) {
    check_org_kek(org_uri, org);
    uri = org_uri;
  } else {
    check_master_key();  // only when the master key is used
    uri = guc_master_key;
  }
  uint8_t dek[kKeyLen];
  volatile bool inserted = false;
  ORGCRYPT_CXX({
    NewDek d = create_wrapped_dek(uri, org.utf8, static_cast<std::uint32_t>(version));
    check_org_kek_fp(org, uri, org_fp, d.kek_fp);
    Backend& b = backend();
    b.wrapped_out = std::move(d.wrapped);
    b.fp_out = std::move(d.kek_fp);
    b.kek_uri_out = std::move(d.kek_uri);
    memcpy(dek, d.dek.data(), sizeof dek);
  });
  g_counters.provider_calls += 2;  // wrap + verifying unwrap
  PG_TRY();
  {
    s_in_key_op = true;
    if (retire) kt_retire_active(org.db);
    inserted = kt_insert(org.db, version, backend().wrapped_out, backend().kek_uri_out.c_str(), backend().fp_out);
    s_in_key_op = false;
    if (inserted) {
      g_pending = true;
      remember_org(&s_touched, org);
      int64 now = GetCurrentTimestamp();
      ORGCRYPT_CXX({
        DekRow row;
        row.version = static_cast<std::uint32_t>(version);
        row.state = DekState::Active;
        row.wrapped = backend().wrapped_out;
        row.kek_uri = backend().kek_uri_out;
        row.kek_fp = backend().fp_out;
        row.uncommitted = true;
        backend().ring.put_new(org.bytes, *st, row, ByteView(dek, sizeof dek), now);
      });
    }
  }
  PG_FINALLY();
  {
    OPENSSL_cleanse(dek, sizeof dek);
  }
  PG_END_TRY();
  return inserted;
}

// Reads the org's rows (fresh snapshot) inside the open session and loads
// them into the ring.
OrgState* reload(const OrgName& org, PgRowSet* rs) {
  uint64 og = 0, gg = 0;
  bool trusted = false;
  shared_org_gens(org.bytes, &og, &gg, &trusted);
  kt_read_in(org.db, rs, CurrentMemoryContext);
  // Read while changing keys: never trusted to skip a later read.
  return load_rows(org, *rs, og, false);
}

// An org's first key (create, auto-create). No lock: the key table's primary
// key serialises concurrent first keys (the INSERT waits for another
// inserter of the same org, then finds its row), and no lock-table entry is
// kept per org, so one statement may create keys for any number of orgs.
int32 first_key(const OrgName& org, bool automatic) {
  PgRowSet rs;
  OrgState* st = reload(org, &rs);
  if (rs.n == 0) {
    if (insert_new_version(org, st, 1, false)) return 1;
    st = reload(org, &rs);  // another transaction's first key committed
    if (rs.n == 0) concurrent_change_error(org);
  }
  if (automatic) return 0;  // use what is there (active_key checks it)
  if (rs.any_live) has_keys_error(org);
  org_destroyed_error(org);
}

// Rotation: row locks on the org's rows serialise it with other rotations
// and destroys of the same org (no advisory lock: SQL cannot hold these).
int32 rotate(const OrgName& org) {
  if (kt_lock_org(org.db) == 0)
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("organization \"%s\" has no keys to rotate", text_to_cstring(org.db)),
                    errhint("Use orgcrypt.create_org_key() to create its first key."), errhidestmt(true)));
  PgRowSet rs;
  OrgState* st = reload(org, &rs);  // after the lock: what the last change left
  if (!rs.any_live) org_destroyed_error(org);
  if (rs.max_version >= PG_INT32_MAX) internal_error("DEK version numbers exhausted");
  int32 version = rs.max_version + 1;
  if (!insert_new_version(org, st, version, true)) concurrent_change_error(org);
  return version;
}

// Destroy: locks the org's rows, then tombstones every live version as of
// now (not as of a REPEATABLE READ snapshot taken earlier, which would miss a
// key committed since).
int32 destroy(const OrgName& org) {
  (void)kt_lock_org(org.db);
  s_in_key_op = true;
  int n = kt_tombstone(org.db);
  s_in_key_op = false;
  g_pending = true;
  ORGCRYPT_CXX(backend().ring.erase(org.bytes));
  remember_org(&s_destroyed, org);
  return n;
}

}  // namespace

void org_destroyed_error(const OrgName& org) {
  ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                  errmsg("the keys of organization \"%s\" were destroyed", text_to_cstring(org.db)),
                  errdetail("An organization whose keys were destroyed is never given new keys silently."),
                  errhidestmt(true)));
  pg_unreachable();
}

int32 key_op(const OrgName& org, KeyOp op) {
  // (The master key is checked where a new DEK is wrapped by it: an org
  // with its own KEK does not need one.)
  check_writable();
  int32 result = 0;
  kt_open();
  switch (op) {
    case KeyOp::AutoCreate: result = first_key(org, true); break;
    case KeyOp::Create: result = first_key(org, false); break;
    case KeyOp::Rotate: result = rotate(org); break;
    case KeyOp::Destroy: result = destroy(org); break;
  }
  kt_close();
  // The audit row, in this transaction (after kt_close: as current_user).
  switch (op) {
    case KeyOp::AutoCreate:
      if (result > 0) audit_event("create", org.db, result, "automatic");
      break;
    case KeyOp::Create: audit_event("create", org.db, result, nullptr); break;
    case KeyOp::Rotate: audit_event("rotate", org.db, result, nullptr); break;
    case KeyOp::Destroy: audit_event("destroy", org.db, 0, psprintf("versions destroyed: %d", result)); break;
  }
  return result;
}

int32 rewrap_batch(int32 batch_size) {
  check_master_key();
  check_writable();
  if (batch_size < 1)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("batch_size must be at least 1"), errhidestmt(true)));
  const char* uri = guc_master_key;
  // The configured KEK's identity: the URI of the key itself (a KMS alias
  // resolves to its key ARN) and its fingerprint.
  ORGCRYPT_CXX({
    std::unique_ptr<KeyProvider> p = open_provider(uri);
    backend().fp_out = p->fingerprint();
    backend().kek_uri_out = p->key_uri();
  });
  g_counters.provider_calls++;
  MemoryContext mcxt = CurrentMemoryContext;
  Oid caller = GetUserId();  // for the audit rows (written inside the session)
  kt_open();
  ForeignRow* rows = nullptr;
  char* target = pstrdup(backend().kek_uri_out.c_str());
  int n = kt_lock_foreign(target, backend().fp_out, batch_size, &rows, mcxt);
  for (int i = 0; i < n; i++) {
    ByteView org_utf8 = to_utf8(VARDATA_ANY(rows[i].org), (int)VARSIZE_ANY_EXHDR(rows[i].org), "organization name");
    OrgName o;
    o.db = rows[i].org;
    o.bytes = ByteView(VARDATA_ANY(o.db), VARSIZE_ANY_EXHDR(o.db));
    o.utf8 = org_utf8;
    // The target: the org's own KEK, else the master key.
    const char* target = rows[i].target_uri ? rows[i].target_uri : uri;
    if (rows[i].target_uri) check_org_kek(target, o);
    ORGCRYPT_CXX({
      DekRow old = to_core_row(rows[i].row);
      WrappedDek w = rewrap_dek(old, org_utf8, target);
      // A key replaced at the org's KEK URI is refused (else the row would
      // never match its target and every rewrap would select it again).
      check_org_kek_fp(o, target, rows[i].target_fp, w.kek_fp);
      backend().wrapped_out = std::move(w.wrapped);
      backend().fp_out = std::move(w.kek_fp);
      backend().kek_uri_out = std::move(w.kek_uri);
    });
    g_counters.provider_calls += 3;  // unwrap, wrap, verifying unwrap
    s_in_key_op = true;
    kt_rewrap(rows[i].org, rows[i].row.version, backend().wrapped_out, backend().kek_uri_out.c_str(), backend().fp_out);
    s_in_key_op = false;
    // One row per DEK: which org's version moved from which KEK to which
    // (URIs name keys, they hold no secret).
    audit_event_as(caller, "rewrap", rows[i].org, rows[i].row.version,
                   psprintf("from %s to %s", rows[i].row.kek_uri, backend().kek_uri_out.c_str()));
    remember_org(&s_touched, o);
    g_pending = true;
    check_interrupts_hidden();
  }
  kt_close();
  return n;
}

void set_org_kek(const OrgName& org, const char* uri) {
  check_writable();
  if (uri == nullptr) {
    // Back to orgcrypt.master_key for its new DEKs (rewrap_org_keys() moves
    // the existing ones). Allowed for a destroyed org too.
    kt_open();
    int n = kt_clear_org_kek(org.db);
    kt_close();
    audit_event("set_org_master_key", org.db, 0,
                n > 0 ? "removed: back to orgcrypt.master_key" : "removed: there was none");
    return;
  }
  // Listed (orgcrypt.master_key or orgcrypt.allowed_key_uris) before
  // anything is opened, loaded or run.
  ORGCRYPT_CXX(check_sql_key_uri(uri));
  if (!guc_allow_file_master_key && strncmp(uri, "file:", 5) == 0)
    ereport(ERROR, (errcode(ERRCODE_SYSTEM_ERROR),
                    errmsg("key URI \"%s\" is a file: key, and orgcrypt.allow_file_master_key is off", uri),
                    errdetail("A file: key may unwrap existing data keys (to rewrap them) but not wrap new ones."),
                    errhint("Use an HSM or KMS key URI, or turn orgcrypt.allow_file_master_key on."),
                    errhidestmt(true)));
  Oid by = GetUserId();  // (inside the session we run as the key table's owner)
  kt_open();
  PgRowSet rs;
  kt_read_in(org.db, &rs, CurrentMemoryContext);
  if (rs.n > 0 && !rs.any_live) org_destroyed_error(org);
  // One wrap and unwrap of a test key: a typo or an unreachable KEK fails
  // now, with the provider's own message.
  ORGCRYPT_CXX({
    WrappedDek w = check_kek(uri);
    backend().fp_out = std::move(w.kek_fp);
    backend().kek_uri_out = std::move(w.kek_uri);
  });
  g_counters.provider_calls += 2;  // wrap + verifying unwrap
  kt_set_org_kek(org.db, backend().kek_uri_out.c_str(), backend().fp_out, by);
  kt_close();
  // The URI the provider resolved (it names the key and holds no secret).
  audit_event("set_org_master_key", org.db, 0, backend().kek_uri_out.c_str());
}

void at_commit_key_changes() {
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
  at_abort_key_changes();
}

void at_abort_key_changes() {
  s_destroyed = NIL;
  s_touched = NIL;
  s_unknown_change = false;
  s_in_key_op = false;
  s_inval_xid = InvalidTransactionId;
  s_inval_subxid = InvalidSubTransactionId;
}

void at_prepare_key_changes() {
  if (s_destroyed != NIL || s_touched != NIL || s_unknown_change) shared_distrust_generations();
  at_abort_key_changes();
}

void at_subabort_key_changes() { s_in_key_op = false; }

void key_table_changed(Oid relid) {
  TransactionId xid = GetTopTransactionIdIfAny();
  SubTransactionId sub = GetCurrentSubTransactionId();
  if (!(TransactionIdIsValid(xid) && xid == s_inval_xid && sub == s_inval_subxid)) {
    // Queued now, sent at commit (dropped on abort), WAL-logged with the
    // commit so that standbys replay it.
    CacheInvalidateRelcacheByRelid(relid);
    s_inval_xid = xid;
    s_inval_subxid = sub;
  }
  if (!s_in_key_op) s_unknown_change = true;
}

}  // namespace orgcrypt::pg
