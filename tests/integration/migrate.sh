#!/usr/bin/env bash
# Master-key migration end to end (docs/providers.md, "Moving to an HSM"):
# file: -> pkcs11: (SoftHSM2) -> exec: -> file:, each step by changing
# orgcrypt.master_key and CALL orgcrypt.rewrap_org_keys(); after each step the
# old key is taken away and every value decrypts after a restart (cold
# caches). The old URI must be trusted while its DEKs are rewrapped: a
# pkcs11: or exec: URI that is no longer the master key is refused until
# orgcrypt.allowed_key_uris lists it. health() reports each KEK. Fails (never
# skips) without SoftHSM2, OpenSC or the exec: test key program.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
oc_install_deps >/dev/null
MODULE=/usr/lib/softhsm/libsofthsm2.so
KEK_BIN=$OC_BUILD/tests/exec_test_kek
if [ ! -r "$MODULE" ] || ! command -v softhsm2-util >/dev/null || ! command -v pkcs11-tool >/dev/null || [ ! -x "$KEK_BIN" ]; then
  oc_fail "SoftHSM2, OpenSC and the exec: test key program ($KEK_BIN) are there"; oc_summary; exit 1
fi
oc_ensure_user
DIR=$(oc_mkdir)
trap 'oc_cluster_stop "$DIR/data"; rm -rf "$DIR"' EXIT

# the HSM token and the exec: program, as the postgres OS user
HSM=$DIR/hsm; PIN=pin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
oc_run mkdir -m 700 "$HSM" "$HSM/tokens"
oc_run sh -c "printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' '$HSM' > '$HSM/softhsm2.conf'"
oc_run sh -c "umask 077; printf '%s\n' '$PIN' > '$HSM/user.pin'"
export OC_SERVER_ENV="SOFTHSM2_CONF=$HSM/softhsm2.conf"
oc_run env "$OC_SERVER_ENV" softhsm2-util --init-token --free --label orgcrypt --so-pin 12345678 --pin "$PIN" >"$DIR/hsm.log" 2>&1 \
  && oc_run env "$OC_SERVER_ENV" pkcs11-tool --module "$MODULE" --token-label orgcrypt --login --pin "$PIN" \
       --keygen --key-type AES:32 --label kek1 --sensitive --private >>"$DIR/hsm.log" 2>&1 \
  || { oc_fail "SoftHSM2 token: $(cat "$DIR/hsm.log")"; oc_summary; exit 1; }
P11="pkcs11:token=orgcrypt;object=kek1?module-path=$MODULE&pin-source=file:$HSM/user.pin"
KEK=$DIR/oc-exec-kek
install -m 755 "$KEK_BIN" "$KEK"; oc_as_root && chown postgres: "$KEK"
oc_run sh -c "umask 077; head -c 32 /dev/urandom > '$KEK.key'"
EXEC="exec:$KEK"

oc_cluster_start "$DIR" yes || { oc_fail "server starts"; oc_summary; exit 1; }
FILE1="file:$OC_KEY"; FILE2="file:$DIR/second.key"; oc_make_key "$DIR/second.key"
q() { oc_run "$OC_PGBIN/psql" -X -q -At -h "$OC_HOST" -p "$OC_PORT" -U postgres -d postgres "$@" 2>&1; }
setting() { oc_set "$1" "$2"; }
all_ok() { q -c "SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) = pt) || '/' || count(*) FROM vals"; }
kek_of() { q -c "SELECT string_agg(DISTINCT kek_uri, ',') FROM orgcrypt.org_dek WHERE state <> 'destroyed'"; }

q -c "CREATE EXTENSION orgcrypt" -c "CREATE TABLE vals (org text, v orgcrypt.ciphertext, pt text)" \
  -c "INSERT INTO vals SELECT 'm' || (i % 10), orgcrypt.encrypt_for_org('m' || (i % 10), 'value ' || i), 'value ' || i FROM generate_series(1, 100) i" \
  -c "SELECT orgcrypt.rotate_org_dek('m1')" \
  -c "INSERT INTO vals SELECT 'm1', orgcrypt.encrypt_for_org('m1', 'after rotation'), 'after rotation'" >/dev/null
