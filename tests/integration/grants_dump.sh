#!/usr/bin/env bash
# Per-org grants (1.3) through pg_dump -Fc | pg_restore. orgcrypt.org_grants
# is extension config: its rows are dumped and restored with the key table.
# The grantee is a regrole (an OID in the table): the dump names the role, so
# the restore finds the role by name, also in another cluster where the same
# roles have other OIDs. Two sources: an install updated from 1.2 (with the
# PUBLIC rule the update adds) and one whose PUBLIC rule was revoked. In the
# restored databases a granted role decrypts, an ungranted one gets 42501
# (unless the PUBLIC rule came along).
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
oc_install_deps >/dev/null
DIR=$(oc_mkdir); DIR2=$(oc_mkdir)
trap 'oc_cluster_stop "$DIR2/data"; oc_cluster_stop "$DIR/data"; rm -rf "$DIR" "$DIR2"' EXIT
OC_KEY_FILE=$DIR/master.key oc_cluster_start "$DIR" yes || { oc_fail "first cluster starts"; oc_summary; exit 1; }
H1=$OC_HOST; P1=$OC_PORT
# the second cluster, with the same master key
OC_KEY_FILE=$DIR/master.key oc_cluster_start "$DIR2" yes || { oc_fail "second cluster starts"; oc_summary; exit 1; }
H2=$OC_HOST; P2=$OC_PORT
q1() { local db=$1; shift; oc_run "$OC_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$H1" -p "$P1" -U postgres -d "$db" "$@" 2>&1; }
q2() { local db=$1; shift; oc_run "$OC_PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$H2" -p "$P2" -U postgres -d "$db" "$@" 2>&1; }

ROLES="CREATE ROLE gd_app1; CREATE ROLE gd_app2; CREATE ROLE gd_none; CREATE ROLE gd_member IN ROLE gd_app1;
       CREATE ROLE gd_admin IN ROLE orgcrypt_admin;"
# cluster 1: the roles first (orgcrypt_admin comes with the first CREATE EXTENSION) ...
q1 postgres -c "CREATE EXTENSION orgcrypt" -c "$ROLES" >/dev/null
q1 postgres -c "CREATE DATABASE upgraded" -c "CREATE DATABASE revoked" >/dev/null
SETUP="
CREATE TABLE vals (org text, v orgcrypt.ciphertext);
GRANT SELECT ON vals TO PUBLIC;
INSERT INTO vals SELECT 'gd-' || (g % 3), orgcrypt.encrypt_for_org('gd-' || (g % 3), 'value ' || g) FROM generate_series(1, 30) g;"
GRANTS="
SET ROLE gd_admin;
SELECT orgcrypt.grant_org('gd_app1', 'gd-1');
SELECT orgcrypt.grant_org('gd_app2', 'gd-2');
SELECT orgcrypt.grant_org('gd_app2', 'gd-never-used');
RESET ROLE;"
# an install updated from 1.2: the update adds the PUBLIC rule
R=$(q1 upgraded -c "CREATE EXTENSION orgcrypt VERSION '1.2'" -c "$SETUP" -c "ALTER EXTENSION orgcrypt UPDATE" -c "$GRANTS")
oc_expect "the upgraded install has the PUBLIC rule" "PUBLIC||gd_app1|gd-1|gd_app2|gd-2|gd_app2|gd-never-used" \
  "$(q1 upgraded -c "SELECT string_agg(role || '|' || coalesce(org, ''), '|' ORDER BY role, org) FROM orgcrypt.grants")"
# org_grants can be in a publication (tests/integration/replication.sh): a
# revoke there needs REPLICA IDENTITY FULL, set by the update too
oc_expect "the updated install's org_grants has REPLICA IDENTITY FULL" "f" \
  "$(q1 upgraded -c "SELECT relreplident FROM pg_class WHERE oid = 'orgcrypt.org_grants'::regclass")"
# the same update, then the DBA revokes the PUBLIC rule (revoke_public_access)
R=$(q1 revoked -c "CREATE EXTENSION orgcrypt VERSION '1.2'" -c "$SETUP" -c "ALTER EXTENSION orgcrypt UPDATE" -c "$GRANTS" \
    -c "SET ROLE gd_admin" -c "SELECT orgcrypt.revoke_public_access()" -c "RESET ROLE")
oc_expect "the PUBLIC rule was revoked" "gd_app1|gd-1|gd_app2|gd-2|gd_app2|gd-never-used" \
  "$(q1 revoked -c "SELECT string_agg(role || '|' || coalesce(org, ''), '|' ORDER BY role, org) FROM orgcrypt.grants")"

# ... cluster 2: the same roles, in another order and after others, so that
# their OIDs differ from cluster 1's
q2 postgres -c "CREATE EXTENSION orgcrypt" -c "CREATE ROLE gd_filler1; CREATE ROLE gd_filler2; CREATE ROLE gd_none; CREATE ROLE gd_app2;
                CREATE ROLE gd_filler3; CREATE ROLE gd_app1; CREATE ROLE gd_member IN ROLE gd_app1;
                CREATE ROLE gd_admin IN ROLE orgcrypt_admin;" >/dev/null
oc_expect "the roles have other OIDs in the second cluster" "f" \
  "$([ "$(q1 postgres -c "SELECT 'gd_app1'::regrole::oid || '/' || 'gd_app2'::regrole::oid")" = \
       "$(q2 postgres -c "SELECT 'gd_app1'::regrole::oid || '/' || 'gd_app2'::regrole::oid")" ] && echo t || echo f)"

