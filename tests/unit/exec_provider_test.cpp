// The exec: provider end to end: real child processes running the test key
// program (tests/helpers/exec_test_kek.cpp), made to misbehave through its
// mode file; the process runner alone; the trust policy.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base64.hpp"
#include "dek_create.hpp"
#include "envelope.hpp"
#include "error.hpp"
#include "exec_run.hpp"
#include "exec_test_util.hpp"
#include "keyring.hpp"
#include "provider.hpp"

using namespace orgcrypt;
using exectest::slurp;
using testutil::expect_error;

namespace {

constexpr const char* kSys = "58000";

using Clock = std::chrono::steady_clock;
long ms_since(Clock::time_point t) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}

std::string b64(ByteView v) {
  std::string out(b64_encoded_len(v.size), '\0');
  b64_encode(v.data, v.size, &out[0]);
  return out;
}

Bytes B(const SecretBytes& s) { return Bytes(s.begin(), s.end()); }

std::vector<std::string> lines_with(const std::string& text, const std::string& prefix) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l))
    if (l.compare(0, prefix.size(), prefix) == 0) out.push_back(l.substr(prefix.size()));
  return out;
}

// Dead: reaped, or gone from /proc, or a zombie (an orphan whose reaper has
// not run yet); waits up to 3 s for it.
bool process_dead(pid_t pid) {
  for (int i = 0; i < 300; i++) {
    std::string stat = slurp("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return true;
    std::size_t rp = stat.rfind(')');
    if (rp != std::string::npos && rp + 2 < stat.size() && stat[rp + 2] == 'Z') return true;
    ::usleep(10000);
  }
  return false;
}

// The child and grandchild the "sleep" mode wrote to <prog>.pid are gone,
// the child was reaped by the provider, and no zombie child is left.
void expect_children_gone(const std::string& pidfile) {
  std::istringstream in(slurp(pidfile));
  pid_t child = 0, grandchild = 0;
  ASSERT_TRUE(in >> child >> grandchild) << "no pid file " << pidfile;
  int st = 0;
  errno = 0;
  EXPECT_EQ(::waitpid(child, &st, WNOHANG), -1) << "the program was not reaped";
  EXPECT_EQ(errno, ECHILD);
  EXPECT_TRUE(process_dead(child)) << child;
  EXPECT_TRUE(process_dead(grandchild)) << "a process the program started outlived the call: " << grandchild;
  errno = 0;
  EXPECT_EQ(::waitpid(-1, &st, WNOHANG), -1) << "a zombie child is left";
  EXPECT_EQ(errno, ECHILD);
}

class ExecProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = exectest::install_kek(dir_, "kek");
    uri_ = "exec:" + dir_.file("kek");
    exectest::trust_dir(dir_.path());
  }
  std::unique_ptr<KeyProvider> open(const std::string& suffix = "") { return open_provider(uri_ + suffix); }
  void mode(const std::string& m) { exectest::set_mode(dir_, "kek", m); }

  testutil::TempDir dir_;
  exectest::PolicyGuard guard_;
  Bytes key_;
  std::string uri_;
  const std::string org_ = "acme";
  const Bytes aad_ = wrap_aad(ByteView(org_), 1);
  Bytes dek_ = testutil::bytes_of(std::string(32, '\x42'));
};

// The error text holds neither the request nor key bytes.
void expect_clean(const std::string& msg, const Bytes& dek) {
  EXPECT_EQ(msg.find("orgcrypt-exec"), std::string::npos) << msg;
  EXPECT_EQ(msg.find(b64(ByteView(dek))), std::string::npos) << msg;
  EXPECT_EQ(msg.find(b64(ByteView(dek)).substr(0, 20)), std::string::npos) << msg;
  EXPECT_EQ(msg.find(testutil::tohex(dek).substr(0, 16)), std::string::npos) << msg;
}

}  // namespace

