// The aws-kms: wire formats (src/providers/aws_kms_json.hpp): requests,
// answers, errors in every shape KMS and the SDKs know, STS XML, ECS/IMDS
// JSON, the encryption context, and the retry decisions.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "aws_kms_json.hpp"
#include "envelope.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using namespace orgcrypt::aws;
using nlohmann::json;

namespace {
const std::string kArn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

KmsContext ctx_of(const std::string& org, std::uint32_t v) {
  Bytes aad = wrap_aad(ByteView(org), v);
  return encryption_context(ByteView(aad));
}
}  // namespace

TEST(AwsKmsJson, EncryptionContextIsTheAadsParts) {
  const KmsContext c = ctx_of("acme", 3);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0], (std::pair<std::string, std::string>{"orgcrypt:org", "acme"}));
  EXPECT_EQ(c[1], (std::pair<std::string, std::string>{"orgcrypt:purpose", "dek-wrap-v1"}));
  EXPECT_EQ(c[2], (std::pair<std::string, std::string>{"orgcrypt:version", "3"}));
  EXPECT_NE(ctx_of("acme", 3), ctx_of("acme", 4));
  EXPECT_NE(ctx_of("acme", 3), ctx_of("acmf", 3));
  EXPECT_EQ(ctx_of("acme", 3), ctx_of("acme", 3));
  // Non-ASCII org: the UTF-8 text itself, and JSON carries it as such.
  const std::string org = "M\xC3\xBCller & S\xC3\xB6hne \xE6\x9D\xB1\xE4\xBA\xAC";
  const KmsContext u = ctx_of(org, 4294967295u);
  EXPECT_EQ(u[0].second, org);
  EXPECT_EQ(u[2].second, "4294967295");
  json body = json::parse(decrypt_body(kArn, ByteView(std::string("x")), u));
  EXPECT_EQ(body["EncryptionContext"]["orgcrypt:org"].get<std::string>(), org);
  // Not a wrap AAD, or an org that is not UTF-8: a pure function of the bytes still.
  const KmsContext raw = encryption_context(ByteView(std::string("other aad")));
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_EQ(raw[0], (std::pair<std::string, std::string>{"orgcrypt:aad", "b3RoZXIgYWFk"}));
  EXPECT_EQ(raw[1].second, "aad-v1");
  const KmsContext bad = ctx_of(std::string("\xFF\xFE", 2), 1);
  EXPECT_EQ(bad[1].second, "aad-v1");
  EXPECT_NE(bad, ctx_of(std::string("\xFF\xFD", 2), 1));
}

TEST(AwsKmsJson, Requests) {
  Bytes dek(32, 0xAB);
  const KmsContext c = ctx_of("acme", 1);
  std::string eb = encrypt_body(kArn, ByteView(dek), c);
  json e = json::parse(eb);
  EXPECT_EQ(e["KeyId"], kArn);
  EXPECT_EQ(e["Plaintext"], "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=");
  EXPECT_EQ(e["EncryptionContext"],
            (json{{"orgcrypt:org", "acme"}, {"orgcrypt:purpose", "dek-wrap-v1"}, {"orgcrypt:version", "1"}}));
  EXPECT_EQ(e.size(), 3u);
  json d = json::parse(decrypt_body(kArn, ByteView(std::string("\x01\x02\x03", 3)), c));
  EXPECT_EQ(d["CiphertextBlob"], "AQID");
  EXPECT_EQ(d["KeyId"], kArn);
  EXPECT_EQ(d["EncryptionContext"], e["EncryptionContext"]);
  EXPECT_EQ(json::parse(describe_key_body("arn:aws:kms:eu-west-1:111122223333:alias/a")),
            (json{{"KeyId", "arn:aws:kms:eu-west-1:111122223333:alias/a"}}));
  // Quotes and backslashes in values are escaped.
  json q = json::parse(encrypt_body("a\"b\\c", ByteView(dek), ctx_of("o\"rg", 1)));
  EXPECT_EQ(q["KeyId"], "a\"b\\c");
  EXPECT_EQ(q["EncryptionContext"]["orgcrypt:org"], "o\"rg");
}

