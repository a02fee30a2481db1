// Key table access through SPI, as the key table's owner. Plain C-style code:
// no C++ object with a destructor is alive across a PostgreSQL call here.
#pragma once
#include "pg/prelude.h"

#include "keyring.hpp"

namespace orgcrypt::pg {

// The org as the key table stores it (database encoding) and as AADs bind it
// (UTF-8). In a UTF-8 database both point to the same bytes.
struct OrgName {
  text* db;        // text datum in the database encoding
  ByteView bytes;  // its bytes
  ByteView utf8;   // UTF-8 form
};

// Reads the org argument (detoasts, checks 1..255 bytes: 22023, converts).
OrgName read_org(Datum d);

// The org's key state, read from the key table if the ring has none valid
// for this statement.
OrgState* org_state(const OrgName& org);

enum class KeyOp { AutoCreate, Create, Rotate, Destroy };

// Serialised per org with a transaction-scoped advisory lock. Returns the new
// version (create, rotate, auto-create) or the number of versions destroyed.
int32 key_op(const OrgName& org, KeyOp op);

// The key for encryption under the org's active version (auto-creating the
// org's first key when allowed). Sets *version.
AesGcm* active_key(const OrgName& org, uint32_t* version);
// The key for a given version (decrypt). Never writes.
AesGcm* version_key(const OrgName& org, uint32_t version);
// The key for a version of a loaded org, through every cache level.
AesGcm* get_key(const OrgName& org, OrgState* st, uint32_t version);

// Destroys committed in this transaction wipe the shared copies at commit.
void at_commit_wipe_destroyed();
void at_abort_forget_destroyed();
void at_prepare_key_changes();
// Called by the key table's trigger: a change not made by key_op makes every
// backend re-read all key state after commit.
void note_key_table_change();

}  // namespace orgcrypt::pg
