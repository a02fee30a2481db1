// aws-kms: key URIs (docs/providers.md, "aws-kms:"): a KMS key ARN or alias
// ARN, with optional query parameters that say where the credentials and the
// service are. Paths and names only: a URI never carries a secret.
//
//   aws-kms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
//   aws-kms:arn:aws:kms:eu-west-1:111122223333:alias/orgcrypt?profile=orgcrypt&timeout_ms=5000
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace orgcrypt {
namespace aws {

struct KmsUri {
  std::string arn;        // the ARN as written (without "aws-kms:" and the query)
  std::string partition;  // aws, aws-cn, aws-us-gov
  std::string region;     // eu-west-1
  std::string account;    // 12 digits
  bool alias = false;     // alias/NAME rather than key/ID
  std::string resource;   // the key ID or the alias name (without "key/" / "alias/")
  std::string query;      // the query as written, without '?' ("" if none)
  // Decoded parameters ("" when not given).
  std::string profile, config_file, credentials_file, web_identity_token_file, role_arn, role_session_name;
  std::string endpoint, sts_endpoint, ca_file;
  long timeout_ms = 0;          // 0: not given
  long connect_timeout_ms = 0;  // 0: not given
};

constexpr long kMaxTimeoutMs = 600000;
constexpr std::size_t kMaxUri = 4096;

// Parses an aws-kms: URI. Returns "" and fills *out (if not null), or the
// reason it is refused. A reason never quotes a parameter's value.
std::string parse_kms_uri(const std::string& uri, KmsUri* out);

// Parses a bare KMS ARN ("arn:aws:kms:...:key/..." or ":alias/..."), e.g.
// the KeyId a KMS answer names. Fills partition..resource of *out.
std::string parse_kms_arn(const std::string& arn, KmsUri* out);

// The URI that names the key itself: "aws-kms:" + key_arn + the original
// query (so the credentials and endpoints stay as configured).
std::string key_uri_with_arn(const KmsUri& u, const std::string& key_arn);

// The length of the part of the URI that names the service: "aws-kms:" and
// the ARN up to and including the colon after the account (partition,
// region, account; not the key). For the trust scope (provider.hpp,
// SchemeInfo::trust_scope). The whole part before '?' if it is shorter.
std::size_t kms_uri_service_length(const std::string& uri);

// Checks a service endpoint URL: http(s)://host[:port][/], no user info,
// path, query or fragment. "" or the reason (naming `what`).
std::string check_endpoint_url(const std::string& url, const std::string& what);

// Checks an IAM role ARN (arn:PARTITION:iam::ACCOUNT:role/NAME).
std::string check_role_arn(const std::string& arn);

}  // namespace aws
}  // namespace orgcrypt
