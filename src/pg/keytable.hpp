// The key table orgcrypt.org_dek, through SPI with kept plans, as the key
// table's owner (the caller never needs SELECT on it). Plain C-style code: no
// C++ object with a destructor is alive across a PostgreSQL call here. Every
// error raised inside (including a cancel) hides the statement, which may
// hold plaintext.
#pragma once
#include "pg/prelude.h"

#include <vector>

#include "keyring.hpp"

namespace orgcrypt::pg {

struct PgRow {
  int32 version;
  DekState state;
  bytea* wrapped;    // NULL for a tombstone
  char* kek_uri;
  bytea* kek_fp;     // may be NULL
  bool uncommitted;  // written by this transaction
};

struct PgRowSet {
  int n;
  PgRow* rows;
  int32 max_version;
  bool any_live;
};

// Reads the org's rows into the caller's memory context, with a fresh
// snapshot (as catalogs are read), except in parallel mode where no new
// snapshot can be taken. Counts a miss.
void kt_read(text* org, PgRowSet* out);

// A key-changing session on the key table: SPI connected, running as the
// key table's owner. Every kt_* below needs one open.
void kt_open();
void kt_close();
// Inside a session:
void kt_read_in(text* org, PgRowSet* out, MemoryContext mcxt);
// Locks every row of the org (FOR UPDATE, fresh snapshot), waiting for a
// concurrent key change of the same org; returns the number of rows.
int kt_lock_org(text* org);
// Inserts a new active version; false if it conflicts with a row another
// transaction inserted first (ON CONFLICT DO NOTHING, after waiting for it).
bool kt_insert(text* org, int32 version, const Bytes& wrapped, const char* uri, const Bytes& fp);
// Retires the org's active version (fresh snapshot).
void kt_retire_active(text* org);
// Tombstones every live version of the org (fresh snapshot); returns how
// many it destroyed.
int kt_tombstone(text* org);

// Master-key rotation: locks (FOR UPDATE) up to `limit` live rows whose KEK
// is not their target (the org's own KEK if it has one, else (uri, fp)), in
// (org, version) order, into memory of context mcxt;
// returns how many. kt_rewrap stores one row's new wrapped form.
struct ForeignRow {
  text* org;
  PgRow row;
  // Its target: the org's own KEK (orgcrypt.org_master_keys: URI and the
  // fingerprint recorded when it was set), or NULL for the master key.
  char* target_uri;
  bytea* target_fp;
};
int kt_lock_foreign(const char* uri, const Bytes& fp, int limit, ForeignRow** rows, MemoryContext mcxt);
void kt_rewrap(text* org, int32 version, const Bytes& wrapped, const char* uri, const Bytes& fp);

// Per-org master keys (orgcrypt.org_master_keys, 1.3), inside a session.
// The org's own KEK (fresh snapshot): false if it has none (or the extension
// SQL is older than 1.3); else its URI and recorded fingerprint, in mcxt.
bool kt_org_kek(text* org, char** uri, bytea** fp, MemoryContext mcxt);
// Sets (inserts or replaces) / removes the org's own KEK.
void kt_set_org_kek(text* org, const char* uri, const Bytes& fp, Oid by);
int kt_clear_org_kek(text* org);

// The KEK URIs that wrap live DEKs and (1.3) the orgs' own KEKs, distinct,
// sorted (into context mcxt).
int kt_kek_uris(char*** uris, MemoryContext mcxt);

// The grants table orgcrypt.org_grants (1.3), each in its own SPI session
// as the key table's owner; reads use a fresh snapshot outside parallel mode.
// Is the PUBLIC rule (grantee NULL) there?
bool kt_public_rule();
// Is the org granted to a role whose privileges `role` has?
bool kt_org_granted(Oid role, text* org);
// grant_org: false if the grant was already there. revoke_org and
// revoke_public_access: the number of rows removed.
bool kt_grant(Oid role, text* org, Oid by);
int kt_revoke(Oid role, text* org);
int kt_revoke_public();

std::vector<DekRow> to_core(const PgRowSet& rs);
DekRow to_core_row(const PgRow& r);

}  // namespace orgcrypt::pg
