// SQL-callable functions: read arguments, call core, build the result.
#include "pg/acl.hpp"
#include "pg/args.hpp"
#include "pg/guard.hpp"
#include "pg/keyops.hpp"
#include "pg/keystore.hpp"
#include "pg/shmem.hpp"
#include "pg/state.hpp"

#include <openssl/crypto.h>

extern "C" {
#include "access/htup_details.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
}

#include "ascii.hpp"
#include "envelope.hpp"

using namespace orgcrypt;
using namespace orgcrypt::pg;

extern "C" {
PG_FUNCTION_INFO_V1(orgcrypt_encrypt_text);
PG_FUNCTION_INFO_V1(orgcrypt_encrypt_bytea);
PG_FUNCTION_INFO_V1(orgcrypt_decrypt_text);
PG_FUNCTION_INFO_V1(orgcrypt_decrypt_bytea);
PG_FUNCTION_INFO_V1(orgcrypt_reencrypt);
PG_FUNCTION_INFO_V1(orgcrypt_create_org_key);
PG_FUNCTION_INFO_V1(orgcrypt_rotate_org_dek);
PG_FUNCTION_INFO_V1(orgcrypt_destroy_org_keys);
PG_FUNCTION_INFO_V1(orgcrypt_cache_flush);
PG_FUNCTION_INFO_V1(orgcrypt_cache_stats);
PG_FUNCTION_INFO_V1(orgcrypt_key_table_changed);
PG_FUNCTION_INFO_V1(orgcrypt_grant_org);
PG_FUNCTION_INFO_V1(orgcrypt_revoke_org);
PG_FUNCTION_INFO_V1(orgcrypt_revoke_public_access);
PG_FUNCTION_INFO_V1(orgcrypt_grants_changed);
PG_FUNCTION_INFO_V1(orgcrypt_set_org_master_key);
}

namespace {

bytea* seal_value(const OrgName& org, Kind kind, ByteView pt, const Context& ctx) {
  uint32_t version = 0;
  AesGcm* key = active_key(org, &version);
  size_t total = sealed_size(pt.size);
  if (total > MaxAllocSize - VARHDRSZ)
    ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("value too large to encrypt"), errhidestmt(true)));
  bytea* out = (bytea*)palloc(VARHDRSZ + total);
  SET_VARSIZE(out, VARHDRSZ + total);
  ORGCRYPT_CXX({
    Backend& b = backend();
    seal(*key, b.nonces, b.aad, kind, version, org.utf8, ctx, pt, (std::uint8_t*)VARDATA(out));
  });
  return out;
}

// Opens an envelope into a palloc'd buffer (VARHDRSZ + plaintext). Sets *kind.
bytea* open_value(const OrgName& org, bytea* env, const Context& ctx, Kind* kind) {
  const std::uint8_t* e = (const std::uint8_t*)VARDATA_ANY(env);
  size_t len = VARSIZE_ANY_EXHDR(env);
  Header h{};
  ORGCRYPT_CXX(h = parse_header(e, len));
  AesGcm* key = version_key(org, h.dek_version);
  size_t n = len - kOverhead;
  bytea* out = (bytea*)palloc(VARHDRSZ + n + 1);
  SET_VARSIZE(out, VARHDRSZ + n);
  ORGCRYPT_CXX(open(*key, backend().aad, e, len, org.utf8, ctx, (std::uint8_t*)VARDATA(out)));
  *kind = h.kind;
  return out;
}

// The common prologue of decrypt/reencrypt: (org, value [, context]).
bytea* open_args(FunctionCallInfo fcinfo, OrgName* org, Context* ctx, Kind* kind) {
  begin_call();
  *org = read_org(PG_GETARG_DATUM(0));
  check_org_access(*org);  // before anything about the org is looked up
  bytea* env = PG_GETARG_BYTEA_PP(1);
  *ctx = read_context(fcinfo, 2);
  return open_value(*org, env, *ctx, kind);
}

void wipe_and_free(bytea* b) {
  OPENSSL_cleanse(VARDATA(b), VARSIZE(b) - VARHDRSZ);
  pfree(b);
}

}  // namespace

extern "C" PGDLLEXPORT Datum orgcrypt_encrypt_text(PG_FUNCTION_ARGS) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_NULL();
  begin_call();
  OrgName org = read_org(PG_GETARG_DATUM(0));
  check_org_access(org);  // before anything about the org is looked up (auto-create included)
  text* pt = PG_GETARG_TEXT_PP(1);
  Context ctx = read_context(fcinfo, 2);
  ByteView u = to_utf8(VARDATA_ANY(pt), (int)VARSIZE_ANY_EXHDR(pt), "plaintext");
  bytea* out = seal_value(org, Kind::Text, u, ctx);
  wipe_converted(u, VARDATA_ANY(pt));
  PG_RETURN_BYTEA_P(out);
}

