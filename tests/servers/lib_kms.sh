# shellcheck shell=bash
# Bash helpers for suites that use the loopback KMS test server
# (tests/servers/kms_server.js; README.md in this folder). Source
# scripts/lib.sh first, then this file. As root the server runs as the
# postgres OS user (oc_run), so DIR should come from oc_mkdir.
#
#   kms_start DIR CONFIG [extra server args...]  → exports KMS_PORT, KMS_PID, KMS_URL, KMS_DIR
#   kms_stop DIR
#   kms_fault JSON    e.g. kms_fault '{"throttle": 2}'
#   kms_keys JSON     e.g. kms_keys '{"key": "alias/orgcrypt", "state": "Disabled"}'
#   kms_stats [reset=1]  prints the stats JSON (GET /__test/stats; reset=1 clears them after)
# kms_start again on the same DIR restarts with the saved state (keys survive).

KMS_SERVER_JS=${KMS_SERVER_JS:-$OC_ROOT/tests/servers/kms_server.js}

kms_start() {
  local dir=$1 config=${2:-}
  shift 2 || shift $#
  [ -d "$dir" ] || { echo "kms_start: no directory $dir" >&2; return 1; }
  command -v node >/dev/null || { echo "kms_start: node is missing" >&2; return 1; }
  rm -f "$dir/port"
  if [ -n "$config" ]; then
    if oc_as_root; then install -o postgres -g postgres -m 600 "$config" "$dir/config.json"
    else install -m 600 "$config" "$dir/config.json"; fi
    set -- --config "$dir/config.json" "$@"
  fi
  # The server user may not be able to read this checkout (a clone under
  # /root): then it runs from a copy in DIR (its own directory).
  local js=$KMS_SERVER_JS src
  if ! oc_run test -r "$js" || ! oc_run test -r "$(dirname "$js")/node_modules/@smithy/signature-v4/package.json"; then
    src=$(dirname "$KMS_SERVER_JS")
    rm -rf "$dir/.server"; mkdir -p "$dir/.server"
    cp -a "$src/kms_server.js" "$src/package.json" "$src/node_modules" "$dir/.server/" || return 1
    oc_as_root && chown -R postgres: "$dir/.server"
    js=$dir/.server/kms_server.js
  fi
  # setsid: the server leads its own process group (kms_stop kills the group).
  oc_run setsid node "$js" --state "$dir" "$@" >>"$dir/stdout.log" 2>&1 &
  for _ in $(seq 1 200); do   # at most 20 s (a busy machine starts node slowly)
    [ -s "$dir/port" ] && break
    sleep 0.1
  done
  if [ ! -s "$dir/port" ]; then
    echo "kms_start: the server did not start; $dir/stdout.log:" >&2
    cat "$dir/stdout.log" >&2
    return 1
  fi
  KMS_DIR=$dir
  KMS_PORT=$(cat "$dir/port")
  KMS_PID=$(cat "$dir/pid")
  case " $* " in *" --tls-cert "*) KMS_URL=https://127.0.0.1:$KMS_PORT ;; *) KMS_URL=http://127.0.0.1:$KMS_PORT ;; esac
  export KMS_DIR KMS_PORT KMS_PID KMS_URL
}

kms_stop() {
  local dir=${1:-$KMS_DIR} pid
  [ -f "$dir/pid" ] || return 0
  pid=$(cat "$dir/pid")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
  rm -f "$dir/pid" "$dir/port"
  return 0
}

# The control API is plain HTTP(S) JSON; -k: the test CA is the suite's own.
_kms_curl() { curl -sS -k --max-time 10 "$@"; }
kms_fault() { _kms_curl -X POST -H 'Content-Type: application/json' --data "$1" "$KMS_URL/__test/faults"; }
kms_keys()  { _kms_curl -X POST -H 'Content-Type: application/json' --data "$1" "$KMS_URL/__test/keys"; }
kms_stats() { _kms_curl "$KMS_URL/__test/stats${1:+?$1}"; }