oc_expect "11 DEKs under the first key file" "$FILE1" "$(kek_of)"

# --- file: -> pkcs11: (the key file still exists: no listing needed, file: runs no code)
setting orgcrypt.master_key "$P11" || oc_fail "master key is the HSM"
oc_expect "rewrap to the HSM" "11" "$(q -c "CALL orgcrypt.rewrap_org_keys()")"
oc_expect "every DEK is now wrapped in the HSM" "$P11" "$(kek_of)"
oc_run mv "$OC_KEY" "$OC_KEY.away"
oc_cluster_restart || oc_fail "restart"
oc_expect "without the key file, every value decrypts after a restart" "101/101" "$(all_ok)"
oc_expect "health(): the HSM key is reachable and production-ready" "pkcs11|t|t|t|t|ok" \
  "$(q -c "SELECT concat_ws('|', provider, reachable, can_wrap, can_unwrap, production_ready, detail) FROM orgcrypt.health()")"

# --- pkcs11: -> exec: (the old HSM URI loads a module: it must be trusted to unwrap)
setting orgcrypt.master_key "$EXEC" || oc_fail "master key is the exec: program"
oc_expect_match "the old HSM URI is no longer the master key and not listed: refused" "is not trusted by this server" \
  "$(q -c "CALL orgcrypt.rewrap_org_keys()")"
oc_expect "nothing was rewrapped" "$P11" "$(kek_of)"
setting orgcrypt.allowed_key_uris "pkcs11:token=orgcrypt;*" || oc_fail "old HSM URI listed"
oc_expect "listed in orgcrypt.allowed_key_uris (a prefix), it is used: rewrap to the exec: program" "11" \
  "$(q -c "CALL orgcrypt.rewrap_org_keys()")"
oc_expect "every DEK is now wrapped by the exec: program" "$EXEC" "$(kek_of)"
oc_run mv "$HSM/tokens" "$HSM/tokens.away"
setting orgcrypt.allowed_key_uris "" || oc_fail "listing removed"
oc_cluster_restart || oc_fail "restart"
oc_expect "without the HSM token, every value decrypts after a restart" "101/101" "$(all_ok)"
oc_expect "health(): only the exec: program, production-ready" "exec|t|t|t|t" \
  "$(q -c "SELECT string_agg(concat_ws('|', provider, reachable, can_wrap, can_unwrap, production_ready), ';') FROM orgcrypt.health()")"

# --- exec: -> file: (back), the program trusted while its DEKs are rewrapped
setting orgcrypt.master_key "$FILE2" || oc_fail "master key is a key file again"
setting orgcrypt.allowed_key_uris "$EXEC" || oc_fail "exec: listed"
oc_expect "rewrap back to a key file" "11" "$(q -c "CALL orgcrypt.rewrap_org_keys(4)")"
oc_run mv "$KEK.key" "$KEK.key.away"
oc_cluster_restart || oc_fail "restart"
oc_expect "without the exec: program's key, every value decrypts after a restart" "101/101" "$(all_ok)"
oc_expect "health(): a key file is never production-ready" "file|t|f" \
  "$(q -c "SELECT concat_ws('|', provider, reachable, production_ready) FROM orgcrypt.health()")"
oc_expect "provider_stats saw the key file's calls since the restart" "t" \
  "$(q -c "SELECT calls > 0 FROM orgcrypt.provider_stats WHERE uri = '$FILE2'")"
if grep -qF "$PIN" "$DIR/server.log"; then oc_fail "the PIN is not in the server log"; else oc_ok "the PIN is not in the server log"; fi
if grep -E 'terminated by signal|PANIC' "$DIR/server.log"; then oc_fail "no crash in the server log"; else oc_ok "no crash in the server log"; fi
oc_summary
