// The provider registry: one line per URI scheme. A provider is one file in
// this folder (no PostgreSQL header) plus its line here.
#include <string>

#include "provider.hpp"

namespace orgcrypt {

namespace {
bool never(const std::string&) { return false; }
bool always(const std::string&) { return true; }

const SchemeInfo kSchemes[] = {
    // name    factory             syntax check     loads or runs code
    {"file", make_file_provider, check_file_uri, never},
    {"exec", make_exec_provider, check_exec_uri, always},
};
}  // namespace

const SchemeInfo* find_scheme_info(const std::string& scheme) {
  for (const auto& sc : kSchemes)
    if (scheme == sc.name) return &sc;
  return nullptr;
}

std::string supported_schemes() {
  std::string s;
  for (const auto& sc : kSchemes) s += (s.empty() ? "" : ", ") + std::string(sc.name);
  return s;
}

}  // namespace orgcrypt