TEST_F(ExecProviderTest, RoundTripAndFingerprint) {
  auto p = open();
  EXPECT_EQ(p->uri(), uri_);
  EXPECT_TRUE(p->production_ready());
  EXPECT_NO_THROW(p->validate());
  Bytes blob = p->wrap(ByteView(dek_), ByteView(aad_));
  EXPECT_EQ(blob.size(), 12u + 32u + 16u);  // the test program's nonce || ct || tag
  EXPECT_EQ(testutil::tohex(blob).find(testutil::tohex(dek_)), std::string::npos);
  EXPECT_EQ(B(p->unwrap(ByteView(blob), ByteView(aad_))), dek_);
  // The program really used AES-256-GCM with the wrap AAD under its key.
  Bytes out;
  ASSERT_TRUE(gcm_decrypt(ByteView(key_), ByteView(blob.data(), 12), ByteView(aad_), ByteView(blob.data() + 12, 32),
                          ByteView(blob.data() + 44, 16), out));
  EXPECT_EQ(out, dek_);

  // Fingerprint: 8 bytes, stable across calls and objects, another key gives another.
  Bytes fp = p->fingerprint();
  EXPECT_EQ(fp.size(), 8u);
  EXPECT_EQ(p->fingerprint(), fp);
  EXPECT_EQ(open()->fingerprint(), fp);
  Bytes other = exectest::install_kek(dir_, "kek2");
  EXPECT_NE(open_provider("exec:" + dir_.file("kek2"))->fingerprint(), fp);
  // It is SHA-256 of a label and the program's identifier, truncated.
  mode("keyid projects/p/keys/k");
  static const char kLabel[] = "orgcrypt exec key id v1";
  Bytes expect = sha256(ByteView(std::string(kLabel) + "projects/p/keys/k"));
  expect.resize(8);
  EXPECT_EQ(open()->fingerprint(), expect);
}

TEST_F(ExecProviderTest, TheAadIsBound) {
  auto p = open();
  Bytes blob = p->wrap(ByteView(dek_), ByteView(aad_));
  const Bytes other_org = wrap_aad(ByteView(std::string("acme2")), 1);
  const Bytes other_version = wrap_aad(ByteView(org_), 2);
  for (const Bytes* aad : {&other_org, &other_version}) {
    std::string msg = expect_error(kSys, [&] { p->unwrap(ByteView(blob), ByteView(*aad)); }, "other aad");
    EXPECT_NE(msg.find(uri_ + " unwrap failed: exit status 1: unwrap failed: not wrapped under this key"),
              std::string::npos)
        << msg;
    expect_clean(msg, dek_);
  }
  Bytes t = blob;
  t[20] ^= 1;
  expect_error(kSys, [&] { p->unwrap(ByteView(t), ByteView(aad_)); }, "tampered");
  // Another key program (another key) cannot unwrap it.
  exectest::install_kek(dir_, "kek2");
  expect_error(kSys, [&] { open_provider("exec:" + dir_.file("kek2"))->unwrap(ByteView(blob), ByteView(aad_)); });
}