TEST(AwsKmsJson, EncryptAndDecryptAnswers) {
  Bytes blob;
  std::string kid;
  ASSERT_EQ(parse_encrypt_response(
                R"({"CiphertextBlob":"AQIDBA==","EncryptionAlgorithm":"SYMMETRIC_DEFAULT","KeyId":")" + kArn + "\"}",
                &blob, &kid),
            "");
  EXPECT_EQ(blob, (Bytes{1, 2, 3, 4}));
  EXPECT_EQ(kid, kArn);
  EXPECT_EQ(parse_encrypt_response(R"({"KeyId":"k"})", &blob, &kid), "CiphertextBlob is missing");
  EXPECT_EQ(parse_encrypt_response(R"({"CiphertextBlob":1,"KeyId":"k"})", &blob, &kid), "CiphertextBlob is not a string");
  EXPECT_EQ(parse_encrypt_response(R"({"CiphertextBlob":"AQID"})", &blob, &kid), "KeyId is missing");
  EXPECT_EQ(parse_encrypt_response(R"({"CiphertextBlob":"A-ID","KeyId":"k"})", &blob, &kid),
            "CiphertextBlob is not valid base64");
  EXPECT_EQ(parse_encrypt_response(R"({"CiphertextBlob":"","KeyId":"k"})", &blob, &kid), "CiphertextBlob is empty");
  EXPECT_EQ(parse_encrypt_response("[1]", &blob, &kid), "the answer is not a JSON object");
  EXPECT_EQ(parse_encrypt_response("{", &blob, &kid), "the answer is not valid JSON");
  EXPECT_EQ(parse_encrypt_response(std::string(100, '[') + std::string(100, ']'), &blob, &kid),
            "the answer nests deeper than 16 levels");
  EXPECT_EQ(parse_encrypt_response(std::string(70000, ' '), &blob, &kid), "the answer is longer than 65536 bytes");

  SecretBytes pt;
  ASSERT_EQ(parse_decrypt_response(R"({"KeyId":")" + kArn + R"(","Plaintext":"q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=","EncryptionAlgorithm":"SYMMETRIC_DEFAULT"})",
                                   &pt, &kid),
            "");
  EXPECT_EQ(pt, SecretBytes(32, 0xAB));
  EXPECT_EQ(parse_decrypt_response(R"({"KeyId":"k"})", &pt, &kid), "Plaintext is missing");
  EXPECT_EQ(parse_decrypt_response(R"({"Plaintext":"AQID"})", &pt, &kid), "KeyId is missing");
  EXPECT_EQ(parse_decrypt_response(R"({"Plaintext":"!!","KeyId":"k"})", &pt, &kid),
            "Plaintext is empty, too long or not valid base64");

  std::string arn;
  ASSERT_EQ(parse_describe_key_response(R"({"KeyMetadata":{"AWSAccountId":"111122223333","Arn":")" + kArn +
                                            R"(","KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","KeyState":"Enabled"}})",
                                        &arn),
            "");
  EXPECT_EQ(arn, kArn);
  EXPECT_EQ(parse_describe_key_response(R"({"KeyMetadata":"x"})", &arn), "KeyMetadata is missing or not an object");
  EXPECT_EQ(parse_describe_key_response(R"({"KeyMetadata":{}})", &arn), "KeyMetadata.Arn is missing");
}

TEST(AwsKmsJson, ErrorShapes) {
  // The shapes the SDKs accept (aws-sdk-js-v3 loadRestJsonErrorCode, botocore).
  struct Case {
    std::string header, body, type, message;
  } cases[] = {
      {"", R"({"__type":"NotFoundException","message":"Key 'x' does not exist"})", "NotFoundException",
       "Key 'x' does not exist"},
      {"", R"({"__type":"com.amazonaws.kms#NotFoundException","Message":"m"})", "NotFoundException", "m"},
      {"", R"({"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"The security token included in the request is invalid."})",
       "UnrecognizedClientException", "The security token included in the request is invalid."},
      {"AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/", R"({"message":"no"})",
       "AccessDeniedException", "no"},
      {"DisabledException", "", "DisabledException", ""},
      {"", R"({"code":"ThrottlingException","__type":"Ignored"})", "ThrottlingException", ""},
      {"KMSInvalidStateException,Other", R"({"__type":"Ignored"})", "KMSInvalidStateException", ""},
      {"", "<html>502 Bad Gateway</html>", "", ""},
      {"", R"({"__type":"bad type with spaces","message":"line\u0001two"})", "", "line?two"},
      {"", R"({"__type":"X","message":")" + std::string(500, 'a') + "\"}", "X", std::string(200, 'a') + "..."},
  };
  for (const auto& c : cases) {
    ServiceError e = parse_kms_error(c.header, c.body);
    EXPECT_EQ(e.type, c.type) << c.body;
    EXPECT_EQ(e.message, c.message) << c.body;
  }
  EXPECT_EQ(sanitize_error_code("aws.protocoltests#FooError:http://x,y"), "FooError");
}

