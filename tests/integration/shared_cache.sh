#!/usr/bin/env bash
# The shared-memory DEK cache under real concurrency: single flight (one
# provider call for many cold sessions), a cancelled leader, a leader's error
# shared with its waiters, eviction with a cache smaller than the working set,
# TTL expiry, cache_flush, the per-backend fallback without preloading, and a
# pgbench soak with rotations every 100 ms. Needs a test build
# (OC_TEST_HOOKS=ON: orgcrypt.debug_unwrap_delay_ms).
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
oc_install_deps >/dev/null
DIR=$(oc_mkdir); LDIR=$(oc_mkdir)
trap 'oc_cluster_stop "$LDIR/data"; oc_cluster_stop "$DIR/data"; rm -rf "$DIR" "$LDIR"' EXIT
oc_cluster_start "$DIR" yes "orgcrypt.cache_size = 16" "max_connections = 120" \
  || { oc_fail "server starts"; oc_summary; exit 1; }
PSQL=("$OC_PGBIN/psql" -X -q -At -h "$OC_HOST" -p "$OC_PORT" -U postgres -d postgres)
q() { oc_run "${PSQL[@]}" -c "$1" 2>&1; }
stat() { q "SELECT $1 FROM orgcrypt.cache_stats"; }

oc_expect "the debug delay setting exists (test build)" "0" "$(q "SHOW orgcrypt.debug_unwrap_delay_ms" | tr -d 'ms')"
oc_psql -d postgres >/dev/null <<'SQL'
CREATE EXTENSION orgcrypt;
CREATE TABLE vals (org int, n int, plain text, v orgcrypt.ciphertext);
INSERT INTO vals SELECT o, n, 'value ' || o || '/' || n, orgcrypt.encrypt_for_org('org' || o, 'value ' || o || '/' || n)
FROM generate_series(1, 100) o, generate_series(1, 10) n;
INSERT INTO vals SELECT 1000, 1, 'cold value', orgcrypt.encrypt_for_org('cold', 'cold value');
INSERT INTO vals SELECT 1001, 1, 'cancel value', orgcrypt.encrypt_for_org('cancel-org', 'cancel value');
INSERT INTO vals SELECT 1002, 1, 'broken value', orgcrypt.encrypt_for_org('broken-org', 'broken value');
INSERT INTO vals SELECT 1003, 1, 'ttl value', orgcrypt.encrypt_for_org('ttl-org', 'ttl value');
SQL
oc_expect "mode is shared with preloading" "shared|16" "$(stat "mode || '|' || capacity")"
LOCKED=$(stat locked_memory)
if [ "$LOCKED" -gt 0 ]; then oc_ok "the key region is locked in memory ($LOCKED bytes)"; else oc_ok "mlock not permitted here (locked_memory = 0, reported)"; fi
grep -q "orgcrypt: shared DEK cache of 16 entries" "$DIR/server.log" && oc_ok "startup logs the cache size and mlock/MADV_DONTDUMP status" || oc_fail "startup log line"

# --- single flight: 8 cold sessions, a 1 s unwrap, one provider call
q "SELECT orgcrypt.cache_flush()" >/dev/null
P0=$(stat provider_calls); W0=$(stat single_flight_waits)
T0=$(date +%s%N)
for i in $(seq 1 8); do
  oc_run "${PSQL[@]}" -c "SET orgcrypt.debug_unwrap_delay_ms = 1000" \
    -c "SELECT orgcrypt.decrypt_for_org('cold', v) FROM vals WHERE org = 1000" >"$DIR/sf.$i" 2>&1 &
done
wait
T1=$(date +%s%N)
oc_expect "8 cold sessions all decrypt" "8" "$(cat "$DIR"/sf.* | grep -c '^cold value$')"
oc_expect "single flight: provider_calls grew by exactly 1" "1" "$(( $(stat provider_calls) - P0 ))"
W=$(( $(stat single_flight_waits) - W0 ))
if [ "$W" -ge 1 ]; then oc_ok "the other sessions waited for the leader ($W waits)"; else oc_fail "no single-flight wait recorded"; fi
MS=$(( (T1 - T0) / 1000000 ))
if [ "$MS" -lt 4000 ]; then oc_ok "wall time ${MS} ms: close to one 1 s unwrap, not 8"; else oc_fail "wall time ${MS} ms for 8 sessions"; fi

# a new session finds the DEK in shared memory: a hit, no provider call
H0=$(stat hits); P0=$(stat provider_calls)
oc_expect "a new session decrypts from the shared level" "cold value" "$(q "SELECT orgcrypt.decrypt_for_org('cold', v) FROM vals WHERE org = 1000")"
oc_expect "that lookup counts as a hit (any level) and calls no provider" "1|0" "$(( $(stat hits) - H0 ))|$(( $(stat provider_calls) - P0 ))"

