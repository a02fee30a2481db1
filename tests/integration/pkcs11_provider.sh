#!/usr/bin/env bash
# The pkcs11: master key against a real SoftHSM2 token, made as the postgres
# OS user in a private directory (SOFTHSM2_CONF in the postmaster's
# environment through OC_SERVER_ENV): encrypt, restart, decrypt; 8 sessions
# unwrapping cold at the same moment (concurrent C_Login: SoftHSM reports the
# token as missing while another process logs in, and the provider retries);
# the token taken away with a warm and with a cold cache, and put back; a
# wrong PIN; the PIN never in the server log; a pin-value URI refused as
# orgcrypt.master_key. Fails (never skips) without SoftHSM2 and OpenSC.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
oc_install_deps >/dev/null
MODULE=/usr/lib/softhsm/libsofthsm2.so
if [ ! -r "$MODULE" ] || ! command -v softhsm2-util >/dev/null || ! command -v pkcs11-tool >/dev/null; then
  oc_fail "SoftHSM2 and OpenSC are installed ($MODULE, softhsm2-util, pkcs11-tool): apt-get install -y softhsm2 opensc"
  oc_summary; exit 1
fi
DIR=$(oc_mkdir)
HOLDER=""
cleanup() {
  [ -n "$HOLDER" ] && kill "$HOLDER" 2>/dev/null
  oc_cluster_stop "$DIR/data"; rm -rf "$DIR"
}
trap cleanup EXIT

# ---- the token, as the postgres OS user (files root makes are invisible to it)
HSM=$DIR/hsm
PIN=pin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
oc_run mkdir -m 700 "$HSM" "$HSM/tokens"
oc_run sh -c "printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' '$HSM' > '$HSM/softhsm2.conf'"
oc_run sh -c "umask 077; printf '%s\n' '$PIN' > '$HSM/user.pin'; printf 'x%s\n' '$PIN' > '$HSM/wrong.pin'"
export OC_SERVER_ENV="SOFTHSM2_CONF=$HSM/softhsm2.conf"
hsm() { oc_run env "$OC_SERVER_ENV" "$@" >>"$DIR/hsm.log" 2>&1; }
if hsm softhsm2-util --init-token --free --label orgcrypt --so-pin 12345678 --pin "$PIN" \
   && hsm pkcs11-tool --module "$MODULE" --token-label orgcrypt --login --pin "$PIN" \
        --keygen --key-type AES:32 --label kek1 --sensitive --private; then
  oc_ok "SoftHSM2 token with a sensitive, private AES-256 key, made as postgres"
else
  oc_fail "SoftHSM2 token set-up: $(cat "$DIR/hsm.log")"; oc_summary; exit 1
fi
oc_expect "the PIN file is owned by postgres, mode 0600" "postgres 600" "$(stat -c '%U %a' "$HSM/user.pin")"

URI="pkcs11:token=orgcrypt;object=kek1?module-path=$MODULE&pin-source=file:$HSM/user.pin"
oc_cluster_start "$DIR" yes "orgcrypt.master_key = '$URI'" "log_min_error_statement = error" \
  || { oc_fail "server starts"; oc_summary; exit 1; }
PSQL=("$OC_PGBIN/psql" -X -q -At -h "$OC_HOST" -p "$OC_PORT" -U postgres -d postgres)
q() { oc_run "${PSQL[@]}" -c "$1" 2>&1; }
qv() { oc_run "${PSQL[@]}" -c '\set VERBOSITY verbose' -c "$1" 2>&1; }
stat_() { q "SELECT $1 FROM orgcrypt.cache_stats"; }
dec() { q "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = '$1'"; }

# ---- encrypt, restart (every cache empty), decrypt
oc_expect "orgcrypt.master_key is the pkcs11: URI" "$URI" "$(q "SHOW orgcrypt.master_key")"
q "CREATE EXTENSION orgcrypt" >/dev/null
q "CREATE TABLE t (org text PRIMARY KEY, v orgcrypt.ciphertext)" >/dev/null
R=$(q "INSERT INTO t SELECT 'p11', orgcrypt.encrypt_for_org('p11', 'hsm secret')")
oc_expect "encrypt under a new org: its DEK is wrapped in the HSM" "" "$R"
oc_expect "org_keys names the pkcs11: URI as the provider" "p11|1|active|$URI" \
  "$(q "SELECT org || '|' || version || '|' || state || '|' || provider FROM orgcrypt.org_keys WHERE org = 'p11'")"
