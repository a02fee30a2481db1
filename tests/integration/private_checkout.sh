#!/usr/bin/env bash
# The scripts work from a checkout the server's OS user cannot enter (a clone
# under /root, or in a mktemp -d directory, both mode 0700): a copy of this
# tree in such a directory runs the durability suite, whose commands run as
# the postgres user. Meaningful as root (as CI runs); as another user there
# is no second OS user to lock out, and it passes trivially.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/lib.sh
if ! oc_as_root; then oc_ok "not root: nothing to check"; oc_summary; exit 0; fi
oc_install_deps >/dev/null
PRIV=$(mktemp -d /tmp/orgcrypt-private.XXXXXX)   # root's, mode 0700
trap 'rm -rf "$PRIV"' EXIT
tar --exclude='./build*' --exclude='./.git' -cf - . | tar -C "$PRIV" -xf -
chmod 700 "$PRIV"   # (after tar, which gives it the mode of ".")
oc_expect "the postgres user cannot enter the copy" "no" \
  "$(runuser -u postgres -- sh -c "cd '$PRIV' 2>/dev/null && echo yes || echo no")"
RES=$(cd "$PRIV" && bash tests/integration/durability.sh 2>&1)
echo "$RES" | grep '^not ok' | head -5
oc_expect "durability.sh passes from the private copy" "0" "$(echo "$RES" | grep -c '^not ok')"
oc_expect_match "and ran its checks" "^[1-9][0-9]* passed, 0 failed$" "$(echo "$RES" | tail -1)"
oc_expect "nothing printed 'could not change directory'" "0" "$(echo "$RES" | grep -c 'could not change directory')"
oc_summary