TEST_F(ExecProviderTest, RequestArgvEnvironmentFdsAndSignals) {
  mode("report");
  // A descriptor the test leaves open without O_CLOEXEC, at a high number:
  // the program must not see it (a backend holds its client socket so).
  int fd = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::dup2(fd, 200), 200);
  // SIGPIPE ignored and SIGUSR2 blocked here, as a backend may have them:
  // the program starts with defaults.
  struct sigaction ign {}, old_pipe {};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old_pipe);
  sigset_t usr2, old_mask;
  sigemptyset(&usr2);
  sigaddset(&usr2, SIGUSR2);
  ::pthread_sigmask(SIG_BLOCK, &usr2, &old_mask);

  Bytes blob = open()->wrap(ByteView(dek_), ByteView(aad_));

  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  ::sigaction(SIGPIPE, &old_pipe, nullptr);
  EXPECT_EQ(::fcntl(200, F_GETFD), 0) << "the parent's descriptor must stay open";
  ::close(200);
  ::close(fd);

  const std::string report = slurp(dir_.file("kek") + ".report");
  ASSERT_FALSE(report.empty());
  EXPECT_EQ(lines_with(report, "fd "), (std::vector<std::string>{"0", "1", "2"})) << report;
  const std::vector<std::string> env_lines = lines_with(report, "env ");
  std::set<std::string> env(env_lines.begin(), env_lines.end());
  EXPECT_EQ(env.size(), env_lines.size());
  std::set<std::string> expect_env = {"PATH=/usr/bin:/bin", "LANG=C", "ORGCRYPT_EXEC_VERSION=1"};
  if (struct passwd* pw = ::getpwuid(::geteuid())) expect_env.insert(std::string("HOME=") + pw->pw_dir);
  EXPECT_EQ(env, expect_env) << report;
  EXPECT_EQ(lines_with(report, "argv "), (std::vector<std::string>{dir_.file("kek"), "wrap"}));
  EXPECT_EQ(lines_with(report, "cwd "), (std::vector<std::string>{"/"}));
  EXPECT_EQ(lines_with(report, "sigpipe "), (std::vector<std::string>{"default"}));
  EXPECT_EQ(lines_with(report, "sigmask "), (std::vector<std::string>{"empty"}));
  EXPECT_EQ(lines_with(report, "own-group "), (std::vector<std::string>{"yes"}));

  // The request exactly as documented.
  const std::string expect_req = "orgcrypt-exec 1\noperation wrap\norg " + b64(ByteView(org_)) + "\nversion 1\naad " +
                                 b64(ByteView(aad_)) + "\ndata " + b64(ByteView(dek_)) + "\n\n";
  EXPECT_EQ(slurp(dir_.file("kek") + ".request"), expect_req);
  open()->fingerprint();
  EXPECT_EQ(slurp(dir_.file("kek") + ".request"), "orgcrypt-exec 1\noperation fingerprint\n\n");
  EXPECT_EQ(lines_with(slurp(dir_.file("kek") + ".report"), "argv ").back(), "fingerprint");
  open()->unwrap(ByteView(blob), ByteView(aad_));
  EXPECT_EQ(lines_with(slurp(dir_.file("kek") + ".request"), "operation "), (std::vector<std::string>{"unwrap"}));
  EXPECT_EQ(lines_with(slurp(dir_.file("kek") + ".request"), "data "), (std::vector<std::string>{b64(ByteView(blob))}));
}

TEST_F(ExecProviderTest, ExitStatusWithStderrButNeverTheRequest) {
  mode("exit 3");
  std::string msg = expect_error(kSys, [&] { open()->wrap(ByteView(dek_), ByteView(aad_)); });
  EXPECT_NE(msg.find(uri_ + " wrap failed: exit status 3: kek test program: failing on purpose second line"),
            std::string::npos)
      << msg;
  expect_clean(msg, dek_);
  msg = expect_error(kSys, [&] { open()->fingerprint(); });
  EXPECT_NE(msg.find(uri_ + " fingerprint failed: exit status 3"), std::string::npos) << msg;
  expect_error(kSys, [&] { open()->validate(); }, "validate runs the program");

  // A flood of stderr is cut: the message stays short.
  mode("stderr-flood");
  msg = expect_error(kSys, [&] { open()->unwrap(ByteView(dek_), ByteView(aad_)); });
  EXPECT_NE(msg.find("unwrap failed: exit status 2: EEEE"), std::string::npos) << msg.substr(0, 200);
  EXPECT_NE(msg.find("E..."), std::string::npos);
  EXPECT_LT(msg.size(), 400u);
}

TEST_F(ExecProviderTest, KilledBySignal) {
  mode("signal 15");
  std::string msg = expect_error(kSys, [&] { open()->wrap(ByteView(dek_), ByteView(aad_)); });
  EXPECT_NE(msg.find(uri_ + " wrap failed: killed by signal 15"), std::string::npos) << msg;
  int st;
  EXPECT_EQ(::waitpid(-1, &st, WNOHANG), -1);
}

TEST_F(ExecProviderTest, ATimeoutKillsTheProgramAndItsChildren) {
  mode("sleep 20");
  auto t0 = Clock::now();
  std::string msg = expect_error(kSys, [&] { open("?timeout_ms=500")->wrap(ByteView(dek_), ByteView(aad_)); });
  long ms = ms_since(t0);
  EXPECT_NE(msg.find(uri_ + "?timeout_ms=500 wrap failed: timed out after 500 ms"), std::string::npos) << msg;
  EXPECT_NE(msg.find("timeout_ms"), std::string::npos);
  EXPECT_GE(ms, 450);
  EXPECT_LT(ms, 5000);
  expect_children_gone(dir_.file("kek") + ".pid");
}

