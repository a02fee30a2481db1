#include "pg/guard.hpp"

#include <cstring>

#include <cstdarg>
#include <cstdio>

extern "C" {
#include "miscadmin.h"
#include "utils/elog.h"
}

namespace orgcrypt::pg {

static void copy(char* dst, std::size_t n, const char* src) noexcept {
  if (!src) src = "";
  std::size_t len = std::strlen(src);
  if (len >= n) len = n - 1;
  std::memcpy(dst, src, len);
  dst[len] = '\0';
}

void ErrInfo::set(const char* state, const char* msg, const char* det, const char* hnt) noexcept {
  copy(sqlstate, sizeof sqlstate, state);
  copy(message, sizeof message, msg);
  copy(detail, sizeof detail, det);
  copy(hint, sizeof hint, hnt);
}

void fill_error(ErrInfo& err, const Error& e) noexcept {
  err.set(e.sqlstate(), e.what(), e.detail().c_str(), e.hint().c_str());
}

void raise_error(const ErrInfo& err) {
  const char* s = err.sqlstate;
  // A provider call stopped because of a cancel or termination: raise
  // PostgreSQL's own (statement hidden), now that the C++ objects are gone.
  if (strcmp(s, sqlstate::kQueryCanceled) == 0) check_interrupts_hidden();
  int code = MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
  ereport(ERROR, (errcode(code), errmsg("%s", err.message),
                  err.detail[0] ? errdetail("%s", err.detail) : 0,
                  err.hint[0] ? errhint("%s", err.hint) : 0, errhidestmt(true)));
  pg_unreachable();
}

void rethrow_hidden(MemoryContext mcxt) {
  MemoryContextSwitchTo(mcxt);
  ErrorData* e = CopyErrorData();
  FlushErrorState();
  e->hide_stmt = true;
  ReThrowError(e);
}

void internal_error(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg_internal("orgcrypt: %s", buf), errhidestmt(true)));
  pg_unreachable();
}

void check_interrupts_hidden() {
  if (!INTERRUPTS_PENDING_CONDITION()) return;
  ORGCRYPT_HIDDEN(CHECK_FOR_INTERRUPTS());
}

}  // namespace orgcrypt::pg
