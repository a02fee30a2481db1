#include "pg/args.hpp"

#include <openssl/crypto.h>

#include "pg/guard.hpp"

extern "C" {
#include "catalog/namespace.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
}

#include "ascii.hpp"

namespace orgcrypt::pg {

namespace {

[[noreturn]] void not_utf8(const char* what) {
  ereport(ERROR, (errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
                  errmsg("orgcrypt %s is not valid UTF-8", what),
                  errdetail("In an SQL_ASCII database orgcrypt accepts only text that is valid UTF-8, "
                            "so that every value it seals can be decrypted as text."),
                  errhint("Encrypt binary data as bytea."), errhidestmt(true)));
  pg_unreachable();
}

[[noreturn]] void conversion_failed(int from, int to) {
  ereport(ERROR, (errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
                  errmsg("a character of the value has no equivalent in encoding \"%s\"", pg_encoding_to_char(to)),
                  errdetail("orgcrypt converts text between \"%s\" and \"%s\"; the character is not shown, "
                            "since it may be plaintext.",
                            pg_encoding_to_char(from), pg_encoding_to_char(to)),
                  errhint("Use orgcrypt.decrypt_for_org_bytea() to read the value as UTF-8 bytes."),
                  errhidestmt(true)));
  pg_unreachable();
}

// Converts len bytes from encoding `from` to `to`; the result is palloc'd and
// NUL-terminated, its length in *outlen. Never raises an error that quotes
// the input.
char* convert(const char* p, int len, int from, int to, int* outlen) {
  Size need = (Size)len * MAX_CONVERSION_GROWTH + 1;
  if (need > MaxAllocHugeSize)
    ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED), errmsg("value too large to convert"), errhidestmt(true)));
#if PG_VERSION_NUM >= 140000
  Oid proc = FindDefaultConversionProc(from, to);
  if (!OidIsValid(proc))
    ereport(ERROR, (errcode(ERRCODE_UNDEFINED_FUNCTION),
                    errmsg("no conversion from \"%s\" to \"%s\"", pg_encoding_to_char(from), pg_encoding_to_char(to)),
                    errhidestmt(true)));
  char* buf = (char*)MemoryContextAllocHuge(CurrentMemoryContext, need);
  int done = pg_do_encoding_conversion_buf(proc, from, to, (unsigned char*)p, len, (unsigned char*)buf, (int)Min(need, (Size)PG_INT32_MAX), true);
  if (done < len) {
    OPENSSL_cleanse(buf, need);
    pfree(buf);
    conversion_failed(from, to);
  }
  *outlen = (int)strlen(buf);
  return buf;
#else
  // Before PG 14 there is no no-error conversion: catch the error and raise
  // our own, which does not quote the bytes.
  MemoryContext mcxt = CurrentMemoryContext;
  char* volatile res = nullptr;
  volatile bool failed = false;
  PG_TRY();
  {
    res = (char*)pg_do_encoding_conversion((unsigned char*)p, len, from, to);
  }
  PG_CATCH();
  {
    MemoryContextSwitchTo(mcxt);
    FlushErrorState();
    failed = true;
  }
  PG_END_TRY();
  if (failed) conversion_failed(from, to);
  if (res == p) {  // nothing to convert: copy
    char* c = (char*)palloc(len + 1);
    memcpy(c, p, len);
    c[len] = '\0';
    *outlen = len;
    return c;
  }
  *outlen = (int)strlen(res);
  return res;
#endif
}

}  // namespace

ByteView to_utf8(const char* p, int len, const char* what) {
  int enc = GetDatabaseEncoding();
  if (enc == PG_UTF8) return ByteView(p, (size_t)len);
  if (plain_ascii(p, (size_t)len)) return ByteView(p, (size_t)len);  // ASCII is the same in every server encoding
  if (enc == PG_SQL_ASCII) {
    if (!pg_verify_mbstr(PG_UTF8, p, len, true)) not_utf8(what);
    return ByteView(p, (size_t)len);
  }
  int n = 0;
  char* u = convert(p, len, enc, PG_UTF8, &n);
  return ByteView(u, (size_t)n);
}

void wipe_converted(ByteView converted, const char* original) {
  if (converted.data == (const std::uint8_t*)original || converted.data == nullptr) return;
  OPENSSL_cleanse(const_cast<std::uint8_t*>(converted.data), converted.size);
  pfree(const_cast<std::uint8_t*>(converted.data));
}

text* utf8_to_text(const char* p, int len) {
  int enc = GetDatabaseEncoding();
  if (enc == PG_UTF8 || enc == PG_SQL_ASCII || plain_ascii(p, (size_t)len)) return cstring_to_text_with_len(p, len);
  int n = 0;
  char* conv = convert(p, len, PG_UTF8, enc, &n);
  if ((Size)n + VARHDRSZ > MaxAllocSize) {
    OPENSSL_cleanse(conv, (size_t)n);
    pfree(conv);
    ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                    errmsg("decrypted text is too long in the database encoding"), errhidestmt(true)));
  }
  text* r = cstring_to_text_with_len(conv, n);
  OPENSSL_cleanse(conv, (size_t)n);
  pfree(conv);
  return r;
}

OrgName read_org(Datum d) {
  OrgName o;
  o.db = DatumGetTextPP(d);
  o.bytes = ByteView(VARDATA_ANY(o.db), VARSIZE_ANY_EXHDR(o.db));
  // Checked on the database form first, so that a huge argument is never
  // converted; then the one rule on its UTF-8 form.
  if (o.bytes.size < 1 || o.bytes.size > 4 * kMaxOrgLen)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("organization name must be 1 to 255 bytes of UTF-8, not %zu bytes", o.bytes.size),
                    errhidestmt(true)));
  o.utf8 = to_utf8((const char*)o.bytes.data, (int)o.bytes.size, "organization name");
  if (o.utf8.size < 1 || o.utf8.size > kMaxOrgLen)
    ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                    errmsg("organization name must be 1 to 255 bytes of UTF-8, not %zu bytes", o.utf8.size),
                    errhidestmt(true)));
  return o;
}

Context read_context(FunctionCallInfo fcinfo, int i) {
  Context c;
  if (PG_NARGS() > i && !PG_ARGISNULL(i)) {
    text* t = PG_GETARG_TEXT_PP(i);
    c.present = true;
    c.bytes = to_utf8(VARDATA_ANY(t), (int)VARSIZE_ANY_EXHDR(t), "context");
  }
  return c;
}

}  // namespace orgcrypt::pg
