// The hot path: an org's key state (backend-local first level, validated by
// invalidations and shared generations) and its keys through every cache
// level (backend ring, shared memory, provider). Reading and writing the key
// table is keytable.hpp; creating, rotating and destroying keys is keyops.hpp.
#pragma once
#include "pg/prelude.h"

#include "keyring.hpp"
#include "pg/args.hpp"
#include "pg/keytable.hpp"

namespace orgcrypt::pg {

// The org's key state, read from the key table unless the ring holds state
// valid for this statement (force: read it again anyway). *fresh (optional)
// tells whether the rows were read by this call.
OrgState* org_state(const OrgName& org, bool force = false, bool* fresh = nullptr);

// Loads rows just read into the ring. read_gen: the org's shared generation
// read before the rows (0 without a shared cache); trusted: generations may
// be used to skip later reads.
OrgState* load_rows(const OrgName& org, const PgRowSet& rs, uint64 read_gen, bool trusted);

// The key for encryption under the org's active version (auto-creating the
// org's first key when allowed). Sets *version.
AesGcm* active_key(const OrgName& org, uint32_t* version);
// The key for a given version (decrypt). Never writes.
AesGcm* version_key(const OrgName& org, uint32_t version);

}  // namespace orgcrypt::pg
