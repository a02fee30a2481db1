// The exception/error boundary. C++ code runs inside cxx_call(); whatever it
// throws is copied into a plain ErrInfo; raise_error() then calls
// ereport(ERROR) once no C++ object is alive.
#pragma once
#include "pg/prelude.h"

#include <cstddef>
#include <new>

#include "error.hpp"

namespace orgcrypt::pg {

struct ErrInfo {
  char sqlstate[6];
  char message[512];
  char detail[512];
  char hint[512];
  void set(const char* state, const char* msg, const char* det, const char* hnt) noexcept;
};

void fill_error(ErrInfo& err, const Error& e) noexcept;

// Runs f; returns false (and fills err) if it threw.
template <typename F>
inline bool cxx_call(ErrInfo& err, F&& f) noexcept {
  try {
    f();
    return true;
  } catch (const Error& e) {
    fill_error(err, e);
  } catch (const std::bad_alloc&) {
    err.set(sqlstate::kOutOfMemory, "out of memory in orgcrypt", "", "");
  } catch (const std::exception& e) {
    err.set(sqlstate::kInternal, e.what(), "", "");
  } catch (...) {
    err.set(sqlstate::kInternal, "unknown C++ exception in orgcrypt", "", "");
  }
  return false;
}

// ereport(ERROR) with the saved SQLSTATE and texts; errhidestmt(true), since
// the statement may hold plaintext.
[[noreturn]] void raise_error(const ErrInfo& err);

}  // namespace orgcrypt::pg

// Runs a C++ block; on exception, raises it as a PostgreSQL error after the
// block's objects are gone.
#define ORGCRYPT_CXX(...)                                                          \
  do {                                                                             \
    ::orgcrypt::pg::ErrInfo orgcrypt_err_;                                         \
    if (!::orgcrypt::pg::cxx_call(orgcrypt_err_, [&]() { __VA_ARGS__; }))          \
      ::orgcrypt::pg::raise_error(orgcrypt_err_);                                  \
  } while (0)
