// The aws-kms: provider against a fake KMS (injected transport): the calls
// it makes, alias resolution and key_uri, retries, refreshed credentials,
// errors with their __type, and that no secret reaches a message.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "aws_kms.hpp"
#include "base64.hpp"
#include "envelope.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using namespace orgcrypt::aws;
using nlohmann::json;

namespace {

const std::string kKeyArn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const std::string kAliasArn = "arn:aws:kms:eu-west-1:111122223333:alias/orgcrypt";
const std::string kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
const std::string kToken = "FwoGZXIvYXdzEXAMPLEsessiontoken0123456789";

std::string hdr(const http::Request& r, const std::string& name) {
  for (const auto& h : r.headers) {
    std::string l;
    for (char c : h.name) l.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (l == name) return h.value;
  }
  return "";
}

http::Response answer(long status, const std::string& body, const std::string& type_header = "") {
  http::Response r;
  r.status = status;
  r.body = body;
  if (!type_header.empty()) r.headers.push_back({"x-amzn-errortype", type_header});
  return r;
}

// A tiny KMS: the "ciphertext" is the context and the plaintext in JSON
// (good enough to check what was bound), under whatever key the alias names.
struct FakeKms {
  std::string alias_target = kKeyArn;
  std::vector<http::Request> requests;
  std::vector<http::Response> queued;  // answered first, in order
  std::map<std::string, std::string> env = {{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE000000"},
                                            {"AWS_SECRET_ACCESS_KEY", kSecret},
                                            {"AWS_SESSION_TOKEN", kToken},
                                            {"AWS_EC2_METADATA_DISABLED", "true"}};
  std::vector<long> sleeps;

  Deps deps() {
    Deps d;
    d.env = [this](const std::string& n) -> std::optional<std::string> {
      auto it = env.find(n);
      return it == env.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    d.transport = [this](const http::Request& r, const http::Options&, const std::string&) { return serve(r); };
    d.now = [] { return std::time(nullptr); };
    d.sleep = [this](long ms, const std::string&) { sleeps.push_back(ms); };
    d.random = [] { return 0.5; };
    return d;
  }

  std::string resolve(const std::string& id) { return id == kAliasArn ? alias_target : id; }

  http::Response serve(const http::Request& r) {
    requests.push_back(r);
    if (!queued.empty()) {
      http::Response a = queued.front();
      queued.erase(queued.begin());
      return a;
    }
    const std::string target = hdr(r, "x-amz-target");
    json req = json::parse(r.body);
    if (target == "TrentService.DescribeKey")
      return answer(200, json{{"KeyMetadata", {{"Arn", resolve(req["KeyId"])}}}}.dump());
    if (target == "TrentService.Encrypt") {
      json blob = {{"ctx", req["EncryptionContext"]}, {"pt", req["Plaintext"]}, {"key", resolve(req["KeyId"])}};
      std::string s = blob.dump();
      std::string enc(b64_encoded_len(s.size()), '\0');
      b64_encode(reinterpret_cast<const std::uint8_t*>(s.data()), s.size(), &enc[0]);
      return answer(200, json{{"CiphertextBlob", enc}, {"KeyId", resolve(req["KeyId"])}}.dump());
    }
    if (target == "TrentService.Decrypt") {
      std::string enc = req["CiphertextBlob"];
      std::string s(b64_decoded_max(enc.size()), '\0');
      std::size_t n = 0;
      b64_decode(enc.data(), enc.size(), reinterpret_cast<std::uint8_t*>(&s[0]), &n);
      s.resize(n);
      json blob = json::parse(s);
      if (blob["ctx"] != req["EncryptionContext"])
        return answer(400, R"({"__type":"InvalidCiphertextException","message":null})");
      if (blob["key"] != resolve(req["KeyId"]))
        return answer(400, R"({"__type":"IncorrectKeyException","message":"The key ID in the request does not identify a CMK that can perform this operation."})");
      return answer(200, json{{"Plaintext", blob["pt"]}, {"KeyId", blob["key"]}}.dump());
    }
    return answer(400, R"({"__type":"UnknownOperationException"})");
  }
};

Bytes aad(const std::string& org, std::uint32_t v) { return wrap_aad(ByteView(org), v); }

}  // namespace

TEST(AwsKmsProvider, WrapUnwrapWithTheKeyArn) {
  FakeKms k;
  auto p = make_kms_provider("aws-kms:" + kKeyArn, k.deps());
  const Bytes fp = p->fingerprint();
  EXPECT_TRUE(k.requests.empty());  // a key ARN needs no call for its fingerprint
  EXPECT_EQ(fp, kms_key_fingerprint(kKeyArn));
  EXPECT_EQ(fp.size(), 8u);
  EXPECT_NE(fp, kms_key_fingerprint(kAliasArn));
  SecretBytes dek(32, 7);
  Bytes blob = p->wrap(ByteView(dek), ByteView(aad("acme", 2)));
  ASSERT_EQ(k.requests.size(), 1u);
  const http::Request& r = k.requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.url, "https://kms.eu-west-1.amazonaws.com/");
  EXPECT_FALSE(r.metadata);
  EXPECT_EQ(hdr(r, "content-type"), "application/x-amz-json-1.1");
  EXPECT_EQ(hdr(r, "x-amz-target"), "TrentService.Encrypt");
  EXPECT_EQ(hdr(r, "host"), "kms.eu-west-1.amazonaws.com");
  EXPECT_EQ(hdr(r, "x-amz-security-token"), kToken);
  const std::string auth = hdr(r, "authorization");
  EXPECT_EQ(auth.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE000000/", 0), 0u) << auth;
  EXPECT_NE(auth.find("/eu-west-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="),
            std::string::npos) << auth;
  json body = json::parse(r.body);
  EXPECT_EQ(body["EncryptionContext"],
            (json{{"orgcrypt:org", "acme"}, {"orgcrypt:purpose", "dek-wrap-v1"}, {"orgcrypt:version", "2"}}));
  EXPECT_EQ(p->key_uri(), "aws-kms:" + kKeyArn);
  SecretBytes back = p->unwrap(ByteView(blob), ByteView(aad("acme", 2)));
  EXPECT_EQ(back, dek);
  json dbody = json::parse(k.requests[1].body);
  EXPECT_EQ(dbody["KeyId"], kKeyArn);
  EXPECT_EQ(hdr(k.requests[1], "x-amz-target"), "TrentService.Decrypt");
  // Another org or version: KMS refuses (the context differs).
  std::string m = testutil::expect_error("58000", [&] { p->unwrap(ByteView(blob), ByteView(aad("acmf", 2))); });
  EXPECT_NE(m.find("aws-kms Decrypt: InvalidCiphertextException (key " + kKeyArn + ")"), std::string::npos) << m;
  EXPECT_NE(m.find("altered or copied to another organization"), std::string::npos);
  testutil::expect_error("58000", [&] { p->unwrap(ByteView(blob), ByteView(aad("acme", 3))); });
}

TEST(AwsKmsProvider, AliasResolvesAndIsRecordedAsTheKeyArn) {
  FakeKms k;
  auto p = make_kms_provider("aws-kms:" + kAliasArn + "?timeout_ms=5000", k.deps());
  EXPECT_EQ(p->key_uri(), "aws-kms:" + kAliasArn + "?timeout_ms=5000");  // not resolved yet
  EXPECT_EQ(p->fingerprint(), kms_key_fingerprint(kKeyArn));
  ASSERT_EQ(k.requests.size(), 1u);
  EXPECT_EQ(hdr(k.requests[0], "x-amz-target"), "TrentService.DescribeKey");
  EXPECT_EQ(p->key_uri(), "aws-kms:" + kKeyArn + "?timeout_ms=5000");
  SecretBytes dek(32, 9);
  Bytes blob = p->wrap(ByteView(dek), ByteView(aad("o", 1)));
  EXPECT_EQ(json::parse(k.requests[1].body)["KeyId"], kKeyArn);  // wraps under the key it fingerprinted
  // The alias moves between fingerprint and Encrypt: refused.
  auto q = make_kms_provider("aws-kms:" + kAliasArn, k.deps());
  q->fingerprint();
  k.queued.push_back(answer(
      200, json{{"CiphertextBlob", "AQID"}, {"KeyId", "arn:aws:kms:eu-west-1:111122223333:key/other"}}.dump()));
  std::string m = testutil::expect_error("58000", [&] { q->wrap(ByteView(dek), ByteView(aad("o", 1))); });
  EXPECT_NE(m.find("the alias moved"), std::string::npos) << m;
  // An alias wrapped without a fingerprint first records what Encrypt named.
  auto w = make_kms_provider("aws-kms:" + kAliasArn, k.deps());
  w->wrap(ByteView(dek), ByteView(aad("o", 1)));
  EXPECT_EQ(w->key_uri(), "aws-kms:" + kKeyArn);
}

TEST(AwsKmsProvider, RetriesThrottlingAnd5xxThenGivesUp) {
  FakeKms k;
  auto p = make_kms_provider("aws-kms:" + kKeyArn, k.deps());
  SecretBytes dek(32, 1);
  k.queued = {answer(400, R"({"__type":"ThrottlingException","message":"Rate exceeded"})"),
              answer(500, R"({"__type":"KMSInternalException"})")};
  Bytes blob = p->wrap(ByteView(dek), ByteView(aad("o", 1)));
  EXPECT_EQ(k.requests.size(), 3u);
  EXPECT_EQ(k.sleeps, (std::vector<long>{25, 50}));  // full jitter at r = 0.5: 50/2, 100/2 ms
  k.requests.clear();
  k.queued = {answer(400, R"({"__type":"ThrottlingException","message":"Rate exceeded"})"),
              answer(400, R"({"__type":"ThrottlingException","message":"Rate exceeded"})"),
              answer(400, R"({"__type":"ThrottlingException","message":"Rate exceeded"})")};
  std::string m = testutil::expect_error("58000", [&] { p->unwrap(ByteView(blob), ByteView(aad("o", 1))); });
  EXPECT_EQ(k.requests.size(), 3u);
  EXPECT_NE(m.find("aws-kms Decrypt: ThrottlingException: Rate exceeded (key " + kKeyArn + ")"), std::string::npos) << m;
  EXPECT_NE(m.find("after 3 attempts"), std::string::npos) << m;
  // Not retried: a definite answer.
  k.requests.clear();
  k.queued = {answer(400, R"({"message":"Key is disabled"})", "DisabledException:http://internal.amazon.com/coral/")};
  m = testutil::expect_error("58000", [&] { p->wrap(ByteView(dek), ByteView(aad("o", 1))); });
  EXPECT_EQ(k.requests.size(), 1u);
  EXPECT_NE(m.find("aws-kms Encrypt: DisabledException: Key is disabled (key " + kKeyArn + ")"), std::string::npos) << m;
  EXPECT_NE(m.find("enable it"), std::string::npos);
  k.requests.clear();
  k.queued = {answer(400, R"({"__type":"com.amazonaws.kms#NotFoundException","message":"Key 'x' does not exist"})")};
  m = testutil::expect_error("58000", [&] { p->wrap(ByteView(dek), ByteView(aad("o", 1))); });
  EXPECT_NE(m.find("NotFoundException: Key 'x' does not exist"), std::string::npos) << m;
}

TEST(AwsKmsProvider, TransportErrorsRetriedButNotCancels) {
  FakeKms k;
  Deps d = k.deps();
  int calls = 0;
  d.transport = [&](const http::Request& r, const http::Options&, const std::string& op) -> http::Response {
    calls++;
    if (calls < 3) throw Error(sqlstate::kSystemError, "aws-kms " + op + ": connection refused");
    return k.serve(r);
  };
  auto p = make_kms_provider("aws-kms:" + kKeyArn, d);
  SecretBytes dek(32, 1);
  p->wrap(ByteView(dek), ByteView(aad("o", 1)));
  EXPECT_EQ(calls, 3);
  calls = 0;
  d.transport = [&](const http::Request&, const http::Options&, const std::string& op) -> http::Response {
    calls++;
    throw Error(sqlstate::kQueryCanceled, "aws-kms " + op + " was interrupted");
  };
  auto q = make_kms_provider("aws-kms:" + kKeyArn, d);
  testutil::expect_error("57014", [&] { q->wrap(ByteView(dek), ByteView(aad("o", 1))); });
  EXPECT_EQ(calls, 1);
}

TEST(AwsKmsProvider, ExpiredTemporaryCredentialsFetchedAgainOnce) {
  clear_credential_cache();
  testutil::TempDir dir;
  testutil::write_file(dir.file("token"), "the-web-identity-token");
  FakeKms k;
  k.env = {{"AWS_WEB_IDENTITY_TOKEN_FILE", dir.file("token")},
           {"AWS_ROLE_ARN", "arn:aws:iam::111122223333:role/pg"},
           {"AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1"},
           {"HOME", dir.path()}};
  Deps d = k.deps();
  int sts = 0;
  d.transport = [&](const http::Request& r, const http::Options&, const std::string&) -> http::Response {
    if (r.url == "http://127.0.0.1:1/") {
      sts++;
      return answer(200, "<AssumeRoleWithWebIdentityResponse><Credentials><AccessKeyId>ASIASTS000000000" +
                             std::to_string(sts) + "</AccessKeyId><SecretAccessKey>" + kSecret +
                             "</SecretAccessKey><SessionToken>" + kToken + std::to_string(sts) +
                             "</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
                             "</AssumeRoleWithWebIdentityResponse>");
    }
    return k.serve(r);
  };
  auto p = make_kms_provider("aws-kms:" + kKeyArn, d);
  SecretBytes dek(32, 1);
  k.queued = {answer(400, R"({"__type":"ExpiredTokenException","message":"The security token included in the request is expired"})")};
  p->wrap(ByteView(dek), ByteView(aad("o", 1)));
  EXPECT_EQ(sts, 2);
  ASSERT_EQ(k.requests.size(), 2u);
  EXPECT_EQ(hdr(k.requests[1], "x-amz-security-token"), kToken + "2");
  // Twice expired: an error, not a loop.
  k.queued = {answer(400, R"({"__type":"ExpiredTokenException"})"), answer(400, R"({"__type":"ExpiredTokenException"})")};
  std::string m = testutil::expect_error("58000", [&] { p->wrap(ByteView(dek), ByteView(aad("o", 1))); });
  EXPECT_NE(m.find("ExpiredTokenException"), std::string::npos);
  EXPECT_EQ(sts, 3);
  clear_credential_cache();
}

TEST(AwsKmsProvider, NoSecretInAnyMessage) {
  FakeKms k;
  auto p = make_kms_provider("aws-kms:" + kKeyArn, k.deps());
  SecretBytes dek(32, 1);
  // A signature error quoting the canonical request (as AWS does).
  k.queued = {answer(400, json{{"__type", "InvalidSignatureException"},
                               {"message", "x-amz-security-token:" + kToken + " " + kSecret}}
                              .dump())};
  std::string m = testutil::expect_error("58000", [&] { p->wrap(ByteView(dek), ByteView(aad("o", 1))); });
  EXPECT_NE(m.find("InvalidSignatureException: (the service's message is withheld"), std::string::npos) << m;
  k.queued = {answer(400, json{{"__type", "InvalidSignatureException"},
                               {"message", "The request signature we calculated does not match.\n\nThe Canonical String "
                                           "for this request should have been\n'POST\n/\n\nx-amz-security-token:" +
                                               kToken + "'"}}
                              .dump())};
  std::string m2 = testutil::expect_error("58000", [&] { p->wrap(ByteView(dek), ByteView(aad("o", 1))); });
  EXPECT_NE(m2.find("The request signature we calculated does not match."), std::string::npos) << m2;
  for (const std::string& s : {m, m2}) {
    EXPECT_EQ(s.find(kSecret.substr(0, 12)), std::string::npos) << s;
    EXPECT_EQ(s.find(kToken.substr(0, 12)), std::string::npos) << s;
  }
  // Malformed answers do not quote them.
  k.queued = {answer(200, R"({"Plaintext":"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=","KeyId":7})")};
  std::string m3 = testutil::expect_error("58000", [&] { p->unwrap(ByteView(Bytes{1}), ByteView(aad("o", 1))); });
  EXPECT_EQ(m3.find("q6ur"), std::string::npos) << m3;
  EXPECT_NE(m3.find("malformed answer: KeyId is not a string"), std::string::npos) << m3;
}

TEST(AwsKmsProvider, ErrorsWhenNoCredentials) {
  FakeKms k;
  k.env = {{"AWS_EC2_METADATA_DISABLED", "true"}, {"HOME", "/nonexistent-orgcrypt"}};
  auto p = make_kms_provider("aws-kms:" + kKeyArn, k.deps());
  SecretBytes dek(32, 1);
  std::string m = testutil::expect_error("58000", [&] { p->wrap(ByteView(dek), ByteView(aad("o", 1))); });
  EXPECT_NE(m.find("no AWS credentials found"), std::string::npos) << m;
  EXPECT_TRUE(k.requests.empty());
  testutil::expect_error("58000", [&] { make_kms_provider("aws-kms:arn:aws:kms:x", k.deps()); });
}
