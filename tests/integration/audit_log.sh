#!/usr/bin/env bash
# The audit trail where pg_regress cannot look: the server log and
# pg_dump/pg_restore.
# - Every permission denial of orgcrypt's C checks writes exactly one line
#   starting "orgcrypt audit: " to the server log: a denied decrypt, one caught
#   by a PL/pgSQL EXCEPTION block (no ERROR is logged then), a denied admin
#   call, one caught, one in a session whose log_min_messages is fatal (its
#   ERROR is not logged: that shows the setting is in effect), one over TCP
#   (client address), and an org name with a newline (escaped, no forged line).
# - A change of orgcrypt.master_key by reload is in the log as PostgreSQL's
#   own 'parameter "orgcrypt.master_key" changed to "..."' line, and the rewrap
#   that follows writes one audit_log row per DEK.
# - pg_dump/pg_restore into a new database keeps audit_log's rows, its
#   privileges, and the grants (orgcrypt.org_grants).
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
oc_install_deps >/dev/null
DIR=$(oc_mkdir)
trap 'oc_cluster_stop "$DIR/data"; rm -rf "$DIR"' EXIT
oc_cluster_start "$DIR" yes || { oc_fail "server starts"; oc_summary; exit 1; }
LOG=$DIR/server.log
# as ROLE, in database al, one session, tuples only; stderr too
as() { local role=$1; shift; local a=(); for s in "$@"; do a+=(-c "$s"); done
       oc_run env PGAPPNAME=al_test "$OC_PGBIN/psql" -X -q -At -h "$OC_HOST" -p "$OC_PORT" -U "$role" -d al "${a[@]}" 2>&1; }
# the number of log lines that contain a fixed string
nlines() { grep -cF -- "$1" "$LOG"; }

oc_psql -d postgres -c "CREATE DATABASE al TEMPLATE template0" >/dev/null
oc_psql -d al >/dev/null <<'SQL' || oc_fail "set-up"
CREATE EXTENSION orgcrypt;
CREATE ROLE al_app LOGIN;
CREATE ROLE al_quiet LOGIN;
CREATE ROLE al_admin LOGIN IN ROLE orgcrypt_admin;
ALTER ROLE al_quiet SET log_min_messages = fatal;
-- EXECUTE granted, so that the call reaches orgcrypt's own check (without
-- it, PostgreSQL refuses the call before orgcrypt runs)
GRANT EXECUTE ON FUNCTION orgcrypt.rotate_org_dek(text) TO al_app, al_quiet;
SELECT orgcrypt.create_org_key('al-a');
SELECT orgcrypt.create_org_key('al-b');
SELECT orgcrypt.grant_org('al_app', 'al-a');
SELECT orgcrypt.grant_org('al_quiet', 'al-a');
CREATE TABLE vals (org text, v orgcrypt.ciphertext);
INSERT INTO vals VALUES ('al-a', orgcrypt.encrypt_for_org('al-a', 'a')), ('al-b', orgcrypt.encrypt_for_org('al-b', 'b'));
GRANT SELECT ON vals TO PUBLIC;
SQL
P="orgcrypt audit: denied"

# a denied decrypt
R=$(as al_app "SELECT 'pid=' || pg_backend_pid()" "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE org = 'al-b'")
oc_expect_match "denied decrypt: the client gets 42501" 'permission denied to use organization "al-b" for role "al_app"' "$R"
PID=$(printf '%s\n' "$R" | sed -n 's/^pid=//p')
oc_expect "denied decrypt: one audit line" "1" "$(nlines "$P use of organization \"al-b\" to role \"al_app\"")"
oc_expect "denied decrypt: the line names database, application, client and pid" "1" \
  "$(nlines "$P use of organization \"al-b\" to role \"al_app\", database \"al\", application \"al_test\", client local, pid $PID")"
oc_expect "denied decrypt: its ERROR is logged too" "1" "$(nlines 'ERROR:  orgcrypt: permission denied to use organization "al-b"')"

