// A test program for the exec: provider (never installed). One binary, three
// roles, chosen by the base name it is run under (argv[0]):
//
//   gcloud   a stand-in for `gcloud kms encrypt|decrypt` (docs/examples/
//            exec-gcloud-kms.sh): AES-256-GCM under <argv0>.key, binding the
//            --additional-authenticated-data-file;
//   az       a stand-in for `az keyvault key encrypt|decrypt` with
//            RSA-OAEP-256 (docs/examples/exec-azure-keyvault.sh): no AAD, as
//            the real algorithm has none; --value @- reads stdin;
//   other    a key program speaking the exec: protocol: AES-256-GCM under
//            <argv0>.key with the request's aad as GCM AAD. <argv0>.mode, if
//            present, makes it misbehave (see run_mode below).
//
// The fake CLIs append their argv to <argv0>.log, so tests can check that no
// DEK is ever passed on a command line. Configuration comes from files next
// to the program because the provider gives it a fixed environment.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "aead.hpp"
#include "base64.hpp"
#include "error.hpp"

using namespace orgcrypt;

// Built with the sanitizers in the ASan configuration: the provider passes
// no ASAN_OPTIONS, so the program sets its own (a leak report would change
// its exit status).
extern "C" const char* __asan_default_options() { return "detect_leaks=0"; }

namespace {

std::string g_self;  // argv[0]

std::string read_all(std::istream& in) { return std::string(std::istreambuf_iterator<char>(in), {}); }

bool read_file(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  *out = read_all(f);
  return true;
}

void append_file(const std::string& path, const std::string& s) {
  std::ofstream f(path, std::ios::binary | std::ios::app);
  f << s;
}

std::string b64(const std::string& s) {
  std::string out(b64_encoded_len(s.size()), '\0');
  b64_encode(reinterpret_cast<const std::uint8_t*>(s.data()), s.size(), &out[0]);
  return out;
}

bool unb64(const std::string& s, std::string* out) {
  std::string o(b64_decoded_max(s.size()), '\0');
  std::size_t n = 0;
  if (!b64_decode(s.data(), s.size(), reinterpret_cast<std::uint8_t*>(&o[0]), &n)) return false;
  o.resize(n);
  *out = o;
  return true;
}

std::string hex(const Bytes& b) {
  static const char d[] = "0123456789abcdef";
  std::string s;
  for (auto c : b) {
    s.push_back(d[c >> 4]);
    s.push_back(d[c & 15]);
  }
  return s;
}

// The key: <base>.key, 32 raw bytes or 64 hex characters (+ newline).
std::string load_key(const std::string& base) {
  std::string k;
  if (!read_file(base + ".key", &k)) {
    std::fprintf(stderr, "no key file %s.key\n", base.c_str());
    std::exit(4);
  }
  if (k.size() != 32)  // raw bytes may end in 0x0a themselves
    while (!k.empty() && (k.back() == '\n' || k.back() == '\r')) k.pop_back();
  if (k.size() == 64) {
    std::string raw;
    for (std::size_t i = 0; i < 64; i += 2) raw.push_back(static_cast<char>(std::stoi(k.substr(i, 2), nullptr, 16)));
    k = raw;
  }
  if (k.size() != 32) {
    std::fprintf(stderr, "key file %s.key: wrong length\n", base.c_str());
    std::exit(4);
  }
  return k;
}

// nonce || ciphertext || tag
std::string seal(const std::string& key, const std::string& aad, const std::string& pt) {
  Bytes nonce(12), ct, tag;
  random_bytes(nonce.data(), nonce.size());
  gcm_encrypt(ByteView(key), ByteView(nonce), ByteView(aad), ByteView(pt), ct, tag, 16);
  return std::string(nonce.begin(), nonce.end()) + std::string(ct.begin(), ct.end()) + std::string(tag.begin(), tag.end());
}

bool open_sealed(const std::string& key, const std::string& aad, const std::string& blob, std::string* pt) {
  if (blob.size() < 28) return false;
  Bytes out;
  if (!gcm_decrypt(ByteView(key), ByteView(blob.data(), 12), ByteView(aad), ByteView(blob.data() + 12, blob.size() - 28),
                   ByteView(blob.data() + blob.size() - 16, 16), out))
    return false;
  *pt = std::string(out.begin(), out.end());
  return true;
}

// ---- the fake CLIs: "--flag=value" and "--flag value" both accepted.
std::map<std::string, std::string> flags(int argc, char** argv, int from) {
  std::map<std::string, std::string> f;
  for (int i = from; i < argc; i++) {
    std::string a = argv[i];
    if (a.compare(0, 2, "--") != 0 && a != "-o") {
      f["?" + a] = "";
      continue;
    }
    if (a == "-o") a = "--output";
    std::size_t eq = a.find('=');
    if (eq != std::string::npos) f[a.substr(0, eq)] = a.substr(eq + 1);
    else if (i + 1 < argc) f[a] = argv[++i];
    else f[a] = "";
  }
  return f;
}

void log_argv(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; i++) line += std::string(i ? " " : "") + argv[i];
  append_file(g_self + ".log", line + "\n");
}

