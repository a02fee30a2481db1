// exec:/absolute/path[?timeout_ms=N] — a program that wraps and unwraps DEKs
// (and names its key), run without a shell for every call: the protocol is
// in exec_protocol.hpp, the process handling in exec_run.hpp, the contract
// for program authors in docs/providers.md.
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "aead.hpp"
#include "error.hpp"
#include "exec_protocol.hpp"
#include "exec_run.hpp"
#include "provider.hpp"

namespace orgcrypt {

namespace {

using exec_proto::Op;

constexpr std::size_t kKeepStderr = 512;   // bytes of stderr kept
constexpr std::size_t kShowStderr = 200;   // characters of it shown in a message
constexpr std::size_t kMaxKeyId = 1024;    // bytes of a fingerprint answer
const char kHintDocs[] = "See docs/providers.md (\"exec:\") for what the program must read and write.";

// The program's environment: nothing of the server's, only this.
std::vector<std::string> program_env() {
  std::vector<std::string> env = {"PATH=/usr/bin:/bin", "LANG=C"};
  struct passwd pw, *res = nullptr;
  char buf[4096];
  if (::getpwuid_r(::geteuid(), &pw, buf, sizeof buf, &res) == 0 && res && res->pw_dir && res->pw_dir[0])
    env.push_back(std::string("HOME=") + res->pw_dir);
  env.push_back("ORGCRYPT_EXEC_VERSION=" + std::to_string(exec_proto::kVersion));
  return env;
}

std::string signal_name(int sig) {
  const char* d = ::strsignal(sig);
  return std::to_string(sig) + (d ? std::string(" (") + d + ")" : std::string());
}

class ExecProvider final : public KeyProvider {
 public:
  ExecProvider(std::string uri, exec_proto::Uri parsed) : uri_(std::move(uri)), u_(std::move(parsed)) {}
  const std::string& uri() const override { return uri_; }
  bool production_ready() const override { return true; }
  // Runs the program once (fingerprint): it is there, runs, and answers.
  void validate() override { (void)fingerprint(); }

  // The program's key identifier, asked once per provider object (one
  // object = one key, as for file:), stored as the first 8 bytes of
  // SHA-256("orgcrypt exec key id v1" || identifier).
  Bytes fingerprint() override {
    if (fp_.empty()) {
      exec_proto::Response resp = call(Op::Fingerprint, ByteView(), ByteView());
      if (resp.value.size() > kMaxKeyId)
        fail(Op::Fingerprint, "the key identifier is longer than " + std::to_string(kMaxKeyId) + " bytes", kHintDocs);
      static const char kLabel[] = "orgcrypt exec key id v1";
      Bytes in(kLabel, kLabel + sizeof kLabel - 1);
      in.insert(in.end(), resp.value.begin(), resp.value.end());
      fp_ = sha256(ByteView(in));
      fp_.resize(8);
    }
    return fp_;
  }

  Bytes wrap(ByteView dek, ByteView aad) override {
    exec_proto::Response resp = call(Op::Wrap, aad, dek);
    return Bytes(resp.value.begin(), resp.value.end());
  }

  SecretBytes unwrap(ByteView blob, ByteView aad) override {
    exec_proto::Response resp = call(Op::Unwrap, aad, blob);
    if (resp.value.size() != kKeyLen)
      fail(Op::Unwrap,
           "the program returned " + std::to_string(resp.value.size()) + " bytes, not a " +
               std::to_string(kKeyLen) + "-byte data key",
           kHintDocs);
    return std::move(resp.value);
  }

 private:
  [[noreturn]] void fail(Op op, const std::string& why, const std::string& hint = {},
                         const std::string& detail = {}) const {
    throw Error(sqlstate::kSystemError, uri_ + " " + exec_proto::op_name(op) + " failed: " + why, detail, hint);
  }

