// The module: PG_MODULE_MAGIC and _PG_init.
#include "pg/prelude.h"

extern "C" {
#include "miscadmin.h"
}

#include "pg/state.hpp"

extern "C" {
PG_MODULE_MAGIC;
}

extern "C" PGDLLEXPORT void _PG_init(void) {
  orgcrypt::pg::define_gucs();
  orgcrypt::pg::register_callbacks();
}
