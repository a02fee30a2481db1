// orgcrypt core: error type carried from core code to the PostgreSQL glue.
#pragma once

#include <stdexcept>
#include <string>

namespace orgcrypt {

// SQLSTATEs used by orgcrypt (five characters each, as in PostgreSQL).
namespace sqlstate {
constexpr const char* kInvalidText = "22P02";          // malformed envelope
constexpr const char* kAuthFailure = "XX001";          // data corrupted
constexpr const char* kInvalidParameter = "22023";     // org out of range
constexpr const char* kCharNotInRepertoire = "22021";  // text vs bytea
constexpr const char* kNotInPrerequisiteState = "55000";
constexpr const char* kDuplicateObject = "42710";
constexpr const char* kInsufficientPrivilege = "42501";
constexpr const char* kSystemError = "58000";  // provider failures
constexpr const char* kQueryCanceled = "57014";  // a provider call interrupted by a cancel
constexpr const char* kOutOfMemory = "53200";
constexpr const char* kInternal = "XX000";
}  // namespace sqlstate

// An error with a SQLSTATE, a primary message, and optional detail and hint.
// Messages never contain key bytes or plaintext.
class Error : public std::runtime_error {
 public:
  Error(const char* state, std::string message, std::string detail = {},
        std::string hint = {})
      : std::runtime_error(std::move(message)),
        detail_(std::move(detail)),
        hint_(std::move(hint)) {
    for (int i = 0; i < 5; i++) state_[i] = state[i];
    state_[5] = '\0';
  }
  const char* sqlstate() const noexcept { return state_; }
  const std::string& detail() const noexcept { return detail_; }
  const std::string& hint() const noexcept { return hint_; }

 private:
  char state_[6];
  std::string detail_;
  std::string hint_;
};

}  // namespace orgcrypt