# --- a cancelled leader: its slot is cleared and a waiter takes over
P0=$(stat provider_calls)
oc_run "${PSQL[@]}" -c "SET orgcrypt.debug_unwrap_delay_ms = 5000" -c "SET statement_timeout = '700ms'" \
  -c "SELECT orgcrypt.decrypt_for_org('cancel-org', v) FROM vals WHERE org = 1001" >"$DIR/lead" 2>&1 &
sleep 0.3
RES=$(q "SELECT orgcrypt.decrypt_for_org('cancel-org', v) FROM vals WHERE org = 1001")
wait
oc_expect_match "the leader was cancelled" "canceling statement due to statement timeout" "$(cat "$DIR/lead")"
oc_expect "its waiter took over and decrypted" "cancel value" "$RES"
oc_expect "two unwraps: the cancelled one and the waiter's" "2" "$(( $(stat provider_calls) - P0 ))"

# --- a leader's error is shared with its waiters
q "UPDATE orgcrypt.org_dek SET kek_uri = 'file:$DIR/no-such.key' WHERE org = 'broken-org'" >/dev/null
P0=$(stat provider_calls)
for i in 1 2 3 4; do
  oc_run "${PSQL[@]}" -c "SET orgcrypt.debug_unwrap_delay_ms = 800" \
    -c "SELECT orgcrypt.decrypt_for_org('broken-org', v) FROM vals WHERE org = 1002" >"$DIR/err.$i" 2>&1 &
done
wait
oc_expect "all four sessions got the leader's 58000 error" "4" \
  "$(cat "$DIR"/err.* | grep -c 'could not open master key file ".*no-such.key": No such file or directory')"
oc_expect "one provider call for the failing key" "1" "$(( $(stat provider_calls) - P0 ))"

# --- eviction: 100 orgs through a 16-entry shared cache
q "SELECT orgcrypt.cache_flush()" >/dev/null
E0=$(stat evictions)
oc_expect "every value decrypts with a cache smaller than the working set" "1000" \
  "$(q "SELECT count(*) FROM vals WHERE org <= 100 AND orgcrypt.decrypt_for_org('org' || org, v) = plain")"
EV=$(( $(stat evictions) - E0 ))
if [ "$EV" -ge 84 ]; then oc_ok "evictions counted ($EV)"; else oc_fail "evictions: $EV"; fi
oc_expect "the shared cache never holds more than its capacity" "t" "$(stat "entries <= capacity")"

# --- TTL: entries expire at every level when older than orgcrypt.cache_ttl
q "ALTER SYSTEM SET orgcrypt.cache_ttl = 1" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null; sleep 0.5
X0=$(stat expirations); P0=$(stat provider_calls)
RES=$(oc_run "${PSQL[@]}" -c "SELECT orgcrypt.decrypt_for_org('org5', v) FROM vals WHERE org = 5 AND n = 1" \
  -c "SELECT pg_sleep(1.5)" -c "SELECT orgcrypt.decrypt_for_org('org5', v) FROM vals WHERE org = 5 AND n = 1" 2>&1)
oc_expect "values still decrypt across an expiry" "value 5/1||value 5/1" "$(echo "$RES" | paste -sd'|')"
X=$(( $(stat expirations) - X0 ))
if [ "$X" -ge 1 ]; then oc_ok "expired entries counted ($X)"; else oc_fail "no expiration counted"; fi
if [ $(( $(stat provider_calls) - P0 )) -ge 1 ]; then oc_ok "an expired DEK is unwrapped again"; else oc_fail "expired DEK not unwrapped again"; fi
# An expired DEK is unwrapped again only after its key state is read again: a
# change that sent no invalidation (here: triggers disabled by hand) is seen
# at the expiry, not missed until the next invalidation.
RES=$(oc_run "${PSQL[@]}" -c "SELECT orgcrypt.decrypt_for_org('ttl-org', v) FROM vals WHERE org = 1003" \
  -c "\\! $OC_PGBIN/psql -X -q -h $OC_HOST -p $OC_PORT -U postgres -d postgres -c 'ALTER TABLE orgcrypt.org_dek DISABLE TRIGGER ALL' -c \"UPDATE orgcrypt.org_dek SET state = 'destroyed', wrapped = NULL WHERE org = 'ttl-org'\" -c 'ALTER TABLE orgcrypt.org_dek ENABLE TRIGGER ALL'" \
  -c "SELECT pg_sleep(1.5)" -c "SELECT orgcrypt.decrypt_for_org('ttl-org', v) FROM vals WHERE org = 1003" 2>&1)
