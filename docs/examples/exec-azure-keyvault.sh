#!/bin/bash
# orgcrypt exec: key program for Azure Key Vault (docs/providers.md, "exec:").
#
#   orgcrypt.master_key = 'exec:/usr/local/lib/orgcrypt/azure-keyvault'
#
# Install it as root, mode 0755, in a directory only root can write; the
# server's OS user needs az credentials (e.g. a managed identity: az login
# --identity) with the keys/encrypt and keys/decrypt permissions on an RSA key.
#
# A Key Vault RSA key encrypts with RSA-OAEP-256, which has no additional
# authenticated data, so this script binds the wrap AAD itself: it encrypts
# the text "orgcrypt-azure-v1 <DEK in base64> <SHA-256 of the AAD in hex>"
# and, on unwrap, returns the DEK only if the digest equals SHA-256 of the AAD
# in the request. A wrapped DEK copied to another org or version is refused.
# (A Managed HSM AES key could bind it natively instead: az keyvault key
# encrypt --hsm-name ... --algorithm A256GCM --aad <hex>; decrypt then needs
# --iv and --tag as well.) The DEK reaches az through a pipe (--value @-),
# never on a command line or in a file. The fingerprint is the key's
# identifier without a version: Key Vault decrypts with the version that
# encrypted, so rotating the key in the vault changes nothing here.
set -euo pipefail

# ---- configuration (orgcrypt runs this with PATH=/usr/bin:/bin only)
AZ=/usr/bin/az
VAULT=my-vault
KEY=orgcrypt-master
ALG=RSA-OAEP-256
# AZURE_CONFIG_DIR=/var/lib/postgresql/.azure; export AZURE_CONFIG_DIR
# ----

KEY_ID="https://$VAULT.vault.azure.net/keys/$KEY"
TAG=orgcrypt-azure-v1

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

if [ "$op" = fingerprint ]; then
  printf 'ok %s\n' "$(printf '%s' "$KEY_ID" | base64 -w0)"
  exit 0
fi
[ -n "$aad" ] && [ -n "$data" ] || fail "incomplete request"
aad_sha=$(printf '%s' "$aad" | base64 -d | sha256sum | cut -d' ' -f1) || fail "bad base64 in aad"
[ ${#aad_sha} = 64 ] || fail "could not hash the aad"

az_key() {  # az_key encrypt|decrypt VALUE: prints the base64 result
  "$AZ" keyvault key "$1" --vault-name "$VAULT" --name "$KEY" --algorithm "$ALG" \
    --data-type base64 --value "$2" --query result --output tsv
}

case $op in
  wrap)
    printf '%s' "$data" | base64 -d > /dev/null || fail "bad base64 in data"
    # --value @- : az reads the value from stdin (its @file syntax).
    result=$(printf '%s %s %s' "$TAG" "$data" "$aad_sha" | base64 -w0 | az_key encrypt @-) ||
      fail "az keyvault key encrypt failed (see its message on stderr)"
    [ -n "$result" ] || fail "az keyvault key encrypt returned nothing"
    printf 'ok %s\n' "$result"
    ;;
  unwrap)
    plain=$(az_key decrypt "$data" | base64 -d) || fail "az keyvault key decrypt failed (see its message on stderr)"
    # "<tag> <dek> <sha>", split without a here-string (no temporary file)
    tag=${plain%% *} rest=${plain#* }
    dek=${rest%% *} sha=${rest#* }
    [ "$tag" = "$TAG" ] && [ -n "$dek" ] && [ "${#sha}" = 64 ] || fail "the vault returned something orgcrypt did not wrap"
    [ "$sha" = "$aad_sha" ] || fail "the wrapped DEK belongs to another organization or version (AAD mismatch)"
    printf 'ok %s\n' "$dek"
    ;;
  *) fail "unknown operation" ;;
esac