[[noreturn]] void cli_fail(const std::string& msg, int code = 2) {
  std::cerr << "ERROR: " << msg << "\n";
  std::exit(code);
}

std::string need(std::map<std::string, std::string>& f, const char* name) {
  auto it = f.find(name);
  if (it == f.end() || it->second.empty()) cli_fail(std::string("argument ") + name + ": expected one argument");
  return it->second;
}

std::string read_in(const std::string& path) {
  if (path == "-") return read_all(std::cin);
  std::string s;
  if (!read_file(path, &s)) cli_fail("cannot read " + path);
  return s;
}

int fake_gcloud(int argc, char** argv) {
  log_argv(argc, argv);
  if (argc < 3 || std::string(argv[1]) != "kms") cli_fail("(gcloud) only `gcloud kms encrypt|decrypt` is faked here");
  const std::string cmd = argv[2];
  auto f = flags(argc, argv, 3);
  const std::string name = "projects/" + need(f, "--project") + "/locations/" + need(f, "--location") + "/keyRings/" +
                           need(f, "--keyring") + "/cryptoKeys/" + need(f, "--key");
  std::string aad;
  if (f.count("--additional-authenticated-data-file")) aad = read_in(f["--additional-authenticated-data-file"]);
  if (aad.size() > 65536) cli_fail("(gcloud.kms) the additional authenticated data file is larger than 64KiB");
  const std::string key = load_key(g_self);
  const std::string gcm_aad = name + std::string(1, '\0') + aad;  // the key's name, as the real KMS binds it
  std::string out;
  if (cmd == "encrypt") {
    const std::string pt = read_in(need(f, "--plaintext-file"));
    if (pt.size() > 65536) cli_fail("(gcloud.kms.encrypt) the plaintext file is larger than 64KiB");
    out = seal(key, gcm_aad, pt);
    if (need(f, "--ciphertext-file") != "-") cli_fail("this fake writes the ciphertext to stdout only");
  } else if (cmd == "decrypt") {
    const std::string ct = read_in(need(f, "--ciphertext-file"));
    if (!open_sealed(key, gcm_aad, ct, &out))
      cli_fail("(gcloud.kms.decrypt) INVALID_ARGUMENT: Decryption failed: verify that 'name' refers to the correct "
               "CryptoKey.", 1);
    if (need(f, "--plaintext-file") != "-") cli_fail("this fake writes the plaintext to stdout only");
  } else {
    cli_fail("(gcloud.kms) unknown command " + cmd);
  }
  std::cout << out;
  return 0;
}

int fake_az(int argc, char** argv) {
  log_argv(argc, argv);
  if (argc < 4 || std::string(argv[1]) != "keyvault" || std::string(argv[2]) != "key")
    cli_fail("only `az keyvault key encrypt|decrypt` is faked here");
  const std::string cmd = argv[3];
  auto f = flags(argc, argv, 4);
  const std::string name = need(f, "--vault-name") + "/" + need(f, "--name");
  if (need(f, "--algorithm") != "RSA-OAEP-256") cli_fail("this fake knows RSA-OAEP-256 only");
  if (need(f, "--data-type") != "base64") cli_fail("this fake expects --data-type base64");
  if (need(f, "--query") != "result" || need(f, "--output") != "tsv") cli_fail("this fake prints --query result -o tsv only");
  std::string value = need(f, "--value");
  if (value == "@-") {  // azure-cli: "@-" is stdin, one trailing newline dropped
    value = read_all(std::cin);
    if (!value.empty() && value.back() == '\n') value.pop_back();
  }
  std::string in, out;
  if (!unb64(value, &in)) cli_fail("--value is not base64");
  const std::string key = load_key(g_self);
  if (cmd == "encrypt") {
    if (in.size() > 190) cli_fail("(BadParameter) RSA-OAEP-256 with a 2048-bit key encrypts at most 190 bytes");
    out = seal(key, name, in);
  } else if (cmd == "decrypt") {
    if (!open_sealed(key, name, in, &out)) cli_fail("(BadParameter) Decryption failed", 1);
  } else {
    cli_fail("unknown command " + cmd);
  }
  std::cout << b64(out) << "\n";
  return 0;
}

// ---- the key program
[[noreturn]] void proto_fail(const std::string& text, int code = 1) {
  std::cout << "error " << text << "\n" << std::flush;
  std::exit(code);
}

// Lists what the program inherited, for the tests: open descriptors, the
// environment, argv, the working directory, signal state, process group.
void write_report(int argc, char** argv) {
  std::ostringstream r;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (struct dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.' || std::atoi(e->d_name) == ::dirfd(d)) continue;
      r << "fd " << e->d_name << "\n";
    }
    ::closedir(d);
  }
  for (char** e = environ; *e; e++) r << "env " << *e << "\n";
  for (int i = 0; i < argc; i++) r << "argv " << argv[i] << "\n";
  char cwd[4096];
  r << "cwd " << (::getcwd(cwd, sizeof cwd) ? cwd : "?") << "\n";
  struct sigaction sa;
  ::sigaction(SIGPIPE, nullptr, &sa);
  r << "sigpipe " << (sa.sa_handler == SIG_IGN ? "ignored" : sa.sa_handler == SIG_DFL ? "default" : "handled") << "\n";
  sigset_t mask;
  ::sigprocmask(SIG_BLOCK, nullptr, &mask);
  bool any = false;
  for (int s = 1; s < 32; s++) any = any || sigismember(&mask, s) == 1;
  r << "sigmask " << (any ? "blocked" : "empty") << "\n";
  r << "own-group " << (::getpgrp() == ::getpid() ? "yes" : "no") << "\n";
  std::ofstream(g_self + ".report", std::ios::binary | std::ios::trunc) << r.str();
}

