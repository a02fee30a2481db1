#include "secret_file.hpp"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "error.hpp"

namespace orgcrypt {

SecretFile read_secret_file(const std::string& path, const std::string& noun, std::size_t max,
                            const std::string& missing_hint, const std::function<bool(const struct stat&)>& reuse) {
  auto fail = [&](const std::string& what, const std::string& hint = {}) {
    throw Error(sqlstate::kSystemError, what, {}, hint);
  };
  const std::string name = noun + " \"" + path + "\"";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    int e = errno;
    fail("could not open " + name + ": " + std::strerror(e),
         e == ENOENT ? missing_hint : "The file must be readable by the server's OS user.");
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  SecretFile out;
  if (::fstat(fd, &out.st) != 0) fail("could not stat " + name + ": " + std::strerror(errno));
  if (!S_ISREG(out.st.st_mode)) fail(name + " is not a regular file");
  if (out.st.st_mode & (S_IRWXG | S_IRWXO)) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(out.st.st_mode & 07777));
    fail(name + " has group or other permissions (mode " + mode + ")",
         "Run chmod 600 on it: it must be readable by its owner only.");
  }
  if (out.st.st_uid != ::geteuid())
    fail(name + " is not owned by the server's OS user", "chown it to the user the PostgreSQL server runs as.");
  if (reuse && reuse(out.st)) {
    out.reused = true;
    return out;
  }
  out.content.resize(max + 1);
  std::size_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, out.content.data() + total, out.content.size() - total);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("could not read " + name + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    total += static_cast<std::size_t>(n);
    if (total == out.content.size()) break;
  }
  out.content.resize(total);  // shrinking keeps the buffer; the allocator wipes all of it
  return out;
}

}  // namespace orgcrypt
