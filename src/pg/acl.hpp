// Access control (1.3): which role may use which organization, and who may
// call the admin functions. Checked in C on every call, before anything about
// the org is looked up, so a refused role learns nothing about the org.
//
// A role may use an org if it is a superuser, the extension owner (the key
// table's owner), has the privileges of orgcrypt_all_orgs, the PUBLIC rule
// (grantee NULL, org NULL) is in orgcrypt.org_grants, or a row grants the org
// to a role whose privileges it has. Decisions are cached per backend
// ((role, org) -> allowed, role -> every org) and dropped when the grants
// table, a role or a role membership changes (relcache and syscache
// callbacks); like key state, a change committed elsewhere applies from the
// next statement on (the first orgcrypt call of a statement absorbs the
// invalidations).
//
// With extension SQL older than 1.3 loaded (no grants table, before ALTER
// EXTENSION UPDATE) nothing is checked here: the SQL privileges of that
// version apply, as they did.
#pragma once
#include "pg/prelude.h"

#include "pg/args.hpp"

namespace orgcrypt::pg {

// 42501 "orgcrypt: permission denied to use organization ..." unless
// current_user may use the org. Call after begin_call() and read_org().
void check_org_access(const OrgName& org);

// 42501 "orgcrypt: permission denied for <fn>" unless current_user is a
// superuser, the extension owner, has the privileges of orgcrypt_admin or
// (auditor_ok) of orgcrypt_auditor. Call after begin_call().
void check_admin(const char* fn, bool auditor_ok = false);

// From resolve_key_table(): the grants table of this database (InvalidOid:
// extension SQL older than 1.3).
void acl_set_grants_table(Oid grants);
Oid acl_grants_table();
// From the relcache callback (no allocation, no error).
void acl_relcache(Oid relid);
void acl_register_callbacks();

// grant_org / revoke_org / revoke_public_access.
void acl_grant(Oid role, const OrgName& org);
void acl_revoke(Oid role, const OrgName& org);
void acl_revoke_public();

}  // namespace orgcrypt::pg
