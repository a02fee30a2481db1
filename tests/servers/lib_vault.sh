# shellcheck shell=bash
# Shell helpers for the loopback Vault/OpenBao test server
# (tests/servers/vault_server.js, documented in tests/servers/README-vault.md).
# Source scripts/lib.sh first, then this file.
#
#   vault_start DIR CONFIG [server args...]  start (or restart) the server on a
#       free port with its state in DIR (state.json, server.log, port, pid);
#       CONFIG (JSON) seeds DIR/state.json on the first start only. Runs as the
#       postgres OS user when we are root. Extra args: --tls-cert F --tls-key F
#       (readable by that user). Exports VAULT_DIR, VAULT_PORT, VAULT_SRV_PID,
#       VAULT_SCHEME (http|https) and VAULT_ADDR. Returns 1 if the server did
#       not write DIR/port within 20 s.
#   vault_stop DIR          stop it (SIGTERM, then waits, at most 10 s).
#   vault_fault JSON        POST /__test/faults, e.g. '{"sealed":true}', '{"reset":true}'
#   vault_keys JSON         POST /__test/keys, e.g. '{"mount":"transit","key":"k","rotate":true}'
#   vault_stats             GET /__test/stats (JSON on stdout)
# The control calls go to the server started last (VAULT_DIR/VAULT_PORT); for
# HTTPS they verify the server with VAULT_CACERT when it is set.

VAULT_SERVER_JS=${VAULT_SERVER_JS:-$OC_ROOT/tests/servers/vault_server.js}

vault_start() {
  local dir=$1 config=$2 node
  shift 2
  node=$(command -v node) || { echo "vault_start: node is not installed" >&2; return 1; }
  [ -f "$config" ] || { echo "vault_start: no config file $config" >&2; return 1; }
  mkdir -p "$dir"
  # The server user must be able to read the script and the config: copies
  # in DIR (the checkout may sit in a directory that user cannot enter).
  install -m 644 "$VAULT_SERVER_JS" "$dir/vault_server.js"
  [ -f "$dir/config.json" ] || install -m 600 "$config" "$dir/config.json"
  if oc_as_root; then chown postgres: "$dir" "$dir/vault_server.js" "$dir/config.json"; fi
  rm -f "$dir/port" "$dir/pid"
  VAULT_SCHEME=http
  case " $* " in *" --tls-cert "*) VAULT_SCHEME=https ;; esac
  oc_run "$node" "$dir/vault_server.js" --state "$dir" --config "$dir/config.json" --port 0 "$@" \
    >>"$dir/stderr.log" 2>&1 </dev/null &
  for _ in $(seq 1 200); do
    if [ -s "$dir/port" ] && [ -s "$dir/pid" ]; then
      VAULT_DIR=$dir
      VAULT_PORT=$(cat "$dir/port")
      VAULT_SRV_PID=$(cat "$dir/pid")
      VAULT_ADDR=$VAULT_SCHEME://127.0.0.1:$VAULT_PORT
      export VAULT_DIR VAULT_PORT VAULT_SRV_PID VAULT_SCHEME VAULT_ADDR
      return 0
    fi
    sleep 0.1
  done
  echo "vault_start: the server did not start; $dir/stderr.log:" >&2
  tail -5 "$dir/stderr.log" >&2
  return 1
}

vault_stop() {
  local dir=$1 pid
  [ -s "$dir/pid" ] || return 0
  pid=$(cat "$dir/pid")
  kill "$pid" 2>/dev/null || { rm -f "$dir/pid" "$dir/port"; return 0; }
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  rm -f "$dir/pid" "$dir/port"
}

_vault_ctl() {
  local tls=()
  if [ "${VAULT_SCHEME:-http}" = https ]; then
    if [ -n "${VAULT_CACERT:-}" ]; then tls=(--cacert "$VAULT_CACERT"); else tls=(-k); fi
  fi
  curl -sS --max-time 20 "${tls[@]}" -H 'Content-Type: application/json' "$@"
}
vault_fault() { _vault_ctl -X POST -d "$1" "$VAULT_SCHEME://127.0.0.1:$VAULT_PORT/__test/faults"; }
vault_keys()  { _vault_ctl -X POST -d "$1" "$VAULT_SCHEME://127.0.0.1:$VAULT_PORT/__test/keys"; }
vault_stats() { _vault_ctl "$VAULT_SCHEME://127.0.0.1:$VAULT_PORT/__test/stats"; }