oc_expect "before the expiry the cached key decrypts" "ttl value" "$(echo "$RES" | head -1)"
oc_expect_match "after the expiry the key state is read again (and found destroyed)" 'keys of organization "ttl-org" were destroyed' "$RES"
q "ALTER SYSTEM SET orgcrypt.cache_ttl = 0" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null; sleep 0.5
oc_expect_match "a bad TTL is refused with its range" "outside the valid range.*\(0 \.\. 86400\)" "$(q "ALTER SYSTEM SET orgcrypt.cache_ttl = 90000")"

# --- cache_flush() empties the shared cache and every backend's own
RES=$(oc_run "${PSQL[@]}" -c "SELECT orgcrypt.decrypt_for_org('org7', v) FROM vals WHERE org = 7 AND n = 1" \
  -c "\\! $OC_PGBIN/psql -X -q -At -h $OC_HOST -p $OC_PORT -U postgres -d postgres -c 'SELECT orgcrypt.cache_flush()'" \
  -c "SELECT entries FROM orgcrypt.cache_stats" \
  -c "SELECT provider_calls FROM orgcrypt.cache_stats" \
  -c "SELECT orgcrypt.decrypt_for_org('org7', v) FROM vals WHERE org = 7 AND n = 1" \
  -c "SELECT provider_calls FROM orgcrypt.cache_stats" 2>&1)
oc_expect "after cache_flush() from another session the shared cache is empty" "0" "$(echo "$RES" | sed -n 3p)"
oc_expect "and this session's own copy was dropped too (it unwrapped again)" "1" "$(( $(echo "$RES" | sed -n 6p) - $(echo "$RES" | sed -n 4p) ))"

# --- destroy wipes the shared copies at commit
q "SELECT orgcrypt.decrypt_for_org('org9', v) FROM vals WHERE org = 9 AND n = 1" >/dev/null
q "SELECT orgcrypt.destroy_org_keys('org9')" >/dev/null
oc_expect_match "a destroyed org is refused by a new session (no shared copy)" "keys of organization \"org9\" were destroyed" \
  "$(q "SELECT orgcrypt.decrypt_for_org('org9', v) FROM vals WHERE org = 9 AND n = 1")"

# --- revalidation without key-table reads for orgs whose keys did not change
RES=$(oc_run "${PSQL[@]}" \
  -c "SELECT count(*) FROM vals WHERE org BETWEEN 21 AND 40 AND n = 1 AND orgcrypt.decrypt_for_org('org' || org, v) = plain" \
  -c "\\! $OC_PGBIN/psql -X -q -At -h $OC_HOST -p $OC_PORT -U postgres -d postgres -c \"SELECT orgcrypt.rotate_org_dek('org21')\" >/dev/null" \
  -c "SELECT misses FROM orgcrypt.cache_stats" \
  -c "SELECT count(*) FROM vals WHERE org BETWEEN 21 AND 40 AND n = 1 AND orgcrypt.decrypt_for_org('org' || org, v) = plain" \
  -c "SELECT misses FROM orgcrypt.cache_stats" \
  -c "SELECT orgcrypt.dek_version(orgcrypt.encrypt_for_org('org21', 'x'))" \
  -c "UPDATE orgcrypt.org_dek SET state = state WHERE false" \
  -c "SELECT misses FROM orgcrypt.cache_stats" \
  -c "SELECT count(*) FROM vals WHERE org BETWEEN 21 AND 40 AND n = 1 AND orgcrypt.decrypt_for_org('org' || org, v) = plain" \
  -c "SELECT misses FROM orgcrypt.cache_stats" 2>&1)
L=($RES)
# (the \! line prints nothing: L = count, misses, count, misses, version, misses, count, misses)
oc_expect "after another session rotated org21, only org21's key state is read again" "1" "$(( L[3] - L[1] ))"
oc_expect "and the rotation is seen at the next statement" "20|20|2" "${L[0]}|${L[2]}|${L[4]}"
oc_expect "a manual change to the key table makes every org's state be read again" "20" "$(( L[7] - L[5] ))"

# --- pgbench: 8 clients (and 1, 2, 4) encrypt and decrypt for 100 orgs while
# another session rotates one org every 100 ms for 30 s (and flushes every
# cache every 5 s: flush under load)
cat > "$DIR/bench.sql" <<'PGB'
\set o random(1, 100)
\set n random(1, 10)
SELECT 1 / (orgcrypt.decrypt_for_org('org' || :o, v) = plain)::int FROM vals WHERE org = :o AND n = :n AND :o <> 9;
SELECT 1 / (orgcrypt.decrypt_for_org('org' || :o, orgcrypt.encrypt_for_org('org' || :o, 'rt ' || :n)) = 'rt ' || :n)::int WHERE :o <> 9;
PGB
chmod 644 "$DIR/bench.sql"
SOAK=${OC_SOAK_SECONDS:-30}
oc_run "${PSQL[@]}" -c "DO \$\$ BEGIN FOR i IN 1..$((SOAK * 10)) LOOP
    PERFORM orgcrypt.rotate_org_dek('org' || (1 + (i % 100))) WHERE (1 + (i % 100)) <> 9;
    IF i % 50 = 0 THEN PERFORM orgcrypt.cache_flush(); END IF;
    COMMIT; PERFORM pg_sleep(0.1); END LOOP; END \$\$" >"$DIR/rotator.log" 2>&1 &
