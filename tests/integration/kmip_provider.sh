#!/usr/bin/env bash
# The kmip:// master key end to end, against a real PyKMIP server on loopback
# (Debian's python3-pykmip; tests/servers/lib_kmip.sh, README-kmip.md) with
# TLS client certificates made here: a key created on the server; rewrap
# file: -> kmip -> file:; encrypt, restart PostgreSQL, decrypt; the stored
# wrapped DEK (IV || ct || tag) decrypted by PyKMIP's own client under the
# documented wrap AAD; one TLS connection per backend, reused; the key revoked
# and destroyed on the server (warm cache until orgcrypt.cache_ttl, then
# 58000 with KMIP's result reason); another client identity (Permission
# Denied); a wrong CA, a missing key file, a key file readable by others; the
# server killed with a warm and a cold cache, and restarted (the same backend
# reconnects); a silent (SIGSTOPped) server cancelled by statement_timeout; a
# server offering only KMIP < 1.4 (refused; the Get fallback when allowed);
# no private key, certificate or DEK in the PostgreSQL or PyKMIP log.
# Fails (never skips) when PyKMIP cannot start.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source scripts/lib.sh
source tests/servers/lib_kmip.sh
oc_install_deps >/dev/null
DIR=$(oc_mkdir)
K=$DIR/kmip
cleanup() {
  [ -n "${SESS_PID:-}" ] && kill "$SESS_PID" 2>/dev/null
  kmip_resume "$K" >/dev/null 2>&1
  kmip_stop "$K" >/dev/null 2>&1
  oc_cluster_stop "$DIR/data"; rm -rf "$DIR"
}
trap cleanup EXIT

# ---- the PyKMIP server, its certificates, a key
kmip_certs "$K" || { oc_fail "the test CA and certificates (openssl)"; oc_summary; exit 1; }
kmip_start "$K" || { oc_fail "the PyKMIP server starts (python3-pykmip)"; oc_summary; exit 1; }
KPORT=$KMIP_PORT
oc_expect "PyKMIP listens on 127.0.0.1:$KPORT and offers KMIP 2.0 to 1.0 (DiscoverVersions, PyKMIP's client)" \
  "2.0 1.4 1.3 1.2 1.1 1.0" "$(kmip_admin "$K" versions 2>&1)"
KUID=$(kmip_admin "$K" create 2>&1)
oc_expect_match "an AES-256 key created and activated on the server" '^[0-9A-Za-z-]+$' "$KUID"
BASE="kmip://127.0.0.1:$KPORT"
URI="$BASE/$KUID"

oc_cluster_start "$DIR" yes "log_min_error_statement = error" "orgcrypt.allowed_key_uris = '$BASE/*'" \
  "orgcrypt.kmip_ca_file = '$K/ca.pem'" "orgcrypt.kmip_cert_file = '$K/client.pem'" \
  "orgcrypt.kmip_key_file = '$K/client.key'" \
  || { oc_fail "server starts"; oc_summary; exit 1; }
