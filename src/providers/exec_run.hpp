// Runs one program for the exec: provider, without a shell: posix_spawn of
// an absolute path with a given argv and environment, every inherited file
// descriptor but 0, 1 and 2 closed in the child (the backend holds the
// client's socket), signal dispositions reset and the signal mask cleared,
// working directory "/", and a process group of its own. The input is
// written to its stdin (then closed); stdout and stderr are read with poll()
// in steps of at most 100 ms, asking provider_interrupted() at every step.
// On an interrupt, a timeout or too much output the whole process group is
// killed (SIGKILL) and the child reaped; when the child ends normally, any
// process it left in its group is killed as well. No zombie is left behind.
// SIGPIPE is blocked while writing (the child may exit without reading).
#pragma once
#include <cstddef>
#include <string>
#include <vector>

#include "secure.hpp"

namespace orgcrypt {

struct RunSpec {
  std::string path;                // absolute path of the program
  std::vector<std::string> argv;   // argv[0] included
  std::vector<std::string> env;    // the whole environment, "NAME=value"
  ByteView input;                  // written to stdin, then stdin is closed
  std::size_t max_stdout = 64 * 1024;  // more is RunEnd::StdoutTooLarge
  std::size_t keep_stderr = 512;       // the first bytes of stderr are kept
  unsigned timeout_ms = 30000;
};

enum class RunEnd {
  Exited,          // status = exit status
  Signaled,        // status = signal number
  TimedOut,        // killed after timeout_ms
  Interrupted,     // killed because provider_interrupted() said so
  StdoutTooLarge,  // killed: more than max_stdout bytes on stdout
  SpawnFailed,     // status = errno of the spawn (the child never ran)
  Failed,          // status = errno of a failed poll/read/wait (child killed)
};

struct RunResult {
  RunEnd end = RunEnd::SpawnFailed;
  int status = 0;
  SecretBytes out;   // stdout (may hold key bytes: wiped when freed)
  std::string err;   // the first keep_stderr bytes of stderr, raw
};

// Never throws for anything the program does (std::bad_alloc aside).
RunResult run_program(const RunSpec& spec);

}  // namespace orgcrypt