TEST(AwsKmsJson, RetryDecisions) {
  EXPECT_EQ(kms_verdict(200, "", false), Verdict::Ok);
  EXPECT_EQ(kms_verdict(400, "ThrottlingException", false), Verdict::Retry);
  EXPECT_EQ(kms_verdict(429, "", false), Verdict::Retry);
  EXPECT_EQ(kms_verdict(500, "KMSInternalException", false), Verdict::Retry);
  EXPECT_EQ(kms_verdict(503, "DependencyTimeoutException", false), Verdict::Retry);
  EXPECT_EQ(kms_verdict(502, "", false), Verdict::Retry);
  EXPECT_EQ(kms_verdict(400, "ExpiredTokenException", true), Verdict::ExpiredCredentials);
  EXPECT_EQ(kms_verdict(400, "UnrecognizedClientException", true), Verdict::ExpiredCredentials);
  EXPECT_EQ(kms_verdict(400, "UnrecognizedClientException", false), Verdict::Fail);
  for (const char* t : {"AccessDeniedException", "DisabledException", "KMSInvalidStateException", "NotFoundException",
                        "InvalidCiphertextException", "IncorrectKeyException", "InvalidSignatureException",
                        "ValidationException", ""})
    EXPECT_EQ(kms_verdict(400, t, true), Verdict::Fail) << t;
  for (const char* t : {"AccessDeniedException", "DisabledException", "KMSInvalidStateException", "NotFoundException",
                        "InvalidCiphertextException", "IncorrectKeyException", "UnrecognizedClientException",
                        "InvalidSignatureException"})
    EXPECT_NE(kms_error_hint(t, "Decrypt"), "") << t;
  EXPECT_NE(kms_error_hint("AccessDeniedException", "Decrypt").find("kms:Decrypt"), std::string::npos);
}

TEST(AwsKmsJson, StsAnswers) {
  const std::string ok =
      "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
      "  <AssumeRoleWithWebIdentityResult>\n"
      "    <SubjectFromWebIdentityToken>system:serviceaccount:db:pg</SubjectFromWebIdentityToken>\n"
      "    <Audience>sts.amazonaws.com</Audience>\n"
      "    <AssumedRoleUser><Arn>arn:aws:sts::111122223333:assumed-role/r/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser>\n"
      "    <Credentials>\n"
      "      <SessionToken>FwoGZXIvYXdzE&amp;Ldk+/x=</SessionToken>\n"
      "      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>\n"
      "      <Expiration>2026-12-02T00:30:00Z</Expiration>\n"
      "      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>\n"
      "    </Credentials>\n"
      "    <Provider>oidc.eks.eu-west-1.amazonaws.com</Provider>\n"
      "  </AssumeRoleWithWebIdentityResult>\n"
      "  <ResponseMetadata><RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId></ResponseMetadata>\n"
      "</AssumeRoleWithWebIdentityResponse>\n";
  TempCredentials t;
  ASSERT_EQ(parse_sts_response(ok, &t), "");
  EXPECT_EQ(t.access_key_id, "ASIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(testutil::str_of(t.secret_access_key), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY");
  EXPECT_EQ(testutil::str_of(t.session_token), "FwoGZXIvYXdzE&Ldk+/x=");
  EXPECT_EQ(t.expiration, 1796171400);  // date -u -d 2026-12-02T00:30:00Z +%s
  auto bad = [&](const std::string& from, const std::string& to) {
    std::string s = ok;
    s.replace(s.find(from), from.size(), to);
    TempCredentials x;
    return parse_sts_response(s, &x);
  };
  EXPECT_EQ(bad("<AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>", ""), "AccessKeyId is missing, repeated or malformed");
  EXPECT_EQ(bad("ASIAIOSFODNN7EXAMPLE", "ASIA<b>X</b>"), "AccessKeyId is missing, repeated or malformed");
  EXPECT_EQ(bad("</SecretAccessKey>", "</SecretAccessKey><SecretAccessKey>x</SecretAccessKey>"),
            "SecretAccessKey is missing, repeated or malformed");
  EXPECT_EQ(bad("&amp;", "&foo;"), "SessionToken is missing, repeated or malformed");
  EXPECT_EQ(bad("2026-12-02T00:30:00Z", "tomorrow"), "Expiration is missing, repeated or malformed");
  EXPECT_EQ(bad("<Credentials>", ""), "the answer has no <Credentials> element");
  EXPECT_EQ(bad("AssumeRoleWithWebIdentityResponse xmlns", "Other xmlns"),
            "the answer is not an AssumeRoleWithWebIdentityResponse");
  // A reason never quotes a secret.
  EXPECT_EQ(bad("FwoG", "Fw o").find("Fw"), std::string::npos);

  ServiceError e = parse_sts_error(
      "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>"
      "<Code>InvalidIdentityToken</Code><Message>Couldn&apos;t retrieve verification key</Message></Error>"
      "<RequestId>x</RequestId></ErrorResponse>");
  EXPECT_EQ(e.type, "InvalidIdentityToken");
  EXPECT_EQ(e.message, "Couldn't retrieve verification key");
  EXPECT_EQ(parse_sts_error("garbage").type, "");
}

