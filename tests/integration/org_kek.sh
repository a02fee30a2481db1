#!/usr/bin/env bash
# Per-org master keys (orgcrypt.set_org_master_key) with real providers: org
# A gets a second file: KEK, org B a key on a SoftHSM2 token (pkcs11:), org C
# stays on orgcrypt.master_key, org D gets a file: KEK and rewrap_org_keys()
# moves its older DEK under it. Destroying an org's KEK (deleting the file,
# deleting the key object on the token) and restarting the server (every
# cache empty) makes exactly the values under that org's newer DEKs
# unreadable (58000 from its provider); values made before the change stay
# readable through the master key unless a rewrap moved their DEK, and the
# other orgs are untouched. Fails (never skips) without SoftHSM2 and OpenSC.
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
trap 'oc_cluster_stop "$DIR/data"; rm -rf "$DIR"' EXIT

# ---- the token, as the postgres OS user (files root makes are invisible to it)
HSM=$DIR/hsm
PIN=pin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
oc_run mkdir -m 700 "$HSM" "$HSM/tokens"
oc_run sh -c "printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' '$HSM' > '$HSM/softhsm2.conf'"
oc_run sh -c "umask 077; printf '%s\n' '$PIN' > '$HSM/user.pin'"
export OC_SERVER_ENV="SOFTHSM2_CONF=$HSM/softhsm2.conf"
hsm() { oc_run env "$OC_SERVER_ENV" "$@" >>"$DIR/hsm.log" 2>&1; }
if hsm softhsm2-util --init-token --free --label orgcrypt --so-pin 12345678 --pin "$PIN" \
   && hsm pkcs11-tool --module "$MODULE" --token-label orgcrypt --login --pin "$PIN" \
        --keygen --key-type AES:32 --label kek-b --sensitive --private; then
  oc_ok "SoftHSM2 token with a sensitive, private AES-256 key kek-b, made as postgres"
else
  oc_fail "SoftHSM2 token set-up: $(cat "$DIR/hsm.log")"; oc_summary; exit 1
fi

KEY_A=$DIR/kek_a KEY_D=$DIR/kek_d
oc_make_key "$KEY_A"; oc_make_key "$KEY_D"
URI_A="file:$KEY_A" URI_D="file:$KEY_D"
URI_B="pkcs11:token=orgcrypt;object=kek-b?module-path=$MODULE&pin-source=file:$HSM/user.pin"
oc_cluster_start "$DIR" yes "orgcrypt.allowed_key_uris = '$URI_A, $URI_D, $URI_B'" \
  || { oc_fail "server starts"; oc_summary; exit 1; }
MASTER="file:$OC_KEY"
PSQL=("$OC_PGBIN/psql" -X -q -At -h "$OC_HOST" -p "$OC_PORT" -U postgres -d postgres)
q() { oc_run "${PSQL[@]}" -c "$1" 2>&1; }
qv() { oc_run "${PSQL[@]}" -c '\set VERBOSITY verbose' -c "$1" 2>&1 | grep -v '^LOCATION:'; }
# dec ORG TAG: the values of one org made at one point, decrypted, or the error
dec() { qv "SELECT string_agg(orgcrypt.decrypt_for_org(org, v), ',' ORDER BY pt) FROM vals WHERE org = '$1' AND tag = '$2'"; }
enc() {  # enc ORG TAG: three values
  q "INSERT INTO vals SELECT '$1', '$2', orgcrypt.encrypt_for_org('$1', '$1 $2 ' || i), '$1 $2 ' || i FROM generate_series(1, 3) i" >/dev/null
}
provider() { q "SELECT provider FROM orgcrypt.org_keys WHERE org = '$1' AND version = $2"; }

q "CREATE EXTENSION orgcrypt" >/dev/null
q "CREATE TABLE vals (org text, tag text, v orgcrypt.ciphertext, pt text)" >/dev/null
for o in A B C D; do enc $o before; done
oc_expect "before any org KEK: every DEK is under the master key" "4|4" \
  "$(q "SELECT count(*) FILTER (WHERE provider = '$MASTER') || '|' || count(*) FROM orgcrypt.org_keys")"

# ---- D: its own KEK, and a rewrap moves its older DEK under it (A, B, C have none yet)
oc_expect "set_org_master_key(D, a listed file: key)" "" "$(q "SELECT orgcrypt.set_org_master_key('D', '$URI_D')")"
oc_expect "rewrap_org_keys() moves D's version 1 only" "1" "$(q "CALL orgcrypt.rewrap_org_keys()")"
oc_expect "D's version 1 is now under D's KEK" "$URI_D" "$(provider D 1)"
enc D after

# ---- A: a second file: key, B: the key on the token; their new DEKs
oc_expect "set_org_master_key(A, a listed file: key)" "" "$(q "SELECT orgcrypt.set_org_master_key('A', '$URI_A')")"
oc_expect "set_org_master_key(B, the pkcs11: key on the token)" "" "$(q "SELECT orgcrypt.set_org_master_key('B', '$URI_B')")"
oc_expect "an unlisted URI is refused (58000, names orgcrypt.allowed_key_uris)" \
  "ERROR:  58000: key URI \"file:$DIR/other.key\" is not trusted by this server|HINT:  A superuser may add it to orgcrypt.allowed_key_uris (exact URI or a prefix ending in *)." \
  "$(qv "SELECT orgcrypt.set_org_master_key('C', 'file:$DIR/other.key')" | grep -E '^(ERROR|HINT)' | paste -sd'|')"
