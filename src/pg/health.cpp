// orgcrypt.health() and orgcrypt.rewrap_batch(): operations on the KEKs
// themselves (the procedure rewrap_org_keys loops over rewrap_batch).
#include "pg/acl.hpp"
#include "pg/guard.hpp"
#include "pg/keyops.hpp"
#include "pg/keytable.hpp"
#include "pg/shmem.hpp"
#include "pg/state.hpp"

#include <chrono>

extern "C" {
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"
}

#include "envelope.hpp"
#include "provider.hpp"

using namespace orgcrypt;
using namespace orgcrypt::pg;

extern "C" {
PG_FUNCTION_INFO_V1(orgcrypt_health);
PG_FUNCTION_INFO_V1(orgcrypt_rewrap_batch);
PG_FUNCTION_INFO_V1(orgcrypt_provider_stats);
}

namespace {

struct Health {
  bool reachable = false, can_wrap = false, can_unwrap = false, production_ready = false;
  double latency_ms = 0;
  char provider[32] = "";
  char detail[512] = "";
};

// Opens the KEK at uri and wraps and unwraps a random test key under a
// health-check AAD (never a real org's). Plain C++; no PostgreSQL call.
void probe(const char* uri, Health* h) {
  ErrInfo err;
  auto t0 = std::chrono::steady_clock::now();
  bool ok = cxx_call(err, [&]() {
    std::string scheme = uri_scheme(uri);
    std::snprintf(h->provider, sizeof h->provider, "%s", scheme.c_str());
    std::unique_ptr<KeyProvider> p = open_provider(uri);
    h->production_ready = p->production_ready();
    p->validate();
    h->reachable = true;
    SecretBytes dek(kKeyLen);
    random_bytes(dek.data(), dek.size());
    static const char kOrg[] = "orgcrypt health check";
    Bytes aad = wrap_aad(ByteView(kOrg, sizeof kOrg - 1), 1);
    Bytes blob = p->wrap(ByteView(dek), ByteView(aad));
    h->can_wrap = true;
    SecretBytes back = p->unwrap(ByteView(blob), ByteView(aad));
    if (back != dek) throw Error(sqlstate::kSystemError, "the test key did not come back unchanged");
    h->can_unwrap = true;
  });
  h->latency_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::snprintf(h->detail, sizeof h->detail, "%s", ok ? "ok" : err.message);
  if (!ok && strcmp(err.sqlstate, sqlstate::kQueryCanceled) == 0) raise_error(err);
}

}  // namespace

// A set-returning function's result store (materialize mode).
static ReturnSetInfo* materialize(FunctionCallInfo fcinfo) {
  ReturnSetInfo* rsinfo = (ReturnSetInfo*)fcinfo->resultinfo;
#if PG_VERSION_NUM >= 150000
  InitMaterializedSRF(fcinfo, 0);
#else
  TupleDesc td;
  if (get_call_result_type(fcinfo, nullptr, &td) != TYPEFUNC_COMPOSITE) internal_error("return type must be a row type");
  MemoryContext old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
  rsinfo->returnMode = SFRM_Materialize;
  rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
  rsinfo->setDesc = CreateTupleDescCopy(td);
  MemoryContextSwitchTo(old);
#endif
  return rsinfo;
}

extern "C" PGDLLEXPORT Datum orgcrypt_health(PG_FUNCTION_ARGS) {
  begin_call();
  check_admin("orgcrypt.health()", true);
  ReturnSetInfo* rsinfo = materialize(fcinfo);
  // The configured master key first, then every KEK that wraps live DEKs and
  // every organization's own KEK (orgcrypt.org_master_keys), each once.
  char** uris = nullptr;
  kt_open();
  int n = kt_kek_uris(&uris, CurrentMemoryContext);
  kt_close();
  const char* master = guc_master_key && guc_master_key[0] ? guc_master_key : nullptr;
  for (int i = -1; i < n; i++) {
    const char* uri = i < 0 ? master : uris[i];
    if (!uri || (i >= 0 && master && strcmp(uri, master) == 0)) continue;
    Health h;
    probe(uri, &h);
    CHECK_FOR_INTERRUPTS();
    Datum values[8] = {CStringGetTextDatum(uri), CStringGetTextDatum(h.provider), BoolGetDatum(h.reachable),
                       BoolGetDatum(h.can_wrap), BoolGetDatum(h.can_unwrap), Float8GetDatum(h.latency_ms),
                       BoolGetDatum(h.production_ready), CStringGetTextDatum(h.detail)};
    bool nulls[8] = {};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return (Datum)0;
}

extern "C" PGDLLEXPORT Datum orgcrypt_rewrap_batch(PG_FUNCTION_ARGS) {
  begin_call();
  check_admin("orgcrypt.rewrap_batch()");
  PG_RETURN_INT32(rewrap_batch(PG_GETARG_INT32(0)));
}

extern "C" PGDLLEXPORT Datum orgcrypt_provider_stats(PG_FUNCTION_ARGS) {
  begin_call();
  check_admin("orgcrypt.provider_stats", true);
  ReturnSetInfo* rsinfo = materialize(fcinfo);
  ProviderStatsTable* copy = (ProviderStatsTable*)palloc(sizeof(ProviderStatsTable));
  const ProviderStatsTable* t = provider_stats_snapshot(copy);
  for (const auto& s : t->slots) {
    if (!s.used) continue;
    char scheme[32];
    ORGCRYPT_CXX(std::snprintf(scheme, sizeof scheme, "%s", uri_scheme(s.uri).c_str()));
    Datum values[6] = {CStringGetTextDatum(scheme), CStringGetTextDatum(s.uri), Int64GetDatum((int64)s.calls),
                       Int64GetDatum((int64)s.errors), Float8GetDatum(ProviderStatsTable::quantile_ms(s, 0.5)),
                       Float8GetDatum(ProviderStatsTable::quantile_ms(s, 0.99))};
    bool nulls[6] = {};
    tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
  }
  return (Datum)0;
}
