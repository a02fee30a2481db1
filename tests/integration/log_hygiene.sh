#!/usr/bin/env bash
# Plaintext stays out of the server log: every error orgcrypt raises (and a
# cancel that interrupts it) is provoked by a statement that carries a
# plaintext marker, then the server log is scanned. The only lines allowed to
# hold a marker are those statement logging writes by design (LOG: statement,
# LOG: execute and their DETAIL: parameters), and this cluster has statement
# logging off. A control error raised by PostgreSQL itself (division by zero)
# must log its statement: that shows the scan can fail. Needs a test build
# (orgcrypt.debug_unwrap_delay_ms).
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
oc_install_deps >/dev/null
DIR=$(oc_mkdir)
trap 'oc_cluster_stop "$DIR/data"; rm -rf "$DIR"' EXIT
oc_cluster_start "$DIR" yes "log_min_error_statement = error" "log_statement = none" \
  || { oc_fail "server starts"; oc_summary; exit 1; }
PSQL=("$OC_PGBIN/psql" -X -q -At -h "$OC_HOST" -p "$OC_PORT" -U postgres)
# run DB SQL...: one session, every statement in it; output kept for checks
run() { local db=$1; shift; local a=(); for s in "$@"; do a+=(-c "$s"); done; oc_run "${PSQL[@]}" -d "$db" "${a[@]}" 2>&1; }
M=PLAINTEXT_MARKER

oc_psql -d postgres >/dev/null <<'SQL'
CREATE EXTENSION orgcrypt;
CREATE DATABASE lh_latin1 TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C';
CREATE DATABASE lh_ascii TEMPLATE template0 ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C';
CREATE TABLE t (org text, v orgcrypt.ciphertext, b orgcrypt.ciphertext);
INSERT INTO t VALUES ('lh', orgcrypt.encrypt_for_org('lh', 'text value', 'ctx'), orgcrypt.encrypt_for_org('lh', '\x01'::bytea));
INSERT INTO t VALUES ('lh-gone', orgcrypt.encrypt_for_org('lh-gone', 'x'), NULL);
INSERT INTO t VALUES ('lh-kanji', orgcrypt.encrypt_for_org('lh-kanji', '日本語'), NULL);
INSERT INTO t VALUES ('lh-broken', orgcrypt.encrypt_for_org('lh-broken', 'x'), NULL);
INSERT INTO t VALUES ('lh-slow', orgcrypt.encrypt_for_org('lh-slow', 'x'), NULL);
SELECT orgcrypt.destroy_org_keys('lh-gone');
SQL
oc_q -d postgres -c "UPDATE orgcrypt.org_dek SET kek_uri = 'file:$DIR/no-such.key' WHERE org = 'lh-broken'" >/dev/null
ROW=$(oc_q -d postgres -c "SELECT format('%L, %s, ''active'', %L, %L, %L', org, version, wrapped, kek_uri, kek_fingerprint) FROM orgcrypt.org_dek WHERE org = 'lh-kanji'")
oc_q -d lh_latin1 -c "CREATE EXTENSION orgcrypt" -c "INSERT INTO orgcrypt.org_dek (org, version, state, wrapped, kek_uri, kek_fingerprint) VALUES ($ROW)" >/dev/null
oc_q -d lh_ascii -c "CREATE EXTENSION orgcrypt" >/dev/null
KANJI=$(oc_q -d postgres -c "SELECT v FROM t WHERE org = 'lh-kanji'")

OUT=""
expect_err() {  # NAME SQLSTATE-OR-TEXT OUTPUT
  if grep -q -- "$2" <<<"$3"; then oc_ok "$1"; else oc_fail "$1: expected /$2/ in [$3]"; fi
  OUT+="$3"$'\n'
}
S="SET client_min_messages = error"
V="SET VERBOSITY verbose"