namespace {
Clock::time_point g_start, g_fired;
bool g_has_fired = false;
std::string g_pidfile;
// Interrupts 200 ms after the start, once the program has recorded its pids
// (a busy machine may take a while to start it); remembers when it fired.
bool interrupt_after_200ms() {
  if (!g_has_fired && ms_since(g_start) > 200 && (!slurp(g_pidfile).empty() || ms_since(g_start) > 5000)) {
    g_has_fired = true;
    g_fired = Clock::now();
  }
  return g_has_fired;
}
}  // namespace

TEST_F(ExecProviderTest, AnInterruptKillsTheProgramAndThrows57014) {
  mode("sleep 20");
  g_pidfile = dir_.file("kek") + ".pid";
  g_start = Clock::now();
  g_has_fired = false;
  set_interrupt_check(interrupt_after_200ms);
  std::string msg = expect_error("57014", [&] { open()->unwrap(ByteView(dek_), ByteView(aad_)); });
  set_interrupt_check(nullptr);
  ASSERT_TRUE(g_has_fired);
  long ms = ms_since(g_fired);
  EXPECT_NE(msg.find(uri_ + " unwrap was interrupted"), std::string::npos) << msg;
  EXPECT_LT(ms, 1000) << "the interrupt must be seen within about 100 ms (then kill and reap)";
  expect_children_gone(g_pidfile);

  // A cancel already pending: the program is not even started.
  mode("report");
  set_interrupt_check([] { return true; });
  expect_error("57014", [&] { open()->wrap(ByteView(dek_), ByteView(aad_)); });
  set_interrupt_check(nullptr);
  EXPECT_EQ(slurp(dir_.file("kek") + ".report"), "");
}

