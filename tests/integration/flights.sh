#!/usr/bin/env bash
# Single-flight unwraps against destroy, on a primary and on a hot standby,
# and a leader whose error is caught in a subtransaction. A slow provider
# (test build: orgcrypt.debug_unwrap_delay_ms) holds a flight open while a
# destroy commits (primary) or is replayed (standby). Afterwards the shared
# cache holds no copy of the destroyed key (cache_stats.entries is back to
# its value before the org was used) and no session can decrypt: a flight is
# bound to the key state read before it, and every wipe bumps the org's
# generation. Every wait is for a state (pg_stat_activity), with a bound.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
oc_install_deps >/dev/null
DIR=$(oc_mkdir); SDIR=$(oc_mkdir)
trap 'oc_cluster_stop "$SDIR/data"; oc_cluster_stop "$DIR/data"; rm -rf "$DIR" "$SDIR"' EXIT
oc_cluster_start "$DIR" yes || { oc_fail "primary starts"; oc_summary; exit 1; }
P_PORT=$OC_PORT
pq() { oc_run "$OC_PGBIN/psql" -X -q -At -h "$DIR" -p "$P_PORT" -U postgres -d postgres "$@" 2>&1; }
# as APPNAME PORTDIR PORT SQL...: a session with an application_name
as() { local app=$1 h=$2 p=$3; shift 3; local a=(); for s in "$@"; do a+=(-c "$s"); done
       oc_run env PGAPPNAME="$app" "$OC_PGBIN/psql" -X -q -At -h "$h" -p "$p" -U postgres -d postgres "${a[@]}" 2>&1; }
# wait_for H P SQL: until SQL returns t (at most 30 s)
wait_for() { for _ in $(seq 1 300); do [ "$(oc_run "$OC_PGBIN/psql" -X -At -h "$1" -p "$2" -U postgres -d postgres -c "$3" 2>&1)" = t ] && return 0; sleep 0.1; done; return 1; }
waiting() { echo "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = '$1' AND wait_event = 'Extension')"; }

# race_start H P ORG DELAY_MS OUTDIR: leader A (a slow unwrap) and waiter B
# for ORG's key, both in flight when it returns; records E0 = cache entries
# before the org was used.
race_start() {
  local h=$1 p=$2 org=$3 delay=$4 out=$5
  oc_run "$OC_PGBIN/psql" -X -q -At -h "$h" -p "$p" -U postgres -d postgres -c "SELECT orgcrypt.cache_flush()" >/dev/null
  E0=$(oc_run "$OC_PGBIN/psql" -X -q -At -h "$h" -p "$p" -U postgres -d postgres -c "SELECT entries FROM orgcrypt.cache_stats")
  as lead "$h" "$p" "SET orgcrypt.debug_unwrap_delay_ms = $delay" "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE org = '$org'" >"$out/a.out" &
  A=$!
  wait_for "$h" "$p" "$(waiting lead)" || oc_fail "leader A in its unwrap ($org)"
  as wait "$h" "$p" "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE org = '$org'" >"$out/b.out" &
  B=$!
  wait_for "$h" "$p" "$(waiting wait)" || oc_fail "waiter B waiting ($org)"
}
# race_finish H P ORG OUTDIR WHERE: after the destroy, B is refused, the
# cache holds no copy of the key and no new session decrypts.
race_finish() {
  local h=$1 p=$2 org=$3 out=$4 where=$5
  wait "$A" "$B"
  oc_expect_match "$where: waiter B, whose flight would begin after the destroy, reads the key state again and is refused" \
    "keys of organization \"$org\" were destroyed" "$(cat "$out/b.out")"
  oc_expect "$where: the shared cache holds no copy of the destroyed key (entries back to $E0)" "$E0" \
    "$(oc_run "$OC_PGBIN/psql" -X -q -At -h "$h" -p "$p" -U postgres -d postgres -c "SELECT entries FROM orgcrypt.cache_stats")"
  oc_expect_match "$where: no new session decrypts" "keys of organization \"$org\" were destroyed" \
    "$(oc_run "$OC_PGBIN/psql" -X -q -At -h "$h" -p "$p" -U postgres -d postgres -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE org = '$org'" 2>&1)"
}

