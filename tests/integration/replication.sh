#!/usr/bin/env bash
# Logical replication of the key table (docs/replication.md): a publisher and
# a subscriber cluster with the same master key. Rows applied by the
# subscription invalidate cached key state like local changes: a subscriber
# session that has a DEK cached sees a rotation and a destroy made on the
# publisher at its next statement. A table with REPLICA IDENTITY FULL and a
# ciphertext column replicates UPDATE and DELETE (equality on the type).
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
oc_install_deps >/dev/null
PDIR=$(oc_mkdir); SDIR=$(oc_mkdir)
trap 'oc_cluster_stop "$SDIR/data"; oc_cluster_stop "$PDIR/data"; rm -rf "$PDIR" "$SDIR"' EXIT
# one master key file for both (the subscriber unwraps what the publisher wrapped)
OC_KEY_FILE=$PDIR/master.key oc_cluster_start "$PDIR" yes "wal_level = logical" \
  || { oc_fail "publisher starts"; oc_summary; exit 1; }
P_PORT=$OC_PORT
OC_KEY_FILE=$PDIR/master.key oc_cluster_start "$SDIR" yes "orgcrypt.auto_create_org_keys = off" \
  || { oc_fail "subscriber starts"; oc_summary; exit 1; }
S_PORT=$OC_PORT
pq() { oc_run "$OC_PGBIN/psql" -X -q -At -h "$PDIR" -p "$P_PORT" -U postgres -d postgres "$@" 2>&1; }
sq() { oc_run "$OC_PGBIN/psql" -X -q -At -h "$SDIR" -p "$S_PORT" -U postgres -d postgres "$@" 2>&1; }
# wait_s SQL: polls the subscriber until SQL returns t (at most 30 s)
wait_s() { for _ in $(seq 1 300); do [ "$(sq -c "$1")" = t ] && return 0; sleep 0.1; done; return 1; }

pq >/dev/null <<'SQL'
CREATE EXTENSION orgcrypt;
CREATE TABLE data (id int PRIMARY KEY, org text, v orgcrypt.ciphertext);
CREATE TABLE notes (org text, v orgcrypt.ciphertext);
ALTER TABLE notes REPLICA IDENTITY FULL;
INSERT INTO data SELECT i, 'rep-' || (i % 3), orgcrypt.encrypt_for_org('rep-' || (i % 3), 'value ' || i) FROM generate_series(1, 30) i;
INSERT INTO notes SELECT 'rep-0', orgcrypt.encrypt_for_org('rep-0', 'note ' || i) FROM generate_series(1, 3) i;
CREATE PUBLICATION orgcrypt_keys FOR TABLE orgcrypt.org_dek, data, notes;
SQL
sq >/dev/null <<SQL
CREATE EXTENSION orgcrypt;
CREATE TABLE data (id int PRIMARY KEY, org text, v orgcrypt.ciphertext);
CREATE TABLE notes (org text, v orgcrypt.ciphertext);
ALTER TABLE notes REPLICA IDENTITY FULL;
CREATE SUBSCRIPTION orgcrypt_keys CONNECTION 'host=$PDIR port=$P_PORT user=postgres dbname=postgres' PUBLICATION orgcrypt_keys;
SQL
wait_s "SELECT count(*) = 3 FROM pg_subscription_rel WHERE srsubstate = 'r'" && oc_ok "initial sync done" || oc_fail "initial sync"
oc_expect "the subscriber decrypts every replicated value" "30" \
  "$(sq -c "SELECT count(*) FROM data WHERE orgcrypt.decrypt_for_org(org, v) = 'value ' || id")"
oc_expect_match "the subscriber does not create keys of its own (auto-create off)" "has no key" \
  "$(sq -c "SELECT orgcrypt.encrypt_for_org('sub-only', 'x')")"

