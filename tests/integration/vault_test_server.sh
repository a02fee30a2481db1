#!/usr/bin/env bash
# The loopback Vault/OpenBao test server (tests/servers/vault_server.js),
# checked by driving it with node-vault (tests/servers/check_vault.js): token
# auth, AppRole login/renewal/expiry, Transit encrypt/decrypt with
# associated_data, key rotation and min_decryption_version, policies,
# namespaces (header and path prefix), a mount with a slash, faults (sealed,
# 429, 5xx, dropped connections, delays), keys surviving a restart, HTTPS with
# a CA made here. Also the shell helpers of tests/servers/lib_vault.sh, the
# server running as the postgres OS user, and no token or secret_id in its log.
# Fails (never skips) when node or the npm modules are missing.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source scripts/lib.sh
source tests/servers/lib_vault.sh
OC_PASS=0; OC_FAIL=0

if ! oc_node_deps >/dev/null || ! command -v node >/dev/null || [ ! -d tests/servers/node_modules/node-vault ]; then
  oc_fail "node and the npm modules of tests/servers (node-vault) are installed"
  oc_summary; exit 1
fi
oc_as_root && oc_ensure_user
DIR=$(oc_mkdir)      # server state (owned by the server user)
TDIR=$(oc_mkdir)     # HTTPS server state
WORK=$(mktemp -d)    # ours: config, CA, what the check saves between phases
trap 'vault_stop "$DIR"; vault_stop "$TDIR"; rm -rf "$DIR" "$TDIR" "$WORK"' EXIT

ROOT_TOKEN=root-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
SECRET_ID=secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$WORK/config.json" <<EOF
{
  "tokens": [
    {"id": "$ROOT_TOKEN", "policies": ["root"]},
    {"id": "enc-only-token", "policies": ["encrypt-only"], "ttl": 3600},
    {"id": "team-a-token", "namespace": "team-a",
     "policies": [{"path": "transit/encrypt/*", "capabilities": ["update"]}]}
  ],
  "namespaces": {
    "": {
      "policies": {
        "orgcrypt": [
          {"path": "transit/encrypt/kek", "capabilities": ["update"]},
          {"path": "transit/decrypt/kek", "capabilities": ["update"]},
          {"path": "team/transit/+/kek2", "capabilities": ["update"]}
        ],
        "encrypt-only": [{"path": "transit/encrypt/*", "capabilities": ["update"]}]
      },
      "transit": {
        "transit": {"keys": {"kek": {"type": "aes256-gcm96"}, "old": {"versions": 2}}},
        "team/transit": {"keys": {"kek2": {}}, "disable_upsert": true}
      },
      "auth": {"approle": {"roles": {"orgcrypt": {
        "role_id": "role-orgcrypt", "secret_ids": ["$SECRET_ID"],
        "token_ttl": 30, "token_max_ttl": 120, "token_policies": ["orgcrypt"]}}}}
    },
    "team-a": {"transit": {"transit": {"keys": {"kek": {}}}}}
  }
}
EOF

# check PHASE ADDR [--ca FILE]: runs check_vault.js, turns its lines into ok/fail.
check() {
  local phase=$1 addr=$2 out rc line
  shift 2
  out=$(env -u VAULT_TOKEN -u VAULT_NAMESPACE -u VAULT_SKIP_VERIFY -u VAULT_PREFIX -u VAULT_ADDR \
        node tests/servers/check_vault.js --phase "$phase" --addr "$addr" --config "$WORK/config.json" \
        --state "$VAULT_DIR" --work "$WORK" "$@" 2>&1)
  rc=$?
  while IFS= read -r line; do
    case $line in
      "ok - "*) oc_ok "${line#ok - }" ;;
      "not ok - "*) oc_fail "${line#not ok - }" ;;
      "# done") ;;
      *) [ -n "$line" ] && echo "# $line" ;;
    esac
  done <<< "$out"
  if [ $rc = 0 ] && grep -qx '# done' <<< "$out"; then oc_ok "check_vault.js $phase ran to the end"
  else oc_fail "check_vault.js $phase ran to the end (exit $rc)"; fi
}

# --- plain HTTP
if vault_start "$DIR" "$WORK/config.json"; then oc_ok "vault_start: port $VAULT_PORT"
else oc_fail "vault_start"; oc_summary; exit 1; fi
if oc_as_root; then
  oc_expect "the server runs as the postgres OS user" postgres "$(ps -o user= -p "$VAULT_SRV_PID" | tr -d ' ')"
fi
oc_expect "state.json is private (0600)" 600 "$(stat -c %a "$DIR/state.json")"
check main "http://127.0.0.1:$VAULT_PORT"

# The shell helpers the provider suites use.
vault_fault '{"sealed":true}' >/dev/null
oc_expect "vault_fault sealed: health answers 503" 503 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$VAULT_ADDR/v1/sys/health")"
vault_fault '{"reset":true}' >/dev/null
oc_expect "vault_fault reset: health answers 200" 200 \
  "$(curl -s -o /dev/null -w '%{http_code}' "$VAULT_ADDR/v1/sys/health")"
oc_expect_match "vault_keys rotates" '"latest_version":4' "$(vault_keys '{"mount":"transit","key":"kek","rotate":true}')"
oc_expect_match "vault_stats counts logins" '"logins":2' "$(vault_stats)"

# Restart: the keys survive.
OLD_PID=$VAULT_SRV_PID
vault_stop "$DIR"
if kill -0 "$OLD_PID" 2>/dev/null; then oc_fail "vault_stop ends the server"; else oc_ok "vault_stop ends the server"; fi
if vault_start "$DIR" "$WORK/config.json"; then oc_ok "vault_start again on the same state"
else oc_fail "vault_start again on the same state"; oc_summary; exit 1; fi
check restart "http://127.0.0.1:$VAULT_PORT"

# No token or secret_id in the log.
if grep -qF -e "$ROOT_TOKEN" -e "$SECRET_ID" -e enc-only-token -e team-a-token -e hvs. "$DIR/server.log"; then
  oc_fail "no token or secret_id in server.log"
else oc_ok "no token or secret_id in server.log"; fi
vault_stop "$DIR"

# --- HTTPS with a CA made here
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=orgcrypt test CA" \
  -keyout "$WORK/ca.key" -out "$WORK/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$TDIR/tls.key" -out "$WORK/tls.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$WORK/ext.cnf"
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
  -extfile "$WORK/ext.cnf" -out "$TDIR/tls.pem" 2>/dev/null
oc_as_root && chown postgres: "$TDIR/tls.key" "$TDIR/tls.pem"
chmod 600 "$TDIR/tls.key"
if vault_start "$TDIR" "$WORK/config.json" --tls-cert "$TDIR/tls.pem" --tls-key "$TDIR/tls.key"; then
  oc_ok "vault_start with --tls-cert/--tls-key"
  check tls "https://127.0.0.1:$VAULT_PORT" --ca "$WORK/ca.pem"
  oc_expect_match "vault_stats over HTTPS with VAULT_CACERT" '"total":' "$(VAULT_CACERT=$WORK/ca.pem vault_stats)"
else
  oc_fail "vault_start with --tls-cert/--tls-key"
fi
oc_summary
