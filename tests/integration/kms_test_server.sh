#!/usr/bin/env bash
# The loopback AWS KMS test server (tests/servers/kms_server.js) checked
# against independent implementations: tests/servers/check_kms.js drives it
# with the AWS SDK for JavaScript v3 (@aws-sdk/client-kms, @aws-sdk/client-sts,
# the SDK's web identity, ECS and IMDS credential providers) and with raw
# requests from a plain SigV4 signer checked against AWS's SigV4 test suite.
# The server runs as the postgres OS user when we are root (as the provider
# suites will run it); its keys survive a restart; it also serves HTTPS; its
# log holds no secret. Fails (never skips) without node or the npm modules.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source scripts/lib.sh
source tests/servers/lib_kms.sh
CFG=$PWD/tests/servers/kms_check_config.json
CHECK=$PWD/tests/servers/check_kms.js

if ! oc_node_deps >/dev/null || ! command -v node >/dev/null \
   || ! (cd tests/servers && node -e "for (const m of ['@aws-sdk/client-kms','@aws-sdk/client-sts','@smithy/signature-v4','@aws-crypto/sha256-js','@smithy/credential-provider-imds','@aws-sdk/credential-provider-http','@aws-sdk/credential-provider-web-identity']) require.resolve(m)"); then
  oc_fail "node and the pinned npm modules in tests/servers are installed (oc_node_deps)"
  oc_summary; exit 1
fi
oc_ensure_user
DIR=$(oc_mkdir); TDIR=$(oc_mkdir); WORK=$(mktemp -d)
trap 'kms_stop "$DIR"; kms_stop "$TDIR"; rm -rf "$DIR" "$TDIR" "$WORK"' EXIT

# Runs check_kms.js and turns each of its lines into oc_ok / oc_fail.
run_check() {
  local line out
  out=$(cd tests/servers && "$@" 2>&1)
  while IFS= read -r line; do
    case $line in
      "ok - "*) oc_ok "${line#ok - }" ;;
      "not ok - "*) oc_fail "${line#not ok - }" ;;
      *) [ -n "$line" ] && echo "# $line" ;;
    esac
  done <<<"$out"
}

if ! kms_start "$DIR" "$CFG"; then oc_fail "the KMS test server starts"; oc_summary; exit 1; fi
oc_ok "the KMS test server starts on loopback port $KMS_PORT"
oc_expect "it runs as the server's OS user" "$(oc_server_user)" "$(ps -o user= -p "$KMS_PID" | tr -d ' ')"

run_check node "$CHECK" --url "$KMS_URL" --config "$CFG"

# --- a third SigV4 implementation: curl's own (--aws-sigv4, libcurl), which
# signs content-type;host;x-amz-date;x-amz-target (+ x-amz-security-token)
cfgv() { node -e 'const c = require(process.argv[1]); console.log(eval(process.argv[2]))' "$CFG" "$1"; }
REGION=$(cfgv c.region)
kcurl() {  # kcurl AKID SECRET TARGET BODY [extra curl args]
  curl -sS --max-time 20 --aws-sigv4 "aws:amz:$REGION:kms" --user "$1:$2" \
    -H "Content-Type: application/x-amz-json-1.1" -H "X-Amz-Target: TrentService.$3" --data "$4" "${@:5}" "$KMS_URL/"
}
oc_expect_match "curl --aws-sigv4 (libcurl's signer): DescribeKey answers the key ARN" \
  "\"Arn\":\"arn:aws:kms:$REGION:[0-9]+:key/$(cfgv 'c.keys[0].id')\"" \
  "$(kcurl "$(cfgv 'c.credentials[0].access_key_id')" "$(cfgv 'c.credentials[0].secret_access_key')" DescribeKey '{"KeyId":"alias/orgcrypt"}')"
# shellcheck disable=SC2119
oc_expect_match "... it signed content-type;host;x-amz-date;x-amz-target" \
  '"last_signed_headers": "content-type;host;x-amz-date;x-amz-target"' "$(kms_stats)"
oc_expect_match "curl --aws-sigv4 with a session token (signed as x-amz-security-token)" '"KeyState":"Enabled"' \
  "$(kcurl "$(cfgv 'c.credentials[2].access_key_id')" "$(cfgv 'c.credentials[2].secret_access_key')" DescribeKey '{"KeyId":"alias/orgcrypt"}' \
      -H "X-Amz-Security-Token: $(cfgv 'c.credentials[2].session_token')")"
oc_expect "curl --aws-sigv4 with a wrong secret: InvalidSignatureException" \
  "com.amazon.coral.service#InvalidSignatureException" \
  "$(kcurl "$(cfgv 'c.credentials[0].access_key_id')" wrong Encrypt '{}' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).__type))')"
BIG=$(head -c 3000 /dev/zero | base64 -w0)
oc_expect_match "curl with Expect: 100-continue and a 3000-byte plaintext: Encrypt works" '"CiphertextBlob":"' \
  "$(kcurl "$(cfgv 'c.credentials[0].access_key_id')" "$(cfgv 'c.credentials[0].secret_access_key')" Encrypt \
      "{\"KeyId\":\"alias/orgcrypt\",\"Plaintext\":\"$BIG\"}" -H "Expect: 100-continue")"

# --- restart: the key material is kept in DIR/state.json
run_check node "$CHECK" --url "$KMS_URL" --config "$CFG" --phase persist-write --file "$WORK/blob"
kms_stop "$DIR"
oc_expect "the server stopped (process group killed)" "no" "$(kill -0 "$KMS_PID" 2>/dev/null && echo yes || echo no)"
if kms_start "$DIR"; then
  run_check node "$CHECK" --url "$KMS_URL" --config "$CFG" --phase persist-read --file "$WORK/blob"
else
  oc_fail "the server restarts on its saved state"
fi

# --- no secret in the log: configured secrets and tokens, and those it issued
SECRETS=$(oc_run node -e '
  const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const out = [s.sts.web_identity_token, s.ecs.authorization];
  for (const c of [...s.credentials, ...s.issued]) out.push(c.secret_access_key, c.session_token);
  for (const k of s.keys) out.push(k.material);
  console.log(out.filter(Boolean).join("\n"));' "$DIR/state.json")
LEAKS=0
while IFS= read -r s; do
  [ -n "$s" ] && oc_run grep -qF -- "$s" "$DIR/server.log" && LEAKS=$((LEAKS + 1))
done <<<"$SECRETS"
oc_expect "no secret key, token or key material in server.log ($(echo "$SECRETS" | wc -l) values looked for)" "0" "$LEAKS"
kms_stop "$DIR"

# --- HTTPS: a certificate for 127.0.0.1 made here; the SDK verifies it
if oc_run openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
     -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
     -keyout "$TDIR/tls.key" -out "$TDIR/tls.crt" >/dev/null 2>&1 \
   && cp "$TDIR/tls.crt" "$WORK/ca.crt" \
   && kms_start "$TDIR" "$CFG" --tls-cert "$TDIR/tls.crt" --tls-key "$TDIR/tls.key"; then
  oc_expect_match "with --tls-cert/--tls-key it serves https" "^https://127.0.0.1:[0-9]+$" "$KMS_URL"
  NODE_EXTRA_CA_CERTS=$WORK/ca.crt run_check node "$CHECK" --url "$KMS_URL" --config "$CFG" --phase tls
  oc_expect_match "a client that does not trust the certificate is refused" "certificate" \
    "$(curl -sS --max-time 10 "$KMS_URL/__test/stats" 2>&1 >/dev/null)"
else
  oc_fail "the HTTPS server starts"
fi
oc_summary
