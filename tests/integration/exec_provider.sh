#!/usr/bin/env bash
# The exec: key provider in a real server: orgcrypt.master_key names the test
# key program (tests/helpers/exec_test_kek.cpp, built with the unit tests)
# installed where the postgres OS user can run it. Keys are created through
# it and unwrapped through it after a restart; a failing program is reported
# (58000, its exit status) on a cold cache and not needed on a warm one; a
# statement timeout cancels a slow call and leaves no process behind; a
# key-table row naming another exec: program is refused (and that program
# never runs) until orgcrypt.allowed_key_uris lists it.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
oc_install_deps >/dev/null
KEK_BIN=$OC_BUILD/tests/exec_test_kek
[ -x "$KEK_BIN" ] || { oc_fail "the test key program is built ($KEK_BIN)"; oc_summary; exit 1; }
oc_ensure_user
DIR=$(oc_mkdir); PDIR=$(oc_mkdir)
trap 'oc_cluster_stop "$DIR/data"; rm -rf "$DIR" "$PDIR"' EXIT

# The programs: owned by the server user in its private directory. The key
# program reads PDIR/oc-exec-kek.key and, if present, PDIR/oc-exec-kek.mode.
KEK=$PDIR/oc-exec-kek
EVIL=$PDIR/oc-exec-evil
install -m 755 "$KEK_BIN" "$KEK"
oc_as_root && chown postgres: "$KEK"
oc_run sh -c "umask 077; head -c 32 /dev/urandom > '$KEK.key'"
# A second program that would do the same job, but marks that it ran.
printf '#!/bin/sh\ntouch %s.ran\nexec %s "$@"\n' "$EVIL" "$KEK" > "$EVIL"
chmod 755 "$EVIL"; oc_as_root && chown postgres: "$EVIL"
mode() { oc_run sh -c "echo '$1' > '$KEK.mode'"; }

oc_cluster_start "$DIR" yes "orgcrypt.master_key = 'exec:$KEK'" || { oc_fail "server starts"; oc_summary; exit 1; }
q() { oc_run "$OC_PGBIN/psql" -X -q -At -v VERBOSITY=verbose -h "$OC_HOST" -p "$OC_PORT" -U postgres -d postgres "$@" 2>&1; }
oc_expect "orgcrypt.master_key is the exec: URI" "exec:$KEK" "$(q -c "SHOW orgcrypt.master_key")"
oc_expect_match "a relative exec: path is refused by the setting's check" "an absolute path" \
  "$(q -c "ALTER SYSTEM SET orgcrypt.master_key = 'exec:bin/kms'")"

# --- keys created through the program; decrypt after a restart (cold caches)
q -c "CREATE EXTENSION orgcrypt" \
  -c "CREATE TABLE t (id int, org text, v orgcrypt.ciphertext)" \
  -c "INSERT INTO t SELECT g, 'org' || (g % 3), orgcrypt.encrypt_for_org('org' || (g % 3), 'value ' || g) FROM generate_series(1, 30) g" >/dev/null
oc_expect "three orgs got keys wrapped by the exec: program" "3|exec:$KEK" \
  "$(q -c "SELECT count(*) || '|' || string_agg(DISTINCT provider, ',') FROM orgcrypt.org_keys")"
oc_expect "each row records an 8-byte fingerprint of the program's key" "3" \
  "$(q -c "SELECT count(*) FROM orgcrypt.org_dek WHERE octet_length(kek_fingerprint) = 8")"
oc_expect "rotation wraps through the program too" "2" "$(q -c "SELECT orgcrypt.rotate_org_dek('org1')")"
q -c "INSERT INTO t VALUES (31, 'org1', orgcrypt.encrypt_for_org('org1', 'value 31'))" >/dev/null
oc_cluster_restart || oc_fail "restart"
decrypt_all() { q -c "SELECT count(*) FILTER (WHERE orgcrypt.decrypt_for_org(org, v) = 'value ' || id) || '/' || count(*) FROM t"; }
oc_expect "after a restart every value decrypts (unwrapped by the program)" "31/31" "$(decrypt_all)"

