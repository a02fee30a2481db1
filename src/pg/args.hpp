// Reading the arguments of SQL functions: the org, the optional context and
// text plaintexts, converted to the UTF-8 that AADs and sealed text use. One
// converter for all of them, in both directions, that never quotes the bytes
// it could not convert (they may be plaintext).
#pragma once
#include "pg/prelude.h"

#include "envelope.hpp"

namespace orgcrypt::pg {

// The org as the key table stores it (database encoding) and as AADs bind it
// (UTF-8). In a UTF-8 database both point to the same bytes.
struct OrgName {
  text* db;        // text datum in the database encoding
  ByteView bytes;  // its bytes
  ByteView utf8;   // UTF-8 form
};

// Reads the org argument: detoasts, converts to UTF-8 and checks the one
// rule for its length, 1 to 255 bytes of UTF-8 in every database encoding
// (22023); in an SQL_ASCII database the bytes must be valid UTF-8 (22021).
OrgName read_org(Datum d);

// Optional context argument at position i (absent or NULL: no context).
Context read_context(FunctionCallInfo fcinfo, int i);

// Text in the database encoding -> UTF-8 (no copy in a UTF-8 database).
// what names the value in an error ("plaintext", "context"). In an
// SQL_ASCII database, bytes that are not valid UTF-8 are refused (22021), so
// that whatever encrypts also decrypts.
ByteView to_utf8(const char* p, int len, const char* what);

// UTF-8 -> a text datum in the database encoding. The result is palloc'd;
// a character with no equivalent is 22P05 (without quoting it). Wipes the
// intermediate buffers.
text* utf8_to_text(const char* p, int len);

// Frees a converted copy made by to_utf8 (wiping it), if it is one.
void wipe_converted(ByteView converted, const char* original);

}  // namespace orgcrypt::pg
