#!/usr/bin/env bash
# Durability and replication: restart, crash recovery, pg_dump/pg_restore,
# a hot standby (read-only decrypt, replayed rotation and destroy), and a
# replaced master key file. Starts its own servers; fails if one cannot start.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
oc_install_deps >/dev/null
DIR=$(oc_mkdir); SDIR=$(oc_mkdir)
trap 'oc_cluster_stop "$SDIR/data"; oc_cluster_stop "$DIR/data"; rm -rf "$DIR" "$SDIR"' EXIT
oc_cluster_start "$DIR" yes || { oc_fail "primary starts"; oc_summary; exit 1; }
P_PORT=$OC_PORT

oc_psql -d postgres >/dev/null <<'SQL'
CREATE EXTENSION orgcrypt;
CREATE TABLE vals (id serial, org text, label text, v orgcrypt.ciphertext);
INSERT INTO vals (org, label, v) SELECT 'org' || (g % 5), 'v' || g, orgcrypt.encrypt_for_org('org' || (g % 5), 'value ' || g) FROM generate_series(1, 500) g;
SELECT orgcrypt.rotate_org_dek('org1');
INSERT INTO vals (org, label, v) SELECT 'org1', 'after-rotate-' || g, orgcrypt.encrypt_for_org('org1', 'rot ' || g) FROM generate_series(1, 50) g;
SQL
count_ok() { oc_q -d "${1:-postgres}" -c "SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) IS NOT NULL) || '/' || count(*) FROM vals"; }

# A rotation rolled back after use, then a committed rotation by another
# session: what is sealed afterwards must decrypt after a restart.
oc_psql -d postgres >/dev/null <<SQL
BEGIN;
SELECT orgcrypt.rotate_org_dek('org2');
SELECT orgcrypt.encrypt_for_org('org2', 'lost with the rollback');
ROLLBACK;
INSERT INTO vals (org, label, v) VALUES ('org2', 'after-rollback', orgcrypt.encrypt_for_org('org2', 'a'));
\! $OC_PGBIN/psql -X -q -h $OC_HOST -p $OC_PORT -U postgres -d postgres -c "SELECT orgcrypt.rotate_org_dek('org2')" >/dev/null
INSERT INTO vals (org, label, v) VALUES ('org2', 'after-other-rotation', orgcrypt.encrypt_for_org('org2', 'b'));
SQL
oc_expect "org2 is at version 2 after the rolled-back and the committed rotation" "2" \
  "$(oc_q -d postgres -c "SELECT max(version) FROM orgcrypt.org_dek WHERE org = 'org2'")"
BEFORE=$(count_ok)
oc_expect "all values decrypt before restart" "552/552" "$BEFORE"

oc_cluster_restart || oc_fail "restart"
oc_expect "all values decrypt after a clean restart (empty caches)" "552/552" "$(count_ok)"
oc_expect "values sealed after a rolled-back rotation decrypt after restart" "a|b" \
  "$(oc_q -d postgres -c "SELECT string_agg(orgcrypt.decrypt_for_org(org, v), '|' ORDER BY id) FROM vals WHERE label IN ('after-rollback', 'after-other-rotation')")"

# Crash: a committed key creation survives immediate shutdown + recovery.
oc_psql -d postgres -c "INSERT INTO vals (org, label, v) VALUES ('crash-org', 'crash', orgcrypt.encrypt_for_org('crash-org', 'committed before crash'))" >/dev/null
oc_run "$OC_PGBIN/pg_ctl" -D "$OC_DATA" -m immediate -w stop >/dev/null
oc_run "$OC_PGBIN/pg_ctl" -D "$OC_DATA" -l "$DIR/server.log" -w -t 60 start >/dev/null || oc_fail "start after crash"
oc_expect "a key committed before a crash survives recovery" "committed before crash" \
  "$(oc_q -d postgres -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE label = 'crash'")"

