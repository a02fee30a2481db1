#!/usr/bin/env bash
# The vault-transit:// master key end to end, against the loopback Vault test
# server (tests/servers/vault_server.js, checked against node-vault by
# tests/integration/vault_test_server.sh): create an org, encrypt, restart
# PostgreSQL, decrypt; rewrap file: -> vault-transit -> file:; AppRole login
# with a short token TTL, renewal and re-login within one backend, a 403 on a
# revoked token; a namespace; rate limiting (retried); a missing key, a
# missing policy, a sealed Vault (58000 with Vault's message, not retried); a
# wrapped DEK copied to another org does not unwrap; an unreachable server; a
# slow server cancelled by statement_timeout; a warm cache surviving an
# outage until orgcrypt.cache_ttl; HTTPS with the right CA and refused with a
# wrong one; plain http (tls=off) only with orgcrypt.allow_plain_http_loopback;
# VAULT_TOKEN / VAULT_CACERT from the server's environment (OC_SERVER_ENV);
# no token, role_id or secret_id in the server log. Fails (never skips)
# without node.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
source tests/servers/lib_vault.sh
oc_install_deps >/dev/null
if ! command -v node >/dev/null || ! command -v openssl >/dev/null; then
  oc_fail "node and openssl are installed (the Vault test server is a Node.js program)"; oc_summary; exit 1
fi
DIR=$(oc_mkdir)
VS=$DIR/vault VS2=$DIR/vault-plain
cleanup() {
  vault_stop "$VS2" >/dev/null 2>&1
  vault_stop "$VS" >/dev/null 2>&1
  oc_cluster_stop "$DIR/data"; rm -rf "$DIR"
}
trap cleanup EXIT
rnd() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
ROOT_TOKEN=root-$(rnd) APP_TOKEN=app-$(rnd) ENC_TOKEN=enc-$(rnd) ENV_TOKEN=env-$(rnd)
ROLE_ID=role-$(rnd) SECRET_ID=secret-$(rnd)

# ---- secrets, CA and certificates, as the server user
put() { oc_run sh -c "umask 077; printf '%s\n' '$2' > '$DIR/$1'"; }
put root.token "$ROOT_TOKEN"; put app.token "$APP_TOKEN"; put enc.token "$ENC_TOKEN"
put role_id "$ROLE_ID"; put secret_id "$SECRET_ID"
oc_run sh -c "cd '$DIR' && umask 077 &&
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=orgcrypt test CA' &&
  openssl req -x509 -newkey rsa:2048 -nodes -keyout wrongca.key -out wrongca.pem -days 2 -subj '/CN=another CA' &&
  openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj '/CN=127.0.0.1' &&
  printf 'subjectAltName=IP:127.0.0.1\n' > srv.ext &&
  openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 -extfile srv.ext" \
  >"$DIR/openssl.log" 2>&1 || { oc_fail "CA and server certificate: $(tail -3 "$DIR/openssl.log")"; oc_summary; exit 1; }