ROT=$!
for c in 1 2 4; do
  oc_run "$OC_PGBIN/pgbench" -n -h "$OC_HOST" -p "$OC_PORT" -U postgres -c $c -j 2 -T 3 -f "$DIR/bench.sql" postgres >"$DIR/pgbench.$c" 2>&1
  if grep -q "aborted\|ERROR" "$DIR/pgbench.$c"; then oc_fail "pgbench -c $c: $(grep -m1 'ERROR\|aborted' "$DIR/pgbench.$c")"; else
    oc_ok "pgbench -c $c: $(grep -m1 '^tps' "$DIR/pgbench.$c" | cut -c1-40)"; fi
done
oc_run "$OC_PGBIN/pgbench" -n -h "$OC_HOST" -p "$OC_PORT" -U postgres -c 8 -j 2 -T "$((SOAK - 9))" -f "$DIR/bench.sql" postgres >"$DIR/pgbench.8" 2>&1
if grep -q "aborted\|ERROR" "$DIR/pgbench.8"; then oc_fail "pgbench -c 8: $(grep -m1 'ERROR\|aborted' "$DIR/pgbench.8")"; else
  oc_ok "pgbench -c 8 with rotations: zero failed decrypts ($(grep -m1 'number of transactions actually processed' "$DIR/pgbench.8" | sed 's/.*: //') transactions)"; fi
wait "$ROT"
if grep -q ERROR "$DIR/rotator.log"; then oc_fail "rotator: $(head -3 "$DIR/rotator.log")"; else oc_ok "rotator ran $((SOAK * 10)) rotations and $((SOAK / 5)) flushes"; fi
oc_expect "every stored value still round-trips after the rotations" "990" \
  "$(q "SELECT count(*) FROM vals WHERE org <= 100 AND org <> 9 AND orgcrypt.decrypt_for_org('org' || org, v) = plain")"
oc_expect "every rotation committed a new version" "t" \
  "$(q "SELECT count(*) >= $((SOAK * 10 - SOAK / 10 - 1)) FROM orgcrypt.org_dek WHERE version > 1 AND org LIKE 'org%'")"

# --- without shared_preload_libraries: per-backend cache, a NOTICE once per session
oc_cluster_start "$LDIR" no || { oc_fail "local cluster starts"; oc_summary; exit 1; }
LP=("$OC_PGBIN/psql" -X -At -h "$LDIR" -p "$OC_PORT" -U postgres -d postgres)
RES=$(oc_run "${LP[@]}" -c "CREATE EXTENSION orgcrypt" -c "SELECT orgcrypt.decrypt_for_org('l', orgcrypt.encrypt_for_org('l', 'local'))" \
  -c "SELECT orgcrypt.decrypt_for_org('l', orgcrypt.encrypt_for_org('l', 'again'))" -c "SELECT mode FROM orgcrypt.cache_stats" 2>&1)
oc_expect "local mode works and reports itself" "local|again|local" "$(echo "$RES" | grep -v NOTICE | grep -v HINT | grep -v '^CREATE' | paste -sd'|')"
oc_expect "the NOTICE comes once per session" "1" "$(echo "$RES" | grep -c 'not in shared_preload_libraries')"
# Without preloading, orgcrypt.master_key is a placeholder until the library
# is loaded in a session, and placeholders are public: an ordinary role can
# read the URI (not the key) until then. Hence the README: preload orgcrypt.
oc_run "${LP[@]}" -c "CREATE ROLE local_app LOGIN" >/dev/null
RES=$(oc_run "$OC_PGBIN/psql" -X -At -h "$LDIR" -p "$OC_PORT" -U local_app -d postgres -c "SHOW orgcrypt.master_key" \
  -c "SELECT orgcrypt.dek_version(orgcrypt.encrypt_for_org('l', 'x'))" -c "SHOW orgcrypt.master_key" 2>&1)
oc_expect_match "not preloaded: an ordinary role sees the URI before the library loads (documented)" "^file:" "$(echo "$RES" | head -1)"
oc_expect_match "and is refused once it is loaded" "must be superuser or have privileges of pg_read_all_settings to examine \"orgcrypt.master_key\"" "$RES"

if grep -E 'terminated by signal|PANIC' "$DIR/server.log" "$LDIR/server.log"; then oc_fail "no crash in the server logs"; else oc_ok "no crash in the server logs"; fi
oc_summary