extern "C" PGDLLEXPORT Datum orgcrypt_encrypt_bytea(PG_FUNCTION_ARGS) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_NULL();
  begin_call();
  OrgName org = read_org(PG_GETARG_DATUM(0));
  check_org_access(org);
  bytea* pt = PG_GETARG_BYTEA_PP(1);
  Context ctx = read_context(fcinfo, 2);
  bytea* out = seal_value(org, Kind::Bytea, ByteView(VARDATA_ANY(pt), VARSIZE_ANY_EXHDR(pt)), ctx);
  PG_RETURN_BYTEA_P(out);
}

extern "C" PGDLLEXPORT Datum orgcrypt_decrypt_text(PG_FUNCTION_ARGS) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_NULL();
  OrgName org;
  Context ctx;
  Kind kind;
  bytea* pt = open_args(fcinfo, &org, &ctx, &kind);
  if (kind != Kind::Text) {
    wipe_and_free(pt);
    ereport(ERROR, (errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
                    errmsg("orgcrypt ciphertext holds bytea, not text"),
                    errhint("Use orgcrypt.decrypt_for_org_bytea() for binary values."), errhidestmt(true)));
  }
  char* p = VARDATA(pt);
  int n = (int)(VARSIZE(pt) - VARHDRSZ);
  // Sealed as UTF-8: check it, then convert to the database encoding.
  // (pg_verify_mbstr rejects NUL bytes too.)
  if (!plain_ascii(p, (size_t)n) && !pg_verify_mbstr(PG_UTF8, p, n, true)) {
    wipe_and_free(pt);
    ereport(ERROR, (errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
                    errmsg("decrypted value is not valid UTF-8 text"),
                    errhint("Use orgcrypt.decrypt_for_org_bytea() to read it as bytes."), errhidestmt(true)));
  }
  int enc = GetDatabaseEncoding();
  if (enc == PG_UTF8 || enc == PG_SQL_ASCII) PG_RETURN_TEXT_P((text*)pt);
  // A character with no equivalent is 22P05, without quoting it; the
  // plaintext buffer is wiped on that path too.
  text* volatile r = nullptr;
  PG_TRY();
  {
    r = utf8_to_text(p, n);
  }
  PG_FINALLY();
  {
    wipe_and_free(pt);
  }
  PG_END_TRY();
  PG_RETURN_TEXT_P(r);
}

extern "C" PGDLLEXPORT Datum orgcrypt_decrypt_bytea(PG_FUNCTION_ARGS) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_NULL();
  OrgName org;
  Context ctx;
  Kind kind;
  PG_RETURN_BYTEA_P(open_args(fcinfo, &org, &ctx, &kind));
}

extern "C" PGDLLEXPORT Datum orgcrypt_reencrypt(PG_FUNCTION_ARGS) {
  if (PG_ARGISNULL(0) || PG_ARGISNULL(1)) PG_RETURN_NULL();
  OrgName org;
  Context ctx;
  Kind kind;
  bytea* pt = open_args(fcinfo, &org, &ctx, &kind);
  bytea* out = seal_value(org, kind, ByteView(VARDATA(pt), VARSIZE(pt) - VARHDRSZ), ctx);
  wipe_and_free(pt);
  PG_RETURN_BYTEA_P(out);
}

extern "C" PGDLLEXPORT Datum orgcrypt_create_org_key(PG_FUNCTION_ARGS) {
  begin_call();
  check_admin("orgcrypt.create_org_key()");
  OrgName org = read_org(PG_GETARG_DATUM(0));
  PG_RETURN_INT32(key_op(org, KeyOp::Create));
}

extern "C" PGDLLEXPORT Datum orgcrypt_rotate_org_dek(PG_FUNCTION_ARGS) {
  begin_call();
  check_admin("orgcrypt.rotate_org_dek()");
  OrgName org = read_org(PG_GETARG_DATUM(0));
  PG_RETURN_INT32(key_op(org, KeyOp::Rotate));
}

extern "C" PGDLLEXPORT Datum orgcrypt_destroy_org_keys(PG_FUNCTION_ARGS) {
  begin_call();
  check_admin("orgcrypt.destroy_org_keys()");
  OrgName org = read_org(PG_GETARG_DATUM(0));
  PG_RETURN_INT32(key_op(org, KeyOp::Destroy));
}

extern "C" PGDLLEXPORT Datum orgcrypt_cache_flush(PG_FUNCTION_ARGS) {
  begin_call();
  check_admin("orgcrypt.cache_flush()");
  ORGCRYPT_CXX(backend().ring.clear());
  shared_flush();
  PG_RETURN_VOID();
}

