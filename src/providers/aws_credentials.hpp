// AWS credentials for the aws-kms: provider, found the way the AWS SDKs find
// them (docs/providers.md, "aws-kms:", "Credentials"):
//   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
//   2. the shared credentials and config files, for AWS_PROFILE or "default":
//      static keys, or role_arn + web_identity_token_file;
//   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (STS
//      AssumeRoleWithWebIdentity);
//   4. the ECS/EKS container endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
//      or _FULL_URI, with AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]);
//   5. EC2 instance metadata (IMDSv2), unless AWS_EC2_METADATA_DISABLED=true.
// URI parameters override the environment: profile= (and config_file=,
// credentials_file=) means that profile only; web_identity_token_file= +
// role_arn= means web identity only.
//
// Temporary credentials are cached per process, keyed by where they came
// from, and fetched again when less than 5 minutes (or a quarter of their
// lifetime, whichever is less) remain. The environment, the clock, the
// network and sleeping are injected (Deps), so tests never touch the real
// ones.
#pragma once
#include <ctime>
#include <functional>
#include <optional>
#include <string>

#include "aws_kms_json.hpp"
#include "aws_uri.hpp"
#include "http.hpp"
#include "secure.hpp"

namespace orgcrypt {
namespace aws {

using Env = std::function<std::optional<std::string>(const std::string&)>;
using Transport =
    std::function<http::Response(const http::Request&, const http::Options&, const std::string& operation)>;

struct Deps {
  Env env;                                              // the process environment
  Transport transport;                                  // http::send
  std::function<std::time_t()> now;                     // time(nullptr)
  std::function<void(long ms, const std::string& op)> sleep;  // sliced, cancellable
  std::function<double()> random;                       // uniform in [0, 1)
};
// The real ones: getenv, http::send, time, a sleep in slices of at most
// 100 ms that asks provider_interrupted() (57014 on a cancel), OpenSSL's RNG.
Deps default_deps();

struct Creds {
  std::string access_key_id;
  SecretBytes secret_access_key;
  SecretBytes session_token;  // empty if none
  std::time_t expiration = 0;
  bool temporary = false;     // from STS, ECS or IMDS (may expire; can be fetched again)
  std::string source;         // where they came from, for messages (never a secret)
};

enum class SourceKind { Static, WebIdentity, Container, Imds };

struct CredentialPlan {
  SourceKind kind = SourceKind::Static;
  std::string source;     // for messages: "the environment (AWS_ACCESS_KEY_ID)", ...
  std::string cache_key;  // temporary sources: what identifies them
  Creds statics;          // Static
  std::string token_file, role_arn, session_name, sts_url;  // WebIdentity
  std::string container_url, container_token_file;         // Container
  bool container_token_env = false;                          // AWS_CONTAINER_AUTHORIZATION_TOKEN given
  SecretBytes container_token;                               // its value
  std::string imds_base;                                     // Imds
};

// Decides where the credentials come from: reads the environment and the
// shared files, never the network. Throws Error 58000 (no credentials
// anywhere, a profile that does not exist or is incomplete, source_profile,
// a malformed file or endpoint variable).
CredentialPlan plan_credentials(const KmsUri& u, const Deps& d);

struct Timeouts {
  long connect_ms = 5000;
  long total_ms = 10000;
  std::string ca_file;
};

// The credentials of a plan: static ones at once; temporary ones from the
// cache or their service (force: skip the cache, e.g. after KMS said the
// token expired). Throws Error 58000 / 57014.
Creds get_credentials(const CredentialPlan& plan, const Deps& d, const Timeouts& t, bool force = false);

// Drops every cached credential (tests).
void clear_credential_cache();
// How many times temporary credentials were fetched from a service (tests).
unsigned long credential_fetches();

// Full-jitter exponential backoff: a wait in [0, min(1000, 50 * 2^(retry-1))) ms
// for retry 1, 2, ... (r uniform in [0, 1)).
long backoff_ms(int retry, double r);

// The endpoints: the URI's parameter, else AWS_ENDPOINT_URL_<SERVICE>, else
// AWS_ENDPOINT_URL, else the service's regional endpoint. Throws Error 58000
// for a malformed variable.
std::string kms_endpoint(const KmsUri& u, const Deps& d);
std::string sts_endpoint(const KmsUri& u, const Deps& d);

// The value of a variable if set and not empty.
std::optional<std::string> env_value(const Deps& d, const std::string& name);

}  // namespace aws
}  // namespace orgcrypt
