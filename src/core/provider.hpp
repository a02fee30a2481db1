// Key providers: the master key (KEK) that wraps DEKs. A provider is named by
// a URI; the registry (src/providers/registry.cpp) maps the URI scheme to a
// factory. Adding a provider is one new file in src/providers/ plus one
// registry line.
//
// Rules every provider follows (CONVENTIONS, "Talking to key services"):
// - no PostgreSQL header; errors are Error(58000) naming the provider, the
//   operation and the service's own code (a CKR_ name, an exit status), never
//   a secret;
// - a call that waits (a child process, the network, an HSM in a loop) asks
//   provider_interrupted() at least every 100 ms and, when it says so, stops
//   and throws through throw_interrupted() (57014); the glue then raises
//   PostgreSQL's own cancel once every C++ object is gone;
// - the wrap AAD (wrap_aad: label, org, version) is bound natively where the
//   provider can (GCM AAD, an encryption context, the exec: request).
#pragma once
#include <functional>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "secure.hpp"

namespace orgcrypt {

// A provider object holds the KEK it reads for as long as it lives: every
// call on one object works with the same key (the file: provider reads its
// file once). Open a new object to see a replaced key.
class KeyProvider {
 public:
  virtual ~KeyProvider() = default;
  // The URI this provider was opened with (recorded with each wrapped DEK).
  virtual const std::string& uri() const = 0;
  // Checks that the KEK is usable; throws Error 58000 saying what failed.
  virtual void validate() = 0;
  // A fingerprint of the KEK (e.g. truncated HMAC-SHA256(KEK, label)), so a
  // replaced key is reported as such. Reveals nothing about the key.
  virtual Bytes fingerprint() = 0;
  // Wraps a DEK, binding aad. Throws Error 58000 on failure.
  virtual Bytes wrap(ByteView dek, ByteView aad) = 0;
  // Unwraps; throws Error 58000 if the blob does not authenticate under this
  // KEK and aad.
  virtual SecretBytes unwrap(ByteView blob, ByteView aad) = 0;
  // Whether this kind of KEK is fit for production (health()): a key file
  // next to the data is not.
  virtual bool production_ready() const { return true; }
  // The URI that names the KEK itself, recorded with each DEK it wraps.
  // Usually uri(); a provider whose URI can name a movable pointer (an AWS
  // KMS alias) returns what the service resolved it to (the key ARN), known
  // after fingerprint() or wrap(), so "which KEK wrapped this" stays exact.
  virtual std::string key_uri() { return uri(); }
};

using ProviderFactory = std::unique_ptr<KeyProvider> (*)(const std::string& uri);

// ---- the registry (src/providers/registry.cpp): one entry per URI scheme
struct SchemeInfo {
  const char* name;                           // "file", "exec", "pkcs11"
  ProviderFactory factory;
  std::string (*check)(const std::string&);   // syntax: "" or the reason
  bool (*runs_code)(const std::string&);      // loads or runs code (trust policy)
  std::string (*redact)(const std::string&);  // the URI as messages show it (nullptr: as is)
  // For a scheme whose URI names where credentials are sent (a service's
  // host, an endpoint, a token file): the part of a URI that decides that
  // (see remote_trust_scope). A URI of such a scheme is trusted only if a
  // trusted URI (orgcrypt.master_key or an exact entry of
  // orgcrypt.allowed_key_uris) has the same scope, or a prefix entry of
  // orgcrypt.allowed_key_uris matches it. nullptr: the scheme sends nothing.
  std::string (*trust_scope)(const std::string&) = nullptr;
};
// The entry for a scheme, or nullptr.
const SchemeInfo* find_scheme_info(const std::string& scheme);
// "file, exec, ..." for messages.
std::string supported_schemes();
// The URI as a message may show it: a scheme whose URIs can carry a secret
// (a pkcs11: pin-value, which the syntax check refuses) masks it.
std::string uri_for_message(const std::string& uri);

// ---- cancellation
// The glue installs a check that reads PostgreSQL's interrupt flags (it calls
// nothing that can raise an error). Without one, nothing is ever interrupted.
using InterruptCheck = bool (*)();
void set_interrupt_check(InterruptCheck check);
bool provider_interrupted();
// Throws Error 57014 "<provider> <operation> was interrupted".
[[noreturn]] void throw_interrupted(const std::string& provider, const std::string& operation);

// ---- statistics (provider_stats)
// An observer sees every call on every provider that open_provider returns:
// the URI, the operation ("wrap", "unwrap", "fingerprint", "validate"),
// whether it succeeded, and how long it took. The glue keeps per-backend
// counts and folds them into shared memory at transaction end.
using ProviderObserver = void (*)(const std::string& uri, const char* operation, bool ok, std::int64_t micros);
void set_provider_observer(ProviderObserver observer);

// ---- which URIs the server trusts
// A URI whose scheme loads or runs code (a pkcs11: module-path is a dlopen,
// exec: runs a program) is opened only if it equals the configured master key
// or matches an entry of orgcrypt.allowed_key_uris: an exact URI, or a prefix
// ending in '*'. This holds wherever the URI comes from: the setting, an SQL
// argument, or a key-table row (restored, replicated or planted). The glue
// keeps the policy current (GUC assign hooks).
struct UriPolicy {
  std::string master_key;
  std::vector<std::string> allowed;  // exact URIs, or prefixes ending in '*'
};
void set_uri_policy(UriPolicy policy);
// Parses orgcrypt.allowed_key_uris: entries separated by commas or
// whitespace. Returns "" or the reason the list is refused.
std::string parse_allowed_uris(const std::string& list, std::vector<std::string>* out);
// Does this scheme load or run code?
bool uri_runs_code(const std::string& uri);
// The trust scope of a URI of a remote provider: the URI up to the first
// '?' cut at `cut` (see below), followed by its query parameters sorted, so
// that the order of parameters does not matter. cut is the length of the
// part of the URI before '?' that names the service (e.g. up to the account
// of an AWS KMS key ARN, or up to host:port of a Vault server); a key name
// after it does not change the scope.
std::string remote_trust_scope(const std::string& uri, std::size_t cut);
// "" if the policy lets this URI be opened, else why not.
std::string uri_trust_problem(const std::string& uri);

// A key URI passed to an SQL function (orgcrypt.set_org_master_key) must be
// listed, whatever its scheme: equal orgcrypt.master_key or match an entry
// of orgcrypt.allowed_key_uris (an exact URI, or a prefix ending in '*').
// Stricter than uri_trust_problem, which still applies whenever such a URI
// is later read back from a table row and opened.
bool uri_listed(const std::string& uri);
// The rule for a URI given as an SQL argument (by orgcrypt_admin, who is not
// a superuser): equal to orgcrypt.master_key or an exact entry, or a prefix
// entry followed only by a name (letters, digits, '.', '_', '~', '-', '/';
// no "..", no dot segment anywhere in the path): a caller may not add
// parameters (a pkcs11 module-path, a Vault token_file), attributes or path
// traversal to what a superuser listed.
bool uri_listed_for_sql(const std::string& uri);
// Checks a key URI given as an SQL argument before anything is opened:
// Error 22023 "invalid key URI ..." for a malformed one, Error 58000 "key URI
// ... is not trusted by this server" (hint: orgcrypt.allowed_key_uris) for one
// that is not listed.
void check_sql_key_uri(const std::string& uri);

// Returns the scheme of a URI ("file" for "file:/x"), or "" if it has none.
std::string uri_scheme(const std::string& uri);

// Opens a provider for uri; throws Error 58000 for an unknown scheme or a
// malformed URI. Does not touch the key yet (validate/wrap/unwrap do).
std::unique_ptr<KeyProvider> open_provider(const std::string& uri);

// How core code opens providers: open_provider by default; tests inject
// fakes. Must return a provider or throw (a null result is treated as a
// provider failure, 58000).
using OpenProvider = std::function<std::unique_ptr<KeyProvider>(const std::string& uri)>;

// Checks only the syntax of a URI; returns "" if fine, else the reason.
std::string check_uri_syntax(const std::string& uri);

// The providers (one factory and one syntax check per scheme).
std::unique_ptr<KeyProvider> make_file_provider(const std::string& uri);
std::string check_file_uri(const std::string& uri);
// How many times this process has read and parsed a key file (tests): a
// file: key is kept and read again only when its file changes.
unsigned long file_key_loads();
// exec:/absolute/path[?timeout_ms=N] (src/providers/exec.cpp, docs/providers.md)
std::unique_ptr<KeyProvider> make_exec_provider(const std::string& uri);
std::string check_exec_uri(const std::string& uri);
std::unique_ptr<KeyProvider> make_pkcs11_provider(const std::string& uri);  // pkcs11.cpp, pkcs11_uri.hpp
// aws-kms:arn:aws:kms:REGION:ACCOUNT:key/ID or :alias/NAME[?params]
// (src/providers/aws_kms.cpp, aws_uri.hpp, docs/providers.md "aws-kms:")
std::unique_ptr<KeyProvider> make_aws_kms_provider(const std::string& uri);
std::string check_aws_kms_uri(const std::string& uri);
// Its trust scope (SchemeInfo::trust_scope): the ARN up to the account
// (partition, region, account) and the sorted query parameters.
std::string aws_kms_trust_scope(const std::string& uri);
// vault-transit://HOST:PORT/MOUNT/keys/NAME[?...] (src/providers/vault_transit.cpp,
// vault_uri.hpp, docs/providers.md)
std::unique_ptr<KeyProvider> make_vault_transit_provider(const std::string& uri);
std::string check_vault_transit_uri(const std::string& uri);
// kmip://HOST[:PORT]/UID[?...] (src/providers/kmip.cpp, kmip_uri.hpp, docs/providers.md)
std::unique_ptr<KeyProvider> make_kmip_provider(const std::string& uri);

// Parses key material in one of the accepted encodings: exactly 32 raw
// bytes, or 64 hex characters, or 44 base64 characters; one trailing newline
// (\n or \r\n) is allowed after a text form. Throws Error 58000 naming what
// was found (its length, never its bytes); source names the key in errors.
SecretBytes parse_key_material(ByteView content, const std::string& source);

// The fingerprint used by providers that hold the key bytes: first 8 bytes of
// HMAC-SHA256(KEK, "orgcrypt KEK fingerprint v1").
Bytes kek_fingerprint(ByteView kek);

// Wrap format shared by AES-key-wrap providers: RFC 3394 wrap of
// DEK || SHA-256(aad) under the KEK; unwrap checks the digest.
Bytes keywrap_with_aad(ByteView kek, ByteView dek, ByteView aad);
bool keyunwrap_with_aad(ByteView kek, ByteView blob, ByteView aad, SecretBytes& dek);

}  // namespace orgcrypt
