// The PIN file of a pkcs11: URI: what is accepted, what is refused, and that
// no message carries the PIN.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "pkcs11_pin.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using testutil::expect_error;

namespace {
std::string read_str(const std::string& path) {
  SecretBytes pin = read_pin_file(path);
  return std::string(pin.begin(), pin.end());
}
}  // namespace

TEST(Pkcs11Pin, OneTrailingNewlineIsStripped) {
  testutil::TempDir d;
  const std::string f = d.file("pin");
  const struct {
    std::string content, pin;
  } cases[] = {{"1234", "1234"},       {"1234\n", "1234"},   {"1234\r\n", "1234"},
               {"1234\n\n", "1234\n"}, {"12 34\r", "12 34\r"}, {std::string(256, 'p'), std::string(256, 'p')}};
  for (const auto& c : cases) {
    testutil::write_file(f, c.content, 0600);
    EXPECT_EQ(read_str(f), c.pin) << testutil::tohex(c.content);
  }
  testutil::write_file(f, "1234", 0400);
  EXPECT_EQ(read_str(f), "1234");
}

TEST(Pkcs11Pin, RefusedWithoutShowingThePin) {
  testutil::TempDir d;
  const std::string f = d.file("pin");
  const std::string secret = "Secret-PIN-5150";
  struct Case {
    const char* what;
    std::string content;
    mode_t mode;
    const char* says;
  };
  const Case cases[] = {
      {"group-readable", secret, 0640, "group or other permissions (mode 0640)"},
      {"other-readable", secret, 0604, "group or other permissions"},
      {"empty", "", 0600, "is empty"},
      {"only a newline", "\n", 0600, "is empty"},
      {"too long", secret + std::string(300, 'x'), 0600, "longer than 256 bytes"},
  };
  for (const auto& c : cases) {
    testutil::write_file(f, c.content, c.mode);
    std::string msg = expect_error("58000", [&] { read_pin_file(f); }, c.what);
    EXPECT_NE(msg.find(c.says), std::string::npos) << c.what << ": " << msg;
    EXPECT_NE(msg.find(f), std::string::npos) << "names the file: " << msg;
    EXPECT_EQ(msg.find("Secret-PIN"), std::string::npos) << msg;
  }
  std::string msg = expect_error("58000", [&] { read_pin_file(d.file("missing")); }, "missing");
  EXPECT_NE(msg.find("could not open the PIN file"), std::string::npos) << msg;
  msg = expect_error("58000", [&] { read_pin_file(d.path()); }, "directory");
  EXPECT_NE(msg.find("not a regular file"), std::string::npos) << msg;
  if (::geteuid() == 0) {
    testutil::write_file(f, secret, 0600);
    ASSERT_EQ(::chown(f.c_str(), 65534, 65534), 0);
    msg = expect_error("58000", [&] { read_pin_file(f); }, "other owner");
    EXPECT_NE(msg.find("not owned by the server's OS user"), std::string::npos) << msg;
  }
}