  // The program must be a regular file the server's OS user may execute.
  void check_program(Op op) const {
    struct stat st;
    if (::stat(u_.path.c_str(), &st) != 0) {
      int e = errno;
      fail(op, "cannot find the program \"" + u_.path + "\": " + std::strerror(e),
           "exec: runs the program at this absolute path: install it there (executable by the server's OS user), "
           "or correct the key URI.");
    }
    if (!S_ISREG(st.st_mode)) fail(op, "\"" + u_.path + "\" is not a regular file", "Name the program itself.");
    if (::access(u_.path.c_str(), X_OK) != 0)
      fail(op, "the program \"" + u_.path + "\" is not executable by the server's OS user",
           "chmod it (e.g. 0755) and make every directory above it searchable by the server's OS user.");
  }

  exec_proto::Response call(Op op, ByteView aad, ByteView data) {
    check_program(op);
    RunSpec spec;
    spec.path = u_.path;
    spec.argv = {u_.path, exec_proto::op_name(op)};
    spec.env = program_env();
    const SecretBytes request = exec_proto::build_request(op, aad, data);
    spec.input = ByteView(request);
    spec.max_stdout = exec_proto::kMaxResponse;
    spec.keep_stderr = kKeepStderr;
    spec.timeout_ms = u_.timeout_ms;
    RunResult run = run_program(spec);

    const std::string err = exec_proto::sanitize(ByteView(run.err), kShowStderr);
    switch (run.end) {
      case RunEnd::Interrupted:
        throw_interrupted(uri_, exec_proto::op_name(op));
      case RunEnd::TimedOut:
        fail(op, "timed out after " + std::to_string(u_.timeout_ms) + " ms (the program was killed)",
             "Make the program answer sooner, or allow it more time with ?timeout_ms=N in the key URI (at most " +
                 std::to_string(exec_proto::kMaxTimeoutMs) + ").");
      case RunEnd::StdoutTooLarge:
        fail(op, "the program wrote more than " + std::to_string(exec_proto::kMaxResponse) +
                     " bytes to standard output (it was killed)", kHintDocs);
      case RunEnd::SpawnFailed:
        fail(op, "could not run \"" + u_.path + "\": " + std::strerror(run.status),
             run.status == ENOEXEC ? "A script needs a #! line naming its interpreter." : "");
      case RunEnd::Failed:
        fail(op, std::string("lost contact with the program: ") + std::strerror(run.status));
      case RunEnd::Signaled:
        fail(op, "killed by signal " + signal_name(run.status) + (err.empty() ? "" : ": " + err));
      case RunEnd::Exited:
        break;
    }
    exec_proto::Response resp;
    const std::string why = exec_proto::parse_response(ByteView(run.out), &resp);
    if (run.status != 0) {
      // The "error" text if the program gave one, else its stderr.
      const bool said = why.empty() && !resp.ok;
      fail(op, "exit status " + std::to_string(run.status) + (said ? ": " + resp.error : err.empty() ? "" : ": " + err),
           "", said && !err.empty() ? "stderr: " + err : "");
    }
    if (!why.empty()) fail(op, "malformed response: " + why, kHintDocs, err.empty() ? "" : "stderr: " + err);
    if (!resp.ok) fail(op, "the program reported: " + resp.error, "", err.empty() ? "" : "stderr: " + err);
    return resp;
  }

  std::string uri_;
  exec_proto::Uri u_;
  Bytes fp_;
};

}  // namespace

std::string check_exec_uri(const std::string& uri) { return exec_proto::parse_uri(uri, nullptr); }

std::unique_ptr<KeyProvider> make_exec_provider(const std::string& uri) {
  exec_proto::Uri u;
  std::string why = exec_proto::parse_uri(uri, &u);
  if (!why.empty()) throw Error(sqlstate::kSystemError, "invalid key URI \"" + uri + "\"", why);
  return std::make_unique<ExecProvider>(uri, std::move(u));
}

}  // namespace orgcrypt
