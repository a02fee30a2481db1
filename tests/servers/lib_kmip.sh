# shellcheck shell=bash
# Shell helpers for a real PyKMIP server on loopback (Debian's python3-pykmip,
# documented in tests/servers/README-kmip.md). Source scripts/lib.sh first,
# then this file.
#
#   kmip_certs DIR      makes a test CA and certificates in DIR (once; kept if
#       DIR/ca.pem exists): ca.pem/ca.key, server.pem/server.key (SAN
#       IP:127.0.0.1, DNS:localhost, serverAuth), client.pem/client.key
#       (CN=orgcrypt, clientAuth), other.pem/other.key (CN=intruder, clientAuth,
#       same CA), wrongca.pem (an unrelated CA). Keys are mode 0600.
#       KMIP_KEY_ALG=rsa (default, RSA 2048) or ec (P-256).
#   kmip_start DIR [--versions 1.2,1.1,1.0]  starts (or restarts, on the same
#       port) PyKMIP's server with its state in DIR (server.conf, pykmip.db,
#       server.log, port, pid); --versions restricts the versions the engine
#       offers (tests/helpers/pykmip_server_versions.py). Waits for the port
#       (at most 20 s); on failure prints the log's tail and returns 1.
#       Exports KMIP_DIR, KMIP_PORT, KMIP_PID.
#   kmip_stop DIR       SIGKILL to its process group, waits until it is gone.
#   kmip_pause DIR / kmip_resume DIR   SIGSTOP / SIGCONT the group: a silent
#       server (the kernel still accepts TCP connections; no TLS answer).
#   kmip_admin DIR [--cert other] CMD [ARGS...]  PyKMIP's own client with DIR's
#       CA and the client (or other) certificate: create, create-inactive,
#       activate, revoke, deactivate, destroy, state, encrypt, decrypt,
#       versions (see tests/helpers/kmip_admin.py).
#
# Owner: by default everything (files and server) belongs to the server OS
# user (postgres when we are root, via oc_run), as PostgreSQL reads the client
# key. With KMIP_OWNER=self everything runs as the current user (C++ unit
# tests read the client key in their own process, and orgcrypt refuses key
# files not owned by the process's user).

KMIP_HELPERS=${KMIP_HELPERS:-$OC_ROOT/tests/helpers}
KMIP_PYTHON=${KMIP_PYTHON:-/usr/bin/python3}

_kmip_run() { if [ "${KMIP_OWNER:-}" = self ]; then "$@"; else oc_run "$@"; fi; }
_kmip_chown() {
  if [ "${KMIP_OWNER:-}" != self ] && oc_as_root; then chown postgres: "$@"; fi
}

