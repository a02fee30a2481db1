// The kmip:// key provider (docs/providers.md, "kmip://"): its settings, set
// by the glue's GUC hooks, and what tests may observe.
#pragma once
#include <cstdint>
#include <string>

#include "secure.hpp"

namespace orgcrypt::kmip {

// orgcrypt.kmip_ca_file, orgcrypt.kmip_cert_file, orgcrypt.kmip_key_file,
// orgcrypt.kmip_allow_get_fallback. URI parameters override the paths.
struct Settings {
  std::string ca_file, cert_file, key_file;
  bool allow_get_fallback = false;
};
// Where the provider reads them, each time a provider is opened (inside
// C++ code, so a failed allocation is an ordinary exception): the glue
// installs a function that copies the GUC variables; without one (unit
// tests) the values given to set_settings are used.
using SettingsSource = Settings (*)();
void set_settings_source(SettingsSource source);
void set_settings(const Settings& s);
Settings settings();

// The fingerprint of a key location (first 8 bytes of SHA-256 over a label
// and the length-prefixed host:port and Unique Identifier).
Bytes location_fingerprint(const std::string& hostport, const std::string& uid);

// Counters of this process (tests): TLS connections opened, and requests sent.
std::uint64_t connections_opened();
std::uint64_t requests_sent();
// Closes this process's connections (tests).
void close_connections();

constexpr std::size_t kIvLen = 12;
constexpr std::size_t kTagLen = 16;

}  // namespace orgcrypt::kmip
