// Reading a small secret file (a key file, a PIN file) the careful way:
// opened without blocking (a FIFO or a device is refused, not waited on),
// then checked on the opened file: a regular file, owned by the process's OS
// user, with no group or other permission bits. Errors are 58000 and name
// the file, never its content.
#pragma once
#include <sys/stat.h>

#include <cstddef>
#include <functional>
#include <string>

#include "secure.hpp"

namespace orgcrypt {

struct SecretFile {
  bool reused = false;  // reuse() said the caller already holds this content
  struct stat st {};
  SecretBytes content;  // at most max + 1 bytes (more than max: the caller refuses)
};

// noun names the file in messages ("master key file", "the PIN file");
// missing_hint is the hint when it does not exist. reuse(st), if given, is
// asked after the checks: true means "unchanged, do not read it".
SecretFile read_secret_file(const std::string& path, const std::string& noun, std::size_t max,
                            const std::string& missing_hint,
                            const std::function<bool(const struct stat&)>& reuse = nullptr);

}  // namespace orgcrypt
