// aws-kms: URI syntax (src/providers/aws_uri.hpp): good URIs, and bad ones
// with their exact reasons.
#include <gtest/gtest.h>

#include <string>

#include "aws_uri.hpp"
#include "provider.hpp"

using namespace orgcrypt;
using namespace orgcrypt::aws;

namespace {
const std::string kArn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const std::string kUri = "aws-kms:" + kArn;
std::string why(const std::string& uri) { return parse_kms_uri(uri, nullptr); }
}  // namespace

TEST(AwsKmsUri, KeyArn) {
  KmsUri u;
  ASSERT_EQ(parse_kms_uri(kUri, &u), "");
  EXPECT_EQ(u.arn, kArn);
  EXPECT_EQ(u.partition, "aws");
  EXPECT_EQ(u.region, "eu-west-1");
  EXPECT_EQ(u.account, "111122223333");
  EXPECT_FALSE(u.alias);
  EXPECT_EQ(u.resource, "1234abcd-12ab-34cd-56ef-1234567890ab");
  EXPECT_EQ(u.query, "");
  EXPECT_EQ(check_uri_syntax(kUri), "");  // through the registry
}

TEST(AwsKmsUri, AliasAndPartitionsAndMultiRegionKeys) {
  KmsUri u;
  ASSERT_EQ(parse_kms_uri("aws-kms:arn:aws:kms:us-east-1:111122223333:alias/orgcrypt/prod_1", &u), "");
  EXPECT_TRUE(u.alias);
  EXPECT_EQ(u.resource, "orgcrypt/prod_1");
  EXPECT_EQ(why("aws-kms:arn:aws-cn:kms:cn-north-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab"), "");
  EXPECT_EQ(why("aws-kms:arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/a"), "");
}

TEST(AwsKmsUri, Parameters) {
  KmsUri u;
  const std::string q =
      "profile=orgcrypt&config_file=/etc/aws/config&credentials_file=/etc/aws/credentials&endpoint=https://"
      "vpce-1.kms.eu-west-1.vpce.amazonaws.com&sts_endpoint=http://127.0.0.1:4599&ca_file=/etc/ssl/ca%20file.pem&"
      "timeout_ms=5000&connect_timeout_ms=600000";
  ASSERT_EQ(parse_kms_uri(kUri + "?" + q, &u), "");
  EXPECT_EQ(u.profile, "orgcrypt");
  EXPECT_EQ(u.config_file, "/etc/aws/config");
  EXPECT_EQ(u.credentials_file, "/etc/aws/credentials");
  EXPECT_EQ(u.endpoint, "https://vpce-1.kms.eu-west-1.vpce.amazonaws.com");
  EXPECT_EQ(u.sts_endpoint, "http://127.0.0.1:4599");
  EXPECT_EQ(u.ca_file, "/etc/ssl/ca file.pem");
  EXPECT_EQ(u.timeout_ms, 5000);
  EXPECT_EQ(u.connect_timeout_ms, 600000);
  EXPECT_EQ(u.query, q);
  ASSERT_EQ(parse_kms_uri(kUri + "?web_identity_token_file=/var/run/token&role_arn=arn:aws:iam::111122223333:role/"
                                 "pg-kms&role_session_name=pg-1",
                          &u),
            "");
  EXPECT_EQ(u.web_identity_token_file, "/var/run/token");
  EXPECT_EQ(u.role_arn, "arn:aws:iam::111122223333:role/pg-kms");
  EXPECT_EQ(u.role_session_name, "pg-1");
}

TEST(AwsKmsUri, KeyUriKeepsTheQuery) {
  KmsUri u;
  ASSERT_EQ(parse_kms_uri("aws-kms:arn:aws:kms:eu-west-1:111122223333:alias/x?timeout_ms=5000", &u), "");
  EXPECT_EQ(key_uri_with_arn(u, kArn), kUri + "?timeout_ms=5000");
  ASSERT_EQ(parse_kms_uri("aws-kms:arn:aws:kms:eu-west-1:111122223333:alias/x", &u), "");
  EXPECT_EQ(key_uri_with_arn(u, kArn), kUri);
}

