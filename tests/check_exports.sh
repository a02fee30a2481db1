#!/bin/sh
# Checks that the module exports Pg_magic_func, _PG_init and, for every C
# symbol the SQL script names, both the function and its pg_finfo_ record.
set -eu
so=$1; sql=$2
syms=$(nm -D --defined-only "$so" | awk '{print $3}')
fail=0
need() { echo "$syms" | grep -qx "$1" || { echo "missing export: $1"; fail=1; }; }
need Pg_magic_func
need _PG_init
# (only the link symbols after 'MODULE_PATHNAME': role names are quoted too)
for f in $(grep -o "'MODULE_PATHNAME', *'orgcrypt_[a-z_]*'" "$sql" | grep -o "'orgcrypt_[a-z_]*'" | tr -d "'" | sort -u); do
  need "$f"; need "pg_finfo_$f"
done
n=$(echo "$syms" | grep -c '^pg_finfo_' || true)
echo "exports ok: $n pg_finfo records"
exit $fail
