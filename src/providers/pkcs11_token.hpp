// The process-wide side of the pkcs11: provider: loaded modules, their
// initialisation in this process, and one session per token (logged in with
// the PIN from pin-source) with the key handles found in it.
//
// Fork safety (the postmaster forks every backend): nothing is initialised
// when a module is loaded; C_Initialize runs at the first use in a process,
// which records getpid(). A forked child sees another pid: it drops the
// parent's sessions and handles without calling the module (they are the
// parent's), and initialises again (CKR_CRYPTOKI_ALREADY_INITIALIZED after a
// fork means "finalize the parent's copy and initialise again"; in a process
// that never initialised the module it means someone else in the process
// did: use it as it is). Modules are never unloaded.
//
// Not for concurrent threads beyond the mutex below: callers hold mutex()
// around acquire(), the calls on the KeyRef, and forget().
#pragma once
#define CRYPTOKI_GNU 1
#include <p11-kit/pkcs11.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace orgcrypt {
namespace p11 {

// What a pkcs11: URI names. Built from a URI that passed check_pkcs11_uri.
struct Target {
  std::string module_path;
  std::map<std::string, std::string> select;  // token, slot and library attributes of the URI
  std::optional<std::string> object;          // CKA_LABEL
  std::optional<std::string> id;              // CKA_ID (bytes)
  std::string pin_path;                       // "" = no login (public objects only)
  std::string token_key;                      // one session per distinct selection
  std::string key_key;                        // one cached handle per distinct key selection

  explicit Target(const std::string& uri);
  // key object "kek1" on token "orgcrypt" (module /usr/lib/...)
  std::string describe() const;
};

// A step that failed: the PKCS#11 function and its return code, or (rv 0) a
// problem of ours described by what; retry: worth another attempt.
struct Failure {
  const char* fn = nullptr;
  unsigned long rv = 0;
  std::string what;
  bool retry = false;
  explicit operator bool() const { return fn != nullptr; }
};

// The Failure of a call fn that returned rv, with retry set for the codes
// worth another attempt: SoftHSM reports a token as missing (or fails a
// login with CKR_GENERAL_ERROR or CKR_USER_PIN_NOT_INITIALIZED: it rewrites
// the token's file at every login) while another process logs in; sessions
// and handles vanish with a removed token. CKR_GENERAL_ERROR from
// C_Encrypt/C_Decrypt is a verdict (a bad tag), never retried.
Failure call_failed(const char* fn, unsigned long rv);

// The key, ready for calls in this process.
struct KeyRef {
  struct ck_function_list* fl = nullptr;
  ck_session_handle_t session = 0;
  ck_object_handle_t key = 0;
  std::uint64_t generation = 0;  // new whenever this handle was (re)found
};

std::mutex& mutex();

// The process that initialised the module at module_path, as this process
// sees it (0: loaded but not initialised, or not loaded). For tests and
// diagnostics: a forked child reports its parent until its first use.
long initialised_by(const std::string& module_path);

// Loads and initialises the module (in this process), opens or reuses the
// token's session, logs in, and finds the key (an AES-256 secret key,
// sensitive and not extractable). Throws Error 58000 for what no retry can
// mend (the module cannot be loaded, the PIN file cannot be read); returns
// a Failure for what a PKCS#11 call refused.
Failure acquire(const Target& t, KeyRef* out);

// After a Failure worth a retry: forgets what rv says is gone (the handles,
// the login, the session) so that the next acquire starts again from there.
// deep: also finalise the module (if this process initialised it) so that
// the next acquire initialises it again: SoftHSM marks a token it once
// failed to read as invalid for the life of its initialisation.
void forget(const Target& t, unsigned long rv, bool deep);

}  // namespace p11
}  // namespace orgcrypt