TEST(AwsKmsUri, MalformedArns) {
  const std::string form =
      "an aws-kms: URI is aws-kms:arn:PARTITION:kms:REGION:ACCOUNT:key/KEY-ID or "
      "aws-kms:arn:PARTITION:kms:REGION:ACCOUNT:alias/NAME, optionally followed by ?name=value&...";
  EXPECT_EQ(why("aws-kms:"), "malformed ARN: " + form);
  EXPECT_EQ(why("aws-kms:1234abcd-12ab-34cd-56ef-1234567890ab"), "malformed ARN: " + form);
  EXPECT_EQ(why("aws-kms:arn:aws:kms:eu-west-1:111122223333"), "malformed ARN: " + form);
  EXPECT_EQ(why("aws-kms:urn:aws:kms:eu-west-1:111122223333:key/k"), "malformed ARN: " + form);
  EXPECT_EQ(why("aws-kms:arn:aws-xx:kms:eu-west-1:111122223333:key/k"),
            "unknown partition in the ARN (aws, aws-cn or aws-us-gov)");
  EXPECT_EQ(why("aws-kms:arn:aws:s3:eu-west-1:111122223333:key/k"),
            "the ARN does not name a KMS key (its service is not kms)");
  EXPECT_EQ(why("aws-kms:arn:aws:kms:EU-WEST-1:111122223333:key/k"), "malformed region in the ARN (e.g. eu-west-1)");
  EXPECT_EQ(why("aws-kms:arn:aws:kms::111122223333:key/k"), "malformed region in the ARN (e.g. eu-west-1)");
  EXPECT_EQ(why("aws-kms:arn:aws:kms:eu-west-1:11112222333:key/k"), "the account in the ARN must be 12 digits");
  EXPECT_EQ(why("aws-kms:arn:aws:kms:eu-west-1:111122223333:key/"),
            "malformed key ID in the ARN (key/ then a key ID such as 1234abcd-12ab-34cd-56ef-1234567890ab)");
  EXPECT_EQ(why("aws-kms:arn:aws:kms:eu-west-1:111122223333:key/a:b"),
            "malformed key ID in the ARN (key/ then a key ID such as 1234abcd-12ab-34cd-56ef-1234567890ab)");
  EXPECT_EQ(why("aws-kms:arn:aws:kms:eu-west-1:111122223333:alias/a.b"),
            "malformed alias name in the ARN (alias/ then letters, digits, / _ -)");
  EXPECT_EQ(why("aws-kms:arn:aws:kms:eu-west-1:111122223333:keys/k"), "the ARN must name key/KEY-ID or alias/NAME");
  EXPECT_EQ(why("aws-kms:" + kArn + " "),
            "the URI contains a space, a control character, '#' or a non-ASCII byte (percent-encode it)");
  EXPECT_EQ(why("aws-kms:" + kArn + "#x"),
            "the URI contains a space, a control character, '#' or a non-ASCII byte (percent-encode it)");
  EXPECT_EQ(why("aws-kms:" + kArn + "?profile=" + std::string(5000, 'a')), "the URI is longer than 4096 bytes");
}

TEST(AwsKmsUri, BadParameters) {
  EXPECT_EQ(why(kUri + "?"), "an empty query after '?'");
  EXPECT_EQ(why(kUri + "?profile=a&"), "an empty parameter (\"&&\" or a trailing \"&\")");
  EXPECT_EQ(why(kUri + "?region=eu-west-1"),
            "unknown parameter \"region\" (known: profile, config_file, credentials_file, web_identity_token_file, "
            "role_arn, role_session_name, endpoint, sts_endpoint, ca_file, timeout_ms, connect_timeout_ms)");
  EXPECT_EQ(why(kUri + "?profile"), "parameter profile has no value (write profile=...)");
  EXPECT_EQ(why(kUri + "?profile="), "parameter profile is empty");
  EXPECT_EQ(why(kUri + "?profile=a&profile=b"), "parameter profile is given twice");
  EXPECT_EQ(why(kUri + "?profile=a%2"), "parameter profile contains a malformed %-escape");
  EXPECT_EQ(why(kUri + "?profile=a%00"), "parameter profile contains a NUL byte");
  EXPECT_EQ(why(kUri + "?profile=a%20b"), "profile may contain only letters, digits and _ - . + @");
  EXPECT_EQ(why(kUri + "?config_file=etc/aws/config"), "config_file must be an absolute path");
  EXPECT_EQ(why(kUri + "?credentials_file=~/.aws/credentials"), "credentials_file must be an absolute path");
  EXPECT_EQ(why(kUri + "?ca_file=/a%0Ab"), "ca_file contains a control character");
  EXPECT_EQ(why(kUri + "?timeout_ms=0"), "timeout_ms must be a whole number from 1 to 600000");
  EXPECT_EQ(why(kUri + "?timeout_ms=600001"), "timeout_ms must be a whole number from 1 to 600000");
  EXPECT_EQ(why(kUri + "?connect_timeout_ms=1s"), "connect_timeout_ms must be a whole number from 1 to 600000");
  EXPECT_EQ(why(kUri + "?endpoint=kms.eu-west-1.amazonaws.com"),
            "endpoint must be an https:// (or, for tests on loopback, http://) URL");
  EXPECT_EQ(why(kUri + "?endpoint=https://user:pw@kms.example"), "endpoint must not contain user information (@)");
  EXPECT_EQ(why(kUri + "?sts_endpoint=https://sts.example/path"),
            "sts_endpoint must be scheme://host[:port] without a path, query or fragment");
  EXPECT_EQ(why(kUri + "?endpoint=https://"), "endpoint has no host");
  EXPECT_EQ(why(kUri + "?web_identity_token_file=/t"),
            "web_identity_token_file and role_arn go together (AssumeRoleWithWebIdentity needs both)");
  EXPECT_EQ(why(kUri + "?role_arn=arn:aws:iam::111122223333:role/r"),
            "web_identity_token_file and role_arn go together (AssumeRoleWithWebIdentity needs both)");
  EXPECT_EQ(why(kUri + "?role_arn=arn:aws:iam::111122223333:user/r&web_identity_token_file=/t"),
            "role_arn must be an IAM role ARN: arn:PARTITION:iam::ACCOUNT:role/NAME");
  EXPECT_EQ(why(kUri + "?role_arn=arn:aws:iam::111122223333:role/r&web_identity_token_file=/t&role_session_name=x"),
            "role_session_name must be 2 to 64 characters");
  EXPECT_EQ(why(kUri + "?role_session_name=xy"), "role_session_name needs role_arn and web_identity_token_file");
  EXPECT_EQ(check_role_arn(std::string("arn:aws:iam::111122223333:role/r\0", 33)),
            "role_arn must be an IAM role ARN: arn:PARTITION:iam::ACCOUNT:role/NAME");
  EXPECT_EQ(why(kUri + "?profile=p&role_arn=arn:aws:iam::111122223333:role/r&web_identity_token_file=/t"),
            "give either profile or role_arn/web_identity_token_file, not both");
}