cat >"$DIR/vault.json" <<EOF
{
  "tokens": [
    {"id": "$ROOT_TOKEN", "policies": ["root"]},
    {"id": "$APP_TOKEN", "policies": ["orgcrypt"]},
    {"id": "$ENC_TOKEN", "policies": ["encrypt-only"]},
    {"id": "$ENV_TOKEN", "policies": ["orgcrypt"]}
  ],
  "namespaces": {
    "": {
      "policies": {
        "orgcrypt": [{"path": "transit/encrypt/*", "capabilities": ["update"]},
                     {"path": "transit/decrypt/*", "capabilities": ["update"]},
                     {"path": "strict/encrypt/*", "capabilities": ["update"]},
                     {"path": "strict/decrypt/*", "capabilities": ["update"]}],
        "encrypt-only": [{"path": "transit/encrypt/*", "capabilities": ["update"]}]
      },
      "transit": {
        "transit": {"keys": {"kek": {"type": "aes256-gcm96"}, "kek2": {}}},
        "strict": {"keys": {"kek": {}}, "disable_upsert": true}
      },
      "auth": {"approle": {"roles": {"orgcrypt": {
        "role_id": "$ROLE_ID", "secret_ids": ["$SECRET_ID"],
        "token_ttl": 3, "token_max_ttl": 7, "token_policies": ["orgcrypt"]}}}}
    },
    "team-a": {"transit": {"transit": {"keys": {"kek": {}}}}}
  }
}
EOF
chmod 644 "$DIR/vault.json"
oc_as_root && chown postgres: "$DIR"/*.pem "$DIR"/*.key 2>/dev/null
export VAULT_CACERT=$DIR/ca.pem  # for lib_vault.sh's control calls
vault_start "$VS" "$DIR/vault.json" --tls-cert "$DIR/srv.pem" --tls-key "$DIR/srv.key" \
  || { oc_fail "the Vault test server starts (HTTPS)"; oc_summary; exit 1; }
VPORT=$VAULT_PORT
oc_ok "the Vault test server listens on https://127.0.0.1:$VPORT"

BASE="vault-transit://127.0.0.1:$VPORT"
TOK="token_file=$DIR/app.token&ca_file=$DIR/ca.pem"
URI="$BASE/transit/keys/kek?$TOK"
APPROLE="$BASE/transit/keys/kek?role_id_file=$DIR/role_id&secret_id_file=$DIR/secret_id&ca_file=$DIR/ca.pem"

export OC_SERVER_ENV="VAULT_TOKEN=$ENV_TOKEN"
oc_cluster_start "$DIR" yes "log_min_error_statement = error" "orgcrypt.allowed_key_uris = '$BASE/*'" \
  || { oc_fail "server starts"; oc_summary; exit 1; }
FILE_KEY=$OC_KEY
PSQL=("$OC_PGBIN/psql" -X -q -At -h "$OC_HOST" -p "$OC_PORT" -U postgres -d postgres)
q() { oc_run "${PSQL[@]}" -c "$1" 2>&1; }
qv() { oc_run "${PSQL[@]}" -c '\set VERBOSITY verbose' -c "$1" 2>&1; }
dec() { q "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = '$1'"; }
cold() { oc_run "${PSQL[@]}" -c "SELECT orgcrypt.cache_flush()" -c '\set VERBOSITY verbose' \
  -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = '$1'" 2>&1 | tail -n +2; }
stat() { vault_stats | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);const v=$1;console.log(v===undefined?0:v)})"; }
use() { oc_set orgcrypt.master_key "$1" || oc_fail "orgcrypt.master_key set to $1"; }

q "CREATE EXTENSION orgcrypt" >/dev/null
q "CREATE TABLE t (org text PRIMARY KEY, v orgcrypt.ciphertext)" >/dev/null

# ---- file: -> vault-transit -> file: (rewrap), with a restart in the middle
q "INSERT INTO t SELECT 'f' || i, orgcrypt.encrypt_for_org('f' || i, 'file value ' || i) FROM generate_series(1, 5) i" >/dev/null
use "$URI"
oc_expect "CALL rewrap_org_keys(): the 5 DEKs move to Vault" "5" "$(q "CALL orgcrypt.rewrap_org_keys()")"
oc_expect "every DEK now names the vault-transit URI" "5" \
  "$(q "SELECT count(*) FROM orgcrypt.org_dek WHERE kek_uri = '$URI' AND convert_from(wrapped, 'UTF8') ~ '^vault:v1:[A-Za-z0-9+/=]+\$'")"
oc_expect "health(): Vault reachable, wraps, unwraps, production-ready (https)" "vault-transit|t|t|t|t|ok" \
  "$(q "SELECT concat_ws('|', provider, reachable, can_wrap, can_unwrap, production_ready, detail) FROM orgcrypt.health() WHERE uri = '$URI'")"
q "INSERT INTO t SELECT 'acme', orgcrypt.encrypt_for_org('acme', 'vault secret')" >/dev/null
oc_expect "a new org's DEK is wrapped by Vault" "$URI" "$(q "SELECT provider FROM orgcrypt.org_keys WHERE org = 'acme'")"
oc_cluster_restart || oc_fail "restart"
oc_expect "after a restart (cold caches) every value decrypts through Vault" "6" \
  "$(q "SELECT count(*) FROM t WHERE orgcrypt.decrypt_for_org(org, v) IN ('vault secret') OR orgcrypt.decrypt_for_org(org, v) LIKE 'file value %'")"
D0=$(stat j.decrypts)
oc_expect "cold: decrypts" "vault secret" "$(cold acme)"
oc_expect "a cold decrypt is one Transit decrypt" "$((D0 + 1))" "$(stat j.decrypts)"
oc_expect "Vault saw associated_data on the last decrypt" "true" "$(stat j.last_associated_data)"
oc_make_key "$DIR/key_b"
use "file:$DIR/key_b"
oc_expect "CALL rewrap_org_keys(): back to a file: key (the Vault URI is trusted by allowed_key_uris)" "6" "$(q "CALL orgcrypt.rewrap_org_keys()")"
oc_expect "no DEK names Vault any more" "0" "$(q "SELECT count(*) FROM orgcrypt.org_dek WHERE kek_uri LIKE 'vault-transit:%'")"
oc_expect "values decrypt under the file: key" "vault secret" "$(cold acme)"
use "$URI"
q "INSERT INTO t SELECT 'vorg', orgcrypt.encrypt_for_org('vorg', 'vault secret')" >/dev/null
# Independently of orgcrypt's code: the stored ciphertext decrypts with curl
# under the documented wrap AAD ("orgcrypt DEK wrap v1" || u32be(len(org)) ||
# org || u32be(version)) and not under the next version's.
CT=$(q "SELECT convert_from(wrapped, 'UTF8') FROM orgcrypt.org_dek WHERE org = 'vorg' AND version = 1")
vdecrypt() {  # vdecrypt AAD_BASE64 -> "HTTP_STATUS length-of-plaintext"
  curl -s --cacert "$DIR/ca.pem" -H "X-Vault-Token: $ROOT_TOKEN" -o "$DIR/dec.json" -w '%{http_code}' \
    -d "{\"ciphertext\":\"$CT\",\"associated_data\":\"$1\"}" "https://127.0.0.1:$VPORT/v1/transit/decrypt/kek"
  printf ' %s' "$(node -e "try{const j=require('$DIR/dec.json');console.log(Buffer.from(j.data.plaintext,'base64').length)}catch(e){console.log('-')}")"
  rm -f "$DIR/dec.json"
}
oc_expect "curl decrypts the stored wrapped DEK under the documented wrap AAD: 32 bytes" "200 32" \
  "$(vdecrypt "$(printf 'orgcrypt DEK wrap v1\x00\x00\x00\x04vorg\x00\x00\x00\x01' | base64 -w0)")"
oc_expect "... and not under version 2's AAD" "400 -" \
  "$(vdecrypt "$(printf 'orgcrypt DEK wrap v1\x00\x00\x00\x04vorg\x00\x00\x00\x02' | base64 -w0)")"

# ---- a wrapped DEK copied to another org (or version) does not unwrap
q "INSERT INTO t SELECT o, orgcrypt.encrypt_for_org(o, 'copy ' || o) FROM unnest(ARRAY['src', 'copy']) o" >/dev/null
q "UPDATE orgcrypt.org_dek d SET wrapped = s.wrapped FROM orgcrypt.org_dek s WHERE s.org = 'src' AND d.org = 'copy'" >/dev/null
oc_expect_match "another org's wrapped DEK: 58000, Vault's 'message authentication failed'" \
  "ERROR:  58000: vault-transit decrypt: HTTP 400: cipher: message authentication failed \\(key transit/keys/kek at 127.0.0.1:$VPORT\\)" "$(cold copy)"
oc_expect "the org it was copied from still decrypts" "copy src" "$(cold src)"
q "SELECT orgcrypt.rotate_org_dek('src')" >/dev/null
q "UPDATE orgcrypt.org_dek SET wrapped = (SELECT wrapped FROM orgcrypt.org_dek WHERE org = 'src' AND version = 1) WHERE org = 'src' AND version = 2" >/dev/null
oc_expect_match "version 1's wrapped DEK as version 2: 58000, not unwrapped" "ERROR:  58000: vault-transit decrypt: HTTP 400: cipher: message authentication failed" \
  "$(oc_run "${PSQL[@]}" -c "SELECT orgcrypt.cache_flush()" -c '\set VERBOSITY verbose' -c "SELECT orgcrypt.encrypt_for_org('src', 'z')" 2>&1)"
q "UPDATE orgcrypt.org_dek SET wrapped = 'vault:v1:AAAA\",\"x'::bytea WHERE org = 'src' AND version = 2" >/dev/null
oc_expect_match "a wrapped DEK that is not a Transit ciphertext is refused before anything is sent" \
  "ERROR:  58000: vault-transit decrypt: the wrapped DEK is not a Transit ciphertext" \
  "$(oc_run "${PSQL[@]}" -c "SELECT orgcrypt.cache_flush()" -c '\set VERBOSITY verbose' -c "SELECT orgcrypt.encrypt_for_org('src', 'z')" 2>&1)"

# ---- AppRole: login, renewal within one backend, re-login past max_ttl
use "$APPROLE"
q "INSERT INTO t SELECT 'role', orgcrypt.encrypt_for_org('role', 'approle value')" >/dev/null
oc_expect "AppRole: a new org's DEK, wrapped with a logged-in token" "$APPROLE" "$(q "SELECT provider FROM orgcrypt.org_keys WHERE org = 'role'")"
L0=$(stat j.logins) R0=$(stat j.renewals)
# one backend, cold decrypts for ~8 s (token_ttl 3 s, token_max_ttl 7 s)
# (a call every 0.25 s: several land in the last third of each 3 s lease)
LOOP="DO \$\$ DECLARE ok int := 0; BEGIN FOR i IN 1..32 LOOP
  PERFORM orgcrypt.cache_flush();
  IF (SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'role') = 'approle value' THEN ok := ok + 1; END IF;
  PERFORM pg_sleep(0.25); END LOOP; RAISE NOTICE 'decrypted %/32', ok; END \$\$"
oc_expect_match "AppRole: 32 cold decrypts in one backend over ~8 s all succeed" "decrypted 32/32" "$(q "$LOOP")"
L1=$(stat j.logins) R1=$(stat j.renewals)
if [ $((R1 - R0)) -ge 1 ]; then oc_ok "the token was renewed (renew-self) before it expired ($((R1 - R0)) renewals)"; else oc_fail "no renewal (logins $L0 -> $L1)"; fi
if [ $((L1 - L0)) -ge 2 ]; then oc_ok "logged in again once max_ttl ended renewals ($((L1 - L0)) logins in that backend)"; else oc_fail "logins: $L0 -> $L1"; fi
R=$(oc_run "${PSQL[@]}" -c "SELECT orgcrypt.cache_flush()" -c "SELECT 'a:' || orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'role'" \
  -c "\\! curl -s --cacert '$DIR/ca.pem' -X POST -d '{\"expire_tokens\":true}' https://127.0.0.1:$VPORT/__test/faults >/dev/null" \
  -c "SELECT orgcrypt.cache_flush()" -c "SELECT 'b:' || orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'role'" 2>&1)
oc_expect_match "a revoked (expired) cached token: 403, a new login, the retry decrypts" "a:approle value.*b:approle value" "$(echo "$R" | tr '\n' ' ')"
vault_fault '{"reset": true}' >/dev/null
oc_run sh -c "printf 'wrong-secret\n' > '$DIR/secret_id'"
oc_expect_match "a wrong secret_id: 58000 vault-transit login: HTTP 400 with Vault's message" \
  "ERROR:  58000: vault-transit login: HTTP 400: invalid role or secret ID \\(auth/approle/login at 127.0.0.1:$VPORT\\)" "$(cold role)"
put secret_id "$SECRET_ID"

# ---- VAULT_TOKEN from the server's environment; a namespace
NOTOK="$BASE/transit/keys/kek?ca_file=$DIR/ca.pem"
use "$NOTOK"
q "INSERT INTO t SELECT 'envtok', orgcrypt.encrypt_for_org('envtok', 'env value')" >/dev/null
oc_expect "VAULT_TOKEN in the server's environment (no token in the URI)" "env value" "$(cold envtok)"
NS="$BASE/transit/keys/kek?token_file=$DIR/root.token&ca_file=$DIR/ca.pem&namespace=team-a"
use "$NS"
q "INSERT INTO t SELECT 'ns', orgcrypt.encrypt_for_org('ns', 'namespace value')" >/dev/null
oc_expect "namespace team-a: encrypt, cold decrypt" "namespace value" "$(cold ns)"
oc_expect "the requests carried X-Vault-Namespace: team-a" "team-a" "$(stat j.last_namespace)"
use "$URI"

# ---- rate limiting: retried, succeeds
vault_fault '{"rate_limit": 2}' >/dev/null
oc_expect "rate limited twice (429): retried, decrypts" "vault secret" "$(cold vorg)"
oc_expect "two 429 answers were counted" "2" "$(stat "Object.values(j.requests).reduce((a,r)=>a+(r['429']||0),0)")"
vault_fault '{"rate_limit": 5}' >/dev/null
oc_expect_match "rate limited past 3 attempts: 58000 with Vault's message" \
  "ERROR:  58000: vault-transit decrypt: HTTP 429: request path .* rate limit quota exceeded" "$(cold vorg)"
vault_fault '{"reset": true}' >/dev/null

# ---- a missing key, a missing policy, sealed
use "$BASE/transit/keys/nokey?$TOK"
R=$(qv "SELECT orgcrypt.create_org_key('nokey')")
oc_expect_match "a missing key (upsert needs create): 58000 HTTP 403 with a hint naming the key" \
  "ERROR:  58000: vault-transit encrypt: HTTP 403: .*permission denied.*\\(key transit/keys/nokey at 127.0.0.1:$VPORT\\).*HINT: .*the key exists" "$(echo "$R" | tr '\n' ' ')"
# (a least-privilege token gets 403 for a missing key with or without
# disable_upsert: the ACL check comes first; a root token sees the 400)
use "$BASE/strict/keys/nokey?token_file=$DIR/root.token&ca_file=$DIR/ca.pem"
oc_expect_match "a missing key with disable_upsert: 58000 HTTP 400 encryption key not found" \
  "ERROR:  58000: vault-transit encrypt: HTTP 400: encryption key not found \\(key strict/keys/nokey" "$(qv "SELECT orgcrypt.create_org_key('nokey')")"
use "$BASE/transit/keys/kek?token_file=$DIR/enc.token&ca_file=$DIR/ca.pem"
oc_expect_match "a token without decrypt: 58000, the new DEK is not stored, DETAIL names HTTP 403 on decrypt" \
  "ERROR:  58000: .*not stored.*DETAIL:  .*vault-transit decrypt: HTTP 403: .*permission denied" "$(qv "SELECT orgcrypt.create_org_key('encrypt-only')" | tr '\n' ' ')"
use "$URI"
vault_fault '{"sealed": true}' >/dev/null
N0=$(stat j.total)
oc_expect_match "sealed: 58000 HTTP 503 Vault is sealed, with the unseal hint" \
  "ERROR:  58000: vault-transit decrypt: HTTP 503: Vault is sealed .*HINT:  Vault is sealed: unseal it" "$(cold vorg | tr '\n' ' ')"
oc_expect "sealed is not retried: one request" "$((N0 + 1))" "$(stat j.total)"
vault_fault '{"sealed": false}' >/dev/null

# ---- HTTPS: a wrong CA is refused; VAULT_CACERT from the environment
WRONGCA="$BASE/transit/keys/kek2?token_file=$DIR/app.token&ca_file=$DIR/wrongca.pem"
use "$WRONGCA"
oc_expect_match "a CA that did not sign Vault's certificate: 58000, TLS refused" "ERROR:  58000: vault-transit encrypt: .*(certificate|SSL)" \
  "$(qv "SELECT orgcrypt.create_org_key('wrongca')")"
export OC_SERVER_ENV="VAULT_TOKEN=$ENV_TOKEN VAULT_CACERT=$DIR/ca.pem"
oc_cluster_restart || oc_fail "restart with VAULT_CACERT"
use "$BASE/transit/keys/kek2"
oc_expect "VAULT_TOKEN and VAULT_CACERT from the server's environment: a new org's key" "1" "$(q "SELECT orgcrypt.create_org_key('envca')")"
use "$URI"

# ---- a slow server, cancelled by statement_timeout
vault_fault '{"delay_ms": 600000}' >/dev/null
T0=$(date +%s%N)
R=$(oc_run "${PSQL[@]}" -c "SELECT orgcrypt.cache_flush()" -c "SET statement_timeout = '1s'" -c '\set VERBOSITY verbose' \
  -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'vorg'" 2>&1)
MS=$(( ($(date +%s%N) - T0) / 1000000 ))
oc_expect_match "a slow Vault: 57014 canceling statement due to statement timeout" "ERROR:  57014: canceling statement due to statement timeout" "$R"
if [ "$MS" -lt 20000 ]; then oc_ok "the cancel came promptly (${MS} ms for a 1 s statement_timeout)"; else oc_fail "the cancel took ${MS} ms"; fi
vault_fault '{"reset": true}' >/dev/null

# ---- a warm cache survives an outage until orgcrypt.cache_ttl; unreachable: 58000
oc_set orgcrypt.cache_ttl 6s || oc_fail "cache_ttl = 6s"
oc_expect "warm the cache" "vault secret" "$(cold vorg)"
WARM=$(date +%s)
vault_stop "$VS"
GOT=$(dec vorg); NOW=$(date +%s)
if [ $((NOW - WARM)) -lt 6 ]; then
  oc_expect "Vault down, warm cache: decrypts" "vault secret" "$GOT"
else
  oc_fail "the machine was too slow to check the warm cache within its 6 s TTL ($((NOW - WARM)) s)"
fi
R=""
for _ in $(seq 1 100); do R=$(oc_run "${PSQL[@]}" -c '\set VERBOSITY verbose' -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'vorg'" 2>&1); [ "$R" = "vault secret" ] || break; sleep 0.2; done
oc_expect_match "after cache_ttl, with Vault down: 58000 naming the provider, the host and the attempts" \
  "ERROR:  58000: vault-transit decrypt: .*127.0.0.1.*\\(key transit/keys/kek at 127.0.0.1:$VPORT; 3 attempts\\)" "$R"
oc_set orgcrypt.cache_ttl 5min || oc_fail "cache_ttl = 5min"
vault_start "$VS" "$DIR/vault.json" --tls-cert "$DIR/srv.pem" --tls-key "$DIR/srv.key" --port "$VPORT" \
  || oc_fail "the Vault test server restarts on port $VPORT"
oc_expect "Vault back: decrypts" "vault secret" "$(cold vorg)"

# ---- plain http (tls=off): refused unless orgcrypt.allow_plain_http_loopback
vault_start "$VS2" "$DIR/vault.json" || oc_fail "a plain-http Vault test server starts"
PLAIN="vault-transit://127.0.0.1:$VAULT_PORT/transit/keys/kek?tls=off&token_file=$DIR/app.token"
oc_set orgcrypt.allowed_key_uris "$BASE/*, vault-transit://127.0.0.1:$VAULT_PORT/*" || oc_fail "allowed_key_uris"
use "$PLAIN"
oc_expect "tls=off is not production-ready (health)" "f" "$(q "SELECT production_ready FROM orgcrypt.health() WHERE uri = '$PLAIN'")"
oc_expect_match "tls=off without orgcrypt.allow_plain_http_loopback: 58000, plain http refused" "ERROR:  58000: vault-transit encrypt: tls=off \\(plain http\\) is refused" \
  "$(qv "SELECT orgcrypt.create_org_key('plain')")"
if oc_set orgcrypt.allow_plain_http_loopback on; then
  oc_expect "tls=off with orgcrypt.allow_plain_http_loopback = on: a new org's key" "1" "$(q "SELECT orgcrypt.create_org_key('plain')")"
  oc_set orgcrypt.allow_plain_http_loopback off || true
else
  oc_fail "orgcrypt.allow_plain_http_loopback exists and can be set"
fi
vault_stop "$VS2"
use "$URI"

# ---- no token, role_id or secret_id in the server log; the Vault log has none either
LOG=$DIR/server.log
SECRETS=("$ROOT_TOKEN" "$APP_TOKEN" "$ENC_TOKEN" "$ENV_TOKEN" "$ROLE_ID" "$SECRET_ID")
mapfile -t ISSUED < <(node -e "const s=require('$VS/state.json');for(const id of Object.keys(s.tokens||{}))console.log(id)" 2>/dev/null | grep '^hvs\.')
LEAKS=0
for s in "${SECRETS[@]}" "${ISSUED[@]}"; do
  grep -qF "$s" "$LOG" && { LEAKS=$((LEAKS + 1)); echo "# in the server log: ${s:0:8}..."; }
  grep -qF "$s" "$VS/server.log" && { LEAKS=$((LEAKS + 1)); echo "# in the Vault log: ${s:0:8}..."; }
done
oc_expect "no token, role_id or secret_id in the PostgreSQL or Vault log (${#SECRETS[@]} secrets, ${#ISSUED[@]} issued tokens)" "0" "$LEAKS"
if [ "${#ISSUED[@]}" -ge 2 ]; then oc_ok "the scan knew the AppRole tokens Vault issued"; else oc_fail "issued tokens found in state.json: ${#ISSUED[@]}"; fi
oc_expect "the server log shows the vault-transit errors (the scan reads the right log)" "yes" \
  "$(grep -q 'vault-transit decrypt: HTTP 503' "$LOG" && echo yes || echo no)"
oc_summary