oc_expect "the wrapped DEK is 61 bytes (version, IV, DEK, tag)" "61" \
  "$(q "SELECT octet_length(wrapped) FROM orgcrypt.org_dek WHERE org = 'p11'")"
oc_cluster_restart || oc_fail "restart"
oc_expect "after a restart (cold caches) the value decrypts" "hsm secret" "$(dec p11)"

# ---- 8 sessions unwrap cold at once: each its own org (no single flight),
# each backend initialises the module and logs in at the same moment.
for i in $(seq 1 8); do q "INSERT INTO t SELECT 'c$i', orgcrypt.encrypt_for_org('c$i', 'value $i')" >/dev/null; done
for round in 1 2 3; do
  q "SELECT orgcrypt.cache_flush()" >/dev/null
  P0=$(stat_ provider_calls)
  oc_run "${PSQL[@]}" -c "SELECT pg_advisory_lock(4711), pg_sleep(120)" >/dev/null 2>&1 &
  HOLDER=$!
  for _ in $(seq 1 200); do
    [ "$(q "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4711 AND granted")" = 1 ] && break
    sleep 0.05
  done
  rm -f "$DIR"/cold.*
  for i in $(seq 1 8); do
    oc_run "${PSQL[@]}" -c "SELECT pg_advisory_lock_shared(4711)" \
      -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'c$i'" >"$DIR/cold.$i" 2>&1 &
  done
  for _ in $(seq 1 400); do  # all 8 wait behind the lock, then it is released at once
    [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%lock_shared(4711)%'")" = 8 ] && break
    sleep 0.05
  done
  q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_advisory_lock(4711)%' AND pid <> pg_backend_pid()" >/dev/null
  wait
  HOLDER=""
  OKS=0
  for i in $(seq 1 8); do grep -qx "value $i" "$DIR/cold.$i" && OKS=$((OKS + 1)); done
  oc_expect "round $round: 8 concurrent cold sessions (concurrent C_Login) all decrypt" "8" "$OKS"
  [ "$OKS" = 8 ] || cat "$DIR"/cold.* | grep -v '^$' | sort | uniq -c | head -5
  P=$(( $(stat_ provider_calls) - P0 ))
  if [ "$P" -ge 8 ]; then oc_ok "round $round: each session called the provider ($P calls)"; else oc_fail "round $round: only $P provider calls"; fi
done

# ---- the token taken away: a warm cache still decrypts, a cold one fails
q "SELECT orgcrypt.cache_flush()" >/dev/null
oc_expect "warm the cache" "hsm secret" "$(dec p11)"
oc_run mv "$HSM/tokens" "$HSM/tokens.away"
oc_expect "token gone, warm cache: still decrypts" "hsm secret" "$(dec p11)"
q "SELECT orgcrypt.cache_flush()" >/dev/null
R=$(qv "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'p11'")
oc_expect_match "token gone, cold cache: 58000 naming pkcs11 and a CKR_ code" "ERROR:  58000: pkcs11 [a-z]+ failed: .*CKR_[A-Z_]+" "$R"
oc_run mv "$HSM/tokens.away" "$HSM/tokens"
# A failed unwrap is shared with later lookups of that DEK for 1 s (the
# flight's error hold): wait for success, with a generous bound.
R=""
for _ in $(seq 1 100); do R=$(dec p11); [ "$R" = "hsm secret" ] && break; sleep 0.1; done
oc_expect "token back: decrypts again" "hsm secret" "$R"
# The same in one long-lived backend that had the module initialised and
# logged in before the token went away: it must recover by itself.
RETRY="DO \$\$ BEGIN FOR i IN 1..100 LOOP BEGIN
  PERFORM orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'p11'; RAISE NOTICE 'c:decrypts'; RETURN;
  EXCEPTION WHEN OTHERS THEN PERFORM pg_sleep(0.1); END; END LOOP; RAISE NOTICE 'c:still failing'; END \$\$"
R=$(oc_run "${PSQL[@]}" -c '\set VERBOSITY verbose' -c "SELECT orgcrypt.cache_flush()" \
  -c "SELECT 'a:' || orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'p11'" \
  -c "\\! mv '$HSM/tokens' '$HSM/tokens.away'" -c "SELECT orgcrypt.cache_flush()" \
  -c "SELECT 'b:' || orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'p11'" \
  -c "\\! mv '$HSM/tokens.away' '$HSM/tokens'" -c "SELECT orgcrypt.cache_flush()" -c "$RETRY" 2>&1)
oc_expect_match "one backend: decrypts before the token goes" "a:hsm secret" "$R"
oc_expect_match "one backend: token gone, cold: 58000 naming pkcs11 and a CKR_ code" "ERROR:  58000: pkcs11 [a-z]+ failed: .*CKR_" "$R"
oc_expect_match "one backend: token back, the same backend decrypts again" "NOTICE:  00000: c:decrypts" "$R"
if grep -q "b:hsm" <<<"$R"; then oc_fail "one backend: decrypted with the token gone: $R"; else oc_ok "one backend: nothing decrypted while the token was gone"; fi

# ---- a wrong PIN: 58000 CKR_PIN_INCORRECT, and the PIN is not shown
WRONG="pkcs11:token=orgcrypt;object=kek1?module-path=$MODULE&pin-source=file:$HSM/wrong.pin"
q "ALTER SYSTEM SET orgcrypt.master_key = '$WRONG'" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 100); do [ "$(q "SHOW orgcrypt.master_key")" = "$WRONG" ] && break; sleep 0.05; done
R=$(qv "SELECT orgcrypt.create_org_key('wrong-pin')")
oc_expect_match "a wrong PIN: 58000 naming CKR_PIN_INCORRECT" "ERROR:  58000: pkcs11 [a-z]+ failed: C_Login returned CKR_PIN_INCORRECT" "$R"
if grep -qF "$PIN" <<<"$R"; then oc_fail "the error shows the PIN: $R"; else oc_ok "the error does not show the PIN"; fi
q "ALTER SYSTEM RESET orgcrypt.master_key" >/dev/null; q "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 100); do [ "$(q "SHOW orgcrypt.master_key")" = "$URI" ] && break; sleep 0.05; done
oc_expect "back to the right PIN: a new org gets a key" "1" "$(q "SELECT orgcrypt.create_org_key('right-pin')")"

