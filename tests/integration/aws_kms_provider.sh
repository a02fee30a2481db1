#!/usr/bin/env bash
# The aws-kms: master key end to end, against the loopback KMS/STS/ECS/IMDS
# test server (tests/servers/kms_server.js, checked against the AWS SDK by
# kms_test_server.sh); no real AWS is contacted. The server's AWS settings
# come through its environment (OC_SERVER_ENV), as in production; plain http
# to 127.0.0.1 is allowed by the test setting orgcrypt.allow_plain_http_loopback.
#   encrypt, restart, decrypt; the encryption context KMS saw; health();
#   HTTPS with ca_file= (and refused without it);
#   one connection per backend, reused;
#   an alias URI records the key ARN; rewrap file: -> aws-kms -> file:;
#   throttling and 5xx retried; a disabled key, an unknown key and a row
#   copied to another org (wrong encryption context) refused with the
#   __type; an unreachable endpoint; a slow endpoint cancelled by
#   statement_timeout; a warm cache surviving an outage until cache_ttl;
#   web identity credentials refreshed after KMS says they expired, and
#   before they expire (8 s credentials over HTTPS); ECS and IMDSv2
#   credentials; a profile in a credentials file; and no secret access key,
#   session token, web identity token or ECS token in the server log.
# Fails (never skips) when node or the npm modules are missing.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
source scripts/lib.sh
source tests/servers/lib_kms.sh
oc_install_deps >/dev/null
oc_node_deps || { oc_fail "node and the npm modules of tests/servers (oc_node_deps)"; oc_summary; exit 1; }
DIR=$(oc_mkdir)
KDIR=$(oc_mkdir)
TDIR=$(oc_mkdir)
cleanup() { kms_stop "$TDIR"; kms_stop "$KDIR"; oc_cluster_stop "$DIR/data"; rm -rf "$DIR" "$KDIR" "$TDIR"; }
trap cleanup EXIT

rnd() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }
ACCOUNT=111122223333
KEY1=7c1f2a90-1b2c-4d3e-8f40-5a6b7c8d9e01
KEY2=7c1f2a90-1b2c-4d3e-8f40-5a6b7c8d9e02
ARN1=arn:aws:kms:eu-west-1:$ACCOUNT:key/$KEY1
ARN2=arn:aws:kms:eu-west-1:$ACCOUNT:key/$KEY2
ALIAS=arn:aws:kms:eu-west-1:$ACCOUNT:alias/orgcrypt
AKID=AKIAORGCRYPTE2E00001 SECRET=e2e-secret-$(rnd)
PAKID=AKIAORGCRYPTE2E00002 PSECRET=e2e-profile-secret-$(rnd)
WIT=eyJhbGciOiJSUzI1NiJ9.e2e-web-identity-$(rnd).sig
ECSTOK=e2e-ecs-authorization-$(rnd)
ROLE=arn:aws:iam::$ACCOUNT:role/orgcrypt-kms
cat >"$DIR/kms.json" <<JSON
{
  "region": "eu-west-1", "account_id": "$ACCOUNT",
  "keys": [ { "id": "$KEY1", "aliases": ["alias/orgcrypt"] }, { "id": "$KEY2", "aliases": ["alias/other"] } ],
  "credentials": [ { "access_key_id": "$AKID", "secret_access_key": "$SECRET" },
                   { "access_key_id": "$PAKID", "secret_access_key": "$PSECRET" } ],
  "sts": { "role_arns": ["$ROLE"], "web_identity_token": "$WIT", "lifetime_seconds": 3600 },
  "ecs": { "authorization": "$ECSTOK", "lifetime_seconds": 3600 },
  "imds": { "role_name": "orgcrypt-instance-role", "lifetime_seconds": 3600 }
}
JSON
KPORT=$(oc_free_port)
kms_start "$KDIR" "$DIR/kms.json" --port "$KPORT" || { oc_fail "KMS test server starts"; oc_summary; exit 1; }
oc_ok "KMS test server on $KMS_URL"