# 22P02: bad text input, bad envelope (cast from bytea), dek_version of garbage
expect_err "22P02 text input" "22P02" "$(run postgres "\\set VERBOSITY verbose" "SELECT '$M 1', 'not base64!'::orgcrypt.ciphertext")"
expect_err "22P02 cast from bytea" "22P02" "$(run postgres "\\set VERBOSITY verbose" "SELECT '$M 2', '\\x00112233'::bytea::orgcrypt.ciphertext")"
expect_err "22P02 truncated envelope in decrypt" "22P02" "$(run postgres "\\set VERBOSITY verbose" "SELECT '$M 3', orgcrypt.decrypt_for_org('lh', substring(v::bytea from 1 for 30)::orgcrypt.ciphertext) FROM t WHERE org = 'lh'")"
# XX001: wrong context, wrong org, tampered
expect_err "XX001 wrong context" "XX001" "$(run postgres "\\set VERBOSITY verbose" "SELECT orgcrypt.decrypt_for_org('lh', v, '$M 4') FROM t WHERE org = 'lh'")"
expect_err "XX001 wrong org" "XX001" "$(run postgres "\\set VERBOSITY verbose" "SELECT '$M 5', orgcrypt.decrypt_for_org('lh-kanji', v, 'ctx') FROM t WHERE org = 'lh'")"
# 22023: org out of range (encrypt carries the marker as plaintext)
expect_err "22023 empty org" "22023" "$(run postgres "\\set VERBOSITY verbose" "SELECT orgcrypt.encrypt_for_org('', '$M 6')")"
expect_err "22023 long org" "22023" "$(run postgres "\\set VERBOSITY verbose" "SELECT orgcrypt.encrypt_for_org(repeat('x', 256), '$M 7')")"
# 22021: text asked of a bytea value; SQL_ASCII plaintext that is not UTF-8
expect_err "22021 bytea as text" "22021" "$(run postgres "\\set VERBOSITY verbose" "SELECT '$M 8', orgcrypt.decrypt_for_org('lh', b) FROM t WHERE org = 'lh'")"
expect_err "22021 SQL_ASCII non-UTF-8 plaintext" "22021" "$(run lh_ascii "\\set VERBOSITY verbose" "SELECT orgcrypt.encrypt_for_org('a', convert_from('\\x41ff'::bytea, 'SQL_ASCII') || '$M 9')")"
# 22P05: decrypted text not representable in LATIN1 (no bytes quoted either)
R=$(run lh_latin1 "\\set VERBOSITY verbose" "SELECT '$M 10', orgcrypt.decrypt_for_org('lh-kanji', '$KANJI')")
expect_err "22P05 LATIN1 conversion" "22P05" "$R"
if grep -qi '0xe6\|0x97\|byte sequence' <<<"$R"; then oc_fail "the 22P05 message quotes bytes: $R"; else oc_ok "the 22P05 message quotes no bytes"; fi
# 55000: unknown version, destroyed org (encrypt and decrypt), no key with
# auto-create off, no master key
expect_err "55000 unknown DEK version" "55000" "$(run postgres "\\set VERBOSITY verbose" "SELECT '$M 11', orgcrypt.decrypt_for_org('lh', set_byte(v::bytea, 8, 77)::orgcrypt.ciphertext, 'ctx') FROM t WHERE org = 'lh'")"
expect_err "55000 destroyed org, encrypt" "55000" "$(run postgres "\\set VERBOSITY verbose" "SELECT orgcrypt.encrypt_for_org('lh-gone', '$M 12')")"
expect_err "55000 destroyed org, decrypt" "55000" "$(run postgres "\\set VERBOSITY verbose" "SELECT '$M 13', orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'lh-gone'")"
expect_err "55000 no key, auto-create off" "55000" "$(run postgres "\\set VERBOSITY verbose" "SET orgcrypt.auto_create_org_keys = off" "SELECT orgcrypt.encrypt_for_org('lh-new1', '$M 14')")"
oc_set orgcrypt.master_key "" || oc_fail "master key unset"
expect_err "55000 no master key" "55000" "$(run postgres "\\set VERBOSITY verbose" "SELECT orgcrypt.encrypt_for_org('lh-new2', '$M 15')")"
oc_set orgcrypt.master_key "file:$OC_KEY" || oc_fail "master key restored"
# 42710: create for an org that has keys
expect_err "42710 create twice" "42710" "$(run postgres "\\set VERBOSITY verbose" "SELECT '$M 16', orgcrypt.create_org_key('lh')")"
# 25006: auto-create in a read-only transaction
expect_err "25006 read-only auto-create" "25006" "$(run postgres "\\set VERBOSITY verbose" "SET default_transaction_read_only = on" "SELECT orgcrypt.encrypt_for_org('lh-new3', '$M 17')")"
# 58000: the provider fails (missing key file)
expect_err "58000 provider failure" "58000" "$(run postgres "\\set VERBOSITY verbose" "SELECT '$M 18', orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'lh-broken'")"
# 57014: a statement_timeout that interrupts a (slow) unwrap, and one that
# interrupts a single-flight wait
run postgres "SELECT orgcrypt.cache_flush()" >/dev/null
expect_err "57014 cancel during an unwrap" "57014" "$(run postgres "\\set VERBOSITY verbose" "SET orgcrypt.debug_unwrap_delay_ms = 3000" "SET statement_timeout = '300ms'" "SELECT '$M 19', orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'lh-slow'")"
run postgres "SELECT orgcrypt.cache_flush()" >/dev/null
oc_run "${PSQL[@]}" -d postgres -c "SET orgcrypt.debug_unwrap_delay_ms = 4000" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'lh-slow'" >/dev/null 2>&1 &
LEADER=$!
for _ in $(seq 1 100); do
  [ "$(oc_q -d postgres -c "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE '%lh-slow%' AND wait_event = 'Extension' AND pid <> pg_backend_pid())")" = t ] && break
  sleep 0.1
done
expect_err "57014 cancel during a single-flight wait" "57014" "$(run postgres "\\set VERBOSITY verbose" "SET statement_timeout = '500ms'" "SELECT '$M 20', orgcrypt.decrypt_for_org(org, v) FROM t WHERE org = 'lh-slow'")"
wait "$LEADER"
# the control: PostgreSQL's own error logs its statement
expect_err "control error" "22012" "$(run postgres "\\set VERBOSITY verbose" "SELECT 1/0, 'CONTROL_MARKER'")"

oc_expect "every provoked error reached the client with its SQLSTATE" "0" "$OC_FAIL"
LOG="$DIR/server.log"
oc_expect_match "the control error logged its statement (the scan works)" "CONTROL_MARKER" "$(grep 'STATEMENT:' "$LOG")"
N=$(grep -c "ERROR:" "$LOG")
if [ "$N" -ge 21 ] && [ "$N" -le 40 ]; then oc_ok "the errors were logged ($N ERROR lines)"; else oc_fail "only $N ERROR lines in the log"; fi
LEAK=$(grep -n "$M" "$LOG" | grep -Ev 'LOG:  (statement|execute [^:]*):|DETAIL:  parameters:')
oc_expect "no plaintext marker in the server log" "" "$LEAK"
oc_summary