TEST(AwsKmsJson, StsRequestBody) {
  const std::string b = sts_web_identity_body("arn:aws:iam::111122223333:role/r", "pg-1", ByteView(std::string("a.b+c/=")));
  EXPECT_EQ(b,
            "Action=AssumeRoleWithWebIdentity&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2Fr&RoleSessionName=pg-1"
            "&Version=2011-06-15&WebIdentityToken=a.b%2Bc%2F%3D");
}

TEST(AwsKmsJson, ContainerAndImdsAnswers) {
  TempCredentials t;
  const std::string ecs =
      R"({"RoleArn":"arn:aws:iam::111122223333:role/r","AccessKeyId":"ASIAIOSFODNN7EXAMPLE","SecretAccessKey":"wJalrXUtnFEMI/K7MDENG","Token":"IQoJb3JpZ2lu","Expiration":"2026-12-02T00:30:00Z"})";
  ASSERT_EQ(parse_container_credentials(ecs, &t), "");
  EXPECT_EQ(t.access_key_id, "ASIAIOSFODNN7EXAMPLE");
  EXPECT_EQ(testutil::str_of(t.session_token), "IQoJb3JpZ2lu");
  EXPECT_EQ(t.expiration, 1796171400);
  const std::string imds =
      R"({"Code":"Success","LastUpdated":"2026-12-01T23:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAIOSFODNN7EXAMPLE","SecretAccessKey":"s","Token":"t","Expiration":"2026-12-02T05:12:34.000Z"})";
  ASSERT_EQ(parse_container_credentials(imds, &t), "");
  EXPECT_EQ(t.expiration, 1796188354);
  EXPECT_EQ(parse_container_credentials(R"({"Code":"Failure"})", &t), "Code is \"Failure\", not Success");
  EXPECT_EQ(parse_container_credentials(R"({"AccessKeyId":"ASIAIOSFODNN7EXAMPLE","SecretAccessKey":"s","Token":"t"})", &t),
            "Expiration is missing or malformed");
  EXPECT_EQ(parse_container_credentials(R"({"AccessKeyId":"short","SecretAccessKey":"s","Token":"t"})", &t),
            "AccessKeyId is missing or malformed");
  EXPECT_EQ(parse_container_credentials(R"({"AccessKeyId":"ASIAIOSFODNN7EXAMPLE","SecretAccessKey":"a b","Token":"t"})", &t),
            "SecretAccessKey is missing or malformed");
  std::string role;
  ASSERT_EQ(parse_imds_role("pg-role\n", &role), "");
  EXPECT_EQ(role, "pg-role");
  EXPECT_EQ(parse_imds_role("", &role), "the instance has no IAM role (an empty role list)");
  EXPECT_EQ(parse_imds_role("../x", &role), "the role name contains a character an IAM role name cannot have");
  // A NUL is not one of the punctuation characters (strchr finds the terminator): found by fuzz_kms_response.
  EXPECT_EQ(parse_imds_role(std::string("1\0", 2), &role), "the role name contains a character an IAM role name cannot have");
}

TEST(AwsKmsJson, Iso8601) {
  std::time_t t = 0;
  EXPECT_TRUE(parse_iso8601("1970-01-01T00:00:00Z", &t));
  EXPECT_EQ(t, 0);
  EXPECT_TRUE(parse_iso8601("2026-12-02T00:30:00.123456Z", &t));
  EXPECT_EQ(t, 1796171400);
  for (const char* s : {"2026-12-02 00:30:00Z", "2026-12-02T00:30:00", "2026-12-02T00:30:00+01:00", "2026-13-02T00:30:00Z",
                        "2026-12-02T00:30:00.Z", "", "x"})
    EXPECT_FALSE(parse_iso8601(s, &t)) << s;
}
