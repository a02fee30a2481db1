#include "pg/audit.hpp"

#include "pg/guard.hpp"
#include "pg/state.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
}

namespace orgcrypt::pg {

namespace {

// Kept once per backend; names the table by its qualified name, so the plan
// cache re-plans it if the extension is dropped and created again.
SPIPlanPtr s_insert = nullptr;
const char kInsertSql[] =
    "INSERT INTO orgcrypt.audit_log (event, org, version, role, detail, application_name, client_addr, backend_pid) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
Oid kInsertTypes[8] = {TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, TEXTOID, INETOID, INT4OID};

// With extension SQL older than 1.3 there is no audit_log.
bool have_audit_table() {
  Oid nsp = get_namespace_oid("orgcrypt", true);
  return OidIsValid(nsp) && OidIsValid(get_relname_relid("audit_log", nsp));
}

// The client's IP address (inet), as inet_client_addr() gives it: false for
// a Unix socket or no client (a background process). (Through fmgr: the
// Port struct's header needs GSSAPI headers.)
bool client_inet(Datum* out) {
  LOCAL_FCINFO(fcinfo, 0);
  InitFunctionCallInfoData(*fcinfo, nullptr, 0, InvalidOid, nullptr, nullptr);
  Datum d = inet_client_addr(fcinfo);
  if (fcinfo->isnull) return false;
  *out = d;
  return true;
}

}  // namespace

char* audit_quote(const char* s, size_t len) {
  StringInfoData b;
  initStringInfo(&b);
  appendStringInfoChar(&b, '"');
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      appendStringInfo(&b, "\\%c", c);
    else if (c < 0x20 || c == 0x7f)
      appendStringInfo(&b, "\\x%02x", c);
    else
      appendStringInfoChar(&b, (char)c);
  }
  appendStringInfoChar(&b, '"');
  return b.data;
}

void audit_event(const char* event, text* org, int32 version, const char* detail) {
  audit_event_as(GetUserId(), event, org, version, detail);
}

void audit_event_as(Oid role, const char* event, text* org, int32 version, const char* detail) {
  if (!have_audit_table()) return;
  Datum values[8];
  char nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
  values[0] = CStringGetTextDatum(event);
  if (org) values[1] = PointerGetDatum(org);
  else nulls[1] = 'n';
  if (version > 0) values[2] = Int32GetDatum(version);
  else nulls[2] = 'n';
  // The name, not the OID: it stays readable after DROP ROLE.
  values[3] = CStringGetTextDatum(GetUserNameFromId(role, false));
  if (detail) values[4] = CStringGetTextDatum(detail);
  else nulls[4] = 'n';
  if (application_name && application_name[0]) values[5] = CStringGetTextDatum(application_name);
  else nulls[5] = 'n';
  if (!client_inet(&values[6])) nulls[6] = 'n';
  values[7] = Int32GetDatum(MyProcPid);

  // As the key table's owner (who owns audit_log): nobody else may write it.
  Oid save_uid;
  int save_sec;
  GetUserIdAndSecContext(&save_uid, &save_sec);
  SetUserIdAndSecContext(key_table_owner(), save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
  int rc = 0;
  ORGCRYPT_HIDDEN({
    if (SPI_connect() != SPI_OK_CONNECT) elog(ERROR, "orgcrypt: SPI_connect failed");
    if (!s_insert) {
      SPIPlanPtr pl = SPI_prepare(kInsertSql, 8, kInsertTypes);
      if (!pl) elog(ERROR, "orgcrypt: preparing the audit statement failed: %s", SPI_result_code_string(SPI_result));
      if (SPI_keepplan(pl) != 0) elog(ERROR, "orgcrypt: keeping the audit statement failed");
      s_insert = pl;
    }
    rc = SPI_execute_plan(s_insert, values, nulls, false, 0);
  });
  if (rc != SPI_OK_INSERT) internal_error("writing the audit log failed: %s", SPI_result_code_string(rc));
  SPI_finish();
  SetUserIdAndSecContext(save_uid, save_sec);
}

void audit_log_denial(const char* action, Oid role) {
  StringInfoData s;
  initStringInfo(&s);
  const char* name = GetUserNameFromId(role, false);
  appendStringInfo(&s, "denied %s to role %s", action, audit_quote(name, strlen(name)));
  Oid session = GetSessionUserId();
  if (session != role) {
    const char* sname = GetUserNameFromId(session, false);
    appendStringInfo(&s, " (session user %s)", audit_quote(sname, strlen(sname)));
  }
  const char* db = get_database_name(MyDatabaseId);
  if (db) appendStringInfo(&s, ", database %s", audit_quote(db, strlen(db)));
  if (application_name && application_name[0])
    appendStringInfo(&s, ", application %s", audit_quote(application_name, strlen(application_name)));
  Datum addr;
  if (client_inet(&addr))
    appendStringInfo(&s, ", client %s", DatumGetCString(DirectFunctionCall1(inet_out, addr)));
  else if (MyProcPort)
    appendStringInfoString(&s, ", client local");
  appendStringInfo(&s, ", pid %d", MyProcPid);
  // A denial always reaches the server log: LOG is written unless
  // log_min_messages is fatal or panic; lower it for this one line.
  int saved = log_min_messages;
  if (log_min_messages > ERROR) log_min_messages = ERROR;
  PG_TRY();
  {
    ereport(LOG_SERVER_ONLY, (errmsg_internal("%s%s", kAuditLogPrefix, s.data), errhidestmt(true), errhidecontext(true)));
  }
  PG_FINALLY();
  {
    log_min_messages = saved;
  }
  PG_END_TRY();
  pfree(s.data);
}

}  // namespace orgcrypt::pg
