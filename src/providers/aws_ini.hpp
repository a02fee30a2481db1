// The AWS shared credentials and config files (INI), as the AWS CLI and SDKs
// read them: [name] sections in the credentials file, [profile name] (and
// [default]) in the config file; "key = value" lines; lines starting with #
// or ; are comments; indented lines (nested values such as "s3 =") are
// skipped. Keys are case-insensitive (lower-cased). Values are kept in wiped
// memory (they include secret access keys).
#pragma once
#include <map>
#include <string>

#include "secure.hpp"

namespace orgcrypt {
namespace aws {

using SecretString = std::basic_string<char, std::char_traits<char>, CleansingAllocator<char>>;
using IniSection = std::map<std::string, SecretString>;

struct IniFile {
  std::map<std::string, IniSection> sections;  // by the name inside [ ], trimmed
};

constexpr std::size_t kMaxIniFile = 256 * 1024;

// Parses text. Returns "" and fills *out, or the reason (a line number,
// never the content of a line).
std::string parse_ini(ByteView text, IniFile* out);

// The profile's section: in a credentials file [name]; in a config file
// [profile name], and for "default" also [default]. nullptr if absent.
const IniSection* find_profile(const IniFile& f, const std::string& name, bool config_file);

}  // namespace aws
}  // namespace orgcrypt