pq >/dev/null <<'SQL'
CREATE EXTENSION orgcrypt;
CREATE TABLE vals (org text, v orgcrypt.ciphertext);
INSERT INTO vals SELECT o, orgcrypt.encrypt_for_org(o, 'secret of ' || o) FROM unnest(ARRAY['race-p', 'race-s', 'orphan']) o;
SQL

# --- primary: leader A (slow unwrap), waiter B, destroy by C
race_start "$DIR" "$P_PORT" race-p 4000 "$DIR"
oc_expect "C destroys the org while A's unwrap is in flight" "1" "$(pq -c "SELECT orgcrypt.destroy_org_keys('race-p')")"
oc_expect "A was still unwrapping when the destroy committed" "t" "$(pq -c "$(waiting lead)")"
race_finish "$DIR" "$P_PORT" race-p "$DIR" primary

# --- a leader whose cancel is caught by a PL/pgSQL EXCEPTION block releases
# its flight (subtransaction abort); a waiter then leads instead of waiting
pq -c "SELECT orgcrypt.cache_flush()" >/dev/null
as orphan "$DIR" "$P_PORT" "SET orgcrypt.debug_unwrap_delay_ms = 3000" "SET statement_timeout = '500ms'" \
  "DO \$\$ BEGIN PERFORM orgcrypt.decrypt_for_org(org, v) FROM vals WHERE org = 'orphan';
     EXCEPTION WHEN query_canceled THEN RAISE NOTICE 'caught the cancel'; END \$\$" \
  "SET statement_timeout = 0" "SELECT pg_sleep(6)" >"$DIR/orphan.out" &
O=$!
wait_for "$DIR" "$P_PORT" "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = 'orphan' AND query LIKE '%pg_sleep%')" \
  || oc_fail "the leader caught its cancel and lives on"
oc_expect_match "the leader's cancel was caught in its subtransaction" "caught the cancel" "$(cat "$DIR/orphan.out")"
RES=$(as taker "$DIR" "$P_PORT" "SET statement_timeout = '4s'" "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE org = 'orphan'")
oc_expect "while that leader's session is still alive, another session unwraps the key" "secret of orphan" "$RES"
wait "$O"

# --- standby: the same race, with the destroy replayed from the primary and
# the standby's own re-read (which wipes) as the only commit-time signal
oc_run "$OC_PGBIN/pg_basebackup" --checkpoint=fast -h "$DIR" -p "$P_PORT" -U postgres -D "$SDIR/data" -R -X stream >/dev/null 2>&1 \
  || { oc_fail "pg_basebackup"; oc_summary; exit 1; }
S_PORT=$(oc_free_port)
printf "port = %s\nunix_socket_directories = '%s'\nhot_standby = on\n" "$S_PORT" "$SDIR" | oc_run tee -a "$SDIR/data/postgresql.auto.conf" >/dev/null
oc_run "$OC_PGBIN/pg_ctl" -D "$SDIR/data" -l "$SDIR/server.log" -w -t 60 start >/dev/null \
  || { oc_fail "standby starts"; oc_summary; exit 1; }
sq() { oc_run "$OC_PGBIN/psql" -X -q -At -h "$SDIR" -p "$S_PORT" -U postgres -d postgres "$@" 2>&1; }
wait_for "$SDIR" "$S_PORT" "SELECT count(*) = 3 FROM vals" || oc_fail "standby caught up"
race_start "$SDIR" "$S_PORT" race-s 6000 "$SDIR"
pq -c "SELECT orgcrypt.destroy_org_keys('race-s')" >/dev/null
wait_for "$SDIR" "$S_PORT" "SELECT bool_and(state = 'destroyed') FROM orgcrypt.org_dek WHERE org = 'race-s'" || oc_fail "destroy replayed"
oc_expect_match "a standby session C reads the replayed destroy (and wipes)" 'keys of organization "race-s" were destroyed' \
  "$(sq -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM vals WHERE org = 'race-s'")"
oc_expect "A was still unwrapping when C wiped" "t" "$(sq -c "$(waiting lead)")"
race_finish "$SDIR" "$S_PORT" race-s "$SDIR" standby
if grep -E 'terminated by signal|PANIC' "$DIR/server.log" "$SDIR/server.log"; then oc_fail "no crash in the server logs"; else oc_ok "no crash in the server logs"; fi
oc_summary
