#include "pg/state.hpp"

#include "pg/acl.hpp"
#include "pg/guard.hpp"
#include "pg/keyops.hpp"
#include "pg/shmem.hpp"

extern "C" {
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
}

#include "http.hpp"
#include "kmip.hpp"
#include "provider.hpp"

namespace orgcrypt::pg {

char* guc_master_key = nullptr;
char* guc_allowed_key_uris = nullptr;
bool guc_auto_create = true;
bool guc_allow_file_master_key = true;
static bool guc_allow_plain_http_loopback = false;
static char* guc_kmip_ca_file = nullptr;
static char* guc_kmip_cert_file = nullptr;
static char* guc_kmip_key_file = nullptr;
static bool guc_kmip_allow_get_fallback = false;
volatile uint64_t g_epoch = 1;
bool g_pending = false;

static Oid s_keytab = InvalidOid;
static bool s_recheck_keytab = true;
static uint64_t s_stmt_epoch = 0;
static uint64_t s_stmt_id = 0;
static Oid s_keytab_owner = InvalidOid;
static Oid s_org_keks = InvalidOid;
static Oid s_ring_keytab = InvalidOid;  // key table the ring's contents came from
static TimestampTz s_last_stmt = 0;
static bool s_noticed_local = false;
static LocalTransactionId s_last_lxid = InvalidLocalTransactionId;

Backend* g_backend = nullptr;

Backend& make_backend() {
  // Constructed on first use in the backend (never in the postmaster); may
  // throw bad_alloc, so it is only reached inside cxx_call.
  if (!g_backend) g_backend = new Backend();
  return *g_backend;
}

static void relcache_cb(Datum, Oid relid) {
  // Runs for every relation; only marks state stale (no allocation, no error).
  if (relid == InvalidOid || relid == s_keytab) {
    g_epoch = g_epoch + 1;
    s_recheck_keytab = true;
  }
  acl_relcache(relid);
  // Extension SQL older than 1.3 (no grants table): look again at the next
  // statement, so that an ALTER EXTENSION UPDATE committed by another session
  // turns the checks on (key state is not invalidated by this).
  if (!OidIsValid(acl_grants_table()) && OidIsValid(s_keytab)) s_recheck_keytab = true;
}

static void wipe_ring() {
  ErrInfo err;
  (void)cxx_call(err, [&]() { backend().ring.clear(); });
}

static void xact_cb(XactEvent event, void*) {
  switch (event) {
    case XACT_EVENT_ABORT:
    case XACT_EVENT_PARALLEL_ABORT:
      shared_abandon_flights();
      at_abort_key_changes();
      if (g_pending) wipe_ring();
      g_pending = false;
      fold_counters();
      break;
    case XACT_EVENT_PREPARE:
      // The prepared transaction may still be rolled back (from any
      // session): keys it created must not stay usable here.
      if (g_pending) wipe_ring();
      g_pending = false;
      // (A prepared destroy wipes shared copies when backends revalidate.)
      at_prepare_key_changes();
      fold_counters();
      break;
    case XACT_EVENT_COMMIT:
    case XACT_EVENT_PARALLEL_COMMIT:
      // Runs before the commit's invalidation messages are sent.
      at_commit_key_changes();
      g_pending = false;
      fold_counters();
      break;
    default:
      break;
  }
}

static void subxact_cb(SubXactEvent event, SubTransactionId, SubTransactionId, void*) {
  if (event != SUBXACT_EVENT_ABORT_SUB) return;
  // A flight this backend leads ends with the statement that started it: an
  // error caught by a PL/pgSQL EXCEPTION block must not leave it in flight.
  shared_abandon_flights();
  at_subabort_key_changes();
  // Keys created in an aborted subtransaction must not stay usable: wipe the
  // whole ring (it is refilled from the key table on demand).
  if (g_pending) wipe_ring();
}

void register_callbacks() {
  CacheRegisterRelcacheCallback(relcache_cb, (Datum)0);
  RegisterXactCallback(xact_cb, nullptr);
  RegisterSubXactCallback(subxact_cb, nullptr);
  acl_register_callbacks();
}

static void resolve_key_table() {
  Oid nsp = get_namespace_oid("orgcrypt", true);
  Oid rel = OidIsValid(nsp) ? get_relname_relid("org_dek", nsp) : InvalidOid;
  if (!OidIsValid(rel))
    ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
                    errmsg("orgcrypt key table orgcrypt.org_dek does not exist"),
                    errhint("Run CREATE EXTENSION orgcrypt in this database."), errhidestmt(true)));
  HeapTuple tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel));
  if (!HeapTupleIsValid(tup)) internal_error("cache lookup failed for relation %u", rel);
  s_keytab_owner = ((Form_pg_class)GETSTRUCT(tup))->relowner;
  ReleaseSysCache(tup);
  s_keytab = rel;
  // The grants table (1.3); missing with older extension SQL.
  acl_set_grants_table(get_relname_relid("org_grants", nsp));
  s_org_keks = get_relname_relid("org_master_keys", nsp);
  if (s_ring_keytab != rel) {
    // Another key table (extension dropped and created again): nothing cached
    // may be used with it.
    if (OidIsValid(s_ring_keytab)) wipe_ring();
    s_ring_keytab = rel;
    g_epoch = g_epoch + 1;
  }
}