# pg_dump / pg_restore: the key table is extension config, dumped with it.
oc_run "$OC_PGBIN/pg_dump" -h "$OC_HOST" -p "$OC_PORT" -U postgres -Fc -f "$DIR/dump.pgc" postgres
oc_psql -d postgres -c "CREATE DATABASE restored" >/dev/null
oc_run "$OC_PGBIN/pg_restore" -h "$OC_HOST" -p "$OC_PORT" -U postgres -d restored "$DIR/dump.pgc" 2>&1 | head -5
oc_expect "every value decrypts in a database restored from pg_dump" "553/553" "$(count_ok restored)"
oc_expect "the restored key table keeps versions and states" \
  "$(oc_q -d postgres -c "SELECT string_agg(org || version || state, ',' ORDER BY org, version) FROM orgcrypt.org_dek")" \
  "$(oc_q -d restored -c "SELECT string_agg(org || version || state, ',' ORDER BY org, version) FROM orgcrypt.org_dek")"
oc_expect "no key material in a plain-text dump of the schema" "0" \
  "$(oc_run "$OC_PGBIN/pg_dump" -h "$OC_HOST" -p "$OC_PORT" -U postgres --schema-only postgres | grep -c "$(head -c 64 "$OC_KEY")")"

# Hot standby.
oc_run "$OC_PGBIN/pg_basebackup" --checkpoint=fast -h "$OC_HOST" -p "$OC_PORT" -U postgres -D "$SDIR/data" -R -X stream >/dev/null 2>&1 \
  || { oc_fail "pg_basebackup"; oc_summary; exit 1; }
S_PORT=$(oc_free_port)
printf "port = %s\nunix_socket_directories = '%s'\nhot_standby = on\n" "$S_PORT" "$SDIR" | oc_run tee -a "$SDIR/data/postgresql.auto.conf" >/dev/null
oc_run "$OC_PGBIN/pg_ctl" -D "$SDIR/data" -l "$SDIR/server.log" -w -t 60 start >/dev/null \
  || { oc_fail "standby starts"; cat "$SDIR/server.log"; oc_summary; exit 1; }
sq() { oc_run "$OC_PGBIN/psql" -X -At -h "$SDIR" -p "$S_PORT" -U postgres -d postgres "$@" 2>&1; }
oc_expect "the standby is in recovery" "t" "$(sq -c "SELECT pg_is_in_recovery()")"
oc_expect "decrypt works on the hot standby" "553/553" \
  "$(sq -c "SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) IS NOT NULL) || '/' || count(*) FROM vals")"
oc_expect_match "encrypting for a new org on the standby fails cleanly (25006, hot standby)" "cannot create or change orgcrypt keys on a hot standby" \
  "$(sq -c "SELECT orgcrypt.encrypt_for_org('standby-new-org', 'x')")"

# One standby session sees a rotation and a destroy replayed from the primary
# at its next statement.
RES=$(oc_run "$OC_PGBIN/psql" -X -At -h "$SDIR" -p "$S_PORT" -U postgres -d postgres 2>&1 <<SQL
SELECT 'before:' || orgcrypt.decrypt_for_org('org3', v) FROM vals WHERE label = 'v3';
\\! $OC_PGBIN/psql -X -q -h $OC_HOST -p $P_PORT -U postgres -d postgres -c "SELECT orgcrypt.rotate_org_dek('org3'); INSERT INTO vals (org, label, v) VALUES ('org3', 'standby-v2', orgcrypt.encrypt_for_org('org3', 'sealed with v2'));" >/dev/null
DO \$\$ BEGIN FOR i IN 1..1200 LOOP EXIT WHEN EXISTS (SELECT 1 FROM vals WHERE label = 'standby-v2'); PERFORM pg_sleep(0.05); END LOOP; END \$\$;
SELECT 'rotated:' || orgcrypt.dek_version(v) || ':' || orgcrypt.decrypt_for_org(org, v) FROM vals WHERE label = 'standby-v2';
\\! $OC_PGBIN/psql -X -q -h $OC_HOST -p $P_PORT -U postgres -d postgres -c "SELECT orgcrypt.destroy_org_keys('org3'); CREATE TABLE destroyed_marker ();" >/dev/null
DO \$\$ BEGIN FOR i IN 1..1200 LOOP EXIT WHEN to_regclass('destroyed_marker') IS NOT NULL; PERFORM pg_sleep(0.05); END LOOP; END \$\$;
SELECT 'after-destroy:' || orgcrypt.decrypt_for_org('org3', v) FROM vals WHERE label = 'v3';
SQL
)
oc_expect_match "standby session reads org3 before the rotation" "^before:value 3$" "$(echo "$RES" | grep '^before:')"
oc_expect_match "standby session sees the replayed rotation at its next statement" "^rotated:2:sealed with v2$" "$(echo "$RES" | grep '^rotated:')"
oc_expect_match "standby session sees the replayed destroy at its next statement" "keys of organization \"org3\" were destroyed" "$RES"

