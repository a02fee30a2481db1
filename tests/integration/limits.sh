#!/usr/bin/env bash
# Limits: one statement that auto-creates keys for 100,000 new orgs (a tenant
# import) succeeds with the default max_locks_per_transaction (no lock-table
# entry per org is kept until commit); the text form of a ciphertext too
# large for it (over about 768 MB) is 54000, while binary output works.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
oc_install_deps >/dev/null
DIR=$(oc_mkdir)
trap 'oc_cluster_stop "$DIR/data"; rm -rf "$DIR"' EXIT
oc_cluster_start "$DIR" yes || { oc_fail "server starts"; oc_summary; exit 1; }
q() { oc_run "$OC_PGBIN/psql" -X -q -At -h "$OC_HOST" -p "$OC_PORT" -U postgres -d postgres "$@" 2>&1; }
q -c "CREATE EXTENSION orgcrypt" >/dev/null
oc_expect "max_locks_per_transaction is the default" "64" "$(q -c "SHOW max_locks_per_transaction")"

N=${OC_IMPORT_ORGS:-100000}
T0=$(date +%s)
RES=$(q -c "CREATE TABLE import AS SELECT o, orgcrypt.encrypt_for_org('tenant-' || o, 'row of tenant ' || o) AS v FROM generate_series(1, $N) o" \
        -c "SELECT count(*) FROM orgcrypt.org_dek")
T1=$(date +%s)
oc_expect "one statement creates the keys of $N new orgs" "$N" "$RES"
oc_ok "($((T1 - T0)) s for $N orgs)"
oc_expect "and every value decrypts" "$N" \
  "$(q -c "SELECT count(*) FROM import WHERE orgcrypt.decrypt_for_org('tenant-' || o, v) = 'row of tenant ' || o")"

# 800 MiB of plaintext: sealing and binary output work, the text form is 54000
RES=$(q -c "\\set VERBOSITY verbose" -c "CREATE TEMP TABLE big AS SELECT orgcrypt.encrypt_for_org('big', repeat('x', 800 * 1024 * 1024)) AS v" \
        -c "SELECT octet_length(v::bytea) - 800 * 1024 * 1024 FROM big" \
        -c "SELECT length(v::text) FROM big")
oc_expect "an 800 MiB value seals, 37 bytes of overhead, read as bytea" "37" "$(echo "$RES" | sed -n 1p)"
oc_expect_match "its text form is refused with 54000, saying why" "54000: orgcrypt ciphertext of 838860837 bytes is too long for its text form" "$RES"
oc_expect "a value just under the limit has a text form" "t" \
  "$(q -c "SELECT length(orgcrypt.encrypt_for_org('big', repeat('y', 700 * 1024 * 1024))::text) > 0")"
if grep -E 'terminated by signal|PANIC' "$DIR/server.log"; then oc_fail "no crash in the server log"; else oc_ok "no crash in the server log"; fi
oc_summary