extern "C" PGDLLEXPORT Datum orgcrypt_cache_stats(PG_FUNCTION_ARGS) {
  TupleDesc td;
  if (get_call_result_type(fcinfo, nullptr, &td) != TYPEFUNC_COMPOSITE) internal_error("return type must be a row type");
  td = BlessTupleDesc(td);
  SharedStats s{};
  const char* mode;
  if (shared_mode()) {
    mode = "shared";
    shared_stats(&s);
  } else {
    mode = "local";
    ORGCRYPT_CXX({
      KeyRing& r = backend().ring;
      s.capacity = (int64)r.capacity();
      s.entries = (int64)r.entries();
      s.evictions = (int64)r.stats().evictions;
    });
    s.expirations = (int64)g_counters.expirations;
    s.hits = (int64)g_counters.hits;
    s.misses = (int64)g_counters.misses;
    s.provider_calls = (int64)g_counters.provider_calls;
    s.waits = 0;
    s.locked = 0;
    s.denials = (int64)g_counters.denials;
  }
  Datum values[11] = {CStringGetTextDatum(mode),       Int64GetDatum(s.capacity), Int64GetDatum(s.entries),
                      Int64GetDatum(s.hits),           Int64GetDatum(s.misses),   Int64GetDatum(s.provider_calls),
                      Int64GetDatum(s.waits),          Int64GetDatum(s.evictions), Int64GetDatum(s.expirations),
                      Int64GetDatum(s.locked),         Int64GetDatum(s.denials)};
  bool nulls[11] = {};
  // 1.0-1.2 declare 10 columns, 1.3 adds denials.
  if (td->natts != 10 && td->natts != 11) internal_error("cache_stats_fn() must return 10 or 11 columns");
  PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(td, values, nulls)));
}

extern "C" PGDLLEXPORT Datum orgcrypt_key_table_changed(PG_FUNCTION_ARGS) {
  if (!CALLED_AS_TRIGGER(fcinfo)) internal_error("orgcrypt.key_table_changed() must be called as a trigger");
  TriggerData* td = (TriggerData*)fcinfo->context;
  key_table_changed(RelationGetRelid(td->tg_relation));
  return PointerGetDatum(nullptr);
}

// ---------------------------------------------------------------- grants (1.3)

extern "C" PGDLLEXPORT Datum orgcrypt_grant_org(PG_FUNCTION_ARGS) {
  begin_call();
  check_admin("orgcrypt.grant_org()");
  Oid role = PG_GETARG_OID(0);
  OrgName org = read_org(PG_GETARG_DATUM(1));
  acl_grant(role, org);
  PG_RETURN_VOID();
}

extern "C" PGDLLEXPORT Datum orgcrypt_revoke_org(PG_FUNCTION_ARGS) {
  begin_call();
  check_admin("orgcrypt.revoke_org()");
  Oid role = PG_GETARG_OID(0);
  OrgName org = read_org(PG_GETARG_DATUM(1));
  acl_revoke(role, org);
  PG_RETURN_VOID();
}

extern "C" PGDLLEXPORT Datum orgcrypt_revoke_public_access(PG_FUNCTION_ARGS) {
  begin_call();
  check_admin("orgcrypt.revoke_public_access()");
  acl_revoke_public();
  PG_RETURN_VOID();
}

// The grants table's triggers: one relcache invalidation, sent at commit;
// every backend drops its cached decisions before its next statement.
extern "C" PGDLLEXPORT Datum orgcrypt_grants_changed(PG_FUNCTION_ARGS) {
  if (!CALLED_AS_TRIGGER(fcinfo)) internal_error("orgcrypt.grants_changed() must be called as a trigger");
  TriggerData* td = (TriggerData*)fcinfo->context;
  CacheInvalidateRelcacheByRelid(RelationGetRelid(td->tg_relation));
  return PointerGetDatum(nullptr);
}

// ---------------------------------------------------------------- per-org master keys (1.3)

// set_org_master_key(org, uri): not STRICT, since a NULL uri means "back to
// orgcrypt.master_key"; a NULL org is an error.
extern "C" PGDLLEXPORT Datum orgcrypt_set_org_master_key(PG_FUNCTION_ARGS) {
  begin_call();
  check_admin("orgcrypt.set_org_master_key()");
  if (PG_ARGISNULL(0))
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("organization must not be NULL"),
                    errhint("To give an organization back to orgcrypt.master_key, pass NULL as the URI."),
                    errhidestmt(true)));
  OrgName org = read_org(PG_GETARG_DATUM(0));
  char* uri = PG_ARGISNULL(1) ? nullptr : text_to_cstring(PG_GETARG_TEXT_PP(1));
  set_org_kek(org, uri);
  PG_RETURN_VOID();
}