# --- the program fails (exit 1): a warm cache does not need it, a cold one reports it
mode "exit 1"
oc_expect "with a warm cache a failing program does not matter" "31/31" "$(decrypt_all)"
RES=$(q -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE id = 1")
oc_expect_match "with a cold cache: 58000 naming the program, the operation and the exit status" \
  "ERROR:  58000: exec:$KEK (fingerprint|unwrap) failed: exit status 1: kek test program: failing on purpose" "$RES"
mode "ok"
# (waiters see a leader's failure for 1 s; cache_flush() drops it)
oc_expect "once the program works again, so does decrypt" "value 1" \
  "$(q -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE id = 1" | tail -1)"

# --- a statement timeout during a slow call: canceled promptly, no process
# left. Checked from inside the canceled session (psql's \!) while its
# backend lives: a child the backend failed to reap would be its zombie.
cat > "$PDIR/leftovers.sh" <<EOF
#!/bin/sh
# Prints what is left of the program: a live process running it (the program
# or the child it forked), or a zombie oc-exec-kek of a server process.
pm=\$(head -1 '$OC_DATA/postmaster.pid')
for i in \$(seq 1 30); do
  left=\$( { pgrep -f '$KEK '; ps -eo pid=,ppid=,comm= |
    awk -v pm="\$pm" -v srv=" \$(pgrep -P "\$pm" | tr '\n' ' ')" \
      '\$3 == "oc-exec-kek" && (\$2 == pm || index(srv, " " \$2 " ")) { print \$1 }'; } )
  [ -z "\$left" ] && break
  sleep 0.1
done
echo "\$left"
EOF
chmod 755 "$PDIR/leftovers.sh"; oc_as_root && chown postgres: "$PDIR/leftovers.sh"
mode "sleep 30"
q -c "SELECT orgcrypt.cache_flush()" >/dev/null
RES=$(q <<SQL
\! date +%s%N > $PDIR/t0
SET statement_timeout = '500ms';
SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE id = 2;
\! date +%s%N > $PDIR/t1
\! $PDIR/leftovers.sh > $PDIR/left.out 2>&1
SQL
)
MS=$(( ($(cat "$PDIR/t1") - $(cat "$PDIR/t0")) / 1000000 ))
oc_expect_match "a slow program is canceled by statement_timeout" "57014: canceling statement due to statement timeout" "$RES"
if [ "$MS" -lt 3000 ]; then oc_ok "the cancel took ${MS} ms"; else oc_fail "the cancel took ${MS} ms"; fi
[ -s "$KEK.pid" ] && oc_ok "the program was running (it recorded its pids)" || oc_fail "the program never ran"
oc_expect "no oc-exec-kek process (or zombie of the backend) is left after the cancel" "" \
  "$(tr -d '\n' < "$PDIR/left.out")"
mode "ok"
oc_expect "the server decrypts again after the cancel" "value 2" \
  "$(q -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE id = 2")"

# --- a planted key-table row naming another program: refused until listed
q -c "UPDATE orgcrypt.org_dek SET kek_uri = 'exec:$EVIL' WHERE org = 'org0'" >/dev/null
RES=$(q -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE id = 3")
oc_expect_match "a row naming an unlisted exec: program is refused" \
  "ERROR:  58000: key URI \"exec:$EVIL\" is not trusted by this server" "$RES"
[ -e "$EVIL.ran" ] && oc_fail "the unlisted program must never run" || oc_ok "the unlisted program never ran"
q -c "ALTER SYSTEM SET orgcrypt.allowed_key_uris = 'exec:$EVIL'" -c "SELECT pg_reload_conf()" >/dev/null
for _ in $(seq 1 50); do [ "$(q -c "SHOW orgcrypt.allowed_key_uris")" = "exec:$EVIL" ] && break; sleep 0.1; done
oc_expect "once listed in orgcrypt.allowed_key_uris it is used" "value 3" \
  "$(q -c "SELECT orgcrypt.cache_flush()" -c "SELECT orgcrypt.decrypt_for_org(org, v) FROM t WHERE id = 3" | tail -1)"
[ -e "$EVIL.ran" ] && oc_ok "and the listed program ran" || oc_fail "the listed program did not run"

# --- nothing of the protocol in the server log, and no crash
if grep -q "orgcrypt-exec" "$DIR/server.log"; then oc_fail "no request in the server log"; else oc_ok "no request in the server log"; fi
if grep -E 'terminated by signal|PANIC' "$DIR/server.log"; then oc_fail "no crash in the server log"; else oc_ok "no crash in the server log"; fi
oc_summary