# Files the server reads: owned by postgres, mode 0600.
oc_run mkdir -m 700 "$DIR/home"
oc_run sh -c "umask 077; printf '%s' '$WIT' > '$DIR/wit.token'; printf '%s\n' '$ECSTOK' > '$DIR/ecs.token'"
oc_run sh -c "umask 077; printf '[e2e]\naws_access_key_id = %s\naws_secret_access_key = %s\n' '$PAKID' '$PSECRET' > '$DIR/credentials'"

BASE_ENV="HOME=$DIR/home AWS_ENDPOINT_URL=$KMS_URL AWS_EC2_METADATA_DISABLED=true AWS_REGION=eu-west-1"
export OC_SERVER_ENV="$BASE_ENV AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET"
oc_cluster_start "$DIR" yes "orgcrypt.allow_plain_http_loopback = on" "log_min_error_statement = error" \
  || { oc_fail "server starts"; oc_summary; exit 1; }
PSQL=("$OC_PGBIN/psql" -X -q -At -h "$OC_HOST" -p "$OC_PORT" -U postgres -d postgres)
q() { oc_run "${PSQL[@]}" -c "$1" 2>&1; }
qv() { oc_run "${PSQL[@]}" -c '\set VERBOSITY verbose' -c "$1" 2>&1; }
dec() { q "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = '$1'"; }
enc() { q "INSERT INTO t SELECT '$1', orgcrypt.encrypt_for_org('$1', '$2')"; }
flush() { q "SELECT orgcrypt.cache_flush()" >/dev/null; }
provider_of() { q "SELECT provider FROM orgcrypt.org_keys WHERE org = '$1' ORDER BY version DESC LIMIT 1"; }
stat() { kms_stats | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const j=JSON.parse(s);const v=($1);console.log(typeof v==='object'?JSON.stringify(v):v)})"; }
restart() { oc_cluster_restart "$OC_DATA" || oc_fail "restart"; }
set_master() { oc_set orgcrypt.master_key "$1" || oc_fail "master key set to $1"; }

q "CREATE EXTENSION orgcrypt" >/dev/null
q "CREATE TABLE t (org text PRIMARY KEY, v orgcrypt.ciphertext)" >/dev/null

# ---- rewrap file: -> aws-kms: (the cluster starts with a file: key)
FILEKEY="file:$OC_KEY"
for i in 1 2 3; do enc "f$i" "file value $i" >/dev/null; done
oc_expect "three orgs under the file: key" "3" "$(q "SELECT count(*) FROM orgcrypt.org_dek WHERE kek_uri = '$FILEKEY'")"
set_master "aws-kms:$ARN1"
oc_expect "CALL rewrap_org_keys() moves the file: DEKs to aws-kms:" "3" "$(q "CALL orgcrypt.rewrap_org_keys()")"
oc_expect "every DEK is now under the KMS key" "3|0" \
  "$(q "SELECT count(*) FILTER (WHERE kek_uri = 'aws-kms:$ARN1') || '|' || count(*) FILTER (WHERE kek_uri = '$FILEKEY') FROM orgcrypt.org_dek")"

# ---- encrypt under aws-kms:, restart, decrypt
oc_expect "encrypt under a new org: its DEK is wrapped by KMS Encrypt" "" "$(enc acme 'kms secret')"
oc_expect "org_keys names the key ARN" "aws-kms:$ARN1" "$(provider_of acme)"
oc_expect "KMS saw the encryption context of org and version" \
  '{"orgcrypt:org":"acme","orgcrypt:purpose":"dek-wrap-v1","orgcrypt:version":"1"}' \
  "$(stat "Object.fromEntries(Object.entries(j.last_encryption_context).sort())")"
restart
oc_expect "after a restart (cold caches) the value decrypts" "kms secret" "$(dec acme)"
oc_expect "and the rewrapped file: values too" "file value 1|file value 2|file value 3" \
  "$(q "SELECT string_agg(orgcrypt.decrypt_for_org(org, v), '|' ORDER BY org) FROM t WHERE org LIKE 'f%'")"
oc_expect "health(): reachable, wraps, unwraps, production-ready" "aws-kms|t|t|t|t|ok" \
  "$(q "SELECT concat_ws('|', provider, reachable, can_wrap, can_unwrap, production_ready, detail) FROM orgcrypt.health() WHERE uri = 'aws-kms:$ARN1'")"
