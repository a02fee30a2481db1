#!/usr/bin/env bash
# Master-key rotation (rewrap_org_keys), health() and provider_stats, with
# file: keys: move every live DEK from key A to key B, remove A, and find
# every value still decrypting after a restart; idempotent; resumable after a
# cancel; a rewrap costs each DEK at most one unwrap afterwards;
# allow_file_master_key = off refuses file: keys for new DEKs (and as a
# rewrap target) while they still unwrap.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
oc_install_deps >/dev/null
DIR=$(oc_mkdir)
trap 'oc_cluster_stop "$DIR/data"; rm -rf "$DIR"' EXIT
oc_cluster_start "$DIR" yes || { oc_fail "server starts"; oc_summary; exit 1; }
q() { oc_run "$OC_PGBIN/psql" -X -q -At -h "$OC_HOST" -p "$OC_PORT" -U postgres -d postgres "$@" 2>&1; }
KEY_A=$OC_KEY KEY_B=$DIR/key_b KEY_C=$DIR/key_c
oc_make_key "$KEY_B"; oc_make_key "$KEY_C"
set_master() { oc_set orgcrypt.master_key "$1"; }
count_ok() { q -c "SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) = pt) || '/' || count(*) FROM vals"; }
under() { q -c "SELECT count(*) FROM orgcrypt.org_dek WHERE state <> 'destroyed' AND kek_uri = 'file:$1'"; }

q >/dev/null <<'SQL'
CREATE EXTENSION orgcrypt;
CREATE TABLE vals (org text, v orgcrypt.ciphertext, pt text);
INSERT INTO vals SELECT 'rw-' || (i % 20), orgcrypt.encrypt_for_org('rw-' || (i % 20), 'value ' || i), 'value ' || i FROM generate_series(1, 200) i;
SELECT orgcrypt.rotate_org_dek('rw-' || i) FROM generate_series(0, 4) i;
INSERT INTO vals SELECT 'rw-' || (i % 5), orgcrypt.encrypt_for_org('rw-' || (i % 5), 'rotated ' || i), 'rotated ' || i FROM generate_series(1, 50) i;
SELECT orgcrypt.encrypt_for_org('rw-gone', 'x');
SELECT orgcrypt.destroy_org_keys('rw-gone');
SQL
LIVE=$(q -c "SELECT count(*) FROM orgcrypt.org_dek WHERE state <> 'destroyed'")
oc_expect "25 live DEKs (20 orgs, 5 rotated), all under key A" "25|25" "$LIVE|$(under "$KEY_A")"
oc_expect "health(): the file: key is reachable, wraps, unwraps, and is not production-ready" \
  "file:$KEY_A|file|t|t|t|f|ok" "$(q -c "SELECT concat_ws('|', uri, provider, reachable, can_wrap, can_unwrap, production_ready, detail) FROM orgcrypt.health()")"

# --- A -> B
set_master "file:$KEY_B" || oc_fail "master key B configured"
oc_expect "health() lists the configured key and the key in use" "file:$KEY_B|file:$KEY_A" \
  "$(q -c "SELECT string_agg(uri, '|') FROM orgcrypt.health()")"
P0=$(q -c "SELECT provider_calls FROM orgcrypt.cache_stats")
oc_expect "CALL rewrap_org_keys(batch_size => 7) rewraps every live DEK" "25" "$(q -c "CALL orgcrypt.rewrap_org_keys(7)")"
oc_expect "every live DEK is now under key B, none under A; tombstones untouched" "25|0|1" \
  "$(under "$KEY_B")|$(under "$KEY_A")|$(q -c "SELECT count(*) FROM orgcrypt.org_dek WHERE state = 'destroyed' AND wrapped IS NULL")"
oc_expect "the DEKs did not change: every value decrypts" "250/250" "$(count_ok)"
P1=$(q -c "SELECT provider_calls FROM orgcrypt.cache_stats")
# rewrap: 1 fingerprint per batch + 3 per DEK; then at most one unwrap per DEK
if [ $((P1 - P0)) -le $((4 + 25 * 3 + 25)) ]; then oc_ok "a rewrap costs each DEK at most one unwrap afterwards ($((P1 - P0)) provider calls)"; else oc_fail "provider calls after the rewrap: $((P1 - P0))"; fi
oc_expect "rewrapping again finds nothing to do (idempotent)" "0" "$(q -c "CALL orgcrypt.rewrap_org_keys()")"
oc_expect "rewrap_org_keys needs no SELECT on the key table and commits per batch, so not inside a transaction block" "1" \
  "$(q -c "BEGIN" -c "CALL orgcrypt.rewrap_org_keys()" 2>&1 | grep -c 'invalid transaction termination')"