PSQL=("$OC_PGBIN/psql" -X -q -At -h "$OC_HOST" -p "$OC_PORT" -U postgres -d postgres)
q() { oc_run "${PSQL[@]}" -c "$1" 2>&1; }
qv() { oc_run "${PSQL[@]}" -c '\set VERBOSITY verbose' -c "$1" 2>&1 | tr '\n' ' ' | sed 's/ $//'; }
dec() { q "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = '$1'"; }
enc() { q "INSERT INTO t SELECT '$1', orgcrypt.encrypt_for_org('$1', '$2')"; }
cold() { oc_run "${PSQL[@]}" -c "SELECT orgcrypt.cache_flush()" -c '\set VERBOSITY verbose' \
  -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = '$1'" 2>&1 | tail -n +2 | tr '\n' ' ' | sed 's/ $//'; }
use() { oc_set orgcrypt.master_key "$1" || oc_fail "orgcrypt.master_key set to $1"; }
provider_of() { q "SELECT provider FROM orgcrypt.org_keys WHERE org = '$1' ORDER BY version DESC LIMIT 1"; }
sessions() { grep -c "Starting session" "$K/server.log"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# One backend kept open (psql as a coprocess) while the shell acts on the
# KMIP server between its statements: `sq SQL` prints that statement's output.
SESS_PID=""
sess_open() {
  coproc SESS { oc_run stdbuf -oL "$OC_PGBIN/psql" -X -q -At -h "$OC_HOST" -p "$OC_PORT" -U postgres -d postgres 2>&1; }
  sq '\set VERBOSITY verbose' >/dev/null
}
sq() {
  local line out=""
  local sql=$1
  # Statements read from stdin end with a semicolon (meta-commands do not).
  case $sql in '\'*) ;; *) sql="${sql%;};" ;; esac
  printf '%s\n\\echo __sq_end__\n' "$sql" 1>&"${SESS[1]}"
  while IFS= read -r -t 60 line <&"${SESS[0]}"; do
    [ "$line" = __sq_end__ ] && break
    [ -n "$line" ] && out+="${out:+ }$line"
  done
  printf '%s' "$out"
}
sess_close() { printf '\\q\n' 1>&"${SESS[1]}"; wait "$SESS_PID" 2>/dev/null; SESS_PID=""; }

q "CREATE EXTENSION orgcrypt" >/dev/null
q "CREATE TABLE t (org text PRIMARY KEY, v orgcrypt.ciphertext)" >/dev/null

# ---- file: -> kmip (rewrap); a new org under kmip; restart; decrypt
for i in 1 2 3; do enc "f$i" "file value $i" >/dev/null; done
use "$URI"
oc_expect "CALL rewrap_org_keys(): the 3 file: DEKs move to the KMIP key" "3" "$(q "CALL orgcrypt.rewrap_org_keys()")"
oc_expect "every DEK names the kmip URI" "3|0" \
  "$(q "SELECT count(*) FILTER (WHERE kek_uri = '$URI') || '|' || count(*) FILTER (WHERE kek_uri <> '$URI') FROM orgcrypt.org_dek")"
oc_expect "encrypt under a new org (its DEK wrapped by KMIP Encrypt)" "" "$(enc acme 'kmip secret')"
oc_expect "org_keys.provider is the kmip URI, without file paths or key material" "$URI" "$(provider_of acme)"
oc_cluster_restart || oc_fail "restart"
oc_expect "after a restart (cold caches) the value decrypts through KMIP Decrypt" "kmip secret" "$(dec acme)"
oc_expect "and the rewrapped file: values too" "file value 1|file value 2|file value 3" \
  "$(q "SELECT string_agg(orgcrypt.decrypt_for_org(org, v), '|' ORDER BY org) FROM t WHERE org LIKE 'f%'")"
oc_expect_match "health(): the kmip URI reachable, wraps, unwraps" "^kmip[^|]*\\|t\\|t\\|t" \
  "$(q "SELECT concat_ws('|', provider, reachable, can_wrap, can_unwrap) FROM orgcrypt.health() WHERE uri = '$URI'")"

# ---- the stored wrapped DEK is IV || ct || tag and PyKMIP's own client
# decrypts it server-side under the documented wrap AAD
# ("orgcrypt DEK wrap v1" || u32be(len(org)) || org || u32be(version)).
W=$(q "SELECT encode(wrapped, 'hex') FROM orgcrypt.org_dek WHERE org = 'acme' AND version = 1")
oc_expect "the wrapped DEK is 60 bytes: 12-byte IV, 32-byte ciphertext, 16-byte tag" "120" "${#W}"
IV=${W:0:24} CT=${W:24:64} TAG=${W:88:32}
aad() { printf '%s%08x%s%08x' "$(printf 'orgcrypt DEK wrap v1' | od -An -v -tx1 | tr -d ' \n')" 4 \
  "$(printf acme | od -An -v -tx1 | tr -d ' \n')" "$1"; }
DEK=$(kmip_admin "$K" decrypt "$KUID" "$CT" "$IV" "$(aad 1)" "$TAG" 2>&1)
oc_expect_match "PyKMIP's client: KMIP Decrypt of the stored blob under the wrap AAD gives a 32-byte DEK" '^[0-9a-f]{64}$' "$DEK"
oc_expect_match "... and not under version 2's AAD (General Failure: the tag does not verify)" "OPERATION_FAILED: GENERAL_FAILURE" \
  "$(kmip_admin "$K" decrypt "$KUID" "$CT" "$IV" "$(aad 2)" "$TAG" 2>&1)"
W2=$(q "SELECT encode(wrapped, 'hex') FROM orgcrypt.org_dek WHERE org = 'f1' AND version = 1")
oc_expect "another DEK has another IV (chosen per wrap)" "yes" "$([ "${W2:0:24}" != "$IV" ] && echo yes || echo no)"

# ---- one TLS connection per backend, reused across cold unwraps
S0=$(sessions)
R=$(oc_run "${PSQL[@]}" -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'" \
  -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'f1'" \
  -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'f2'" \
  -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'" 2>&1 | grep -v '^$' | tr '\n' '|')
oc_expect_match "four cold unwraps in one backend" "kmip secret\\|.*file value 1\\|.*file value 2\\|.*kmip secret" "$R"
oc_expect "one TLS session on the server for that backend's four Decrypts (PyKMIP's 'Starting session')" "1" "$(( $(sessions) - S0 ))"

# ---- a client certificate of another identity (CN=intruder, same CA)
oc_set orgcrypt.kmip_cert_file "$K/other.pem" && oc_set orgcrypt.kmip_key_file "$K/other.key" || oc_fail "settings for the other certificate"
oc_expect_match "another identity: 58000 with KMIP's Permission Denied, naming the key and server" \
  "ERROR:  58000: kmip Decrypt: .*[Pp]ermission.[Dd]enied.*Could not locate object.*$KUID.*127\\.0\\.0\\.1:$KPORT" "$(cold acme)"
oc_expect_match "... and a new org's key under it too (Encrypt)" "ERROR:  58000: kmip Encrypt: .*[Pp]ermission.[Dd]enied" \
  "$(qv "SELECT orgcrypt.create_org_key('intruder')")"
oc_set orgcrypt.kmip_cert_file "$K/client.pem" && oc_set orgcrypt.kmip_key_file "$K/client.key" || oc_fail "settings back to the client certificate"
oc_expect "our own certificate again: decrypts" "kmip secret" "$(cold acme)"

# ---- TLS and key file refusals
oc_set orgcrypt.kmip_ca_file "$K/wrongca.pem" || oc_fail "kmip_ca_file = wrongca.pem"
oc_expect_match "a CA that did not sign the server's certificate: 58000 naming certificate verification" \
  "ERROR:  58000: kmip.*[Cc]ertificate.*verif" "$(cold acme)"
oc_set orgcrypt.kmip_ca_file "$K/ca.pem" || oc_fail "kmip_ca_file back"
oc_set orgcrypt.kmip_key_file "$K/missing.key" || oc_fail "kmip_key_file = missing.key"
oc_expect_match "a missing client key file: 58000 naming the file" "ERROR:  58000: .*KMIP client key file \"$K/missing\\.key\": No such file" "$(cold acme)"
oc_run sh -c "cp '$K/client.key' '$K/open.key' && chmod 644 '$K/open.key'"
oc_set orgcrypt.kmip_key_file "$K/open.key" || oc_fail "kmip_key_file = open.key"
oc_expect_match "a client key file readable by others (0644): 58000 naming the file and its mode" \
  "ERROR:  58000: .*KMIP client key file \"$K/open\\.key\" .*mode 0644" "$(cold acme)"
oc_run rm -f "$K/open.key"
oc_set orgcrypt.kmip_key_file "$K/client.key" || oc_fail "kmip_key_file back"
oc_expect "the right files again: decrypts" "kmip secret" "$(cold acme)"

# ---- ca_file, cert_file, key_file as URI parameters override the settings
PURI="$URI?ca_file=$K/ca.pem&cert_file=$K/client.pem&key_file=$K/client.key"
oc_set orgcrypt.kmip_cert_file "$K/other.pem" && oc_set orgcrypt.kmip_key_file "$K/other.key" || oc_fail "settings for the other certificate"
use "$PURI"
oc_expect "the settings name the other certificate, the URI ours: a new org's key" "" "$(enc up 'uri params')"
oc_expect "... decrypts cold" "uri params" "$(cold up)"
oc_expect "... and org_keys records the URI as given" "$PURI" "$(provider_of up)"
use "$URI"
oc_set orgcrypt.kmip_cert_file "$K/client.pem" && oc_set orgcrypt.kmip_key_file "$K/client.key" || oc_fail "settings back to the client certificate"

# ---- the key revoked, then destroyed, on the server; warm cache until cache_ttl
KUID2=$(kmip_admin "$K" create 2>&1)
URI2="$BASE/$KUID2"
use "$URI2"
enc rv 'revoked later' >/dev/null
oc_expect "an org under a second KMIP key" "$URI2" "$(provider_of rv)"
use "$URI"
oc_set orgcrypt.cache_ttl 6s || oc_fail "cache_ttl = 6s"
oc_expect "warm the cache" "revoked later" "$(cold rv)"
WARM=$(date +%s)
REV=$(kmip_admin "$K" revoke "$KUID2" 2>&1)
oc_expect "PyKMIP's client revokes the key (Key Compromise): state COMPROMISED" "|COMPROMISED" "$REV|$(kmip_admin "$K" state "$KUID2" 2>&1)"
GOT=$(dec rv); NOW=$(date +%s)
if [ $((NOW - WARM)) -lt 6 ]; then
  oc_expect "revoked on the server, warm cache: still decrypts" "revoked later" "$GOT"
else
  oc_fail "the machine was too slow to check the warm cache within its 6 s TTL ($((NOW - WARM)) s)"
fi
R=""
for _ in $(seq 1 60); do
  R=$(qv "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'rv'")
  case "$R" in *ERROR*) break ;; esac
  sleep 0.25
done
FAILED_AT=$(date +%s)
oc_expect_match "after cache_ttl: 58000 with KMIP's Permission Denied (the key is not Active)" \
  "ERROR:  58000: kmip Decrypt: .*[Pp]ermission.[Dd]enied.*Active state.*$KUID2.*127\\.0\\.0\\.1:$KPORT" "$R"
if [ $((FAILED_AT - WARM)) -ge 6 ]; then oc_ok "not before the TTL ($((FAILED_AT - WARM)) s)"; else oc_fail "refused after $((FAILED_AT - WARM)) s, before the 6 s TTL"; fi
oc_set orgcrypt.cache_ttl 5min || oc_fail "cache_ttl = 5min"
oc_expect "warm again with a good key" "kmip secret" "$(cold acme)"
oc_expect "PyKMIP's client destroys the revoked key" "" "$(kmip_admin "$K" destroy "$KUID2" 2>&1)"
T0=$(date +%s%N)
R=$(cold rv); MS=$(ms_since "$T0")
oc_expect_match "destroyed: a cold backend (after cache_flush) gets 58000 Item Not Found at once" \
  "ERROR:  58000: kmip Decrypt: .*[Ii]tem.[Nn]ot.[Ff]ound.*$KUID2" "$R"
if [ "$MS" -lt 3000 ]; then oc_ok "at once (${MS} ms)"; else oc_fail "the refusal took ${MS} ms"; fi
use "$URI2"
oc_expect_match "a new org's key under the destroyed key: 58000 kmip Encrypt Item Not Found" \
  "ERROR:  58000: kmip Encrypt: .*[Ii]tem.[Nn]ot.[Ff]ound" "$(qv "SELECT orgcrypt.create_org_key('gone')")"
use "$URI"
q "SELECT orgcrypt.destroy_org_keys('rv')" >/dev/null
q "DELETE FROM t WHERE org = 'rv'" >/dev/null

# ---- the server killed: warm cache, cold cache; restarted: the same backend reconnects
sess_open
oc_expect "one backend: a cold decrypt (its TLS connection opens)" "kmip secret" "$(sq "SELECT orgcrypt.cache_flush(); SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'")"
kmip_stop "$K" || oc_fail "kmip_stop"
oc_expect "server killed, warm cache: decrypts" "kmip secret" "$(sq "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'")"
T0=$(date +%s%N)
R=$(sq "SELECT orgcrypt.cache_flush(); SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'"); MS=$(ms_since "$T0")
oc_expect_match "server killed, cold cache: 58000 naming the connection failure and the server" \
  "ERROR:  58000: kmip Decrypt: cannot connect: Connection refused \\(127\\.0\\.0\\.1:$KPORT\\)" "$R"
if [ "$MS" -lt 5000 ]; then oc_ok "promptly (${MS} ms)"; else oc_fail "the refusal took ${MS} ms"; fi
kmip_start "$K" || oc_fail "PyKMIP restarts on port $KPORT"
S0=$(sessions)
oc_expect "server back: the same backend decrypts again (connection re-established)" "kmip secret" \
  "$(sq "SELECT orgcrypt.cache_flush(); SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'")"
sq "SELECT orgcrypt.cache_flush(); SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'f1'" >/dev/null
oc_expect "... over one new TLS session, reused" "1" "$(( $(sessions) - S0 ))"
kmip_stop "$K" && kmip_start "$K" || oc_fail "PyKMIP restarted while the backend holds an idle connection"
oc_expect "server restarted under an idle kept connection: the next call reconnects once, transparently" "kmip secret" \
  "$(sq "SELECT orgcrypt.cache_flush(); SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'")"

# ---- a silent server (SIGSTOP: TCP accepted, no answer) and statement_timeout
kmip_pause "$K" || oc_fail "kmip_pause"
T0=$(date +%s%N)
R=$(sq "SET statement_timeout = '1s'; SELECT orgcrypt.cache_flush(); SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'"); MS=$(ms_since "$T0")
oc_expect_match "a silent server, on the backend's open connection: 57014 canceling statement due to statement timeout" \
  "ERROR:  57014: canceling statement due to statement timeout" "$R"
if [ "$MS" -lt 3000 ]; then oc_ok "cancelled promptly (${MS} ms for a 1 s statement_timeout)"; else oc_fail "the cancel took ${MS} ms"; fi
T0=$(date +%s%N)
R=$(oc_run "${PSQL[@]}" -c "SET statement_timeout = '1s'" -c '\set VERBOSITY verbose' -c "SELECT orgcrypt.cache_flush()" \
  -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'f2'" 2>&1 | tr '\n' ' '); MS=$(ms_since "$T0")
oc_expect_match "a silent server, a new backend (TLS handshake unanswered): 57014" "ERROR:  57014: canceling statement due to statement timeout" "$R"
if [ "$MS" -lt 3000 ]; then oc_ok "cancelled promptly (${MS} ms)"; else oc_fail "the cancel took ${MS} ms"; fi
kmip_resume "$K" || oc_fail "kmip_resume"
oc_expect "resumed: the same backend works again" "kmip secret" \
  "$(sq "RESET statement_timeout; SELECT orgcrypt.cache_flush(); SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'")"
sess_close

# ---- a server offering only KMIP < 1.4; the Get fallback when allowed
kmip_stop "$K" || oc_fail "kmip_stop"
kmip_start "$K" --versions 1.2,1.1,1.0 || oc_fail "PyKMIP restarts limited to KMIP 1.2, 1.1, 1.0"
oc_expect "the limited server's DiscoverVersions (PyKMIP's client)" "1.2 1.1 1.0" "$(kmip_admin "$K" versions 2>&1)"
oc_expect_match "KMIP < 1.4 only: 58000 saying 1.4 is needed and naming orgcrypt.kmip_allow_get_fallback" \
  "ERROR:  58000: kmip.*1\\.4.*orgcrypt\\.kmip_allow_get_fallback" "$(cold acme)"
oc_expect_match "... for a new org's key too" "ERROR:  58000: kmip.*1\\.4" "$(qv "SELECT orgcrypt.create_org_key('old')")"
if oc_set orgcrypt.kmip_allow_get_fallback on; then
  oc_expect "kmip_allow_get_fallback = on: the Encrypt-made wrapped DEK unwraps with the fetched key" "kmip secret" "$(cold acme)"
  oc_expect "... a new org under the fallback" "" "$(enc fb 'fallback value')"
  oc_expect "... and it decrypts cold" "fallback value" "$(cold fb)"
  oc_set orgcrypt.kmip_allow_get_fallback off || oc_fail "kmip_allow_get_fallback off"
else
  oc_fail "orgcrypt.kmip_allow_get_fallback exists and can be set"
fi
kmip_stop "$K" || oc_fail "kmip_stop"
kmip_start "$K" || oc_fail "PyKMIP restarts with every version"
oc_expect "the normal server again: decrypts" "kmip secret" "$(cold acme)"

# ---- rewrap kmip -> file:, then everything decrypts with the KMIP server stopped
oc_make_key "$DIR/key_b"
use "file:$DIR/key_b"
N=$(q "SELECT count(*) FROM orgcrypt.org_dek WHERE state <> 'destroyed' AND kek_uri LIKE 'kmip:%'")
oc_expect "CALL rewrap_org_keys() moves every kmip DEK back to file:" "$N" "$(q "CALL orgcrypt.rewrap_org_keys()")"
oc_expect "no live DEK names kmip any more" "0" "$(q "SELECT count(*) FROM orgcrypt.org_dek WHERE state <> 'destroyed' AND kek_uri LIKE 'kmip:%'")"
kmip_stop "$K" || oc_fail "kmip_stop"
oc_cluster_restart || oc_fail "restart"
oc_expect "KMIP stopped, after a restart: every value decrypts" "$(q "SELECT count(*) FROM t")" \
  "$(q "SELECT count(*) FROM t WHERE orgcrypt.decrypt_for_org(org, v) IS NOT NULL")"
oc_expect "the values are right" "kmip secret|file value 1|file value 2|file value 3|fallback value|uri params" \
  "$(q "SELECT string_agg(orgcrypt.decrypt_for_org(org, v), '|' ORDER BY org) FROM t")"

# ---- no private key, certificate or DEK in the PostgreSQL or PyKMIP log
LOG=$DIR/server.log
LEAK=""
for f in "$LOG" "$K/server.log"; do
  grep -q "PRIVATE KEY" "$f" && LEAK="$LEAK PRIVATE-KEY-in-$f"
  grep -q "BEGIN CERTIFICATE" "$f" && LEAK="$LEAK CERTIFICATE-in-$f"
  # every base64 line of the client private keys
  while IFS= read -r l; do
    grep -qF -- "$l" "$f" && LEAK="$LEAK key-line-in-$f"
  done < <(grep -hv -- '-----' "$K/client.key" "$K/other.key")
  grep -qiF -- "$DEK" "$f" && LEAK="$LEAK DEK-hex-in-$f"
done
oc_expect "no private key, certificate or DEK (hex) in the PostgreSQL or PyKMIP log" "" "$LEAK"
oc_expect "the PostgreSQL log shows the kmip errors (the scan reads the right log)" "yes" \
  "$(grep -q '58000: kmip\|ERROR:  kmip' "$LOG" && echo yes || echo no)"
oc_summary