oc_expect "the KMS requests were signed over content-type;host;x-amz-date;x-amz-target" \
  "content-type;host;x-amz-date;x-amz-target" "$(stat j.last_signed_headers)"
C0=$(stat j.connections)
oc_run "${PSQL[@]}" -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'" \
  -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'" \
  -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'" >/dev/null 2>&1
C1=$(stat j.connections)
# One connection for the backend's three Decrypts, one for this stats request.
oc_expect "one backend reuses its connection to KMS for three cold unwraps" "2" "$((C1 - C0))"

# ---- an alias URI records the key ARN it resolved to
set_master "aws-kms:$ALIAS"
oc_expect "encrypt under the alias" "" "$(enc al 'alias value')"
oc_expect "org_keys records the key ARN, not the alias" "aws-kms:$ARN1" "$(provider_of al)"
kms_keys "{\"alias\": \"alias/orgcrypt\", \"target\": \"$KEY2\"}" >/dev/null
oc_expect "the alias re-pointed: a new org goes to the other key" "aws-kms:$ARN2" "$(enc al2 'x' >/dev/null; provider_of al2)"
flush
oc_expect "the first alias org still decrypts (its row names key 1)" "alias value" "$(dec al)"
kms_keys "{\"alias\": \"alias/orgcrypt\", \"target\": \"$KEY1\"}" >/dev/null
set_master "aws-kms:$ARN1"

# ---- throttling and 5xx are retried
flush
kms_stats reset=1 >/dev/null
kms_fault '{"throttle": 2}' >/dev/null
oc_expect "two ThrottlingExceptions, then the unwrap succeeds" "kms secret" "$(dec acme)"
oc_expect "KMS answered 2 throttles and 1 Decrypt" "2|1" "$(stat "j.ops.Decrypt.ThrottlingException + '|' + j.ops.Decrypt.ok")"
flush
kms_fault '{"errors": [{"status": 500}, {"status": 503, "type": "DependencyTimeoutException"}, {"status": 500}]}' >/dev/null
oc_expect_match "three 5xx in a row: 58000 KMSInternalException after 3 attempts" \
  "58000.*aws-kms Decrypt: KMSInternalException.*after 3 attempts" "$(qv "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'" | tr '\n' ' ')"
flush   # a failed unwrap is held briefly for the sessions waiting on it (single flight)
oc_expect "and the next call succeeds" "kms secret" "$(dec acme)"

# ---- a disabled key, an unknown key
flush
kms_keys "{\"key\": \"$KEY1\", \"state\": \"Disabled\"}" >/dev/null
R=$(qv "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'" | tr '\n' ' ')
oc_expect_match "a disabled key: 58000 DisabledException naming the key ARN, with a hint" \
  "58000.*aws-kms Decrypt: DisabledException.*\\(key $ARN1\\).*HINT:.*enable it" "$R"
kms_keys "{\"key\": \"$KEY1\", \"state\": \"Enabled\"}" >/dev/null
NOKEY=arn:aws:kms:eu-west-1:$ACCOUNT:key/7c1f2a90-1b2c-4d3e-8f40-000000000000
set_master "aws-kms:$NOKEY"
oc_expect_match "an unknown key: 58000 NotFoundException" "58000.*aws-kms Encrypt: NotFoundException" \
  "$(qv "SELECT orgcrypt.encrypt_for_org('nokey', 'x')" | tr '\n' ' ')"
set_master "aws-kms:$ARN1"

# ---- a wrapped DEK copied to another org: the encryption context differs
enc other 'other value' >/dev/null
q "CREATE TABLE saved AS SELECT * FROM orgcrypt.org_dek WHERE org = 'other'" >/dev/null
q "UPDATE orgcrypt.org_dek SET wrapped = (SELECT wrapped FROM orgcrypt.org_dek WHERE org = 'acme' AND version = 1) WHERE org = 'other'" >/dev/null
flush
oc_expect_match "acme's wrapped DEK in other's row: 58000 InvalidCiphertextException" \
  "58000.*aws-kms Decrypt: InvalidCiphertextException" "$(qv "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'other'" | tr '\n' ' ')"
