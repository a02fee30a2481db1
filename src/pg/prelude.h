/*
 * Include this first in every glue file instead of postgres.h.
 * On PG 15 PGDLLEXPORT is empty; with hidden visibility nothing would be
 * exported, so define it before postgres.h.
 */
#pragma once
#ifndef PGDLLEXPORT
#define PGDLLEXPORT __attribute__((visibility("default")))
#elif !defined(_WIN32)
#undef PGDLLEXPORT
#define PGDLLEXPORT __attribute__((visibility("default")))
#endif

extern "C" {
#include "postgres.h"
#include "fmgr.h"
}
