# Shared set-up for scripts/demo, scripts/test and the integration suites.
# Source it; it defines oc_* functions. Everything runs on loopback, in a
# temporary directory, on a free port; PostgreSQL runs as the postgres OS user
# when we are root.

OC_ROOT=${OC_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
OC_PG_MAJOR=${OC_PG_MAJOR:-15}
OC_BUILD=${OC_BUILD:-$OC_ROOT/build}
OC_PKGS="postgresql-$OC_PG_MAJOR postgresql-server-dev-$OC_PG_MAJOR postgresql-contrib libpq-dev libssl-dev \
cmake g++ make pkg-config libgtest-dev python3-cryptography-vectors iproute2 clang libclang-rt-14-dev \
libp11-kit-dev softhsm2 opensc libcurl4-openssl-dev nlohmann-json3-dev python3-pykmip openssl"

oc_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

oc_as_root() { [ "$(id -u)" = 0 ]; }

# Installs whatever Debian packages are missing (idempotent).
oc_install_deps() {
  local missing=() p
  for p in $OC_PKGS; do
    [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == *"install ok installed"* ]] || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    oc_log "installing packages: ${missing[*]}"
    if oc_as_root; then
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
  fi
  # OC_PG_BINDIR: a private copy of PostgreSQL (oc_private_pg) instead of
  # the system's, so that a build installs there and nowhere else.
  export PATH=${OC_PG_BINDIR:-/usr/lib/postgresql/$OC_PG_MAJOR/bin}:$PATH
  OC_PGBIN=$(pg_config --bindir)
  OC_PGXS=$(cd "$(dirname "$(pg_config --pgxs)")/../.." && pwd)
  export OC_PGBIN OC_PGXS
}

# The loopback test servers (aws-kms:, vault-transit:) and the independent
# clients that check them are Node.js programs in tests/servers: installs
# Node.js from Debian if there is none, then the pinned npm packages
# (npm ci, package-lock.json) when node_modules is missing or stale.
oc_node_deps() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    oc_log "installing packages: nodejs npm"
    if oc_as_root; then
      apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    else
      sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
    fi
  fi
  local d=$OC_ROOT/tests/servers
  if [ ! -f "$d/node_modules/.package-lock.json" ] || [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
    oc_log "npm ci in tests/servers"
    (cd "$d" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || return 1
  fi
  # The servers run as the postgres OS user in some suites: they must be able
  # to read the modules.
  chmod -R a+rX "$d/node_modules" 2>/dev/null || true
}

# oc_private_pg DIR: copies the system's PostgreSQL (binaries, libraries,
# share) into DIR, once, and prints the bin directory of the copy: export it
# as OC_PG_BINDIR (before sourcing this file) to build, install and run
# clusters there without touching the system's installation, e.g. to work in
# several checkouts at once. PostgreSQL is relocatable: the copy's pg_config
# names the copy's directories.
oc_private_pg() {
  local dir=$1 bin share inc pkglib
  bin=$(/usr/lib/postgresql/$OC_PG_MAJOR/bin/pg_config --bindir)
  share=$(/usr/lib/postgresql/$OC_PG_MAJOR/bin/pg_config --sharedir)
  inc=$(/usr/lib/postgresql/$OC_PG_MAJOR/bin/pg_config --includedir-server)
  pkglib=$(/usr/lib/postgresql/$OC_PG_MAJOR/bin/pg_config --pkglibdir)
  if [ ! -x "$dir$bin/pg_config" ]; then
    mkdir -p "$dir$(dirname "$(dirname "$bin")")" "$dir$(dirname "$share")" "$(dirname "$dir$inc")"
    cp -a "$(dirname "$bin")" "$dir$(dirname "$(dirname "$bin")")/"
    [ -d "$dir$pkglib" ] || { mkdir -p "$(dirname "$dir$pkglib")"; cp -a "$pkglib" "$dir$pkglib"; }
    cp -a "$share" "$dir$(dirname "$share")/"
    ln -sfn "$inc" "$dir$inc"
  fi
  chmod 755 "$dir"
  echo "$dir$bin"
}

# Configures, builds and installs the extension into the PostgreSQL that
# pg_config names.
oc_build() {
  oc_log "building with CMake in $OC_BUILD"
  cmake -S "$OC_ROOT" -B "$OC_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DORGCRYPT_TEST_HOOKS="${OC_TEST_HOOKS:-OFF}" \
    -DPG_CONFIG="$OC_PGBIN/pg_config" \
    >"$OC_BUILD.cmake.log" 2>&1 \
    || { cat "$OC_BUILD.cmake.log"; return 1; }
  cmake --build "$OC_BUILD" -j"$(nproc)" 2>&1 | grep -Ev '^\[|^gmake|^make|Consolidate|Built target|Scanning' || true
  [ "${PIPESTATUS[0]}" = 0 ] || return 1
  local sudo=""
  oc_as_root || sudo=sudo
  $sudo cmake --install "$OC_BUILD" >/dev/null
  $sudo cmake --install "$OC_BUILD" --component bench >/dev/null
}

# The OS user the server runs as.
oc_server_user() { if oc_as_root; then echo postgres; else id -un; fi; }

oc_ensure_user() {
  if oc_as_root && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
}

# Runs a command as the server user, from a directory it can enter (the
# checkout may sit in a private directory, e.g. a clone under /root): paths
# given to it must be absolute, and files it reads must be readable by it.
oc_run() { if oc_as_root; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

oc_free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 20000 ))
    if [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ]; then echo "$p"; return 0; fi
  done
  return 1
}