# a denied decrypt caught in PL/pgSQL: the audit line is its only trace
R=$(as al_app "DO \$\$ BEGIN PERFORM orgcrypt.decrypt_for_org('al-caught', v) FROM vals; EXCEPTION WHEN insufficient_privilege THEN RAISE NOTICE 'caught %', SQLSTATE; END \$\$")
oc_expect_match "caught decrypt denial: caught" "caught 42501" "$R"
oc_expect "caught decrypt denial: one audit line" "1" "$(nlines "$P use of organization \"al-caught\" to role \"al_app\"")"
oc_expect "caught decrypt denial: no ERROR line" "0" "$(nlines 'permission denied to use organization "al-caught"')"

# a denied admin call, and one caught
R=$(as al_app "SELECT orgcrypt.rotate_org_dek('al-a')")
oc_expect_match "denied admin call: the client gets 42501" 'permission denied for orgcrypt.rotate_org_dek\(\) for role "al_app"' "$R"
oc_expect "denied admin call: one audit line" "1" "$(nlines "$P orgcrypt.rotate_org_dek() to role \"al_app\"")"
R=$(as al_app "SET application_name = 'al_caught'" "DO \$\$ BEGIN PERFORM orgcrypt.rotate_org_dek('al-a'); EXCEPTION WHEN insufficient_privilege THEN RAISE NOTICE 'caught %', SQLSTATE; END \$\$")
oc_expect_match "caught admin denial: caught" "caught 42501" "$R"
oc_expect "caught admin denial: one audit line" "1" "$(nlines "$P orgcrypt.rotate_org_dek() to role \"al_app\", database \"al\", application \"al_caught\"")"

# log_min_messages = fatal (set by a superuser for the role): the ERROR is
# not logged, the audit line is
R=$(as al_quiet "SHOW log_min_messages" "SELECT orgcrypt.rotate_org_dek('al-a')")
oc_expect_match "quiet session: log_min_messages is fatal" "^fatal" "$R"
oc_expect_match "quiet session: the client gets 42501" "permission denied for orgcrypt.rotate_org_dek" "$R"
oc_expect "quiet session: its ERROR is not in the log" "0" "$(nlines 'for role "al_quiet"')"
oc_expect "quiet session: one audit line for the admin call" "1" "$(nlines "$P orgcrypt.rotate_org_dek() to role \"al_quiet\"")"
R=$(as al_quiet "DO \$\$ BEGIN PERFORM orgcrypt.decrypt_for_org('al-quiet', v) FROM vals; EXCEPTION WHEN insufficient_privilege THEN NULL; END \$\$" "SHOW log_min_messages")
oc_expect "quiet session: log_min_messages unchanged after the line" "fatal" "$R"
oc_expect "quiet session: one audit line for a caught decrypt" "1" "$(nlines "$P use of organization \"al-quiet\" to role \"al_quiet\"")"

# over TCP: the client address
R=$(oc_run env PGAPPNAME=al_tcp "$OC_PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$OC_PORT" -U al_app -d al \
      -c "SELECT orgcrypt.encrypt_for_org('al-tcp', 'x')" 2>&1)
oc_expect_match "TCP denial: 42501" "permission denied to use organization" "$R"
oc_expect "TCP denial: one audit line with the client address" "1" \
  "$(nlines "$P use of organization \"al-tcp\" to role \"al_app\", database \"al\", application \"al_tcp\", client 127.0.0.1, pid ")"

# an org name with a newline and a quote cannot forge a log line
R=$(as al_app "SELECT orgcrypt.encrypt_for_org(E'al-nl\\nLOG:  forged \"line', 'x')")
oc_expect_match "newline org: 42501" "permission denied" "$R"
oc_expect "newline org: escaped in the audit line" "1" "$(nlines "$P use of organization \"al-nl\\x0aLOG:  forged \\\"line\" to role")"
oc_expect "newline org: no line starts with the forged text" "0" "$(grep -c '^LOG:  forged' "$LOG")"

