// Key management on the key table: an org's first key (create, auto-create),
// rotation and destroy, serialised per exact org without any lock that SQL
// can name; and what they leave for the transaction's end (wipes at commit,
// generations, forgetting on abort).
#pragma once
#include "pg/prelude.h"

#include "pg/args.hpp"

namespace orgcrypt::pg {

enum class KeyOp { AutoCreate, Create, Rotate, Destroy };

// Returns the new version (create, rotate, auto-create: 0 if another session
// created the first key meanwhile) or the number of versions destroyed.
int32 key_op(const OrgName& org, KeyOp op);

// Master-key rotation: rewraps up to batch_size live DEKs whose KEK is not
// the configured one (URI and fingerprint) under it, each verified before its
// row is updated; returns how many. The DEKs themselves do not change.
int32 rewrap_batch(int32 batch_size);

// orgcrypt.set_org_master_key(org, uri): uri NULL removes the org's own
// KEK. Otherwise the URI must be listed (orgcrypt.master_key or
// orgcrypt.allowed_key_uris), not a file: key while
// orgcrypt.allow_file_master_key is off, the org not destroyed, and the KEK
// must wrap and unwrap a test key; then its resolved URI and fingerprint are
// stored in orgcrypt.org_master_keys.
void set_org_kek(const OrgName& org, const char* uri);

// 55000 for an org whose keys were destroyed (encrypt, create, rotate).
[[noreturn]] void org_destroyed_error(const OrgName& org);

// Transaction ends.
void at_commit_key_changes();
void at_abort_key_changes();
void at_prepare_key_changes();
void at_subabort_key_changes();

// The key table's triggers (statement and row level, local changes and
// changes applied by logical replication): queue one relcache invalidation
// per transaction; a change not made by key_op makes every backend re-read
// all key state after commit.
void key_table_changed(Oid relid);

}  // namespace orgcrypt::pg
