// orgcrypt.ciphertext: binary envelope; text I/O is base64; casts to/from bytea.
#include "pg/guard.hpp"

extern "C" {
#include "common/base64.h"
#include "utils/memutils.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
}

#include "envelope.hpp"

using namespace orgcrypt;
using namespace orgcrypt::pg;

extern "C" {
PG_FUNCTION_INFO_V1(orgcrypt_ciphertext_in);
PG_FUNCTION_INFO_V1(orgcrypt_ciphertext_out);
PG_FUNCTION_INFO_V1(orgcrypt_ciphertext_recv);
PG_FUNCTION_INFO_V1(orgcrypt_ciphertext_send);
PG_FUNCTION_INFO_V1(orgcrypt_ciphertext_from_bytea);
PG_FUNCTION_INFO_V1(orgcrypt_dek_version);
}

namespace {
// Checks an envelope's header and length (22P02 on failure).
void check_envelope(const void* p, size_t len) {
  ORGCRYPT_CXX((void)parse_header(static_cast<const std::uint8_t*>(p), len));
}
}  // namespace

extern "C" PGDLLEXPORT Datum orgcrypt_ciphertext_in(PG_FUNCTION_ARGS) {
  const char* s = PG_GETARG_CSTRING(0);
  size_t len = strlen(s);
  if (len > (size_t)MaxAllocSize / 2)
    ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION), errmsg("orgcrypt ciphertext input is too long")));
  int maxlen = pg_b64_dec_len((int)len);
  bytea* r = (bytea*)palloc(VARHDRSZ + maxlen);
  int n = pg_b64_decode(s, (int)len, VARDATA(r), maxlen);
  if (n < 0)
    ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                    errmsg("invalid input syntax for type orgcrypt.ciphertext"),
                    errdetail("The text form of a ciphertext is base64.")));
  SET_VARSIZE(r, VARHDRSZ + n);
  check_envelope(VARDATA(r), (size_t)n);
  PG_RETURN_POINTER(r);
}

extern "C" PGDLLEXPORT Datum orgcrypt_ciphertext_out(PG_FUNCTION_ARGS) {
  bytea* v = PG_GETARG_BYTEA_PP(0);
  int len = (int)VARSIZE_ANY_EXHDR(v);
  int olen = pg_b64_enc_len(len);
  char* out = (char*)palloc(olen + 1);
  int n = pg_b64_encode(VARDATA_ANY(v), len, out, olen);
  if (n < 0) elog(ERROR, "orgcrypt: base64 encoding failed");
  out[n] = '\0';
  PG_RETURN_CSTRING(out);
}

extern "C" PGDLLEXPORT Datum orgcrypt_ciphertext_recv(PG_FUNCTION_ARGS) {
  StringInfo buf = (StringInfo)PG_GETARG_POINTER(0);
  int n = buf->len - buf->cursor;
  bytea* r = (bytea*)palloc(VARHDRSZ + n);
  SET_VARSIZE(r, VARHDRSZ + n);
  pq_copymsgbytes(buf, VARDATA(r), n);
  check_envelope(VARDATA(r), (size_t)n);
  PG_RETURN_POINTER(r);
}

extern "C" PGDLLEXPORT Datum orgcrypt_ciphertext_send(PG_FUNCTION_ARGS) {
  bytea* v = PG_GETARG_BYTEA_P_COPY(0);
  PG_RETURN_BYTEA_P(v);
}

extern "C" PGDLLEXPORT Datum orgcrypt_ciphertext_from_bytea(PG_FUNCTION_ARGS) {
  bytea* v = PG_GETARG_BYTEA_PP(0);
  check_envelope(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v));
  PG_RETURN_DATUM(PG_GETARG_DATUM(0));
}

extern "C" PGDLLEXPORT Datum orgcrypt_dek_version(PG_FUNCTION_ARGS) {
  bytea* v = PG_GETARG_BYTEA_PP(0);
  uint32_t ver = 0;
  ORGCRYPT_CXX(ver = parse_header((const std::uint8_t*)VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v)).dek_version);
  PG_RETURN_INT32((int32)ver);
}
