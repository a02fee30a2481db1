// The AWS wire formats the aws-kms: provider speaks, as pure functions (no
// network, no environment): KMS JSON 1.1 requests and answers (Encrypt,
// Decrypt, DescribeKey, errors with __type), the STS
// AssumeRoleWithWebIdentity form and XML answer, and the JSON the ECS
// container endpoint and EC2 IMDS return. Every parser bounds its input
// before it allocates, and its reasons never quote a secret.
#pragma once
#include <ctime>
#include <string>
#include <utility>
#include <vector>

#include "secure.hpp"

namespace orgcrypt {
namespace aws {

constexpr std::size_t kMaxServiceResponse = 64 * 1024;  // any answer we parse
constexpr std::size_t kMaxJsonDepth = 16;
constexpr std::size_t kMaxServiceMessage = 200;  // characters of a service's message shown

// ---- the encryption context: the wrap AAD's parts
// For a wrap AAD (envelope.hpp: wrap_aad) with a UTF-8 org:
//   {"orgcrypt:purpose": "dek-wrap-v1", "orgcrypt:org": ORG, "orgcrypt:version": "N"}
// For any other aad (not expected; a pure function of the bytes still):
//   {"orgcrypt:purpose": "aad-v1", "orgcrypt:aad": base64(aad)}
using KmsContext = std::vector<std::pair<std::string, std::string>>;  // sorted by key
KmsContext encryption_context(ByteView aad);

// ---- KMS requests (JSON 1.1 bodies)
// The Encrypt body holds the DEK (base64): the caller wipes it after use.
std::string encrypt_body(const std::string& key_id, ByteView dek, const KmsContext& ctx);
std::string decrypt_body(const std::string& key_id, ByteView blob, const KmsContext& ctx);
std::string describe_key_body(const std::string& key_id);

// ---- KMS answers (status 200). "" or the reason.
std::string parse_encrypt_response(const std::string& body, Bytes* blob, std::string* key_id);
// Wipes the plaintext's base64 form it parsed.
std::string parse_decrypt_response(const std::string& body, SecretBytes* plaintext, std::string* key_id);
std::string parse_describe_key_response(const std::string& body, std::string* key_arn);

// ---- KMS errors (any other status)
struct ServiceError {
  std::string type;     // "NotFoundException" (sanitized: no namespace, no ":..." suffix); "" if none
  std::string message;  // the first line of the service's message, printable ASCII, at most kMaxServiceMessage characters
};
// The x-amzn-ErrorType header (if any) wins over the body's "__type" / "code";
// both may carry "namespace#Name" and ":suffix" forms.
ServiceError parse_kms_error(const std::string& error_type_header, const std::string& body);
std::string sanitize_error_code(const std::string& raw);

enum class Verdict { Ok, Retry, ExpiredCredentials, Fail };
// What to do with a KMS answer: 200 Ok; throttling and 5xx Retry;
// ExpiredTokenException / UnrecognizedClientException (when the credentials
// are temporary) ExpiredCredentials; anything else Fail.
Verdict kms_verdict(long status, const std::string& type, bool temporary_credentials);
// A hint for a KMS error type ("" if none); operation is "Encrypt" ...
std::string kms_error_hint(const std::string& type, const std::string& operation);

// ---- temporary credentials (STS, ECS, IMDS)
struct TempCredentials {
  std::string access_key_id;
  SecretBytes secret_access_key;
  SecretBytes session_token;
  std::time_t expiration = 0;  // 0: none given
};
// STS AssumeRoleWithWebIdentity form body (application/x-www-form-urlencoded);
// holds the token: the caller wipes it.
std::string sts_web_identity_body(const std::string& role_arn, const std::string& session_name, ByteView token);
// The XML answer of AssumeRoleWithWebIdentity (status 200).
std::string parse_sts_response(const std::string& body, TempCredentials* out);
// An STS error answer (<ErrorResponse><Error><Code>..</Code><Message>..</Message>).
ServiceError parse_sts_error(const std::string& body);
// The JSON of the ECS container endpoint or IMDS security-credentials:
// {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", ["Code": "Success"]}.
std::string parse_container_credentials(const std::string& body, TempCredentials* out);
// The role name IMDS lists (first line of the answer).
std::string parse_imds_role(const std::string& body, std::string* role);

// "2026-12-01T23:00:00Z" (optionally with fractional seconds) -> seconds
// since the epoch. false if malformed.
bool parse_iso8601(const std::string& s, std::time_t* out);

// Printable ASCII, at most max characters (longer: cut and "..."). For text
// from a service that goes into a message.
std::string printable(const std::string& s, std::size_t max);

}  // namespace aws
}  // namespace orgcrypt