# One subscriber session keeps rep-1's key cached while the publisher rotates
# and then destroys it.
RES=$(oc_run "$OC_PGBIN/psql" -X -At -h "$SDIR" -p "$S_PORT" -U postgres -d postgres 2>&1 <<SQL
SELECT 'before:' || orgcrypt.decrypt_for_org(org, v) FROM data WHERE id = 1;
SELECT 'encrypt-before:' || orgcrypt.dek_version(orgcrypt.encrypt_for_org('rep-1', 'x'));
\\! $OC_PGBIN/psql -X -q -h $PDIR -p $P_PORT -U postgres -d postgres -c "SELECT orgcrypt.rotate_org_dek('rep-1')" >/dev/null
DO \$\$ BEGIN FOR i IN 1 .. 600 LOOP EXIT WHEN EXISTS (SELECT 1 FROM orgcrypt.org_dek WHERE org = 'rep-1' AND version = 2); PERFORM pg_sleep(0.05); END LOOP; END \$\$;
SELECT 'encrypt-after-rotation:' || orgcrypt.dek_version(orgcrypt.encrypt_for_org('rep-1', 'x'));
\\! $OC_PGBIN/psql -X -q -h $PDIR -p $P_PORT -U postgres -d postgres -c "SELECT orgcrypt.destroy_org_keys('rep-1')" >/dev/null
DO \$\$ BEGIN FOR i IN 1 .. 600 LOOP EXIT WHEN NOT EXISTS (SELECT 1 FROM orgcrypt.org_dek WHERE org = 'rep-1' AND state <> 'destroyed'); PERFORM pg_sleep(0.05); END LOOP; END \$\$;
SELECT 'after-destroy:' || orgcrypt.decrypt_for_org(org, v) FROM data WHERE id = 1;
SELECT 'encrypt-after-destroy:' || orgcrypt.dek_version(orgcrypt.encrypt_for_org('rep-1', 'x'));
SQL
)
oc_expect "the subscriber session decrypts rep-1 before" "before:value 1" "$(echo "$RES" | grep '^before:')"
oc_expect "and encrypts under version 1" "encrypt-before:1" "$(echo "$RES" | grep '^encrypt-before:')"
oc_expect "a rotation applied by the subscription is seen at the next statement" "encrypt-after-rotation:2" \
  "$(echo "$RES" | grep '^encrypt-after-rotation:')"
oc_expect "a destroy applied by the subscription stops decryption and encryption at the next statement" "2" \
  "$(echo "$RES" | grep -c 'keys of organization "rep-1" were destroyed')"
oc_expect "nothing was sealed after the destroy" "" "$(echo "$RES" | grep '^encrypt-after-destroy:')"
oc_expect_match "a new subscriber session cannot decrypt rep-1 either" 'keys of organization "rep-1" were destroyed' \
  "$(sq -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM data WHERE id = 1")"

# REPLICA IDENTITY FULL with a ciphertext column: UPDATE and DELETE replicate
pq -c "UPDATE notes SET v = orgcrypt.encrypt_for_org('rep-0', 'note updated') WHERE orgcrypt.decrypt_for_org(org, v) = 'note 1'" \
   -c "DELETE FROM notes WHERE orgcrypt.decrypt_for_org(org, v) = 'note 2'" >/dev/null
wait_s "SELECT count(*) = 2 AND bool_or(orgcrypt.decrypt_for_org(org, v) = 'note updated') FROM notes" \
  && oc_ok "UPDATE and DELETE on a REPLICA IDENTITY FULL table with a ciphertext column replicate" \
  || oc_fail "REPLICA IDENTITY FULL replication: $(sq -c "SELECT string_agg(orgcrypt.decrypt_for_org(org, v), ',') FROM notes")"
if grep -q "could not identify an equality operator" "$SDIR/server.log"; then oc_fail "the apply worker found no equality operator"; else oc_ok "the apply worker found the equality operator"; fi

