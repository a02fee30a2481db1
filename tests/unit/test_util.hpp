// Helpers shared by the unit tests: hex codec, temporary directories, and a
// check that a call throws orgcrypt::Error with a given SQLSTATE.
#pragma once
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "error.hpp"
#include "secure.hpp"

namespace testutil {

inline int hexnib(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes hex; throws std::invalid_argument on odd length or a bad digit (a
// vector file that does not parse must fail the test, not be skipped).
inline orgcrypt::Bytes unhex(const std::string& s) {
  if (s.size() % 2) throw std::invalid_argument("odd-length hex: " + s);
  orgcrypt::Bytes out(s.size() / 2);
  for (std::size_t i = 0; i < out.size(); i++) {
    int hi = hexnib(s[2 * i]), lo = hexnib(s[2 * i + 1]);
    if (hi < 0 || lo < 0) throw std::invalid_argument("bad hex: " + s);
    out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return out;
}

template <class Vec>
std::string tohex(const Vec& v) {
  static const char d[] = "0123456789abcdef";
  std::string s;
  for (auto b : v) {
    s.push_back(d[static_cast<std::uint8_t>(b) >> 4]);
    s.push_back(d[static_cast<std::uint8_t>(b) & 15]);
  }
  return s;
}

inline std::string upper(std::string s) {
  for (auto& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

inline orgcrypt::Bytes bytes_of(const std::string& s) { return orgcrypt::Bytes(s.begin(), s.end()); }

// A fresh directory under TMPDIR, removed (with its files) at destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/orgcrypt_unit_XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
    path_ = buf.data();
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path_ + "'";
    if (std::system(cmd.c_str()) != 0) { /* best effort */ }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes content to path (replacing it) and sets its mode.
inline void write_file(const std::string& path, const std::string& content, mode_t mode = 0600) {
  ::unlink(path.c_str());
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + path);
    f.write(content.data(), static_cast<std::streamsize>(content.size()));
  }
  if (::chmod(path.c_str(), mode) != 0) throw std::runtime_error("chmod failed on " + path);
}

template <class Vec>
std::string str_of(const Vec& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

// Runs f, which must throw orgcrypt::Error with SQLSTATE state. Returns the
// error's message, detail and hint joined by newlines ("" if it did not
// throw as expected, after recording a test failure).
template <class F>
std::string expect_error(const char* state, F&& f, const char* what = "") {
  try {
    f();
  } catch (const orgcrypt::Error& e) {
    EXPECT_STREQ(e.sqlstate(), state) << what << ": message: " << e.what();
    return std::string(e.what()) + "\n" + e.detail() + "\n" + e.hint();
  } catch (const std::exception& e) {
    ADD_FAILURE() << what << ": expected orgcrypt::Error " << state << ", got std::exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << what << ": expected orgcrypt::Error " << state << ", nothing was thrown";
  return {};
}

// Runs a Python helper of tests/helpers that prints "<case-name> <value>"
// lines with Debian's /usr/bin/python3 (PyKMIP's encoder, for example) and
// returns them by name; throws (the test fails, never skips) when it fails.
inline std::map<std::string, std::string> python_helper_cases(const std::string& script) {
  const std::string cmd = std::string("/usr/bin/python3 ") + ORGCRYPT_SOURCE_DIR + "/tests/helpers/" + script + " 2>&1";
  FILE* f = popen(cmd.c_str(), "r");
  if (f == nullptr) throw std::runtime_error("popen failed");
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  if (pclose(f) != 0)
    throw std::runtime_error("tests/helpers/" + script +
                             " failed (is Debian's python3-pykmip installed? apt-get install python3-pykmip): " + out);
  std::map<std::string, std::string> m;
  std::size_t pos = 0;
  while (pos < out.size()) {
    std::size_t nl = out.find('\n', pos);
    if (nl == std::string::npos) nl = out.size();
    const std::string line = out.substr(pos, nl - pos);
    pos = nl + 1;
    const std::size_t sp = line.find(' ');
    if (sp == std::string::npos) throw std::runtime_error("bad helper line: " + line);
    m[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return m;
}

}  // namespace testutil
