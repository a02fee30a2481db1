#include "pg/guard.hpp"

#include <cstring>

extern "C" {
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
  int code = MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
  ereport(ERROR, (errcode(code), errmsg("%s", err.message),
                  err.detail[0] ? errdetail("%s", err.detail) : 0,
                  err.hint[0] ? errhint("%s", err.hint) : 0, errhidestmt(true)));
  pg_unreachable();
}

}  // namespace orgcrypt::pg