// <argv0>.mode: "exit N", "signal N", "sleep N" (a child in the same group
// sleeps too; both pids go to <argv0>.pid), "big" (100 KiB on stdout),
// "garbage", "error-exit0", "short" (unwrap returns 31 bytes), "stderr-flood",
// "noread" (exits without reading stdin), "report" (then works normally),
// "keyid X" (fingerprint answers X). Absent or "ok": works normally.
void run_mode(const std::string& mode, int argc, char** argv) {
  std::istringstream m(mode);
  std::string word, arg;
  m >> word;
  std::getline(m >> std::ws, arg);
  if (word == "exit") {
    std::cerr << "kek test program: failing on purpose\nsecond line\n";
    std::exit(std::atoi(arg.c_str()));
  }
  if (word == "signal") {
    ::kill(::getpid(), std::atoi(arg.c_str()));
    ::pause();
  }
  if (word == "sleep") {
    pid_t kid = ::fork();
    if (kid == 0) {
      ::sleep(static_cast<unsigned>(std::atoi(arg.c_str())));
      ::_exit(0);
    }
    append_file(g_self + ".pid", std::to_string(::getpid()) + " " + std::to_string(kid) + "\n");
    ::sleep(static_cast<unsigned>(std::atoi(arg.c_str())));
    std::exit(0);
  }
  if (word == "big") {
    std::string s(100 * 1024, 'A');
    std::cout << "ok " << s << std::flush;
    std::exit(0);
  }
  if (word == "garbage") {
    std::cout << "hello there\n";
    std::exit(0);
  }
  if (word == "error-exit0") proto_fail("key is disabled in the test service", 0);
  if (word == "stderr-flood") {
    std::string s(100 * 1024, 'E');
    std::cerr << s;
    std::exit(2);
  }
  if (word == "noread") {
    ::close(0);
    std::exit(5);
  }
  if (word == "report") write_report(argc, argv);
}

int key_program(int argc, char** argv) {
  std::string mode;
  if (read_file(g_self + ".mode", &mode)) {
    while (!mode.empty() && (mode.back() == '\n' || mode.back() == ' ')) mode.pop_back();
    run_mode(mode, argc, argv);
  }
  const std::string request = read_all(std::cin);
  if (mode == "report") std::ofstream(g_self + ".request", std::ios::binary | std::ios::trunc) << request;
  if (argc != 2) proto_fail("expected one argument, the operation");
  // Parse: header, key/value lines, an empty line, then EOF.
  std::istringstream in(request);
  std::string line;
  if (!std::getline(in, line) || line != "orgcrypt-exec 1") proto_fail("not an orgcrypt-exec 1 request");
  std::map<std::string, std::string> kv;
  bool ended = false;
  while (std::getline(in, line)) {
    if (line.empty()) {
      ended = true;
      break;
    }
    std::size_t sp = line.find(' ');
    if (sp == std::string::npos) proto_fail("bad request line");
    kv[line.substr(0, sp)] = line.substr(sp + 1);
  }
  if (!ended || in.peek() != EOF) proto_fail("the request does not end with one empty line");
  const std::string op = kv["operation"];
  if (op != argv[1]) proto_fail("argv and request disagree on the operation");
  const std::string key = load_key(g_self);
  if (op == "fingerprint") {
    std::string id = "test-kek:" + hex(sha256(ByteView(key))).substr(0, 16);
    if (mode.compare(0, 6, "keyid ") == 0) id = mode.substr(6);
    std::cout << "ok " << b64(id) << "\n";
    return 0;
  }
  std::string aad, data, out;
  if (!unb64(kv["aad"], &aad) || !unb64(kv["data"], &data)) proto_fail("bad base64 in the request");
  if (op == "wrap") {
    out = seal(key, aad, data);
  } else if (op == "unwrap") {
    if (!open_sealed(key, aad, data, &out)) proto_fail("unwrap failed: not wrapped under this key for this aad");
    if (mode == "short") out.pop_back();
  } else {
    proto_fail("unknown operation");
  }
  std::cout << "ok " << b64(out) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  g_self = argc > 0 ? argv[0] : "";
  const std::string base = g_self.substr(g_self.rfind('/') == std::string::npos ? 0 : g_self.rfind('/') + 1);
  try {
    if (base == "gcloud") return fake_gcloud(argc, argv);
    if (base == "az") return fake_az(argc, argv);
    return key_program(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "exec_test_kek: " << e.what() << "\n";
    return 9;
  }
}
