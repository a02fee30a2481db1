// The shared-memory DEK cache (second level): set-up through the shmem hooks,
// lookups, single-flight unwraps, destroy and flush, statistics.
#pragma once
#include "pg/prelude.h"

#include "keyring.hpp"
#include "provider_stats.hpp"

namespace orgcrypt::pg {

extern int guc_cache_size;  // entries (postmaster)
extern int guc_cache_ttl;   // seconds (reload); 0 = never expire

// Called from _PG_init while shared_preload_libraries is processed.
void shmem_install_hooks();
// True when the shared cache is attached in this process.
bool shared_mode();

// Backend-local counters, folded into shared memory at each transaction end.
struct LocalCounters {
  uint64 hits, misses, provider_calls, waits, expirations;
  uint64 denials;  // calls refused by the permission checks (1.3)
};
extern LocalCounters g_counters;
void fold_counters();  // (provider statistics too)

// Provider statistics: the observer (installed in _PG_init) counts every
// provider call per backend; folded into shared memory with the counters.
void install_provider_observer();
// The current statistics (shared, or this backend's without preloading);
// copy is scratch space for a consistent copy of the shared table.
const ProviderStatsTable* provider_stats_snapshot(ProviderStatsTable* copy);

// The key for an L1 miss: looks in shared memory, waits for (or leads) the
// single unwrap, installs the DEK into the backend's ring. Raises the
// leader's error on failure. Never holds an LWLock across the unwrap.
// read_gen: the org's generation read before its rows. Returns nullptr with
// *stale set when the org's keys changed since (the caller reads them again).
AesGcm* shared_get_key(const ByteView& org_db, const ByteView& org_utf8, DekSlot& slot, uint64 read_gen,
                       bool* stale);

// Wipes the shared copies of an org (destroy, at commit) or of one version
// (found destroyed on revalidation).
void shared_wipe_org(const ByteView& org_db);
void shared_wipe_version(const ByteView& org_db, uint32 version);
// The org's key-state generations (false when there is no shared cache).
// *trusted: whether they may be used to skip re-reading unchanged key state
// (not on a standby, where no commit callback bumps them, nor after a
// prepared key change).
bool shared_org_gens(const ByteView& org_db, uint64* org_gen, uint64* global_gen, bool* trusted);
// At commit: this transaction changed these orgs' keys (create, rotate), or
// changed the key table in ways we cannot attribute (manual DML, restore).
void shared_touch_org(const ByteView& org_db);
void shared_touch_all();
// A prepared transaction changed keys: its commit may come from any session,
// with no callback of ours, so generations are not trusted from now on (until
// restart) and revalidation always reads the key table.
void shared_distrust_generations();
// cache_flush(): wipes the shared table and tells every backend to drop its
// own cache at its next statement.
void shared_flush();
// Has a flush happened since this backend last looked? (statement start)
bool shared_flush_pending();

// Leader clean-up on error or exit.
void shared_abandon_flights();

struct SharedStats {
  int64 capacity, entries, hits, misses, provider_calls, waits, evictions, expirations, locked, denials;
};
void shared_stats(SharedStats* out);

// Test builds only (ORGCRYPT_TEST_HOOKS): orgcrypt.debug_unwrap_delay_ms makes
// every unwrap sleep first (cancellable), to test single flight.
void debug_unwrap_delay();
void define_test_gucs();

// Microseconds since the PostgreSQL epoch (TimestampTz) for TTL checks.
int64 ttl_us();

}  // namespace orgcrypt::pg