# a rotation applied while no subscriber session is open
pq -c "SELECT orgcrypt.rotate_org_dek('rep-2')" >/dev/null
wait_s "SELECT max(version) = 2 FROM orgcrypt.org_dek WHERE org = 'rep-2'" && oc_ok "rep-2 rotation replicated" || oc_fail "rep-2 rotation"
oc_expect "a new subscriber session encrypts rep-2 under the replicated version" "2" \
  "$(sq -c "SELECT orgcrypt.dek_version(orgcrypt.encrypt_for_org('rep-2', 'x'))")"

# Per-org grants (1.3): orgcrypt.org_grants in the publication. Roles are
# cluster-wide and not replicated: the subscriber needs the same roles (the
# grantee travels by name, so their OIDs may differ; here they do). The
# grants table's triggers are ENABLE ALWAYS: rows applied by the apply worker
# invalidate cached decisions, so a revoke or a grant made on the publisher
# applies to a subscriber session at its next statement.
pq -c "CREATE ROLE rep_other; CREATE ROLE rep_app2; CREATE ROLE rep_app" -c "GRANT SELECT ON data TO rep_app, rep_app2" >/dev/null
sq -c "CREATE ROLE rep_app; CREATE ROLE rep_app2" -c "GRANT SELECT ON data TO rep_app, rep_app2" >/dev/null
oc_expect "the grantee has another OID on the subscriber" "f" \
  "$([ "$(pq -c "SELECT 'rep_app'::regrole::oid")" = "$(sq -c "SELECT 'rep_app'::regrole::oid")" ] && echo t || echo f)"
R=$(pq -c "SELECT orgcrypt.grant_org('rep_app', 'rep-0')" -c "SELECT orgcrypt.grant_org('rep_app2', 'rep-2')" \
       -c "ALTER PUBLICATION orgcrypt_keys ADD TABLE orgcrypt.org_grants")
oc_expect "org_grants is added to the publication" "" "$R"
R=$(sq -c "ALTER SUBSCRIPTION orgcrypt_keys REFRESH PUBLICATION")
oc_expect "the subscription is refreshed" "" "$R"
wait_s "SELECT count(*) = 4 FROM pg_subscription_rel WHERE srsubstate = 'r'" && oc_ok "org_grants synced" || oc_fail "org_grants sync"
oc_expect "the subscriber has the publisher's grants, by role name" "rep_app|rep-0,rep_app2|rep-2" \
  "$(sq -c "SELECT string_agg(role || '|' || org, ',' ORDER BY role) FROM orgcrypt.grants")"
oc_expect "... for the subscriber's roles" "t" \
  "$(sq -c "SELECT grantee = 'rep_app'::regrole FROM orgcrypt.org_grants WHERE org = 'rep-0'")"