GRANTS_Q="SELECT string_agg(role || '|' || coalesce(org, '') || '|' || granted_by, ',' ORDER BY role, org) FROM orgcrypt.grants"
# check NAME QFN DB PUBLIC_RULE(yes|no)
check() {
  local name=$1 qf=$2 db=$3 pub=$4 src=$5
  oc_expect "$name: the grants are restored as they were" "$(q1 "$src" -c "$GRANTS_Q")" "$($qf "$db" -c "$GRANTS_Q")"
  oc_expect "$name: the grants name the roles of this cluster" "$($qf "$db" -c "SELECT 'gd_app1'::regrole::oid")" \
    "$($qf "$db" -c "SELECT grantee::oid FROM orgcrypt.org_grants WHERE org = 'gd-1'")"
  oc_expect "$name: the key table is restored" "$(q1 "$src" -c "SELECT string_agg(org || version || state, ',' ORDER BY org, version) FROM orgcrypt.org_dek")" \
    "$($qf "$db" -c "SELECT string_agg(org || version || state, ',' ORDER BY org, version) FROM orgcrypt.org_dek")"
  oc_expect "$name: a granted role decrypts its org" "10/10" \
    "$($qf "$db" -c "SET ROLE gd_app1" -c "SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) LIKE 'value %') || '/' || count(*) FROM vals WHERE org = 'gd-1'")"
  oc_expect "$name: a member of a granted role decrypts its org" "10/10" \
    "$($qf "$db" -c "SET ROLE gd_member" -c "SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) LIKE 'value %') || '/' || count(*) FROM vals WHERE org = 'gd-1'")"
  if [ "$pub" = yes ]; then
    oc_expect "$name: with the PUBLIC rule an ungranted role decrypts every org" "30/30" \
      "$($qf "$db" -c "SET ROLE gd_none" -c "SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) LIKE 'value %') || '/' || count(*) FROM vals")"
  else
    oc_expect "$name: an ungranted role gets 42501" \
      'ERROR:  42501: orgcrypt: permission denied to use organization "gd-1" for role "gd_none"' \
      "$($qf "$db" -v VERBOSITY=verbose -c "SET ROLE gd_none" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE org = 'gd-1' LIMIT 1" | head -1)"
    oc_expect "$name: a granted role gets 42501 for another org" \
      'ERROR:  42501: orgcrypt: permission denied to use organization "gd-2" for role "gd_app1"' \
      "$($qf "$db" -v VERBOSITY=verbose -c "SET ROLE gd_app1" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE org = 'gd-2' LIMIT 1" | head -1)"
    oc_expect "$name: no auto-create for an ungranted role" \
      'ERROR:  42501: orgcrypt: permission denied to use organization "gd-new" for role "gd_none"' \
      "$($qf "$db" -v VERBOSITY=verbose -c "SET ROLE gd_none" -c "SELECT orgcrypt.encrypt_for_org('gd-new', 'x')" | head -1)"
  fi
  oc_expect "$name: a granted org without keys is auto-created for its grantee" "value" \
    "$($qf "$db" -c "SET ROLE gd_app2" -c "SELECT orgcrypt.decrypt_for_org('gd-never-used', orgcrypt.encrypt_for_org('gd-never-used', 'value'))")"
  oc_expect "$name: the restored grants can be revoked" "" \
    "$($qf "$db" -c "SET ROLE gd_admin" -c "SELECT orgcrypt.revoke_org('gd_app1', 'gd-1')")"
  if [ "$pub" = yes ]; then
    oc_expect "$name: ... and the PUBLIC rule still lets the role decrypt" "value 1" \
      "$($qf "$db" -c "SET ROLE gd_app1" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE org = 'gd-1' ORDER BY 1 LIMIT 1")"
  else
    oc_expect "$name: ... and the revoke applies" \
      'ERROR:  42501: orgcrypt: permission denied to use organization "gd-1" for role "gd_app1"' \
      "$($qf "$db" -v VERBOSITY=verbose -c "SET ROLE gd_app1" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE org = 'gd-1' LIMIT 1" | head -1)"
  fi
}

for src in upgraded revoked; do
  oc_run "$OC_PGBIN/pg_dump" -h "$H1" -p "$P1" -U postgres -Fc -f "$DIR/$src.pgc" "$src" || oc_fail "pg_dump $src"
  pub=no; [ $src = upgraded ] && pub=yes
  q1 postgres -c "CREATE DATABASE ${src}_restored" >/dev/null
  OUT=$(oc_run "$OC_PGBIN/pg_restore" -h "$H1" -p "$P1" -U postgres -d "${src}_restored" "$DIR/$src.pgc" 2>&1)
  oc_expect "pg_restore of $src into the same cluster: no error" "" "$OUT"
  check "$src, same cluster" q1 "${src}_restored" $pub $src
  q2 postgres -c "CREATE DATABASE ${src}_restored" >/dev/null
  OUT=$(oc_run "$OC_PGBIN/pg_restore" -h "$H2" -p "$P2" -U postgres -d "${src}_restored" "$DIR/$src.pgc" 2>&1)
  oc_expect "pg_restore of $src into the second cluster: no error" "" "$OUT"
  check "$src, second cluster" q2 "${src}_restored" $pub $src
done
oc_expect "the restored extension is 1.3" "1.3" "$(q2 revoked_restored -c "SELECT extversion FROM pg_extension WHERE extname = 'orgcrypt'")"
if grep -E 'terminated by signal|PANIC' "$DIR/server.log" "$DIR2/server.log"; then oc_fail "no crash in the server logs"; else oc_ok "no crash in the server logs"; fi
oc_summary