# every audit line is one of the above: 8 denials, no statement logged with them
oc_expect "eight audit lines in all" "8" "$(nlines "orgcrypt audit: ")"
oc_expect "no audit line is followed by a STATEMENT line" "0" "$(grep -A1 -F 'orgcrypt audit: ' "$LOG" | grep -c 'STATEMENT:')"
oc_expect "denials counted" "t" "$(oc_q -d al -c "SELECT denials >= 8 FROM orgcrypt.cache_stats")"
oc_expect "no audit_log row for the denials" "0" "$(oc_q -d al -c "SELECT count(*) FROM orgcrypt.audit_log WHERE role LIKE 'al_%'")"

# a new master key by reload: PostgreSQL's own line, then the rewrap's rows
oc_make_key "$DIR/second.key"
oc_set orgcrypt.master_key "file:$DIR/second.key" || oc_fail "master key changed"
for _ in $(seq 1 100); do
  [ "$(nlines "parameter \"orgcrypt.master_key\" changed to \"file:$DIR/second.key\"")" = 1 ] && break
  sleep 0.05
done
oc_expect "reload: PostgreSQL logs the new master key URI" "1" \
  "$(nlines "LOG:  parameter \"orgcrypt.master_key\" changed to \"file:$DIR/second.key\"")"
R=$(as al_admin "CALL orgcrypt.rewrap_org_keys(1)")
oc_expect_match "rewrap as orgcrypt_admin" "^2$" "$R"
oc_expect "rewrap: one audit row per DEK" "al-a|1|al_admin|from file:$OC_KEY to file:$DIR/second.key|al_test
al-b|1|al_admin|from file:$OC_KEY to file:$DIR/second.key|al_test" \
  "$(oc_q -d al -c "SELECT org, version, role, detail, application_name FROM orgcrypt.audit_log WHERE event = 'rewrap' ORDER BY org")"
oc_expect "decrypt after the rewrap" "a" "$(oc_q -d al -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE org = 'al-a'")"

# pg_dump / pg_restore into a new database
ROWS="SELECT at, event, org, version, role, detail, application_name, client_addr, backend_pid FROM orgcrypt.audit_log ORDER BY at, event, org, version"
GRANTS="SELECT grantee, org, granted_by, granted_at FROM orgcrypt.org_grants ORDER BY org, grantee"
ACL="SELECT relacl FROM pg_class WHERE oid = 'orgcrypt.audit_log'::regclass"
BEFORE=$(oc_q -d al -c "$ROWS")
GBEFORE=$(oc_q -d al -c "$GRANTS")
oc_expect "rows to dump: 2 create, 2 grant, 2 rewrap" "6" "$(printf '%s\n' "$BEFORE" | grep -c .)"
oc_run "$OC_PGBIN/pg_dump" -h "$OC_HOST" -p "$OC_PORT" -U postgres -Fc -f "$DIR/al.dump" al || oc_fail "pg_dump"
oc_psql -d postgres -c "CREATE DATABASE al2 TEMPLATE template0" >/dev/null
R=$(oc_run "$OC_PGBIN/pg_restore" -h "$OC_HOST" -p "$OC_PORT" -U postgres -d al2 "$DIR/al.dump" 2>&1)
oc_expect "pg_restore without errors" "" "$(printf '%s' "$R" | grep -v 'WARNING\|HINT' )"
oc_expect "restored: the audit_log rows" "$BEFORE" "$(oc_q -d al2 -c "$ROWS")"
oc_expect "restored: the grants" "$GBEFORE" "$(oc_q -d al2 -c "$GRANTS")"
oc_expect "restored: the grants are two" "2" "$(oc_q -d al2 -c "SELECT count(*) FROM orgcrypt.org_grants")"
oc_expect "restored: audit_log's privileges" "$(oc_q -d al -c "$ACL")" "$(oc_q -d al2 -c "$ACL")"
oc_expect "restored: a granted role decrypts" "a" \
  "$(oc_run "$OC_PGBIN/psql" -X -q -At -h "$OC_HOST" -p "$OC_PORT" -U al_app -d al2 -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE org = 'al-a'" 2>&1)"
oc_psql -d postgres -c "DROP DATABASE al2" -c "DROP DATABASE al" -c "DROP ROLE al_app, al_quiet, al_admin" >/dev/null
oc_summary
