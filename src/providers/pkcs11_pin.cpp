// Reading the PIN file of a pkcs11: URI (see pkcs11_pin.hpp).
#include "pkcs11_pin.hpp"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "error.hpp"

namespace orgcrypt {

namespace {

constexpr std::size_t kMaxPinFile = 256;

[[noreturn]] void fail(const std::string& msg, const std::string& detail = {}, const std::string& hint = {}) {
  throw Error(sqlstate::kSystemError, msg, detail, hint);
}

}  // namespace

SecretBytes read_pin_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    fail("could not open the PIN file \"" + path + "\": " + std::strerror(e), {},
         "pin-source names a file, readable only by the server's OS user, that holds the token's user PIN.");
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) fail("could not stat the PIN file \"" + path + "\": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail("the PIN file \"" + path + "\" is not a regular file");
  if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    fail("the PIN file \"" + path + "\" has group or other permissions (mode " + mode + ")", {},
         "Run chmod 600 on it.");
  }
  if (st.st_uid != ::geteuid())
    fail("the PIN file \"" + path + "\" is not owned by the server's OS user");
  SecretBytes buf(kMaxPinFile + 1);
  std::size_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf.data() + total, buf.size() - total);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("could not read the PIN file \"" + path + "\": " + std::strerror(errno));
    }
    if (n == 0 || (total += static_cast<std::size_t>(n)) == buf.size()) break;
  }
  if (total > kMaxPinFile) fail("the PIN file \"" + path + "\" is longer than " + std::to_string(kMaxPinFile) + " bytes");
  if (total > 0 && buf[total - 1] == '\n') {
    total--;
    if (total > 0 && buf[total - 1] == '\r') total--;
  }
  if (total == 0) fail("the PIN file \"" + path + "\" is empty");
  buf.resize(total);  // shrinking keeps the buffer; the allocator wipes all of it
  return buf;
}

}  // namespace orgcrypt
