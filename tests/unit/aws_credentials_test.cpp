// The credential chain of aws-kms: (src/providers/aws_credentials.hpp) with
// an injected environment, temporary files, and a fake network: the order
// of the sources, what the URI overrides, the cache and its refresh.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "aws_credentials.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using namespace orgcrypt::aws;
using testutil::TempDir;
using testutil::write_file;

namespace {

const std::string kUri = "aws-kms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

struct Fake {
  std::map<std::string, std::string> env;
  std::vector<http::Request> requests;
  std::function<http::Response(const http::Request&)> answer;
  std::time_t now = 1796171400 - 3600;
  Deps deps() {
    Deps d;
    d.env = [this](const std::string& n) -> std::optional<std::string> {
      auto it = env.find(n);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    d.transport = [this](const http::Request& r, const http::Options&, const std::string&) {
      requests.push_back(r);
      if (!answer) throw Error(sqlstate::kSystemError, "no network in this test");
      return answer(r);
    };
    d.now = [this] { return now; };
    d.sleep = [](long, const std::string&) {};
    d.random = [] { return 0.5; };
    return d;
  }
};

KmsUri uri(const std::string& q = "") {
  KmsUri u;
  EXPECT_EQ(parse_kms_uri(kUri + (q.empty() ? "" : "?" + q), &u), "");
  return u;
}

std::string str(const SecretBytes& b) { return std::string(b.begin(), b.end()); }

http::Response ok(const std::string& body) {
  http::Response r;
  r.status = 200;
  r.body = body;
  return r;
}

std::string sts_xml(const std::string& akid, const std::string& exp) {
  return "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>"
         "<AccessKeyId>" + akid + "</AccessKeyId><SecretAccessKey>stssecret</SecretAccessKey>"
         "<SessionToken>ststoken</SessionToken><Expiration>" + exp + "</Expiration>"
         "</Credentials></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>";
}

class AwsCredentials : public ::testing::Test {
 protected:
  void SetUp() override {
    clear_credential_cache();
    f.env["HOME"] = dir.path();  // no ~/.aws there
  }
  TempDir dir;
  Fake f;
};

}  // namespace

TEST_F(AwsCredentials, EnvironmentFirst) {
  f.env["AWS_ACCESS_KEY_ID"] = "AKIDENV0000000000";
  f.env["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  f.env["AWS_SESSION_TOKEN"] = "envtoken";
  f.env["AWS_PROFILE"] = "nope";  // never looked at: the environment comes first
  f.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = "/nope";
  Deps d = f.deps();
  CredentialPlan p = plan_credentials(uri(), d);
  EXPECT_EQ(p.kind, SourceKind::Static);
  EXPECT_EQ(p.source, "the environment (AWS_ACCESS_KEY_ID)");
  Creds c = get_credentials(p, d, Timeouts());
  EXPECT_EQ(c.access_key_id, "AKIDENV0000000000");
  EXPECT_EQ(str(c.secret_access_key), "envsecret");
  EXPECT_EQ(str(c.session_token), "envtoken");
  EXPECT_FALSE(c.temporary);
  f.env.erase("AWS_SECRET_ACCESS_KEY");
  std::string m = testutil::expect_error("58000", [&] { plan_credentials(uri(), d); });
  EXPECT_NE(m.find("AWS_ACCESS_KEY_ID but no AWS_SECRET_ACCESS_KEY"), std::string::npos);
  EXPECT_TRUE(f.requests.empty());
}

TEST_F(AwsCredentials, SharedFilesForTheProfile) {
  write_file(dir.file("credentials"),
             "[default]\naws_access_key_id = AKIDDEFAULT000000\naws_secret_access_key = defsecret\n"
             "[prod]\naws_access_key_id = AKIDPROD000000000\n");
  write_file(dir.file("config"),
             "[profile prod]\naws_secret_access_key = prodsecret\naws_session_token = prodtoken\n"
             "[profile half]\naws_access_key_id = AKIDHALF000000000\n"
             "[profile chained]\nrole_arn = arn:aws:iam::111122223333:role/r\nsource_profile = default\n"
             "[profile empty]\nregion = eu-west-1\n");
  f.env["AWS_SHARED_CREDENTIALS_FILE"] = dir.file("credentials");
  f.env["AWS_CONFIG_FILE"] = dir.file("config");
  Deps d = f.deps();
  // default
  CredentialPlan p = plan_credentials(uri(), d);
  EXPECT_EQ(p.kind, SourceKind::Static);
  EXPECT_EQ(p.statics.access_key_id, "AKIDDEFAULT000000");
  EXPECT_EQ(str(p.statics.secret_access_key), "defsecret");
  EXPECT_EQ(p.source, "the AWS profile \"default\" (" + dir.file("credentials") + ")");
  // AWS_PROFILE, keys merged from both files (credentials file first)
  f.env["AWS_PROFILE"] = "prod";
  p = plan_credentials(uri(), d);
  EXPECT_EQ(p.statics.access_key_id, "AKIDPROD000000000");
  EXPECT_EQ(str(p.statics.secret_access_key), "prodsecret");
  EXPECT_EQ(str(p.statics.session_token), "prodtoken");
  // A named profile that is missing, incomplete, chained or empty is an error.
  f.env["AWS_PROFILE"] = "missing";
  EXPECT_NE(testutil::expect_error("58000", [&] { plan_credentials(uri(), d); }).find("the AWS profile \"missing\" was not found"),
            std::string::npos);
  std::string m = testutil::expect_error("58000", [&] { plan_credentials(uri("profile=half"), d); });
  EXPECT_NE(m.find("has aws_access_key_id but no aws_secret_access_key"), std::string::npos);
  m = testutil::expect_error("58000", [&] { plan_credentials(uri("profile=chained"), d); });
  EXPECT_NE(m.find("assumes a role with source_profile, which orgcrypt does not support"), std::string::npos);
  m = testutil::expect_error("58000", [&] { plan_credentials(uri("profile=empty"), d); });
  EXPECT_NE(m.find("has no credentials"), std::string::npos);
  // The URI's profile= wins over AWS_PROFILE and over the environment's keys.
  f.env["AWS_ACCESS_KEY_ID"] = "AKIDENV0000000000";
  f.env["AWS_SECRET_ACCESS_KEY"] = "envsecret";
  p = plan_credentials(uri("profile=prod"), d);
  EXPECT_EQ(p.statics.access_key_id, "AKIDPROD000000000");
  // The URI's file paths win over the variables.
  write_file(dir.file("other"), "[prod]\naws_access_key_id = AKIDOTHER00000000\naws_secret_access_key = o\n");
  p = plan_credentials(uri("profile=prod&credentials_file=" + dir.file("other")), d);
  EXPECT_EQ(p.statics.access_key_id, "AKIDOTHER00000000");
  // Files must be private, like every secret file.
  write_file(dir.file("open"), "[prod]\naws_access_key_id = A\naws_secret_access_key = o\n", 0644);
  m = testutil::expect_error("58000", [&] { plan_credentials(uri("profile=prod&credentials_file=" + dir.file("open")), d); });
  EXPECT_NE(m.find("group or other permissions"), std::string::npos);
  // A malformed file says which line, not what is on it.
  write_file(dir.file("bad"), "[prod]\nwJalrXUtnFEMI\n");
  m = testutil::expect_error("58000", [&] { plan_credentials(uri("profile=prod&credentials_file=" + dir.file("bad")), d); });
  EXPECT_NE(m.find("line 2 is neither"), std::string::npos);
  EXPECT_EQ(m.find("wJalr"), std::string::npos);
  EXPECT_TRUE(f.requests.empty());
}

TEST_F(AwsCredentials, DefaultFilesInHome) {
  ASSERT_EQ(::mkdir(dir.file(".aws").c_str(), 0700), 0);
  write_file(dir.file(".aws/credentials"), "[default]\naws_access_key_id = AKIDHOME000000000\naws_secret_access_key = h\n");
  Deps d = f.deps();
  EXPECT_EQ(plan_credentials(uri(), d).statics.access_key_id, "AKIDHOME000000000");
}

TEST_F(AwsCredentials, WebIdentityThenContainerThenImds) {
  write_file(dir.file("token"), "eyJhbGciOiJSUzI1NiJ9.webidentitytoken.sig\n");
  f.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = dir.file("token");
  f.env["AWS_ROLE_ARN"] = "arn:aws:iam::111122223333:role/pg";
  f.env["AWS_ROLE_SESSION_NAME"] = "pg-1";
  f.env["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = "/v2/credentials/x";
  Deps d = f.deps();
  CredentialPlan p = plan_credentials(uri(), d);
  EXPECT_EQ(p.kind, SourceKind::WebIdentity);
  EXPECT_EQ(p.sts_url, "https://sts.eu-west-1.amazonaws.com");
  f.env["AWS_REGION"] = "us-east-2";
  EXPECT_EQ(plan_credentials(uri(), d).sts_url, "https://sts.us-east-2.amazonaws.com");
  f.env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1";
  EXPECT_EQ(plan_credentials(uri(), d).sts_url, "http://127.0.0.1:1");
  f.env["AWS_ENDPOINT_URL_STS"] = "http://127.0.0.1:2";
  EXPECT_EQ(plan_credentials(uri(), d).sts_url, "http://127.0.0.1:2");
  EXPECT_EQ(plan_credentials(uri("sts_endpoint=http://127.0.0.1:3"), d).sts_url, "http://127.0.0.1:3");
  f.env["AWS_ENDPOINT_URL_STS"] = "sts.example";
  testutil::expect_error("58000", [&] { plan_credentials(uri(), d); });
  f.env.erase("AWS_ENDPOINT_URL_STS");

  f.answer = [](const http::Request&) { return ok(sts_xml("ASIASTS0000000000", "2026-12-02T00:30:00Z")); };
  p = plan_credentials(uri(), d);
  Creds c = get_credentials(p, d, Timeouts());
  EXPECT_EQ(c.access_key_id, "ASIASTS0000000000");
  EXPECT_TRUE(c.temporary);
  ASSERT_EQ(f.requests.size(), 1u);
  EXPECT_EQ(f.requests[0].method, "POST");
  EXPECT_EQ(f.requests[0].url, "http://127.0.0.1:1/");
  EXPECT_EQ(f.requests[0].body,
            "Action=AssumeRoleWithWebIdentity&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fpg&RoleSessionName=pg-1"
            "&Version=2011-06-15&WebIdentityToken=eyJhbGciOiJSUzI1NiJ9.webidentitytoken.sig");
  // Cached: no second request while fresh.
  c = get_credentials(p, d, Timeouts());
  EXPECT_EQ(f.requests.size(), 1u);
  // The URI's web identity wins over the environment's.
  write_file(dir.file("token2"), "tok2");
  p = plan_credentials(uri("web_identity_token_file=" + dir.file("token2") + "&role_arn=arn:aws:iam::111122223333:role/other"), d);
  EXPECT_EQ(p.role_arn, "arn:aws:iam::111122223333:role/other");
  EXPECT_EQ(p.token_file, dir.file("token2"));

  // Without web identity: the container endpoint.
  f.env.erase("AWS_WEB_IDENTITY_TOKEN_FILE");
  f.env.erase("AWS_ROLE_ARN");
  p = plan_credentials(uri(), d);
  EXPECT_EQ(p.kind, SourceKind::Container);
  EXPECT_EQ(p.container_url, "http://169.254.170.2/v2/credentials/x");
  f.env["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "ecs-auth";
  f.env.erase("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  f.env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://127.0.0.1:9/creds";
  p = plan_credentials(uri(), d);
  EXPECT_EQ(p.container_url, "http://127.0.0.1:9/creds");
  f.requests.clear();
  f.answer = [](const http::Request&) {
    return ok(R"({"AccessKeyId":"ASIAECS0000000000","SecretAccessKey":"s","Token":"t","Expiration":"2026-12-02T00:30:00Z"})");
  };
  c = get_credentials(p, d, Timeouts());
  EXPECT_EQ(c.access_key_id, "ASIAECS0000000000");
  ASSERT_EQ(f.requests.size(), 1u);
  EXPECT_TRUE(f.requests[0].metadata);
  EXPECT_EQ(f.requests[0].method, "GET");
  ASSERT_EQ(f.requests[0].headers.size(), 1u);
  EXPECT_EQ(f.requests[0].headers[0].name, "Authorization");
  EXPECT_EQ(f.requests[0].headers[0].value, "ecs-auth");
  // The token file wins over the variable.
  write_file(dir.file("ecs-token"), "from-file\n");
  f.env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = dir.file("ecs-token");
  clear_credential_cache();
  f.requests.clear();
  get_credentials(plan_credentials(uri(), d), d, Timeouts());
  ASSERT_EQ(f.requests.size(), 1u);
  EXPECT_EQ(f.requests[0].headers[0].value, "from-file");

  // Nothing else: IMDSv2, unless disabled.
  f.env.erase("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  p = plan_credentials(uri(), d);
  EXPECT_EQ(p.kind, SourceKind::Imds);
  EXPECT_EQ(p.imds_base, "http://169.254.169.254");
  f.env["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = "http://127.0.0.1:8";
  p = plan_credentials(uri(), d);
  f.requests.clear();
  f.answer = [](const http::Request& r) {
    if (r.method == "PUT") return ok("imds-session-token");
    if (r.url.back() == '/') return ok("pg-role\n");
    return ok(R"({"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDS000000000","SecretAccessKey":"s","Token":"t","Expiration":"2026-12-02T00:30:00Z"})");
  };
  c = get_credentials(p, d, Timeouts());
  EXPECT_EQ(c.access_key_id, "ASIAIMDS000000000");
  ASSERT_EQ(f.requests.size(), 3u);
  EXPECT_EQ(f.requests[0].url, "http://127.0.0.1:8/latest/api/token");
  EXPECT_EQ(f.requests[0].headers[0].name, "x-aws-ec2-metadata-token-ttl-seconds");
  EXPECT_EQ(f.requests[1].url, "http://127.0.0.1:8/latest/meta-data/iam/security-credentials/");
  EXPECT_EQ(f.requests[1].headers[0].value, "imds-session-token");
  EXPECT_EQ(f.requests[2].url, "http://127.0.0.1:8/latest/meta-data/iam/security-credentials/pg-role");
  for (const auto& r : f.requests) EXPECT_TRUE(r.metadata);
  f.env["AWS_EC2_METADATA_DISABLED"] = "TRUE";
  std::string m = testutil::expect_error("58000", [&] { plan_credentials(uri(), d); });
  EXPECT_NE(m.find("no AWS credentials found"), std::string::npos);
}

TEST_F(AwsCredentials, RefreshBeforeExpiry) {
  write_file(dir.file("token"), "tok");
  f.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = dir.file("token");
  f.env["AWS_ROLE_ARN"] = "arn:aws:iam::111122223333:role/pg";
  Deps d = f.deps();
  int n = 0;
  std::time_t* now = &f.now;
  f.answer = [&](const http::Request&) {
    n++;
    // One hour from "now".
    char buf[32];
    std::time_t e = *now + 3600;
    struct tm tm;
    gmtime_r(&e, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return ok(sts_xml("ASIASTS000000000" + std::to_string(n), buf));
  };
  CredentialPlan p = plan_credentials(uri(), d);
  EXPECT_EQ(get_credentials(p, d, Timeouts()).access_key_id, "ASIASTS0000000001");
  f.now += 3600 - 301;  // 5 min 1 s left: still fresh
  EXPECT_EQ(get_credentials(p, d, Timeouts()).access_key_id, "ASIASTS0000000001");
  f.now += 2;  // 4 min 59 s left: fetched again
  EXPECT_EQ(get_credentials(p, d, Timeouts()).access_key_id, "ASIASTS0000000002");
  // force (KMS said the token expired) skips the cache.
  EXPECT_EQ(get_credentials(p, d, Timeouts(), true).access_key_id, "ASIASTS0000000003");
  // Short lifetimes (tests): a quarter of the lifetime.
  f.answer = [&](const http::Request&) {
    n++;
    char buf[32];
    std::time_t e = *now + 20;
    struct tm tm;
    gmtime_r(&e, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return ok(sts_xml("ASIASTS000000000" + std::to_string(n), buf));
  };
  clear_credential_cache();
  EXPECT_EQ(get_credentials(p, d, Timeouts()).access_key_id, "ASIASTS0000000004");
  f.now += 14;  // 6 s left of 20 (> 5)
  EXPECT_EQ(get_credentials(p, d, Timeouts()).access_key_id, "ASIASTS0000000004");
  f.now += 2;  // 4 s left
  EXPECT_EQ(get_credentials(p, d, Timeouts()).access_key_id, "ASIASTS0000000005");
}

TEST_F(AwsCredentials, StsErrorsAndRetries) {
  write_file(dir.file("token"), "secret-web-identity-token");
  f.env["AWS_WEB_IDENTITY_TOKEN_FILE"] = dir.file("token");
  f.env["AWS_ROLE_ARN"] = "arn:aws:iam::111122223333:role/pg";
  Deps d = f.deps();
  CredentialPlan p = plan_credentials(uri(), d);
  f.answer = [](const http::Request&) {
    http::Response r;
    r.status = 400;
    r.body = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code><Message>Incorrect token audience</Message></Error></ErrorResponse>";
    return r;
  };
  std::string m = testutil::expect_error("58000", [&] { get_credentials(p, d, Timeouts()); });
  EXPECT_NE(m.find("AssumeRoleWithWebIdentity for role arn:aws:iam::111122223333:role/pg failed: HTTP 400: InvalidIdentityToken: Incorrect token audience"),
            std::string::npos) << m;
  EXPECT_EQ(m.find("secret-web-identity-token"), std::string::npos);
  EXPECT_EQ(f.requests.size(), 1u);  // not retried
  // 5xx and transport errors: 3 attempts in all.
  f.requests.clear();
  f.answer = [](const http::Request&) {
    http::Response r;
    r.status = 503;
    return r;
  };
  testutil::expect_error("58000", [&] { get_credentials(p, d, Timeouts()); });
  EXPECT_EQ(f.requests.size(), 3u);
  f.requests.clear();
  f.answer = nullptr;
  testutil::expect_error("58000", [&] { get_credentials(p, d, Timeouts()); });
  EXPECT_EQ(f.requests.size(), 3u);
}

TEST(AwsBackoff, FullJitterCapped) {
  EXPECT_EQ(backoff_ms(1, 0.0), 0);
  EXPECT_EQ(backoff_ms(1, 0.5), 25);
  EXPECT_EQ(backoff_ms(2, 0.5), 50);
  EXPECT_EQ(backoff_ms(3, 0.999), 199);
  EXPECT_EQ(backoff_ms(10, 0.5), 500);
  EXPECT_EQ(backoff_ms(60, 0.999), 999);
}

TEST(AwsEndpoints, KmsEndpointOrder) {
  std::map<std::string, std::string> env;
  Deps d;
  d.env = [&](const std::string& n) -> std::optional<std::string> {
    auto it = env.find(n);
    return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
  };
  KmsUri u = uri();
  EXPECT_EQ(kms_endpoint(u, d), "https://kms.eu-west-1.amazonaws.com");
  KmsUri cn;
  ASSERT_EQ(parse_kms_uri("aws-kms:arn:aws-cn:kms:cn-north-1:111122223333:key/k", &cn), "");
  EXPECT_EQ(kms_endpoint(cn, d), "https://kms.cn-north-1.amazonaws.com.cn");
  env["AWS_REGION"] = "us-east-1";  // the ARN's region wins for KMS
  EXPECT_EQ(kms_endpoint(u, d), "https://kms.eu-west-1.amazonaws.com");
  env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1";
  EXPECT_EQ(kms_endpoint(u, d), "http://127.0.0.1:1");
  env["AWS_ENDPOINT_URL_KMS"] = "http://127.0.0.1:2";
  EXPECT_EQ(kms_endpoint(u, d), "http://127.0.0.1:2");
  EXPECT_EQ(kms_endpoint(uri("endpoint=https://kms-fips.eu-west-1.amazonaws.com"), d),
            "https://kms-fips.eu-west-1.amazonaws.com");
}
