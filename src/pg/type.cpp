// orgcrypt.ciphertext: binary envelope; text I/O is base64; casts to/from bytea.
#include "pg/guard.hpp"

extern "C" {
#include "utils/memutils.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
}

#include "base64.hpp"
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

// Text form: RFC 4648 base64 with padding; whitespace is ignored anywhere
// (line-wrapped base64 from encode(..., 'base64') is accepted), '=' only as
// the last one or two characters, unused bits zero. Errors hide the
// statement (it may hold plaintext).
extern "C" PGDLLEXPORT Datum orgcrypt_ciphertext_in(PG_FUNCTION_ARGS) {
  const char* s = PG_GETARG_CSTRING(0);
  size_t len = strlen(s);
  size_t maxlen = b64_decoded_max(len);
  if (maxlen > MaxAllocSize - VARHDRSZ)
    ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("orgcrypt ciphertext input is too long"),
                    errhidestmt(true)));
  bytea* r = (bytea*)palloc(VARHDRSZ + maxlen);
  size_t n = 0;
  if (!b64_decode(s, len, (std::uint8_t*)VARDATA(r), &n))
    ereport(ERROR, (errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
                    errmsg("invalid input syntax for type orgcrypt.ciphertext"),
                    errdetail("The text form of a ciphertext is base64 (RFC 4648, with padding)."), errhidestmt(true)));
  SET_VARSIZE(r, VARHDRSZ + n);
  check_envelope(VARDATA(r), n);
  PG_RETURN_POINTER(r);
}

extern "C" PGDLLEXPORT Datum orgcrypt_ciphertext_out(PG_FUNCTION_ARGS) {
  bytea* v = PG_GETARG_BYTEA_PP(0);
  size_t len = VARSIZE_ANY_EXHDR(v);
  size_t olen = 0;
  // The text form is 4/3 of the value: past about 768 MB it exceeds
  // PostgreSQL's 1 GB limit (binary output still works).
  if (!b64_encoded_len_ok(len, MaxAllocSize - 1, &olen))
    ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                    errmsg("orgcrypt ciphertext of %zu bytes is too long for its text form", len),
                    errdetail("The base64 text form must stay under 1 GB: values up to about 768 MB have one."),
                    errhint("Use binary output (a driver's binary mode, COPY ... BINARY, or a cast to bytea)."),
                    errhidestmt(true)));
  char* out = (char*)palloc(olen + 1);
  b64_encode((const std::uint8_t*)VARDATA_ANY(v), len, out);
  out[olen] = '\0';
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