TEST_F(ExecProviderTest, MisbehavingResponses) {
  mode("big");
  std::string msg = expect_error(kSys, [&] { open()->wrap(ByteView(dek_), ByteView(aad_)); });
  EXPECT_NE(msg.find("wrap failed: the program wrote more than 65536 bytes to standard output"), std::string::npos)
      << msg;
  mode("garbage");
  msg = expect_error(kSys, [&] { open()->wrap(ByteView(dek_), ByteView(aad_)); });
  EXPECT_NE(msg.find("wrap failed: malformed response: the response starts with neither"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("hello"), std::string::npos) << "the response is never quoted";
  mode("error-exit0");
  msg = expect_error(kSys, [&] { open()->wrap(ByteView(dek_), ByteView(aad_)); });
  EXPECT_NE(msg.find("wrap failed: the program reported: key is disabled in the test service"), std::string::npos)
      << msg;
  // An unwrap that answers 31 bytes.
  mode("ok");
  Bytes blob = open()->wrap(ByteView(dek_), ByteView(aad_));
  mode("short");
  msg = expect_error(kSys, [&] { open()->unwrap(ByteView(blob), ByteView(aad_)); });
  EXPECT_NE(msg.find("unwrap failed: the program returned 31 bytes, not a 32-byte data key"), std::string::npos) << msg;
  expect_clean(msg, dek_);
  // A program that exits without reading its request (the write may hit
  // EPIPE: no SIGPIPE may reach this process).
  mode("noread");
  for (int i = 0; i < 10; i++) {
    msg = expect_error(kSys, [&] { open()->wrap(ByteView(dek_), ByteView(aad_)); });
    EXPECT_NE(msg.find("exit status 5"), std::string::npos) << msg;
  }
}

TEST_F(ExecProviderTest, MissingOrUnrunnablePrograms) {
  std::string msg = expect_error(kSys, [&] { open_provider("exec:" + dir_.file("nope"))->wrap(ByteView(dek_), ByteView(aad_)); });
  EXPECT_NE(msg.find("wrap failed: cannot find the program \"" + dir_.file("nope") + "\": No such file or directory"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("install it there"), std::string::npos) << msg;
  ::mkdir(dir_.file("adir").c_str(), 0755);
  msg = expect_error(kSys, [&] { open_provider("exec:" + dir_.file("adir"))->fingerprint(); });
  EXPECT_NE(msg.find("is not a regular file"), std::string::npos) << msg;
  testutil::write_file(dir_.file("noexec"), "#!/bin/sh\necho ok QQ==\n", 0644);
  msg = expect_error(kSys, [&] { open_provider("exec:" + dir_.file("noexec"))->fingerprint(); });
  EXPECT_NE(msg.find("is not executable by the server's OS user"), std::string::npos) << msg;
  EXPECT_NE(msg.find("chmod"), std::string::npos) << msg;
  testutil::write_file(dir_.file("noshebang"), "echo ok QQ==\n", 0755);
  msg = expect_error(kSys, [&] { open_provider("exec:" + dir_.file("noshebang"))->fingerprint(); });
  EXPECT_NE(msg.find("could not run"), std::string::npos) << msg;
  EXPECT_NE(msg.find("#!"), std::string::npos) << msg;
  // A relative path never gets as far.
  msg = expect_error(kSys, [&] { open_provider("exec:kek"); });
  EXPECT_NE(msg.find("absolute path"), std::string::npos) << msg;
  // A script is a fine program (orgcrypt runs it without a shell; the
  // kernel reads its #! line).
  testutil::write_file(dir_.file("script"), "#!/bin/sh\ncat > /dev/null\necho ok QUJD\n", 0755);
  EXPECT_EQ(open_provider("exec:" + dir_.file("script"))->wrap(ByteView(dek_), ByteView(aad_)),
            testutil::bytes_of("ABC"));
}

TEST_F(ExecProviderTest, CreateWrappedDekAndUnwrapRow) {
  NewDek d = create_wrapped_dek(uri_, ByteView(org_), 3);
  EXPECT_EQ(d.dek.size(), 32u);
  EXPECT_EQ(d.kek_fp, open()->fingerprint());
  DekRow row;
  row.version = 3;
  row.state = DekState::Active;
  row.wrapped = d.wrapped;
  row.kek_uri = uri_;
  row.kek_fp = d.kek_fp;
  EXPECT_EQ(B(unwrap_row(ByteView(org_), row)), B(d.dek));
  // The key behind the program replaced: reported by fingerprint.
  Bytes k2(32, 0x33);
  testutil::write_file(dir_.file("kek") + ".key", testutil::str_of(k2), 0600);
  std::string msg = expect_error(kSys, [&] { unwrap_row(ByteView(org_), row); });
  EXPECT_NE(msg.find("is not the key that wrapped DEK version 3"), std::string::npos) << msg;
  // A failing program: nothing is returned for storage.
  mode("exit 1");
  expect_error(kSys, [&] { create_wrapped_dek(uri_, ByteView(org_), 4); });
}

TEST(ExecTrust, OnlyTheMasterKeyOrListedUrisAreOpened) {
  exectest::PolicyGuard guard;
  set_uri_policy(UriPolicy{});
  EXPECT_TRUE(uri_runs_code("exec:/x"));
  std::string msg = expect_error(kSys, [] { open_provider("exec:/usr/lib/oc/wrap"); });
  EXPECT_NE(msg.find("key URI \"exec:/usr/lib/oc/wrap\" is not trusted by this server"), std::string::npos) << msg;
  EXPECT_NE(msg.find("orgcrypt.allowed_key_uris"), std::string::npos) << msg;

  UriPolicy p;
  p.master_key = "exec:/usr/lib/oc/wrap";
  set_uri_policy(p);
  EXPECT_NO_THROW(open_provider("exec:/usr/lib/oc/wrap"));
  expect_error(kSys, [] { open_provider("exec:/usr/lib/oc/wrap2"); }, "not the master key");
  expect_error(kSys, [] { open_provider("exec:/usr/lib/oc/wrap?timeout_ms=5"); }, "exact means exact");

  p.master_key = "file:/k";
  p.allowed = {"exec:/opt/a", "exec:/usr/lib/oc/*"};
  set_uri_policy(p);
  EXPECT_NO_THROW(open_provider("exec:/opt/a"));
  EXPECT_NO_THROW(open_provider("exec:/usr/lib/oc/any"));
  EXPECT_NO_THROW(open_provider("exec:/usr/lib/oc/sub/prog?timeout_ms=100"));
  expect_error(kSys, [] { open_provider("exec:/opt/ab"); }, "exact entry is not a prefix");
  expect_error(kSys, [] { open_provider("exec:/usr/lib/ocx"); }, "outside the prefix");
  // A prefix cannot be escaped with "..": such a URI is refused outright.
  msg = expect_error(kSys, [] { open_provider("exec:/usr/lib/oc/../../../tmp/evil"); });
  EXPECT_NE(msg.find("invalid"), std::string::npos) << msg;
}

// ---- the process runner alone
TEST(ExecRun, AWriteToAProgramThatDoesNotReadRaisesNoSigpipe) {
  // 1 MiB of input to a program that closes its stdin: the write fails with
  // EPIPE for certain; SIGPIPE is at its default here, so a leak would kill
  // the test.
  std::string big(1 << 20, 'x');
  RunSpec s;
  s.path = "/bin/sh";
  s.argv = {"/bin/sh", "-c", "exec 0<&-; sleep 0.2; echo done; echo oops >&2; exit 7"};
  s.env = {"PATH=/usr/bin:/bin"};
  s.input = ByteView(big);
  s.timeout_ms = 10000;
  RunResult r = run_program(s);
  EXPECT_EQ(r.end, RunEnd::Exited);
  EXPECT_EQ(r.status, 7);
  EXPECT_EQ(std::string(r.out.begin(), r.out.end()), "done\n");
  EXPECT_EQ(r.err, "oops\n");
  sigset_t pending;
  sigpending(&pending);
  EXPECT_EQ(sigismember(&pending, SIGPIPE), 0) << "a SIGPIPE was left pending";
  sigset_t mask;
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  EXPECT_EQ(sigismember(&mask, SIGPIPE), 0) << "the signal mask was not restored";
}

TEST(ExecRun, LimitsAndOutcomes) {
  RunSpec s;
  s.path = "/bin/sh";
  s.env = {"PATH=/usr/bin:/bin"};
  s.timeout_ms = 10000;
  s.max_stdout = 1000;
  s.keep_stderr = 10;
  s.argv = {"/bin/sh", "-c", "head -c 1000 /dev/zero; head -c 5000 /dev/zero | tr '\\0' e >&2"};
  RunResult r = run_program(s);
  EXPECT_EQ(r.end, RunEnd::Exited);
  EXPECT_EQ(r.out.size(), 1000u);
  EXPECT_EQ(r.err, std::string(10, 'e'));
  s.argv = {"/bin/sh", "-c", "head -c 1001 /dev/zero"};
  EXPECT_EQ(run_program(s).end, RunEnd::StdoutTooLarge);
  s.argv = {"/bin/sh", "-c", "kill -9 $$"};
  r = run_program(s);
  EXPECT_EQ(r.end, RunEnd::Signaled);
  EXPECT_EQ(r.status, 9);
  // The program exits but leaves a process holding stdout: the call ends at
  // the timeout, and that process is killed with the group.
  s.timeout_ms = 300;
  s.argv = {"/bin/sh", "-c", "sleep 30 & echo $! ; exit 0"};
  r = run_program(s);
  EXPECT_EQ(r.end, RunEnd::TimedOut);
  pid_t left = static_cast<pid_t>(std::atoi(std::string(r.out.begin(), r.out.end()).c_str()));
  ASSERT_GT(left, 0);
  EXPECT_TRUE(process_dead(left));
  // Leftovers that closed stdout are killed when the program ends normally.
  s.timeout_ms = 10000;
  s.argv = {"/bin/sh", "-c", "sleep 30 >/dev/null 2>&1 & echo $!"};
  r = run_program(s);
  EXPECT_EQ(r.end, RunEnd::Exited);
  left = static_cast<pid_t>(std::atoi(std::string(r.out.begin(), r.out.end()).c_str()));
  ASSERT_GT(left, 0);
  EXPECT_TRUE(process_dead(left));
  s.path = "/nonexistent/prog";
  r = run_program(s);
  EXPECT_EQ(r.end, RunEnd::SpawnFailed);
  EXPECT_EQ(r.status, ENOENT);
  int st;
  EXPECT_EQ(::waitpid(-1, &st, WNOHANG), -1);
}