q "UPDATE orgcrypt.org_dek d SET wrapped = s.wrapped FROM saved s WHERE d.org = s.org AND d.version = s.version" >/dev/null
flush
oc_expect "its own wrapped DEK back: it decrypts" "other value" "$(dec other)"

# ---- unreachable endpoint (a closed port), named in the error
DEAD=$(oc_free_port)
set_master "aws-kms:$ARN1?endpoint=http://127.0.0.1:$DEAD"
oc_expect_match "an unreachable endpoint: 58000 naming the host" "58000.*aws-kms Encrypt.*127\\.0\\.0\\.1" \
  "$(qv "SELECT orgcrypt.encrypt_for_org('dead', 'x')" | tr '\n' ' ')"
set_master "aws-kms:$ARN1"

# ---- a slow endpoint: statement_timeout cancels the call (57014), promptly
flush
kms_fault '{"delay_ms": 60000}' >/dev/null
T0=$(date +%s%N)
R=$(qv "SET statement_timeout = '1s'; SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'" | tr '\n' ' ')
T1=$(date +%s%N)
kms_fault '{"delay_ms": 0}' >/dev/null
oc_expect_match "a call held by a slow KMS is cancelled by statement_timeout (57014)" "57014" "$R"
MS=$(( (T1 - T0) / 1000000 ))
# The request's own timeout is 10 s: ending well before it means the cancel did it.
if [ "$MS" -lt 9000 ]; then oc_ok "the cancel ended the call before the request timeout (${MS} ms)"; else oc_fail "the cancel took ${MS} ms"; fi
oc_expect "afterwards the value decrypts" "kms secret" "$(dec acme)"

# ---- a warm cache survives an outage until orgcrypt.cache_ttl
oc_set orgcrypt.cache_ttl 10s || oc_fail "cache_ttl = 10s"
flush
dec acme >/dev/null
WARM=$(date +%s)
kms_stop "$KDIR"
GOT=$(dec acme); NOW=$(date +%s)
if [ $((NOW - WARM)) -lt 10 ]; then
  oc_expect "KMS down: the warm cache still decrypts" "kms secret" "$GOT"
else
  oc_fail "the machine was too slow to check the warm cache within its 10 s TTL ($((NOW - WARM)) s)"
fi
R=""
for _ in $(seq 1 60); do
  R=$(qv "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'" | tr '\n' ' ')
  case "$R" in *58000*) break ;; esac
  sleep 1
done
FAILED_AT=$(date +%s)
oc_expect_match "after the TTL the key is gone with KMS: 58000 naming the endpoint" "58000.*aws-kms Decrypt.*127\\.0\\.0\\.1" "$R"
if [ $((FAILED_AT - WARM)) -ge 10 ]; then oc_ok "not before the TTL ($((FAILED_AT - WARM)) s)"; else oc_fail "the cache entry expired after $((FAILED_AT - WARM)) s, before its 10 s TTL"; fi
kms_start "$KDIR" "" --port "$KPORT" || oc_fail "KMS test server restarts"
flush   # the last failure is held briefly (single flight)
oc_expect "KMS back (same keys after its restart): decrypts again" "kms secret" "$(dec acme)"
oc_set orgcrypt.cache_ttl 5min || oc_fail "cache_ttl back to 5min"

# ---- web identity (STS), refreshed after the credentials expire
export OC_SERVER_ENV="$BASE_ENV AWS_WEB_IDENTITY_TOKEN_FILE=$DIR/wit.token AWS_ROLE_ARN=$ROLE AWS_ROLE_SESSION_NAME=orgcrypt-e2e"
restart
kms_stats reset=1 >/dev/null
oc_expect "web identity: decrypt with STS credentials" "kms secret" "$(dec acme)"
oc_expect "one AssumeRoleWithWebIdentity, and KMS saw its ASIA key" "1|ASIA" \
  "$(stat "j.credentials_issued.sts + '|' + j.last_access_key_id.slice(0, 4)")"
# One backend: it holds STS credentials, they expire at the server, and its
# next KMS call is answered ExpiredTokenException: fetched again, retried.
DQ="SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'"
kms_stats reset=1 >/dev/null
R=$(oc_run "${PSQL[@]}" -c "SELECT orgcrypt.cache_flush()" -c "$DQ" \
      -c "\\! curl -sS -o /dev/null -X POST -H 'Content-Type: application/json' --data '{\"expire_credentials\": true}' $KMS_URL/__test/faults" \
      -c "SELECT orgcrypt.cache_flush()" -c "$DQ" 2>&1 | grep -v '^$' | tr '\n' '|')
