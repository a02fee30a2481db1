// The PIN of a pkcs11: URI's pin-source=file:/absolute/path.
#pragma once
#include <string>

#include "secure.hpp"

namespace orgcrypt {

// Reads the PIN file: a regular file owned by the server's OS user with no
// group or other permission bits, at most 256 bytes, not empty; one trailing
// newline (\n or \r\n) is stripped. The PIN is returned in wiped memory.
// Throws Error 58000 naming the file and the rule it breaks, never its
// content.
SecretBytes read_pin_file(const std::string& path);

}  // namespace orgcrypt
