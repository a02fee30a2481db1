// Shared by the exec: provider tests: a temporary directory holding the test
// key program (tests/helpers/exec_test_kek.cpp) under a chosen name, its key,
// and the trust policy that lets the tests open it.
#pragma once
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "aead.hpp"
#include "provider.hpp"
#include "test_util.hpp"

namespace exectest {

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Resets the URI policy and the interrupt check when a test ends.
struct PolicyGuard {
  PolicyGuard() = default;
  ~PolicyGuard() {
    orgcrypt::set_uri_policy(orgcrypt::UriPolicy{});
    orgcrypt::set_interrupt_check(nullptr);
  }
};

// Trusts every exec: URI under dir (a prefix entry).
inline void trust_dir(const std::string& dir) {
  orgcrypt::UriPolicy p;
  p.allowed.push_back("exec:" + dir + "/*");
  orgcrypt::set_uri_policy(p);
}

// Puts the test key program at dir/name (a symbolic link: it reads
// dir/name.key and dir/name.mode) with a fresh random key; returns the key.
inline orgcrypt::Bytes install_kek(const testutil::TempDir& dir, const std::string& name) {
  const std::string link = dir.file(name);
  if (::symlink(ORGCRYPT_EXEC_TEST_KEK, link.c_str()) != 0)
    throw std::runtime_error("symlink " + link + ": " + std::strerror(errno));
  orgcrypt::Bytes key(32);
  orgcrypt::random_bytes(key.data(), key.size());
  testutil::write_file(link + ".key", testutil::str_of(key), 0600);
  return key;
}

inline void set_mode(const testutil::TempDir& dir, const std::string& name, const std::string& mode) {
  testutil::write_file(dir.file(name) + ".mode", mode + "\n", 0600);
}

}  // namespace exectest
