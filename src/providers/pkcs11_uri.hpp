// PKCS#11 URIs (RFC 7512): the syntax, and what the pkcs11: key provider
// requires on top of it. No PKCS#11 header here: the parser is plain text.
//
//   pkcs11:token=orgcrypt;object=kek1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/orgcrypt/hsm.pin
//
// Path attributes are separated by ';', query attributes by '&'; values are
// percent-decoded. Only the attributes RFC 7512 defines are accepted (no
// vendor attributes), each at most once, in its own component.
#pragma once
#include <map>
#include <string>

namespace orgcrypt {

struct Pkcs11Uri {
  std::map<std::string, std::string> path;   // attribute name -> decoded value
  std::map<std::string, std::string> query;  // attribute name -> decoded value
  // The decoded value of a path or query attribute, or nullptr.
  const std::string* find(const std::string& name) const;
};

// Parses uri as an RFC 7512 PKCS#11 URI. Returns "" and fills *out (if not
// null), or returns why the URI is refused. A reason never quotes a
// pin-value.
std::string parse_pkcs11_uri(const std::string& uri, Pkcs11Uri* out);

// The pkcs11: provider's check (registry): the RFC syntax, plus
//   - no pin-value (a PIN never sits in a URI: use pin-source);
//   - module-path present and absolute (it is the module that is loaded);
//   - pin-source, if any, is file:/absolute/path (no pin-source: no login);
//   - the key is named by object= (its label) and/or id=, and type, if
//     given, is secret-key;
//   - values fit the PKCS#11 fields they are compared with.
// Returns "" or the reason.
std::string check_pkcs11_uri(const std::string& uri);

// Loads code: true when the URI carries a module-path (a dlopen), and for a
// URI that does not parse (nothing about it can be trusted).
bool pkcs11_uri_runs_code(const std::string& uri);

// The URI as it may appear in a message: every pin-value replaced by "***".
std::string pkcs11_uri_redacted(const std::string& uri);

// The path of a pin-source (file:/absolute/path -> /absolute/path).
std::string pkcs11_pin_path(const std::string& pin_source);

}  // namespace orgcrypt