# --- remove A: everything decrypts after a restart (cold caches)
oc_run rm -f "$KEY_A"
oc_cluster_restart || oc_fail "restart"
oc_expect "with key A removed, every value decrypts after a restart" "250/250" "$(count_ok)"
oc_expect "new DEKs are wrapped by B" "file:$KEY_B" \
  "$(q -c "SELECT orgcrypt.encrypt_for_org('rw-new', 'x') IS NOT NULL" -c "SELECT kek_uri FROM orgcrypt.org_dek WHERE org = 'rw-new'" | tail -1)"

# --- resumable: a cancel in the middle leaves committed batches, and a second call finishes
q -c "INSERT INTO vals SELECT 'bulk-' || i, orgcrypt.encrypt_for_org('bulk-' || i, 'b' || i), 'b' || i FROM generate_series(1, 3000) i" >/dev/null
set_master "file:$KEY_C" || oc_fail "master key C configured"
RES=$(q -c "SET statement_timeout = '150ms'" -c "CALL orgcrypt.rewrap_org_keys(20)")
MID=$(under "$KEY_C")
oc_ok "a cancelled rewrap left $MID of 3026 DEKs under C (${RES:0:60})"
oc_expect "the second call rewraps the rest" "$((3026 - MID))" "$(q -c "CALL orgcrypt.rewrap_org_keys(500)")"
oc_expect "all live DEKs are under C" "3026" "$(under "$KEY_C")"
oc_expect "and every value decrypts" "3250/3250" "$(count_ok)"

# --- allow_file_master_key = off
oc_set orgcrypt.allow_file_master_key off || oc_fail "allow_file_master_key off"
oc_expect_match "off: a file: key may not wrap new DEKs" "allow_file_master_key is off" \
  "$(q -c "SELECT orgcrypt.encrypt_for_org('rw-after-off', 'x')")"
oc_expect_match "nor be a rewrap target" "allow_file_master_key is off" "$(q -c "CALL orgcrypt.rewrap_org_keys()")"
oc_expect "but existing DEKs still unwrap" "3250/3250" "$(q -c "SELECT orgcrypt.cache_flush()" >/dev/null; count_ok)"
oc_set orgcrypt.allow_file_master_key on || oc_fail "allow_file_master_key back on"

# --- provider_stats
oc_run sh -c "mv '$KEY_B' '$KEY_B.away'"
q -c "UPDATE orgcrypt.org_dek SET kek_uri = 'file:$KEY_B' WHERE org = 'rw-1' AND version = 1" -c "SELECT orgcrypt.cache_flush()" \
  -c "SELECT orgcrypt.decrypt_for_org('rw-1', v) FROM vals WHERE pt = 'value 1'" >/dev/null
oc_expect "provider_stats: calls, errors and latency quantiles per KEK" "file|t|t|t" \
  "$(q -c "SELECT concat_ws('|', provider, calls > 0, errors > 0, p99_ms >= p50_ms) FROM orgcrypt.provider_stats WHERE uri = 'file:$KEY_B'")"
oc_expect "provider_stats lists the configured key C too" "t" \
  "$(q -c "SELECT calls > 3000 AND errors = 0 FROM orgcrypt.provider_stats WHERE uri = 'file:$KEY_C'")"
oc_expect_match "health() reports the missing key file" "file:$KEY_B\|file\|f\|f\|f\|could not open master key file" \
  "$(q -c "SELECT concat_ws('|', uri, provider, reachable, can_wrap, can_unwrap, detail) FROM orgcrypt.health() WHERE uri = 'file:$KEY_B'")"
if grep -E 'terminated by signal|PANIC' "$DIR/server.log"; then oc_fail "no crash in the server log"; else oc_ok "no crash in the server log"; fi
oc_summary
