// Shared memory for the DEK cache: one LWLock, one condition variable, the
// table from src/core/shared_cache.hpp, counters.
#include "pg/shmem.hpp"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pg/guard.hpp"
#include "pg/state.hpp"

extern "C" {
#include "access/xlog.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "postmaster/autovacuum.h"
#include "replication/walsender.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"
#if PG_VERSION_NUM >= 140000
#include "utils/wait_event.h"
#else
#include "pgstat.h"  // PG_WAIT_EXTENSION before PG 14
#endif
}

#include "provider_stats.hpp"
#include "shared_cache.hpp"

namespace orgcrypt::pg {

int guc_cache_size = 1000;
int guc_cache_ttl = 300;
LocalCounters g_counters = {0, 0, 0, 0, 0, 0};

namespace {

constexpr const char* kTranche = "orgcrypt";
constexpr int64 kFailHoldUs = 1000000;  // waiters see the leader's error for 1 s

struct SharedState {
  LWLock* lock;
  ConditionVariable cv;
  pg_atomic_uint64 hits, misses, provider_calls, waits, expirations, denials;
  pg_atomic_uint64 flush_gen;
  pg_atomic_uint32 gens_untrusted;
  int64 locked_bytes;
  bool dontdump;
  SharedDekTable* table;  // page-aligned, inside this allocation
  ProviderStatsTable pstats;  // provider_stats, under `lock`
};

SharedState* s_state = nullptr;
uint64 s_seen_flush_gen = 0;
bool s_flight_active = false;
bool s_exit_registered = false;

#if PG_VERSION_NUM >= 150000
shmem_request_hook_type prev_shmem_request_hook = nullptr;
#endif
shmem_startup_hook_type prev_shmem_startup_hook = nullptr;

// Process slots that may lead a flight (one leader marker each): every
// backend, including background and parallel workers.
uint32 s_nprocs = 0;
uint32 leader_slots() {
  if (s_nprocs == 0) {
#if PG_VERSION_NUM >= 150000
    s_nprocs = (uint32)MaxBackends;  // known in shmem_request_hook
#else
    // Before PG 15 space is requested in _PG_init, before MaxBackends is set:
    // compute it as InitializeMaxBackends does.
    s_nprocs = (uint32)(MaxConnections + autovacuum_max_workers + 1 + max_worker_processes + max_wal_senders);
#endif
  }
  return s_nprocs;
}

uint32 my_proc_slot() {
#if PG_VERSION_NUM >= 170000
  return (uint32)GetNumberFromPGProc(MyProc);
#else
  return (uint32)MyProc->pgprocno;
#endif
}

size_t state_size() {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  return MAXALIGN(sizeof(SharedState)) + 2 * page + SharedDekTable::region_size((uint32)guc_cache_size, leader_slots());
}

void request_shmem() {
  RequestAddinShmemSpace(state_size());
  RequestNamedLWLockTranche(kTranche, 1);
}

#if PG_VERSION_NUM >= 150000
void shmem_request() {
  if (prev_shmem_request_hook) prev_shmem_request_hook();
  request_shmem();
}
#endif

void shmem_startup() {
  if (prev_shmem_startup_hook) prev_shmem_startup_hook();
  bool found;
  LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
  SharedState* st = (SharedState*)ShmemInitStruct("orgcrypt DEK cache", state_size(), &found);
  if (!found) {
    memset(st, 0, sizeof *st);
    st->lock = &(GetNamedLWLockTranche(kTranche))->lock;
    ConditionVariableInit(&st->cv);
    pg_atomic_init_u64(&st->hits, 0);
    pg_atomic_init_u64(&st->misses, 0);
    pg_atomic_init_u64(&st->provider_calls, 0);
    pg_atomic_init_u64(&st->waits, 0);
    pg_atomic_init_u64(&st->expirations, 0);
    pg_atomic_init_u64(&st->denials, 0);
    pg_atomic_init_u64(&st->flush_gen, 1);
    pg_atomic_init_u32(&st->gens_untrusted, 0);
    st->pstats.clear();
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t base = ((uintptr_t)st + MAXALIGN(sizeof(SharedState)) + page - 1) & ~(uintptr_t)(page - 1);
    size_t region = SharedDekTable::region_size((uint32)guc_cache_size, leader_slots());
    st->table = SharedDekTable::init((void*)base, (uint32)guc_cache_size, leader_slots());
    // Keep the key pages out of swap and core dumps when the OS allows it.
    size_t len = (region + page - 1) & ~(page - 1);
    st->locked_bytes = mlock((void*)base, len) == 0 ? (int64)len : 0;
#ifdef MADV_DONTDUMP
    st->dontdump = madvise((void*)base, len, MADV_DONTDUMP) == 0;
#endif
    ereport(LOG, (errmsg("orgcrypt: shared DEK cache of %d entries (%zu bytes); %s; %s", guc_cache_size, len,
                         st->locked_bytes ? "locked in memory (mlock)" : "not locked in memory (mlock failed: raise RLIMIT_MEMLOCK)",
                         st->dontdump ? "excluded from core dumps" : "not excluded from core dumps")));
  }
  LWLockRelease(AddinShmemInitLock);
  s_state = st;
}

void on_exit_cb(int, Datum) { shared_abandon_flights(); }

// Runs f(table) under the cache lock. The table's methods allocate nothing
// and throw nothing, so no error can escape while the lock is held.
template <typename F>
void with_table(LWLockMode mode, F f) {
  LWLockAcquire(s_state->lock, mode);
  f(*s_state->table);
  LWLockRelease(s_state->lock);
}

DekKey make_key(const ByteView& org_db, uint32 version, const uint8* tag = nullptr) {
  return DekKey::make(MyDatabaseId, key_table_oid(), org_db.data, org_db.size, version, tag);
}

}  // namespace

#ifdef ORGCRYPT_TEST_HOOKS
static int s_debug_delay_ms = 0;
#endif

void define_test_gucs() {
#ifdef ORGCRYPT_TEST_HOOKS
  DefineCustomIntVariable("orgcrypt.debug_unwrap_delay_ms", "Test builds only: sleep before every unwrap.", nullptr,
                          &s_debug_delay_ms, 0, 0, 60000, PGC_SUSET, GUC_UNIT_MS, nullptr, nullptr, nullptr);
#endif
}

void debug_unwrap_delay() {
#ifdef ORGCRYPT_TEST_HOOKS
  if (s_debug_delay_ms <= 0) return;
  TimestampTz until = GetCurrentTimestamp() + (int64)s_debug_delay_ms * 1000;
  for (;;) {
    long left = (long)((until - GetCurrentTimestamp()) / 1000);
    if (left <= 0) break;
    (void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left, PG_WAIT_EXTENSION);
    ResetLatch(MyLatch);
    check_interrupts_hidden();
  }
#endif
}

void shmem_install_hooks() {
#if PG_VERSION_NUM >= 150000
  prev_shmem_request_hook = shmem_request_hook;
  shmem_request_hook = shmem_request;
#else
  request_shmem();
#endif
  prev_shmem_startup_hook = shmem_startup_hook;
  shmem_startup_hook = shmem_startup;
}

bool shared_mode() { return s_state != nullptr; }

int64 ttl_us() { return (int64)guc_cache_ttl * USECS_PER_SEC; }

// Provider calls of this backend since its last fold (the observer adds to
// it: no allocation, no PostgreSQL call), and, without a shared cache, the
// backend's own totals.
static ProviderStatsTable s_pstats_delta, s_pstats_local;

static void observe_provider_call(const std::string& uri, const char* op, bool ok, std::int64_t micros) {
  (void)op;
  s_pstats_delta.add(uri, ok, micros);
}

void install_provider_observer() { set_provider_observer(observe_provider_call); }

static void fold_provider_stats() {
  if (s_pstats_delta.empty()) return;
  if (s_state)
    with_table(LW_EXCLUSIVE, [](SharedDekTable&) { s_state->pstats.merge(s_pstats_delta); });
  else
    s_pstats_local.merge(s_pstats_delta);
  s_pstats_delta.clear();
}

const ProviderStatsTable* provider_stats_snapshot(ProviderStatsTable* copy) {
  fold_provider_stats();
  if (!s_state) return &s_pstats_local;
  with_table(LW_SHARED, [copy](SharedDekTable&) { memcpy(copy, &s_state->pstats, sizeof *copy); });
  return copy;
}

void fold_counters() {
  fold_provider_stats();
  if (!s_state) return;
  LocalCounters c = g_counters;
  if (c.hits) pg_atomic_fetch_add_u64(&s_state->hits, c.hits);
  if (c.misses) pg_atomic_fetch_add_u64(&s_state->misses, c.misses);
  if (c.provider_calls) pg_atomic_fetch_add_u64(&s_state->provider_calls, c.provider_calls);
  if (c.waits) pg_atomic_fetch_add_u64(&s_state->waits, c.waits);
  if (c.expirations) pg_atomic_fetch_add_u64(&s_state->expirations, c.expirations);
  if (c.denials) pg_atomic_fetch_add_u64(&s_state->denials, c.denials);
  g_counters = LocalCounters{0, 0, 0, 0, 0, 0};
}

AesGcm* shared_get_key(const ByteView& org_db, const ByteView& org_utf8, DekSlot& slot, uint64 read_gen,
                       bool* stale) {
  static_assert(sizeof slot.tag == DekKey::kTagLen, "tag length");
  *stale = false;
  if (!slot.tag_set) {
    ErrInfo err;
    if (!cxx_call(err, [&]() {
          Bytes d = sha256(ByteView(slot.row.wrapped));
          memcpy(slot.tag, d.data(), sizeof slot.tag);
        }))
      raise_error(err);
    slot.tag_set = true;
  }
  DekKey key = make_key(org_db, slot.row.version, slot.tag);
  SharedDekTable* t = s_state->table;
  uint8 dek[32];
  int64 at = 0;
  bool waited = false;
  bool lead = false;
  char st[6], msg[SharedDekTable::kErrLen];
  if (!s_exit_registered) {
    before_shmem_exit(on_exit_cb, (Datum)0);
    s_exit_registered = true;
  }
  for (;;) {
    int64 now = GetCurrentTimestamp();
    LWLockAcquire(s_state->lock, LW_SHARED);
    SharedDekTable::Result r = t->lookup(key, now, ttl_us(), kFailHoldUs, dek, &at, st, msg);
    LWLockRelease(s_state->lock);
    if (r == SharedDekTable::Result::Hit) {
      g_counters.hits++;  // served by the shared level
      break;
    }
    if (r == SharedDekTable::Result::Failed) {
      ConditionVariableCancelSleep();
      ErrInfo err;
      err.set(st, msg, "", "");
      raise_error(err);
    }
    if (r == SharedDekTable::Result::InFlight) {
      if (!waited) {
        g_counters.waits++;
        waited = true;
      }
      // Cancellable; a cancel here hides the statement too.
#if PG_VERSION_NUM >= 140000
      ORGCRYPT_HIDDEN((void)ConditionVariableTimedSleep(&s_state->cv, 100, PG_WAIT_EXTENSION));
#else
      ORGCRYPT_HIDDEN(ConditionVariableSleep(&s_state->cv, PG_WAIT_EXTENSION));
#endif
      // A leader that is gone, or no longer working on it, is replaced below
      // (begin_flight finds its flight orphaned).
    }
    // A flight is bound to the key state we read: if the org's keys were
    // changed (destroyed, flushed, wiped) since, we must read them again.
    LWLockAcquire(s_state->lock, LW_EXCLUSIVE);
    SharedDekTable::Begin b = t->begin_flight(key, MyProcPid, my_proc_slot(), read_gen, now, ttl_us(), kFailHoldUs);
    if (b == SharedDekTable::Begin::Lead) s_flight_active = true;
    LWLockRelease(s_state->lock);
    if (b == SharedDekTable::Begin::Stale) {
      ConditionVariableCancelSleep();
      *stale = true;
      return nullptr;
    }
    if (b == SharedDekTable::Begin::Lead) {
      lead = true;
      break;
    }
  }
  ConditionVariableCancelSleep();

  if (lead) {
    // The single unwrap for this key, with no lock held.
    g_counters.provider_calls++;
    debug_unwrap_delay();  // test builds: a slow provider (a cancel here abandons the flight)
    ErrInfo err;
    bool ok = cxx_call(err, [&]() {
      SecretBytes d = unwrap_row(org_utf8, slot.row);
      if (d.size() != sizeof dek) throw Error(sqlstate::kSystemError, "the key provider returned a DEK of the wrong length");
      memcpy(dek, d.data(), sizeof dek);
    });
    at = GetCurrentTimestamp();
    LWLockAcquire(s_state->lock, LW_EXCLUSIVE);
    if (ok)
      (void)t->complete_flight(key, MyProcPid, dek, at);
    else if (strcmp(err.sqlstate, sqlstate::kQueryCanceled) == 0)
      (void)t->abandon_flights(MyProcPid, my_proc_slot());  // our cancel is not the waiters' error
    else
      t->fail_flight(key, MyProcPid, err.sqlstate, err.message, at);
    s_flight_active = false;
    LWLockRelease(s_state->lock);
    ConditionVariableBroadcast(&s_state->cv);
    if (!ok) {
      OPENSSL_cleanse(dek, sizeof dek);
      raise_error(err);
    }
  }
  AesGcm* k = nullptr;
  ErrInfo err;
  bool ok = cxx_call(err, [&]() { k = &backend().ring.install(slot, ByteView(dek, sizeof dek), at); });
  OPENSSL_cleanse(dek, sizeof dek);
  if (!ok) raise_error(err);
  return k;
}

void shared_wipe_org(const ByteView& org_db) {
  if (!s_state) return;
  DekKey key = make_key(org_db, 0);
  with_table(LW_EXCLUSIVE, [&](SharedDekTable& t) { t.wipe_org(key); });
}

void shared_wipe_version(const ByteView& org_db, uint32 version) {
  if (!s_state) return;
  DekKey key = make_key(org_db, version);
  with_table(LW_EXCLUSIVE, [&](SharedDekTable& t) { t.wipe_version(key); });
}

bool shared_org_gens(const ByteView& org_db, uint64* org_gen, uint64* global_gen, bool* trusted) {
  *org_gen = *global_gen = 0;
  *trusted = false;
  if (!s_state) return false;
  DekKey key = make_key(org_db, 0);
  with_table(LW_SHARED, [&](SharedDekTable& t) {
    *org_gen = t.org_generation(key);
    *global_gen = t.global_generation();
  });
  // On a standby no commit callback bumps them (replayed changes arrive as
  // invalidations only); after a prepared key change neither.
  *trusted = !pg_atomic_read_u32(&s_state->gens_untrusted) && !RecoveryInProgress();
  return true;
}

void shared_touch_org(const ByteView& org_db) {
  if (!s_state) return;
  DekKey key = make_key(org_db, 0);
  with_table(LW_EXCLUSIVE, [&](SharedDekTable& t) { t.touch_org(key); });
}

void shared_touch_all() {
  if (!s_state) return;
  with_table(LW_EXCLUSIVE, [](SharedDekTable& t) { t.touch_all(); });
}

void shared_distrust_generations() {
  if (s_state) pg_atomic_write_u32(&s_state->gens_untrusted, 1);
}

void shared_flush() {
  if (!s_state) return;
  with_table(LW_EXCLUSIVE, [](SharedDekTable& t) { t.flush(); });
  pg_atomic_fetch_add_u64(&s_state->flush_gen, 1);
}

bool shared_flush_pending() {
  if (!s_state) return false;
  uint64 g = pg_atomic_read_u64(&s_state->flush_gen);
  if (g == s_seen_flush_gen) return false;
  s_seen_flush_gen = g;
  return true;
}

void shared_abandon_flights() {
  if (!s_state || !s_flight_active) return;
  uint32 proc = my_proc_slot();
  with_table(LW_EXCLUSIVE, [proc](SharedDekTable& t) { t.abandon_flights(MyProcPid, proc); });
  ConditionVariableBroadcast(&s_state->cv);
  s_flight_active = false;
}

void shared_stats(SharedStats* out) {
  fold_counters();
  with_table(LW_SHARED, [&](SharedDekTable& t) {
    out->capacity = t.capacity();
    out->entries = t.entries();
    out->evictions = (int64)t.counters().evictions;
    out->expirations = (int64)t.counters().expirations;
  });
  out->hits = (int64)pg_atomic_read_u64(&s_state->hits);
  out->misses = (int64)pg_atomic_read_u64(&s_state->misses);
  out->provider_calls = (int64)pg_atomic_read_u64(&s_state->provider_calls);
  out->waits = (int64)pg_atomic_read_u64(&s_state->waits);
  out->expirations += (int64)pg_atomic_read_u64(&s_state->expirations);  // + backend-level expiries
  out->locked = s_state->locked_bytes;
  out->denials = (int64)pg_atomic_read_u64(&s_state->denials);
}

}  // namespace orgcrypt::pg
