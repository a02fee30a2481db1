// The provider registry: one line per URI scheme. A provider is one file in
// this folder (no PostgreSQL header) plus its line here.
#include <string>

#include "kmip_uri.hpp"
#include "pkcs11_uri.hpp"
#include "provider.hpp"
#include "vault_uri.hpp"

namespace orgcrypt {

namespace {
bool never(const std::string&) { return false; }
bool always(const std::string&) { return true; }

const SchemeInfo kSchemes[] = {
    // name      factory               syntax check      loads or runs code    redacted for messages
    {"file", make_file_provider, check_file_uri, never, nullptr},
    {"exec", make_exec_provider, check_exec_uri, always, nullptr},
    {"pkcs11", make_pkcs11_provider, check_pkcs11_uri, pkcs11_uri_runs_code, pkcs11_uri_redacted},
    {"aws-kms", make_aws_kms_provider, check_aws_kms_uri, never, nullptr, aws_kms_trust_scope},
    {"vault-transit", make_vault_transit_provider, check_vault_transit_uri, never, vault_uri_redacted, vault_trust_scope},
    {"kmip", make_kmip_provider, check_kmip_uri, never, kmip_uri_redacted, kmip_trust_scope},
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