# Grants on the standby (1.3): a role granted org1 decrypts org1 there (the
# grants are read read-only, as the extension owner) and is refused org2; a
# revoke replayed from the primary applies at the standby session's next
# statement.
oc_psql -d postgres >/dev/null <<'SQL'
CREATE ROLE dur_app;
GRANT SELECT ON vals TO dur_app;
SELECT orgcrypt.grant_org('dur_app', 'org1');
CREATE TABLE grant_marker ();
SQL
RES=$(oc_run "$OC_PGBIN/psql" -X -At -h "$SDIR" -p "$S_PORT" -U postgres -d postgres 2>&1 <<SQL
DO \$\$ BEGIN FOR i IN 1..1200 LOOP EXIT WHEN to_regclass('grant_marker') IS NOT NULL; PERFORM pg_sleep(0.05); END LOOP; END \$\$;
SET ROLE dur_app;
SELECT 'granted:' || count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) IS NOT NULL) || '/' || count(*) FROM vals WHERE org = 'org1';
SELECT 'other:' || count(*) FROM vals WHERE org = 'org2' AND orgcrypt.decrypt_for_org(org, v) IS NOT NULL;
\\! $OC_PGBIN/psql -X -q -h $OC_HOST -p $P_PORT -U postgres -d postgres -c "SELECT orgcrypt.revoke_org('dur_app', 'org1'); CREATE TABLE revoke_marker ();" >/dev/null
DO \$\$ BEGIN FOR i IN 1..1200 LOOP EXIT WHEN to_regclass('revoke_marker') IS NOT NULL; PERFORM pg_sleep(0.05); END LOOP; END \$\$;
SELECT 'revoked:' || count(*) FROM vals WHERE org = 'org1' AND orgcrypt.decrypt_for_org(org, v) IS NOT NULL;
SQL
)
oc_expect "a granted role decrypts its org on the standby" "granted:150/150" "$(echo "$RES" | grep '^granted:')"
oc_expect_match "and is refused another org there (42501)" 'permission denied to use organization "org2" for role "dur_app"' "$RES"
oc_expect_match "a revoke replayed on the standby applies at the session's next statement" \
  'permission denied to use organization "org1" for role "dur_app"' "$RES"
oc_expect "nothing decrypted after the revoke" "" "$(echo "$RES" | grep '^revoked:')"
oc_run "$OC_PGBIN/pg_ctl" -D "$SDIR/data" -m fast -w stop >/dev/null

# A replaced key file is reported as replaced (fingerprint), not as tampering.
cp -p "$OC_KEY" "$DIR/key.backup"
oc_make_key "$OC_KEY.new"; oc_run sh -c "cat '$OC_KEY.new' > '$OC_KEY'"
RES=$(oc_q -d postgres -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE label = 'v1'")
oc_expect_match "a replaced key file is reported by fingerprint (58000 message)" \
  'the master key at "file:.*" is not the key that wrapped DEK version 1 of organization "org1"' "$RES"
if grep -qiF -e "$(head -c 16 "$OC_KEY")" -e "$(head -c 16 "$OC_KEY.new")" <<<"$RES"; then
  oc_fail "the error holds no key bytes"; else oc_ok "the error holds no key bytes"; fi
oc_run sh -c "cat '$DIR/key.backup' > '$OC_KEY'"
oc_expect "restoring the original key file makes it decrypt again" "value 1" \
  "$(oc_q -d postgres -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE label = 'v1'" | tail -1)"

if grep -E 'terminated by signal|PANIC' "$DIR/server.log" "$SDIR/server.log"; then oc_fail "no crash in the server logs"; else oc_ok "no crash in the server logs"; fi
oc_summary
