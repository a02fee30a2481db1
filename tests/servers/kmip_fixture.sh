#!/usr/bin/env bash
# A real PyKMIP server for C++ unit tests (tests/servers/lib_kmip.sh), owned
# by and running as the current user (KMIP_OWNER=self: the test reads the
# client key in its own process).
#   kmip_fixture.sh start DIR   makes the certificates in DIR (once), starts
#                               the server; prints only its port on stdout
#   kmip_fixture.sh stop DIR    stops it (SIGKILL to its process group)
#   kmip_fixture.sh pause DIR / resume DIR   SIGSTOP / SIGCONT (a silent server)
#   kmip_fixture.sh admin DIR [--cert other] CMD ...   tests/helpers/kmip_admin.py
# Exit status non-zero (with the reason on stderr) when the server cannot start.
set -uo pipefail
OC_ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$OC_ROOT/scripts/lib.sh"
source "$OC_ROOT/tests/servers/lib_kmip.sh"
export KMIP_OWNER=self
[ $# -ge 2 ] || { echo "usage: $0 start|stop|pause|resume|admin DIR [...]" >&2; exit 64; }
action=$1 dir=$2
shift 2
case $action in
  start)
    kmip_certs "$dir" >&2 || exit 1
    kmip_start "$dir" "$@" >&2 || exit 1
    echo "$KMIP_PORT" ;;
  stop) kmip_stop "$dir" >&2 ;;
  pause) kmip_pause "$dir" ;;
  resume) kmip_resume "$dir" ;;
  admin) kmip_admin "$dir" "$@" ;;
  *) echo "$0: unknown command $action" >&2; exit 64 ;;
esac
