// Reading the PIN file of a pkcs11: URI (see pkcs11_pin.hpp).
#include "pkcs11_pin.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "error.hpp"
#include "secret_file.hpp"

namespace orgcrypt {

namespace {

constexpr std::size_t kMaxPinFile = 256;

[[noreturn]] void fail(const std::string& msg, const std::string& detail = {}, const std::string& hint = {}) {
  throw Error(sqlstate::kSystemError, msg, detail, hint);
}

}  // namespace

SecretBytes read_pin_file(const std::string& path) {
  SecretFile f = read_secret_file(
      path, "the PIN file", kMaxPinFile,
      "pin-source names a file, readable only by the server's OS user, that holds the token's user PIN.");
  SecretBytes& buf = f.content;
  std::size_t total = buf.size();
  if (total > kMaxPinFile) fail("the PIN file \"" + path + "\" is longer than " + std::to_string(kMaxPinFile) + " bytes");
  if (total > 0 && buf[total - 1] == '\n') {
    total--;
    if (total > 0 && buf[total - 1] == '\r') total--;
  }
  if (total == 0) fail("the PIN file \"" + path + "\" is empty");
  buf.resize(total);
  return std::move(buf);
}

}  // namespace orgcrypt