void begin_call() {
  TimestampTz stmt = GetCurrentStatementStartTimestamp();
#if PG_VERSION_NUM >= 170000
  LocalTransactionId lxid = MyProc->vxid.lxid;
#else
  LocalTransactionId lxid = MyProc->lxid;
#endif
  if (stmt != s_last_stmt || lxid != s_last_lxid || s_recheck_keytab) {
    if (!s_noticed_local && !shared_mode()) {
      s_noticed_local = true;
      ereport(NOTICE, (errmsg("orgcrypt is not in shared_preload_libraries: data keys are cached per backend"),
                       errhint("Add orgcrypt to shared_preload_libraries and restart the server for the shared cache.")));
    }
    // cache_flush() in any session empties every backend's cache.
    if (shared_flush_pending()) wipe_ring();
    AcceptInvalidationMessages();
    if (s_recheck_keytab || !OidIsValid(s_keytab)) {
      resolve_key_table();
      s_recheck_keytab = false;
    }
    // Key state read during this statement is valid for this epoch. Our own
    // changes later in the statement are applied to the ring directly; other
    // sessions' commits are seen from the next statement on.
    s_stmt_epoch = g_epoch;
    s_stmt_id++;
    s_last_stmt = stmt;
    s_last_lxid = lxid;
  }
}

Oid key_table_oid() { return s_keytab; }
uint64_t stmt_epoch() { return s_stmt_epoch; }
uint64_t stmt_id() { return s_stmt_id; }
int64_t stmt_now_us() { return (int64_t)GetCurrentStatementStartTimestamp(); }
Oid key_table_owner() { return s_keytab_owner; }
Oid org_kek_table() { return s_org_keks; }

static bool check_master_key(char** newval, void**, GucSource) {
  if (*newval == nullptr || (*newval)[0] == '\0') return true;
  ErrInfo err;
  const char* uri = *newval;
  bool ok = cxx_call(err, [&]() {
    std::string why = check_uri_syntax(uri);
    if (!why.empty()) throw Error(sqlstate::kInvalidParameter, why);
  });
  if (!ok) {
    GUC_check_errdetail("%s", err.message);
    return false;
  }
  return true;
}

// Keeps core's URI trust policy in step with the two settings it reads.
// Assign hooks must not fail: on an allocation failure the old policy stays.
static void update_uri_policy(const char* master, const char* allowed) {
  try {
    UriPolicy p;
    p.master_key = master ? master : "";
    (void)parse_allowed_uris(allowed ? allowed : "", &p.allowed);  // checked by the check hook
    set_uri_policy(std::move(p));
  } catch (...) {
  }
}

static void assign_master_key(const char* newval, void*) { update_uri_policy(newval, guc_allowed_key_uris); }
static void assign_allowed_uris(const char* newval, void*) { update_uri_policy(guc_master_key, newval); }

static bool check_allowed_uris(char** newval, void**, GucSource) {
  ErrInfo err;
  const char* v = *newval ? *newval : "";
  bool ok = cxx_call(err, [&]() {
    std::string why = parse_allowed_uris(v, nullptr);
    if (!why.empty()) throw Error(sqlstate::kInvalidParameter, why);
  });
  if (!ok) {
    GUC_check_errdetail("%s", err.message);
    return false;
  }
  return true;
}

// orgcrypt.kmip_*_file: empty, or an absolute path (opened by the server).
static bool check_absolute_path(char** newval, void**, GucSource) {
  const char* v = *newval ? *newval : "";
  if (v[0] != '\0' && v[0] != '/') {
    GUC_check_errdetail("The path must be absolute (it is opened by the server process).");
    return false;
  }
  return true;
}

// The kmip:// provider's settings, copied from the GUC variables when a
// provider is opened (C++ code: the GUC hooks themselves allocate nothing).
static orgcrypt::kmip::Settings kmip_settings_from_gucs() {
  orgcrypt::kmip::Settings s;
  s.ca_file = guc_kmip_ca_file ? guc_kmip_ca_file : "";
  s.cert_file = guc_kmip_cert_file ? guc_kmip_cert_file : "";
  s.key_file = guc_kmip_key_file ? guc_kmip_key_file : "";
  s.allow_get_fallback = guc_kmip_allow_get_fallback;
  return s;
}