kmip_certs() {
  local dir=$1 newkey
  mkdir -p "$dir"
  chmod 700 "$dir"
  _kmip_chown "$dir"
  [ -s "$dir/ca.pem" ] && [ -s "$dir/other.pem" ] && [ -s "$dir/wrongca.pem" ] && return 0
  case ${KMIP_KEY_ALG:-rsa} in
    rsa) newkey='rsa:2048' ;;
    ec) newkey='ec -pkeyopt ec_paramgen_curve:P-256' ;;
    *) echo "kmip_certs: KMIP_KEY_ALG must be rsa or ec" >&2; return 1 ;;
  esac
  # One shell as the owner; the key files are created under umask 077.
  # shellcheck disable=SC2016
  _kmip_run sh -ec '
    cd "$1"; umask 077; alg=$2
    ca() { # NAME CN
      openssl req -x509 -newkey $alg -nodes -keyout "$1.key" -out "$1.pem" -days 3 -subj "/CN=$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    }
    leaf() { # NAME CN EXT
      openssl req -newkey $alg -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
      printf "%s\n" "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" "$3" > "$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d " \n")" \
        -out "$1.pem" -days 3 -extfile "$1.ext"
      rm -f "$1.csr" "$1.ext"
    }
    ca ca "orgcrypt KMIP test CA"
    leaf server localhost "$(printf "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost")"
    leaf client orgcrypt "extendedKeyUsage=clientAuth"
    leaf other intruder "extendedKeyUsage=clientAuth"
    ca wrongca "another CA"
    rm -f wrongca.key
    chmod 644 ./*.pem
    chmod 600 ./*.key
  ' kmip_certs "$dir" "$newkey" >"$dir/openssl.log.tmp" 2>&1
  local rc=$?
  cat "$dir/openssl.log.tmp" >>"$dir/openssl.log" 2>/dev/null; rm -f "$dir/openssl.log.tmp"
  if [ $rc != 0 ]; then
    echo "kmip_certs: openssl failed:" >&2; tail -5 "$dir/openssl.log" >&2; return 1
  fi
}

# Processes of process group $1 that are not zombies.
_kmip_group_alive() {
  ps -e -o pgid=,stat= 2>/dev/null | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
}

kmip_start() {
  local dir=$1 versions="" port pid
  shift
  while [ $# -gt 0 ]; do
    case $1 in
      --versions) versions=$2; shift 2 ;;
      *) echo "kmip_start: unknown argument $1" >&2; return 1 ;;
    esac
  done
  [ -x "$KMIP_PYTHON" ] || { echo "kmip_start: $KMIP_PYTHON is missing" >&2; return 1; }
  [ -s "$dir/server.pem" ] || { echo "kmip_start: no certificates in $dir (kmip_certs)" >&2; return 1; }
  if [ -s "$dir/pid" ] && _kmip_group_alive "$(cat "$dir/pid")"; then
    echo "kmip_start: a server is already running from $dir (kmip_stop first)" >&2; return 1
  fi
  if [ -s "$dir/port" ]; then port=$(cat "$dir/port"); else port=$(oc_free_port) || return 1; fi
  _kmip_run sh -c "umask 077; mkdir -p '$dir/policies' && printf '%s\n' '$port' > '$dir/port' && cat > '$dir/server.conf'" <<EOF || return 1
[server]
hostname=127.0.0.1
port=$port
certificate_path=$dir/server.pem
key_path=$dir/server.key
ca_path=$dir/ca.pem
auth_suite=TLS1.2
policy_path=$dir/policies
enable_tls_client_auth=True
database_path=$dir/pykmip.db
logging_level=INFO
EOF
  local cmd=("$KMIP_PYTHON" /usr/bin/pykmip-server)
  if [ -n "$versions" ]; then
    # A copy the server user can read (the checkout may be private).
    _kmip_run sh -c "cat > '$dir/pykmip_server_versions.py'" <"$KMIP_HELPERS/pykmip_server_versions.py" || return 1
    cmd=("$KMIP_PYTHON" "$dir/pykmip_server_versions.py" "$versions")
  fi
  local runas=()
  if [ "${KMIP_OWNER:-}" != self ] && oc_as_root; then
    # setpriv execs (runuser would stay as a parent, and stop itself for
    # good when its child is paused with SIGSTOP).
    runas=(setpriv --reuid=postgres --regid=postgres --init-groups env HOME=/var/lib/postgresql)
  fi
  rm -f "$dir/pid"
  [ -f "$dir/stderr.log" ] && mv -f "$dir/stderr.log" "$dir/stderr.prev.log"
  # A simple command run in the background: the child execs it directly
  # (a function or subshell would linger and keep the caller's pipes open).
  # setsid: its own process group (paused and killed as a whole); the shell
  # writes its pid (= the group's id), then execs the server.
  # shellcheck disable=SC2016
  env -C / setsid "${runas[@]}" sh -c 'echo $$ > "$1/pid"; shift; exec "$@"' kmip "$dir" \
    "${cmd[@]}" -f "$dir/server.conf" -l "$dir/server.log" >>"$dir/stderr.log" 2>&1 </dev/null &
  disown $! 2>/dev/null  # no "Killed" job notice when kmip_stop kills it
  local end=$((SECONDS + 20))
  while [ $SECONDS -lt $end ]; do
    if [ -s "$dir/pid" ]; then
      pid=$(cat "$dir/pid")
      if [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]; then
        KMIP_DIR=$dir KMIP_PORT=$port KMIP_PID=$pid
        export KMIP_DIR KMIP_PORT KMIP_PID
        return 0
      fi
      # Failed start: PyKMIP prints a traceback and may linger (its policy
      # monitor process keeps running).
      grep -q Traceback "$dir/stderr.log" 2>/dev/null && break
      kill -0 "$pid" 2>/dev/null || break
    fi
    sleep 0.1
  done
  echo "kmip_start: the PyKMIP server did not listen on 127.0.0.1:$port; $dir/server.log and stderr.log:" >&2
  tail -15 "$dir/server.log" >&2 2>/dev/null
  tail -15 "$dir/stderr.log" >&2 2>/dev/null
  kmip_stop "$dir"
  return 1
}

kmip_stop() {
  local dir=$1 pid
  [ -s "$dir/pid" ] || return 0
  pid=$(cat "$dir/pid")
  kill -KILL -- "-$pid" 2>/dev/null
  local end=$((SECONDS + 10))
  while _kmip_group_alive "$pid" && [ $SECONDS -lt $end ]; do sleep 0.1; done
  if _kmip_group_alive "$pid"; then echo "kmip_stop: process group $pid is still alive" >&2; return 1; fi
  # The port is free again once the listening socket is gone.
  end=$((SECONDS + 5))
  while [ -n "$(ss -Hltn "sport = :$(cat "$dir/port")" 2>/dev/null)" ] && [ $SECONDS -lt $end ]; do sleep 0.1; done
  rm -f "$dir/pid"
}

kmip_pause() {
  [ -s "$1/pid" ] || { echo "kmip_pause: no server in $1" >&2; return 1; }
  kill -STOP -- "-$(cat "$1/pid")"
}
kmip_resume() {
  [ -s "$1/pid" ] || { echo "kmip_resume: no server in $1" >&2; return 1; }
  kill -CONT -- "-$(cat "$1/pid")"
}

kmip_admin() {
  local dir=$1 who=client
  shift
  if [ "${1:-}" = --cert ]; then who=$2; shift 2; fi
  [ -s "$dir/port" ] || { echo "kmip_admin: no server port in $dir" >&2; return 1; }
  # As the current user: root reads the server user's key files; otherwise
  # the current user owns them.
  "$KMIP_PYTHON" "$KMIP_HELPERS/kmip_admin.py" --port "$(cat "$dir/port")" --ca "$dir/ca.pem" \
    --cert "$dir/$who.pem" --key "$dir/$who.key" "$@"
}
