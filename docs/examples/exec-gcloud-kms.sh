#!/bin/bash
# orgcrypt exec: key program for Google Cloud KMS (docs/providers.md, "exec:").
#
#   orgcrypt.master_key = 'exec:/usr/local/lib/orgcrypt/gcloud-kms'
#
# Install it as root, mode 0755, in a directory only root can write; the
# server's OS user needs gcloud credentials for the key (roles/
# cloudkms.cryptoKeyEncrypterDecrypter), e.g. a service account on the VM.
#
# The wrap AAD is bound natively: it is passed to Cloud KMS as additional
# authenticated data, so a wrapped DEK copied to another org or version does
# not decrypt. The DEK goes to gcloud through a pipe, never on a command line
# or in a file. The fingerprint is the key's resource name: Cloud KMS keeps
# every key version able to decrypt what it encrypted, so rotating the key in
# KMS changes nothing here, and a different key is reported as "replaced".
set -euo pipefail

# ---- configuration (orgcrypt runs this with PATH=/usr/bin:/bin only)
GCLOUD=/usr/bin/gcloud
KMS_PROJECT=my-project
KMS_LOCATION=europe-west1
KMS_KEYRING=orgcrypt
KMS_KEY=master
# CLOUDSDK_CONFIG=/var/lib/postgresql/.config/gcloud; export CLOUDSDK_CONFIG
# ----

KEY_NAME="projects/$KMS_PROJECT/locations/$KMS_LOCATION/keyRings/$KMS_KEYRING/cryptoKeys/$KMS_KEY"

fail() {
  printf 'error %s\n' "$*"
  exit 1
}

# The request: "orgcrypt-exec 1", "key value" lines, an empty line.
IFS= read -r line || fail "empty request"
[ "$line" = "orgcrypt-exec 1" ] || fail "unsupported request (this script speaks orgcrypt-exec 1)"
op= aad= data=
while IFS= read -r line && [ -n "$line" ]; do
  case $line in
    "operation "*) op=${line#operation } ;;
    "aad "*) aad=${line#aad } ;;
    "data "*) data=${line#data } ;;
    *) ;;  # org, version, and keys added later: not needed here
  esac
done
[ "$op" = "${1:-}" ] || fail "the request and argv name different operations"

case $op in
  fingerprint)
    printf 'ok %s\n' "$(printf '%s' "$KEY_NAME" | base64 -w0)"
    exit 0
    ;;
  wrap) cmd=encrypt; in=--plaintext-file; out=--ciphertext-file ;;
  unwrap) cmd=decrypt; in=--ciphertext-file; out=--plaintext-file ;;
  *) fail "unknown operation" ;;
esac
[ -n "$aad" ] && [ -n "$data" ] || fail "incomplete request"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '%s' "$aad" | base64 -d > "$tmp/aad" || fail "bad base64 in aad"

# stdin: the DEK (wrap) or the wrapped blob (unwrap); stdout: the result.
result=$(printf '%s' "$data" | base64 -d |
  "$GCLOUD" kms "$cmd" --project="$KMS_PROJECT" --location="$KMS_LOCATION" --keyring="$KMS_KEYRING" \
    --key="$KMS_KEY" "$in"=- "$out"=- --additional-authenticated-data-file="$tmp/aad" |
  base64 -w0) || fail "gcloud kms $cmd failed (see its message on stderr)"
[ -n "$result" ] || fail "gcloud kms $cmd returned nothing"
printf 'ok %s\n' "$result"
