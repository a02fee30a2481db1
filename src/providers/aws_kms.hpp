// The aws-kms: key provider (docs/providers.md, "aws-kms:"): a DEK is
// wrapped by KMS Encrypt under a symmetric KMS key, with the wrap AAD's org
// and version as the encryption context, and unwrapped by Decrypt naming the
// key ARN. make_aws_kms_provider (provider.hpp) uses the real environment
// and network; tests inject them here.
#pragma once
#include <memory>
#include <string>

#include "aws_credentials.hpp"
#include "provider.hpp"

namespace orgcrypt {
namespace aws {

std::unique_ptr<KeyProvider> make_kms_provider(const std::string& uri, Deps deps);

// The fingerprint of a KMS key: first 8 bytes of
// SHA-256("orgcrypt aws-kms key v1" || key ARN).
Bytes kms_key_fingerprint(const std::string& key_arn);

// The service's message as a message may show it: its first line, printable,
// at most kMaxServiceMessage characters, and withheld entirely if it quotes
// any of the secrets (a signature error can quote the canonical request,
// which holds the session token).
std::string safe_service_message(const std::string& msg, const Creds& creds);

}  // namespace aws
}  // namespace orgcrypt
