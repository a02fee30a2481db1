// The module: PG_MODULE_MAGIC and _PG_init.
#include "pg/prelude.h"

extern "C" {
#include "miscadmin.h"
}

#include "pg/shmem.hpp"
#include "pg/state.hpp"

extern "C" {
PG_MODULE_MAGIC;
}

extern "C" PGDLLEXPORT void _PG_init(void) {
  orgcrypt::pg::define_gucs();
  orgcrypt::pg::define_test_gucs();
  orgcrypt::pg::register_callbacks();
  orgcrypt::pg::install_provider_observer();
  // Loaded without shared_preload_libraries, the extension still works with a
  // per-backend cache (and says so once per session).
  if (process_shared_preload_libraries_in_progress) orgcrypt::pg::shmem_install_hooks();
}
