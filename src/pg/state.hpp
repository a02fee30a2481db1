// Per-backend state of the glue: settings, the key ring, the nonce source,
// invalidation epochs, transaction callbacks.
#pragma once
#include "pg/prelude.h"

#include <cstdint>
#include <string>

#include "envelope.hpp"
#include "keyring.hpp"
#include "nonce.hpp"

namespace orgcrypt::pg {

// Settings (GUC variables).
extern char* guc_master_key;
extern char* guc_allowed_key_uris;
extern bool guc_auto_create;
extern bool guc_allow_file_master_key;

struct Backend {
  KeyRing ring{1024};
  NonceSource nonces;
  std::string aad;       // reused AAD buffer
  Bytes wrapped_out;     // result of a wrap, copied out by the glue
  Bytes fp_out;
  std::string kek_uri_out;  // the URI of the KEK that wrapped it (KeyProvider::key_uri)
};
Backend& make_backend();
extern Backend* g_backend;
inline Backend& backend() { return g_backend ? *g_backend : make_backend(); }

// Bumped by the relcache callback when the key table (or everything) is
// invalidated; cached org metadata is valid only for the epoch it was read in.
extern volatile uint64_t g_epoch;
// True if this transaction created or changed keys (wipe the ring on abort).
extern bool g_pending;

// Called at the start of every orgcrypt call: on the first call of each
// statement, absorbs invalidation messages and resolves the key table.
void begin_call();

// The invalidation epoch of the current statement.
uint64_t stmt_epoch();
// Increments at the first orgcrypt call of every statement.
uint64_t stmt_id();
// The current statement's start time (TimestampTz microseconds).
int64_t stmt_now_us();

// The key table's OID (resolved by begin_call) and its owner.
Oid key_table_oid();
Oid key_table_owner();
// orgcrypt.org_master_keys (1.3), resolved with the key table; InvalidOid
// with extension SQL older than 1.3.
Oid org_kek_table();

void register_callbacks();
void define_gucs();

}  // namespace orgcrypt::pg
