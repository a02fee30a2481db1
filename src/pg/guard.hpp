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

// Inside PG_CATCH: re-raises the error being handled (one PostgreSQL raised:
// a cancel, an SPI error, a failed conversion) with the statement hidden,
// since the statement may hold plaintext.
[[noreturn]] void rethrow_hidden(MemoryContext mcxt);

// An internal error (XX000), statement hidden.
[[noreturn]] void internal_error(const char* fmt, ...) pg_attribute_printf(1, 2);

// CHECK_FOR_INTERRUPTS() whose cancel error hides the statement.
void check_interrupts_hidden();

}  // namespace orgcrypt::pg

// Runs a C++ block; on exception, raises it as a PostgreSQL error after the
// block's objects are gone.
#define ORGCRYPT_CXX(...)                                                          \
  do {                                                                             \
    ::orgcrypt::pg::ErrInfo orgcrypt_err_;                                         \
    if (!::orgcrypt::pg::cxx_call(orgcrypt_err_, [&]() { __VA_ARGS__; }))          \
      ::orgcrypt::pg::raise_error(orgcrypt_err_);                                  \
  } while (0)

// Runs PostgreSQL code whose errors must not log the statement: any error
// it raises is re-raised with the statement hidden. No C++ object with a
// destructor may be alive inside.
#define ORGCRYPT_HIDDEN(...)                                   \
  do {                                                         \
    MemoryContext orgcrypt_mcxt_ = CurrentMemoryContext;       \
    PG_TRY();                                                  \
    {                                                          \
      __VA_ARGS__;                                             \
    }                                                          \
    PG_CATCH();                                                \
    {                                                          \
      ::orgcrypt::pg::rethrow_hidden(orgcrypt_mcxt_);          \
    }                                                          \
    PG_END_TRY();                                              \
  } while (0)
