// The audit trail (1.3).
//
// Rows: orgcrypt.audit_log, written through SPI as the key table's owner, in
// the transaction of the change they record (a rolled-back change leaves no
// row). Never key material: only the event, the org, a version, the role and
// a short detail, plus where the call came from (application_name, client
// address, backend pid).
//
// Server log: every permission denial (an org the role may not use, an admin
// function it may not call) writes one line starting "orgcrypt audit: " at
// LOG_SERVER_ONLY before the ERROR, so it is in the log even when the caller
// catches the error, and even with log_min_messages set to fatal or panic.
// A decrypt never writes a row (standbys, parallel workers), and a denied
// admin call's transaction is rolled back by its ERROR, so denials are in the
// server log only (and counted in cache_stats.denials).
#pragma once
#include "pg/prelude.h"

namespace orgcrypt::pg {

// The prefix of every audit line in the server log.
constexpr const char* kAuditLogPrefix = "orgcrypt audit: ";

// Appends a row to orgcrypt.audit_log for current_user:
//   event   "create", "rotate", "destroy", "rewrap", "grant", "revoke",
//           "revoke_public_access", "set_org_master_key"
//   org     the org as the database stores it (OrgName::db), or nullptr
//   version a DEK version, or 0 for none (NULL)
//   detail  a short text (nullptr: NULL); never key material or a secret
// Call it after begin_call() and OUTSIDE a kt_open()/kt_close() session
// (inside one, current_user is the key table's owner; use audit_event_as
// with the caller's role there). Does nothing when the extension SQL is older
// than 1.3 (no audit_log table).
void audit_event(const char* event, text* org, int32 version, const char* detail);
// The same for a given role (the role that called, saved before kt_open()).
void audit_event_as(Oid role, const char* event, text* org, int32 version, const char* detail);

// Writes "orgcrypt audit: denied <action> to role "<role>" (...)" to the
// server log only. action is e.g. "use of organization \"x\"" (already
// escaped with audit_quote) or "orgcrypt.rotate_org_dek()".
void audit_log_denial(const char* action, Oid role);

// s, double-quoted, with '"', '\' and control characters escaped (\", \\,
// \xNN), so that user data (an org name, a role name) cannot forge a log line.
// Returns a palloc'd string.
char* audit_quote(const char* s, size_t len);

}  // namespace orgcrypt::pg