# Makes a private directory owned by the server user.
oc_mkdir() {
  local d
  d=$(mktemp -d "${TMPDIR:-/tmp}/orgcrypt.XXXXXX")
  chmod 700 "$d"
  oc_as_root && chown postgres: "$d"
  echo "$d"
}

# Writes a fresh 32-byte master key file (hex), mode 0600, owned by the server user.
oc_make_key() {
  local f=$1
  oc_run sh -c "umask 077; head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n' > '$f'; echo >> '$f'"
}

# OC_SERVER_ENV (optional, empty by default): VAR=value words added to the
# server's environment by oc_cluster_start and oc_cluster_restart, e.g.
# OC_SERVER_ENV="SOFTHSM2_CONF=/path/softhsm2.conf" for a pkcs11: master key.
# Values must not contain spaces.

# oc_cluster_start DIR [preload=yes|no] [extra config lines...]
# Sets OC_PORT, OC_HOST (socket dir), OC_DATA, OC_KEY.
oc_cluster_start() {
  local dir=$1 preload=${2:-yes}
  shift 2 || shift $#
  oc_ensure_user
  OC_DATA=$dir/data; OC_HOST=$dir; OC_KEY=${OC_KEY_FILE:-$dir/master.key}
  OC_PORT=$(oc_free_port)
  export OC_DATA OC_HOST OC_PORT OC_KEY PGHOST=$dir PGPORT=$OC_PORT
  oc_run "$OC_PGBIN/initdb" -D "$OC_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log"; return 1; }
  [ -f "$OC_KEY" ] || oc_make_key "$OC_KEY"
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $OC_PORT"
    echo "unix_socket_directories = '$dir'"
    echo "fsync = off"
    echo "max_connections = 100"
    echo "shared_buffers = 256MB"
    echo "max_prepared_transactions = 10"
    [ "$preload" = yes ] && echo "shared_preload_libraries = 'orgcrypt'"
    echo "orgcrypt.master_key = 'file:$OC_KEY'"
    echo "log_min_messages = warning"
    for l in "$@"; do echo "$l"; done
  } | oc_run tee -a "$OC_DATA/postgresql.conf" >/dev/null
  oc_run env ${OC_SERVER_ENV:-} "$OC_PGBIN/pg_ctl" -D "$OC_DATA" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || { cat "$dir/server.log"; return 1; }
}

oc_cluster_stop() {
  local data=${1:-$OC_DATA}
  [ -n "$data" ] && [ -f "$data/postmaster.pid" ] && oc_run "$OC_PGBIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1
  return 0
}

oc_cluster_restart() {
  local data=${1:-$OC_DATA}
  oc_run env ${OC_SERVER_ENV:-} "$OC_PGBIN/pg_ctl" -D "$data" -l "$(dirname "$data")/server.log" -m fast -w -t 60 restart >/dev/null
}

# psql as the postgres superuser against the current cluster.
oc_psql() { oc_run "$OC_PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$OC_HOST" -p "$OC_PORT" -U postgres "$@"; }

# ---- helpers for integration suites: each check prints ok/not ok, and
# oc_summary prints "N passed, N failed" and returns non-zero on failure.
OC_PASS=0; OC_FAIL=0
oc_ok()   { OC_PASS=$((OC_PASS + 1)); echo "ok - $*"; }
oc_fail() { OC_FAIL=$((OC_FAIL + 1)); echo "not ok - $*"; }
# oc_expect NAME EXPECTED ACTUAL
oc_expect() {
  if [ "$2" = "$3" ]; then oc_ok "$1"; else oc_fail "$1: expected [$2], got [$3]"; fi
}
# oc_expect_match NAME REGEX ACTUAL
oc_expect_match() {
  # A here-string, not a pipe: under pipefail, grep -q quitting at its first
  # match can kill the writer with SIGPIPE and fail a matching check.
  if grep -Eq -- "$2" <<<"$3"; then oc_ok "$1"; else oc_fail "$1: [$3] does not match /$2/"; fi
}
oc_summary() { echo "$OC_PASS passed, $OC_FAIL failed"; [ "$OC_FAIL" = 0 ]; }
# oc_set SETTING VALUE: ALTER SYSTEM SET, reload, and wait until a new
# session sees VALUE (no fixed sleep; at most 5 s).
oc_set() {
  oc_psql -d postgres -c "ALTER SYSTEM SET $1 = '$2'" -c "SELECT pg_reload_conf()" >/dev/null || return 1
  for _ in $(seq 1 100); do
    [ "$(oc_psql -At -d postgres -c "SHOW $1" 2>/dev/null)" = "$2" ] && return 0
    sleep 0.05
  done
  return 1
}
# One value from a query (tuples only, unaligned), errors on stdout too.
oc_q() { oc_psql -At "$@" 2>&1; }