# ---- pin-value is refused as orgcrypt.master_key
FAKE=fakepin-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
R=$(qv "ALTER SYSTEM SET orgcrypt.master_key = 'pkcs11:token=orgcrypt;object=kek1?module-path=$MODULE&pin-value=$FAKE'")
oc_expect_match "ALTER SYSTEM refuses a pin-value URI (the check hook says why)" \
  "ERROR:  22023: invalid value for parameter \"orgcrypt.master_key\".*DETAIL:  pin-value would put the PIN in the URI" "$(echo "$R" | tr '\n' ' ')"
q "SELECT pg_reload_conf()" >/dev/null
oc_expect "orgcrypt.master_key is unchanged" "$URI" "$(q "SHOW orgcrypt.master_key")"
oc_expect "postgresql.auto.conf holds no pin-value" "0" "$(grep -c 'pin-value' "$DIR/data/postgresql.auto.conf")"

# ---- the server log
LOG=$DIR/server.log
oc_expect "the PIN never appears in the server log" "0" "$(grep -cF "$PIN" "$LOG")"
oc_expect "the server log shows the pkcs11 errors (the scan reads the right log)" "yes" \
  "$(grep -q 'CKR_PIN_INCORRECT' "$LOG" && echo yes || echo no)"
oc_expect "no backend crashed" "" "$(grep -E 'terminated by signal|PANIC' "$LOG")"
oc_summary