oc_expect "the same backend: its credentials expired, fetched again, the call retried" "kms secret|kms secret|" "$R"
oc_expect "KMS answered ExpiredTokenException once; STS issued a second set" "1|2" \
  "$(stat "(j.ops.Decrypt.ExpiredTokenException || 0) + '|' + j.credentials_issued.sts")"

# ---- ECS container endpoint, EC2 IMDSv2, a profile in a credentials file
export OC_SERVER_ENV="$BASE_ENV AWS_CONTAINER_CREDENTIALS_FULL_URI=$KMS_URL/ecs/creds AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$DIR/ecs.token"
restart
flush
oc_expect "ECS container credentials: decrypts" "kms secret" "$(dec acme)"
oc_expect "the ECS endpoint issued them" "1" "$(stat "j.credentials_issued.ecs")"
export OC_SERVER_ENV="HOME=$DIR/home AWS_ENDPOINT_URL=$KMS_URL AWS_EC2_METADATA_SERVICE_ENDPOINT=$KMS_URL"
restart
flush
oc_expect "EC2 IMDSv2 credentials: decrypts" "kms secret" "$(dec acme)"
oc_expect "IMDS: a token, the role, its credentials" "1|1|1" \
  "$(stat "j.credential_requests.imds_token + '|' + j.credential_requests.imds_role + '|' + j.credentials_issued.imds")"
export OC_SERVER_ENV="$BASE_ENV AWS_ACCESS_KEY_ID=$AKID AWS_SECRET_ACCESS_KEY=$SECRET"
restart
PURI="aws-kms:$ARN1?profile=e2e&credentials_file=$DIR/credentials"
set_master "$PURI"
oc_expect "profile= and credentials_file= in the URI (it is the master key, so trusted)" "" "$(enc prof 'profile value')"
oc_expect "KMS saw the profile's access key (profile= wins over the environment's keys)" "$PAKID" "$(stat j.last_access_key_id)"
oc_expect "org_keys records the URI with its parameters" "$PURI" "$(provider_of prof)"
set_master "aws-kms:$ARN1"
flush
oc_expect_match "a URI with parameters that is not the master key is not trusted (a planted row)" \
  "58000.*is not trusted by this server" "$(qv "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'prof'" | tr '\n' ' ')"
oc_set orgcrypt.allowed_key_uris "aws-kms:$ARN1?profile=e2e&*" || oc_fail "allowed_key_uris"
flush
oc_expect "listed in orgcrypt.allowed_key_uris: it decrypts" "profile value" "$(dec prof)"