static void define_kmip_path(const char* name, const char* desc, char** var) {
  DefineCustomStringVariable(name, desc, "Overridden by the same parameter in a kmip:// URI.", var, "", PGC_SIGHUP,
                             GUC_SUPERUSER_ONLY, check_absolute_path, nullptr, nullptr);
}

// Read by providers while they wait (exec: children, HSM calls): never calls
// anything that can raise an error.
static bool pg_interrupted() { return QueryCancelPending || ProcDiePending; }

void define_gucs() {
  set_interrupt_check(pg_interrupted);
  DefineCustomStringVariable(
      "orgcrypt.master_key", "URI of the master key (KEK) that wraps new data keys.",
      "For example file:/etc/postgresql/orgcrypt.key (32 bytes, mode 0600, owned by the server's OS user).",
      &guc_master_key, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, check_master_key, assign_master_key, nullptr);
  DefineCustomStringVariable(
      "orgcrypt.allowed_key_uris", "Key URIs that load or run code which this server may use, besides orgcrypt.master_key.",
      "Exact URIs, or prefixes ending in *, separated by commas. Applies to pkcs11: (a module-path is loaded) and exec: "
      "(a program is run) URIs wherever they come from: settings, SQL arguments, key-table rows.",
      &guc_allowed_key_uris, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, check_allowed_uris, assign_allowed_uris, nullptr);
  DefineCustomBoolVariable("orgcrypt.allow_file_master_key",
                           "Allow a file: master key to wrap new data keys.",
                           "Off: file: keys only unwrap existing DEKs (so that they can be rewrapped).",
                           &guc_allow_file_master_key, true, PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr, nullptr);
  DefineCustomBoolVariable(
      "orgcrypt.allow_plain_http_loopback",
      "Let HTTP key providers use plain http to a loopback address (tests, a local dev server).",
      "Off: aws-kms: and vault-transit: use https with certificate verification only (the AWS metadata "
      "endpoints excepted).",
      &guc_allow_plain_http_loopback, false, PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr,
      [](bool newval, void*) { orgcrypt::http::set_allow_plain_http_loopback(newval); }, nullptr);
  define_kmip_path("orgcrypt.kmip_ca_file", "PEM file of the CA that signs KMIP servers' certificates.",
                   &guc_kmip_ca_file);
  define_kmip_path("orgcrypt.kmip_cert_file", "PEM file of the client certificate orgcrypt shows KMIP servers.",
                   &guc_kmip_cert_file);
  define_kmip_path("orgcrypt.kmip_key_file",
                   "PEM file of the client certificate's private key (owned by the server's OS user, mode 0600).",
                   &guc_kmip_key_file);
  DefineCustomBoolVariable(
      "orgcrypt.kmip_allow_get_fallback",
      "Use a KMIP server older than 1.4 by fetching the key with Get (weaker: the KEK visits the backend).",
      "Off: a KMIP server without KMIP 1.4 (server-side AES-GCM with additional data) is refused.",
      &guc_kmip_allow_get_fallback, false, PGC_SIGHUP, GUC_SUPERUSER_ONLY, nullptr, nullptr, nullptr);
  orgcrypt::kmip::set_settings_source(kmip_settings_from_gucs);
  DefineCustomBoolVariable("orgcrypt.auto_create_org_keys",
                           "Create an organization's first data key at its first encryption.", nullptr,
                           &guc_auto_create, true, PGC_SUSET, 0, nullptr, nullptr, nullptr);
  // A PGC_POSTMASTER setting can only be defined while preloading; loaded
  // later (per-backend cache) the setting does not exist. (Every version:
  // 13 and 14 included.)
  if (process_shared_preload_libraries_in_progress)
    DefineCustomIntVariable("orgcrypt.cache_size", "Entries in the shared-memory DEK cache.",
                            "Unwrapped data keys cached for the whole server; needs a restart.", &guc_cache_size,
                            1000, 16, 1000000, PGC_POSTMASTER, 0, nullptr, nullptr, nullptr);
  DefineCustomIntVariable("orgcrypt.cache_ttl", "Lifetime of a cached, unwrapped data key.",
                          "An entry expires when now minus its unwrap time exceeds this; 0 = never. "
                          "At most 86400 s (one day).",
                          &guc_cache_ttl, 300, 0, 86400, PGC_SIGHUP, GUC_UNIT_S, nullptr, nullptr, nullptr);
#if PG_VERSION_NUM >= 150000
  MarkGUCPrefixReserved("orgcrypt");
#else
  EmitWarningsOnPlaceholders("orgcrypt");
#endif
}

}  // namespace orgcrypt::pg