oc_expect "org_master_keys: A, B, D with their resolved URIs" "A $URI_A|B $URI_B|D $URI_D" \
  "$(q "SELECT string_agg(org || ' ' || kek_uri, '|' ORDER BY org) FROM orgcrypt.org_master_keys")"
q "SELECT orgcrypt.rotate_org_dek(o) FROM unnest(ARRAY['A', 'B', 'C']) o" >/dev/null
for o in A B C; do enc $o after; done
oc_expect "A's new DEK is under A's KEK" "$URI_A" "$(provider A 2)"
oc_expect "B's new DEK is under the token's key" "$URI_B" "$(provider B 2)"
oc_expect "C's new DEK is under the master key" "$MASTER" "$(provider C 2)"
oc_expect "A's and B's older DEKs stay under the master key (no rewrap since)" "$MASTER|$MASTER" "$(provider A 1)|$(provider B 1)"
oc_expect "the token's wrapped DEK is the pkcs11 form (61 bytes)" "61" \
  "$(q "SELECT octet_length(wrapped) FROM orgcrypt.org_dek WHERE org = 'B' AND version = 2")"
oc_expect "health() checks the master key and every org KEK once" "$(printf '%s\n' "$MASTER" "$URI_A" "$URI_B" "$URI_D" | sort | paste -sd'|')|true" \
  "$(q "SELECT string_agg(uri, '|' ORDER BY uri) || '|' || bool_and(can_wrap AND can_unwrap) FROM orgcrypt.health()")"
q "SELECT orgcrypt.cache_flush()" >/dev/null
for o in A B C D; do for t in before after; do
  oc_expect "$o $t: decrypts with every key in place" "$o $t 1,$o $t 2,$o $t 3" "$(dec $o $t)"
done; done

# ---- destroy A's and D's KEKs (delete the files), restart: every cache is empty
oc_run rm -f "$KEY_A" "$KEY_D"
oc_cluster_restart || oc_fail "restart"
oc_expect_match "A after: gone (58000 from the file: provider)" \
  "^ERROR:  58000: could not open master key file \"$KEY_A\": No such file or directory" "$(dec A after)"
oc_expect "A before: still decrypts (its DEK is wrapped by the master key)" "A before 1,A before 2,A before 3" "$(dec A before)"
oc_expect_match "D after: gone (58000)" "^ERROR:  58000: could not open master key file \"$KEY_D\"" "$(dec D after)"
oc_expect_match "D before: gone too (the rewrap moved its DEK under D's KEK)" \
  "^ERROR:  58000: could not open master key file \"$KEY_D\"" "$(dec D before)"
for o in B C; do for t in before after; do
  oc_expect "$o $t: untouched" "$o $t 1,$o $t 2,$o $t 3" "$(dec $o $t)"
done; done
oc_expect_match "a new DEK for A fails at its destroyed KEK (nothing stored)" \
  "^ERROR:  58000: could not open master key file \"$KEY_A\"" "$(qv "SELECT orgcrypt.rotate_org_dek('A')")"
oc_expect "A still has 2 versions" "2" "$(q "SELECT max(version) FROM orgcrypt.org_keys WHERE org = 'A'")"

# ---- destroy B's key object on the token, restart
if hsm pkcs11-tool --module "$MODULE" --token-label orgcrypt --login --pin "$PIN" --delete-object --type secrkey --label kek-b; then
  oc_ok "kek-b deleted from the token"
else
  oc_fail "deleting kek-b: $(tail -5 "$DIR/hsm.log")"
fi
oc_cluster_restart || oc_fail "restart"
oc_expect_match "B after: gone (58000 from the pkcs11 provider: no such key on the token)" "^ERROR:  58000: pkcs11 [a-z]+ failed: no AES secret key matches object=\"kek-b\"" "$(dec B after)"
oc_expect "B before: still decrypts (master key)" "B before 1,B before 2,B before 3" "$(dec B before)"
oc_expect "A before: still decrypts" "A before 1,A before 2,A before 3" "$(dec A before)"
oc_expect "C before: untouched" "C before 1,C before 2,C before 3" "$(dec C before)"
oc_expect "C after: untouched" "C after 1,C after 2,C after 3" "$(dec C after)"

# ---- back to the master key: B's next DEK is wrapped by it again
oc_expect "set_org_master_key(B, NULL)" "" "$(q "SELECT orgcrypt.set_org_master_key('B', NULL)")"
oc_expect "B's next DEK is under the master key" "3|$MASTER" \
  "$(q "SELECT orgcrypt.rotate_org_dek('B')")|$(provider B 3)"
if grep -E 'terminated by signal|PANIC' "$DIR/server.log"; then oc_fail "no crash in the server log"; else oc_ok "no crash in the server log"; fi
oc_expect "the PIN never appears in the server log" "0" "$(grep -cF "$PIN" "$DIR/server.log")"
oc_summary