# ---- HTTPS with certificate verification: a second server with a TLS
# certificate made here; ca_file= names its CA (AWS_CA_BUNDLE works the same).
oc_run openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$TDIR/tls.key" -out "$TDIR/tls.crt" >/dev/null 2>&1
# Its STS issues credentials for 8 s (real STS: at least 15 min).
sed 's/"lifetime_seconds": 3600 }, *$/"lifetime_seconds": 8 },/' "$DIR/kms.json" > "$DIR/kms_tls.json"
grep -q '"lifetime_seconds": 8' "$DIR/kms_tls.json" || oc_fail "the short-lifetime STS configuration"
if kms_start "$TDIR" "$DIR/kms_tls.json" --tls-cert "$TDIR/tls.crt" --tls-key "$TDIR/tls.key"; then
  TLS_URI="aws-kms:$ARN1?endpoint=https://127.0.0.1:$KMS_PORT&ca_file=$TDIR/tls.crt"
  set_master "$TLS_URI"
  oc_expect "HTTPS with ca_file=: encrypt" "" "$(enc tls 'over tls')"
  flush
  oc_expect "HTTPS with ca_file=: decrypt" "over tls" "$(dec tls)"
  # Web identity with 8 s credentials, all over HTTPS: one backend fetches
  # them, and fetches new ones before they expire (a quarter of the lifetime
  # left), without KMS ever refusing them.
  WI_URI="aws-kms:$ARN1?endpoint=https://127.0.0.1:$KMS_PORT&sts_endpoint=https://127.0.0.1:$KMS_PORT&ca_file=$TDIR/tls.crt&web_identity_token_file=$DIR/wit.token&role_arn=$ROLE"
  set_master "$WI_URI"
  kms_stats reset=1 >/dev/null
  R=$(oc_run "${PSQL[@]}" -c "SELECT orgcrypt.cache_flush()" -c "INSERT INTO t SELECT 'wi', orgcrypt.encrypt_for_org('wi', 'short-lived')" \
        -c "SELECT pg_sleep(6.5)" -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'wi'" 2>&1 | grep -v '^$')
  oc_expect "web identity over HTTPS with 8 s credentials: encrypt, and decrypt 6.5 s later" "short-lived" "$R"
  oc_expect_match "STS issued new credentials before the old ones expired; KMS refused none" "^([2-9]|[1-9][0-9]+)\|0$" \
    "$(stat "j.credentials_issued.sts + '|' + Object.values(j.ops).reduce((n, o) => n + (o.ExpiredTokenException || 0), 0)")"
  q "SELECT orgcrypt.destroy_org_keys('wi')" >/dev/null
  q "DELETE FROM t WHERE org = 'wi'" >/dev/null
  set_master "aws-kms:$ARN1?endpoint=https://127.0.0.1:$KMS_PORT"
  oc_expect_match "HTTPS without the CA: 58000, the certificate is not trusted" "58000.*aws-kms Encrypt.*(certificate|SSL)" \
    "$(qv "SELECT orgcrypt.encrypt_for_org('tls2', 'x')" | tr '\n' ' ')"
  set_master "aws-kms:$ARN1"
  q "SELECT orgcrypt.destroy_org_keys('tls')" >/dev/null
  q "DELETE FROM t WHERE org = 'tls'" >/dev/null
  kms_stop "$TDIR"
else
  oc_fail "the HTTPS KMS test server starts"
fi
KMS_URL=http://127.0.0.1:$KPORT   # the first server again, for kms_stats

# ---- rewrap aws-kms: -> file: (the old KMS URIs listed while their DEKs remain)
oc_set orgcrypt.master_key "$FILEKEY" || oc_fail "master key back to file:"
flush
oc_expect_match "with a file: master key, the KMS key's rows are no longer trusted" \
  "58000.*is not trusted by this server" "$(qv "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'acme'" | tr '\n' ' ')"
oc_set orgcrypt.allowed_key_uris "aws-kms:$ARN1?profile=e2e&*, aws-kms:$ARN1" || oc_fail "allowed_key_uris lists the KMS key"
flush
oc_expect "listed: they decrypt, and so does another key of the same account (same scope)" "kms secret|x" \
  "$(dec acme)|$(dec al2)"
N=$(q "SELECT count(*) FROM orgcrypt.org_dek WHERE state <> 'destroyed' AND kek_uri LIKE 'aws-kms:%'")
oc_expect "CALL rewrap_org_keys() moves every aws-kms: DEK back to file:" "$N" "$(q "CALL orgcrypt.rewrap_org_keys()")"
kms_stop "$KDIR"
restart
oc_expect "with KMS stopped, every value decrypts after a restart" \
  "$(q "SELECT count(*) FROM t")" "$(q "SELECT count(*) FROM t WHERE orgcrypt.decrypt_for_org(org, v) IS NOT NULL")"

# ---- no secret in the server log
ISSUED=$(node -e "const j=require('$KDIR/state.json');for(const c of (j.issued||[])){console.log(c.secret_access_key);if(c.session_token)console.log(c.session_token)}")
LEAK=""
for s in "$SECRET" "$PSECRET" "$WIT" "$ECSTOK" $ISSUED; do
  [ -n "$s" ] && grep -qF -- "$s" "$DIR/server.log" && LEAK="$LEAK ${s:0:6}..."
done
oc_expect "issued temporary credentials were found to scan for" "yes" "$([ -n "$ISSUED" ] && echo yes)"
oc_expect "no secret access key, session token, web identity or ECS token in the server log" "" "$LEAK"
oc_summary