# One subscriber session as rep_app: uses rep-0, not rep-2; the publisher
# revokes rep-0 and grants rep-2; the session waits (as postgres, with no
# orgcrypt call; a plpgsql loop, each query with a new snapshot, at most 30 s)
# until the change arrives, and its next statement as rep_app sees it.
DENY_0='permission denied to use organization "rep-0" for role "rep_app"'
DENY_2='permission denied to use organization "rep-2" for role "rep_app"'
RES=$(oc_run "$OC_PGBIN/psql" -X -At -h "$SDIR" -p "$S_PORT" -U postgres -d postgres 2>&1 <<SQL
SET ROLE rep_app;
SELECT 'granted:' || orgcrypt.decrypt_for_org(org, v) FROM data WHERE id = 3;
SELECT 'other:' || orgcrypt.decrypt_for_org(org, v) FROM data WHERE id = 2;
SELECT 'again:' || orgcrypt.decrypt_for_org(org, v) FROM data WHERE id = 3;
RESET ROLE;
\\! $OC_PGBIN/psql -X -q -h $PDIR -p $P_PORT -U postgres -d postgres -c "SELECT orgcrypt.revoke_org('rep_app', 'rep-0')" >/dev/null
DO \$\$ BEGIN FOR i IN 1 .. 600 LOOP EXIT WHEN NOT EXISTS (SELECT 1 FROM orgcrypt.org_grants WHERE org = 'rep-0'); PERFORM pg_sleep(0.05); END LOOP; END \$\$;
SET ROLE rep_app;
SELECT 'after-revoke:' || orgcrypt.decrypt_for_org(org, v) FROM data WHERE id = 3;
SELECT 'encrypt-after-revoke:' || orgcrypt.dek_version(orgcrypt.encrypt_for_org('rep-0', 'x'));
RESET ROLE;
\\! $OC_PGBIN/psql -X -q -h $PDIR -p $P_PORT -U postgres -d postgres -c "SELECT orgcrypt.grant_org('rep_app', 'rep-2')" >/dev/null
DO \$\$ BEGIN FOR i IN 1 .. 600 LOOP EXIT WHEN EXISTS (SELECT 1 FROM orgcrypt.org_grants WHERE org = 'rep-2' AND grantee = 'rep_app'::regrole); PERFORM pg_sleep(0.05); END LOOP; END \$\$;
SET ROLE rep_app;
SELECT 'after-grant:' || orgcrypt.decrypt_for_org(org, v) FROM data WHERE id = 2;
SQL
)
oc_expect "the subscriber session as rep_app decrypts its org" "granted:value 3" "$(echo "$RES" | grep '^granted:')"
oc_expect "... not another (42501)" "1" "$(echo "$RES" | grep -c "$DENY_2")"
oc_expect "... and its org again (the refusal is not cached for the org)" "again:value 3" "$(echo "$RES" | grep '^again:')"
oc_expect "the revoke and the grant on the publisher succeed" "" "$(echo "$RES" | grep -E 'ERROR' | grep -v 'permission denied to use organization')"
oc_expect "a revoke made on the publisher applies at the grantee's next statement" "2" "$(echo "$RES" | grep -c "$DENY_0")"
oc_expect "nothing decrypted or sealed after the revoke" "" "$(echo "$RES" | grep -E '^(after-revoke|encrypt-after-revoke):')"
oc_expect "a grant made on the publisher applies at the grantee's next statement" "after-grant:value 2" \
  "$(echo "$RES" | grep '^after-grant:')"
oc_expect "the grants on the subscriber follow the publisher's" \
  "$(pq -c "SELECT string_agg(role || '|' || org, ',' ORDER BY role, org) FROM orgcrypt.grants")" \
  "$(sq -c "SELECT string_agg(role || '|' || org, ',' ORDER BY role, org) FROM orgcrypt.grants")"
oc_expect "a new subscriber session of rep_app2 uses its org" "value 2" \
  "$(sq -c "SET ROLE rep_app2" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM data WHERE id = 2")"
# A grant naming a role the subscriber lacks stops the apply worker (the role
# name does not resolve there) until the role is created; then it arrives.
pq -c "CREATE ROLE rep_late" -c "SELECT orgcrypt.grant_org('rep_late', 'rep-0')" >/dev/null
for _ in $(seq 1 300); do grep -q 'role "rep_late" does not exist' "$SDIR/server.log" && break; sleep 0.1; done
oc_expect_match "a grant for a role missing on the subscriber stops the apply worker" 'role "rep_late" does not exist' \
  "$(grep -m1 'role "rep_late" does not exist' "$SDIR/server.log")"
sq -c "CREATE ROLE rep_late" >/dev/null
wait_s "SELECT EXISTS (SELECT 1 FROM orgcrypt.grants WHERE role = 'rep_late' AND org = 'rep-0')" \
  && oc_ok "once the role is created on the subscriber, the grant arrives" || oc_fail "the grant for rep_late did not arrive"
if grep -E 'terminated by signal|PANIC' "$PDIR/server.log" "$SDIR/server.log"; then oc_fail "no crash in the server logs"; else oc_ok "no crash in the server logs"; fi
oc_summary
