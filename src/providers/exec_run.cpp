#include "exec_run.hpp"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "provider.hpp"

#if !defined(__GLIBC__) || !__GLIBC_PREREQ(2, 34)
#error "the exec: provider needs glibc 2.34 or later (posix_spawn_file_actions_addclosefrom_np)"
#endif

namespace orgcrypt {

namespace {

constexpr int kPollStepMs = 100;  // the longest wait between two interrupt checks
constexpr int kReapStepMs = 10;

class Fd {
 public:
  Fd() = default;
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// A close-on-exec pipe whose ends are both >= 3, so that the child's dup2
// onto 0, 1 and 2 can never overwrite one of them. Returns 0 or an errno.
int make_pipe(Fd& r, Fd& w) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return errno;
  r.reset(p[0]);
  w.reset(p[1]);
  for (Fd* f : {&r, &w}) {
    if (f->get() < 3) {
      int n = ::fcntl(f->get(), F_DUPFD_CLOEXEC, 3);
      if (n < 0) return errno;
      f->reset(n);
    }
  }
  return 0;
}

int set_nonblock(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  if (fl < 0 || ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) return errno;
  return 0;
}

std::int64_t now_ms() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Blocks SIGPIPE in this thread for its lifetime: a write to a program that
// stopped reading then fails with EPIPE instead of killing the backend. A
// SIGPIPE raised meanwhile is consumed before the old mask comes back
// (unless one was already pending before).
class SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
    sigset_t pending;
    sigemptyset(&pending);
    was_pending_ = ::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeBlock() {
    sigset_t pending;
    sigemptyset(&pending);
    if (!was_pending_ && ::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
      struct timespec zero = {0, 0};
      while (::sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
      }
    }
    ::pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

// posix_spawn's file actions and attributes, destroyed with the object.
class SpawnSetup {
 public:
  SpawnSetup(int in, int out, int err) {
    if ((rc_ = ::posix_spawn_file_actions_init(&fa_)) != 0) return;
    fa_ok_ = true;
    if ((rc_ = ::posix_spawnattr_init(&at_)) != 0) return;
    at_ok_ = true;
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    if ((rc_ = ::posix_spawn_file_actions_adddup2(&fa_, in, 0)) != 0 ||
        (rc_ = ::posix_spawn_file_actions_adddup2(&fa_, out, 1)) != 0 ||
        (rc_ = ::posix_spawn_file_actions_adddup2(&fa_, err, 2)) != 0 ||
        // close_range(3, ~0U) in the child, or /proc/self/fd where the
        // kernel lacks close_range (glibc's closefrom).
        (rc_ = ::posix_spawn_file_actions_addclosefrom_np(&fa_, 3)) != 0 ||
        (rc_ = ::posix_spawn_file_actions_addchdir_np(&fa_, "/")) != 0 ||
        (rc_ = ::posix_spawnattr_setflags(&at_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                                    POSIX_SPAWN_SETSIGMASK)) != 0 ||
        (rc_ = ::posix_spawnattr_setpgroup(&at_, 0)) != 0 ||
        // A backend ignores SIGPIPE and handles many others: the program
        // starts with every signal at its default and none blocked.
        (rc_ = ::posix_spawnattr_setsigdefault(&at_, &all)) != 0 ||
        (rc_ = ::posix_spawnattr_setsigmask(&at_, &none)) != 0)
      return;
  }
  ~SpawnSetup() {
    if (fa_ok_) ::posix_spawn_file_actions_destroy(&fa_);
    if (at_ok_) ::posix_spawnattr_destroy(&at_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;
  int error() const { return rc_; }
  const posix_spawn_file_actions_t* actions() const { return &fa_; }
  const posix_spawnattr_t* attrs() const { return &at_; }

 private:
  posix_spawn_file_actions_t fa_;
  posix_spawnattr_t at_;
  bool fa_ok_ = false, at_ok_ = false;
  int rc_ = 0;
};

std::vector<char*> c_strings(const std::vector<std::string>& v) {
  std::vector<char*> out;
  out.reserve(v.size() + 1);
  for (const auto& s : v) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Kills the child's process group and the child, then reaps the child.
void kill_and_reap(pid_t pid) {
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

RunResult run_program(const RunSpec& s) {
  RunResult r;
  if (provider_interrupted()) {  // a cancel is already pending: start nothing
    r.end = RunEnd::Interrupted;
    return r;
  }
  Fd in_r, in_w, out_r, out_w, err_r, err_w;
  int e = make_pipe(in_r, in_w);
  if (e == 0) e = make_pipe(out_r, out_w);
  if (e == 0) e = make_pipe(err_r, err_w);
  if (e != 0) {
    r.status = e;
    return r;
  }
  std::vector<char*> argv = c_strings(s.argv), envp = c_strings(s.env);
  pid_t pid = -1;
  {
    SpawnSetup setup(in_r.get(), out_w.get(), err_w.get());
    if (setup.error() != 0) {
      r.status = setup.error();
      return r;
    }
    // glibc's posix_spawn returns only after the exec, with its errno if
    // it failed (ENOENT, EACCES, ENOEXEC ...).
    int rc = ::posix_spawn(&pid, s.path.c_str(), setup.actions(), setup.attrs(), argv.data(), envp.data());
    if (rc != 0) {
      r.status = rc;
      return r;
    }
  }
  in_r.reset();
  out_w.reset();
  err_w.reset();

  std::size_t out_len = 0, written = 0;
  r.out.resize(s.max_stdout + 1);
  auto killed = [&](RunEnd end, int status) {
    kill_and_reap(pid);
    r.end = end;
    r.status = status;
    r.out.resize(out_len < s.max_stdout ? out_len : s.max_stdout);
    return r;
  };
  if ((e = set_nonblock(in_w.get())) != 0 || (e = set_nonblock(out_r.get())) != 0 ||
      (e = set_nonblock(err_r.get())) != 0)
    return killed(RunEnd::Failed, e);

  SigpipeBlock no_sigpipe;
  if (s.input.size == 0) in_w.reset();
  const std::int64_t deadline = now_ms() + s.timeout_ms;
  std::int64_t left = s.timeout_ms;

  // Feed stdin, read stdout and stderr, until both outputs are closed.
  while (out_r || err_r) {
    if (provider_interrupted()) return killed(RunEnd::Interrupted, 0);
    left = deadline - now_ms();
    if (left <= 0) return killed(RunEnd::TimedOut, 0);
    struct pollfd fds[3];
    int n = 0, i_in = -1, i_out = -1, i_err = -1;
    if (in_w) fds[i_in = n++] = {in_w.get(), POLLOUT, 0};
    if (out_r) fds[i_out = n++] = {out_r.get(), POLLIN, 0};
    if (err_r) fds[i_err = n++] = {err_r.get(), POLLIN, 0};
    int pr = ::poll(fds, static_cast<nfds_t>(n), static_cast<int>(left < kPollStepMs ? left : kPollStepMs));
    if (pr < 0) {
      if (errno == EINTR) continue;
      return killed(RunEnd::Failed, errno);
    }
    if (i_in >= 0 && fds[i_in].revents) {
      std::size_t chunk = s.input.size - written;
      if (chunk > 65536) chunk = 65536;
      ssize_t w = ::write(in_w.get(), s.input.data + written, chunk);
      if (w > 0) {
        written += static_cast<std::size_t>(w);
        if (written == s.input.size) in_w.reset();  // EOF for the program
      } else if (w < 0 && errno != EINTR && errno != EAGAIN) {
        in_w.reset();  // EPIPE: the program does not read (any more)
      }
    }
    if (i_out >= 0 && fds[i_out].revents) {
      ssize_t m = ::read(out_r.get(), r.out.data() + out_len, r.out.size() - out_len);
      if (m > 0) {
        out_len += static_cast<std::size_t>(m);
        if (out_len > s.max_stdout) return killed(RunEnd::StdoutTooLarge, 0);
      } else if (m == 0) {
        out_r.reset();
      } else if (errno != EINTR && errno != EAGAIN) {
        return killed(RunEnd::Failed, errno);
      }
    }
    if (i_err >= 0 && fds[i_err].revents) {
      char buf[512];
      ssize_t m = ::read(err_r.get(), buf, sizeof buf);
      if (m > 0) {
        std::size_t room = s.keep_stderr > r.err.size() ? s.keep_stderr - r.err.size() : 0;
        r.err.append(buf, static_cast<std::size_t>(m) < room ? static_cast<std::size_t>(m) : room);
      } else if (m == 0) {
        err_r.reset();
      } else if (errno != EINTR && errno != EAGAIN) {
        return killed(RunEnd::Failed, errno);
      }
      OPENSSL_cleanse(buf, sizeof buf);
    }
  }
  in_w.reset();

  // Both outputs are closed: wait for the exit without reaping yet
  // (WNOWAIT), so that the group id stays reserved while leftovers in the
  // group are killed; then reap.
  long step_us = 50;  // the program is usually exiting already: wait 50 µs, then back off to kReapStepMs
  for (;;) {
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    int w = ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT);
    if (w == 0 && info.si_pid == pid) break;
    if (w < 0 && errno != EINTR) return killed(RunEnd::Failed, errno);
    if (provider_interrupted()) return killed(RunEnd::Interrupted, 0);
    left = deadline - now_ms();
    if (left <= 0) return killed(RunEnd::TimedOut, 0);
    long us = step_us < left * 1000 ? step_us : static_cast<long>(left) * 1000;
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    ::nanosleep(&ts, nullptr);
    step_us = step_us * 2 < kReapStepMs * 1000L ? step_us * 2 : kReapStepMs * 1000L;
  }
  ::kill(-pid, SIGKILL);
  int st = 0;
  pid_t w;
  while ((w = ::waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
  }
  r.out.resize(out_len);
  if (w < 0) {
    r.end = RunEnd::Failed;
    r.status = errno;
  } else if (WIFSIGNALED(st)) {
    r.end = RunEnd::Signaled;
    r.status = WTERMSIG(st);
  } else {
    r.end = RunEnd::Exited;
    r.status = WEXITSTATUS(st);
  }
  return r;
}

}  // namespace orgcrypt