TEST(AwsKmsUri, RefusesSecretsWithoutQuotingThem) {
  for (const char* name : {"aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "aws_session_token", "secret_key",
                           "token", "web_identity_token", "aws_access_key_id", "password", "x-amz-security-token"}) {
    const std::string r = why(kUri + "?" + name + "=wJalrXUtnFEMI%2FK7MDENG");
    EXPECT_EQ(r, "the URI must not carry a secret (\"" + std::string(name) +
                     "\"): put credentials in the environment, a credentials file or a web identity token file")
        << name;
    EXPECT_EQ(r.find("wJalr"), std::string::npos);
  }
  // A value is never quoted, even in other reasons.
  EXPECT_EQ(why(kUri + "?profile=wJalrXUtnFEMI%2FK7MDENG").find("wJalr"), std::string::npos);
}

TEST(AwsKmsUri, TrustScopeIsPartitionRegionAccountAndParameters) {
  EXPECT_EQ(kms_uri_service_length(kUri), std::string("aws-kms:arn:aws:kms:eu-west-1:111122223333:").size());
  EXPECT_EQ(aws_kms_trust_scope(kUri), "aws-kms:arn:aws:kms:eu-west-1:111122223333:?");
  // An alias and the key it names: one scope (same account, same parameters in any order).
  EXPECT_EQ(aws_kms_trust_scope("aws-kms:arn:aws:kms:eu-west-1:111122223333:alias/a?timeout_ms=5&profile=p"),
            aws_kms_trust_scope(kUri + "?profile=p&timeout_ms=5"));
  // Another endpoint, profile, account, region or partition: another scope.
  for (const std::string& other :
       {kUri + "?endpoint=https://e", kUri + "?profile=p", std::string("aws-kms:arn:aws:kms:eu-west-1:111122223334:key/k"),
        std::string("aws-kms:arn:aws:kms:eu-west-2:111122223333:key/k"),
        std::string("aws-kms:arn:aws-cn:kms:eu-west-1:111122223333:key/k")})
    EXPECT_NE(aws_kms_trust_scope(other), aws_kms_trust_scope(kUri)) << other;
  // A colon in a parameter does not move the cut.
  EXPECT_EQ(kms_uri_service_length("aws-kms:arn:aws?endpoint=https://a:1"), std::string("aws-kms:arn:aws").size());
  // Through the policy: the master key trusts its alias's key ARN, not another endpoint.
  set_uri_policy({"aws-kms:arn:aws:kms:eu-west-1:111122223333:alias/a", {}});
  EXPECT_EQ(uri_trust_problem(kUri), "");
  EXPECT_NE(uri_trust_problem(kUri + "?endpoint=https://elsewhere.example"), "");
  EXPECT_NE(uri_trust_problem("aws-kms:arn:aws:kms:eu-west-1:999999999999:key/k"), "");
  set_uri_policy({});
}
