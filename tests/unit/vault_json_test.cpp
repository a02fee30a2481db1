// Vault request bodies and response parsers. The response shapes are those
// of Vault's API documentation (developer.hashicorp.com/vault/api-docs:
// secret/transit "Encrypt data" / "Decrypt data", auth/approle "Login with
// AppRole", auth/token "Renew a token (self)", and the errors[] envelope).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "vault_json.hpp"

using namespace orgcrypt;
using namespace orgcrypt::vault;

namespace {
std::string str(const SecretBytes& b) { return std::string(b.begin(), b.end()); }
}  // namespace

TEST(VaultJson, RequestsAreJsonWithBase64) {
  const std::string dek(32, '\x01');
  const std::string aad("abc\0d", 5);
  std::string body = encrypt_request(ByteView(dek), ByteView(aad));
  auto j = nlohmann::json::parse(body);
  EXPECT_EQ(j.size(), 2u);
  EXPECT_EQ(j["plaintext"], "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=");
  EXPECT_EQ(j["associated_data"], "YWJjAGQ=");
  wipe(body);
  EXPECT_TRUE(body.empty());

  j = nlohmann::json::parse(decrypt_request("vault:v1:abcdefgh", ByteView(std::string("x"))));
  EXPECT_EQ(j["ciphertext"], "vault:v1:abcdefgh");
  EXPECT_EQ(j["associated_data"], "eA==");

  const std::string role = "db02de05-fa39-4855-059b-67221c5c2f63", sid = "6a174c20-f6de-a53c-74d2-6018fcceff64";
  j = nlohmann::json::parse(login_request(ByteView(role), ByteView(sid)));
  EXPECT_EQ(j["role_id"], role);
  EXPECT_EQ(j["secret_id"], sid);
}

TEST(VaultJson, Credentials) {
  EXPECT_TRUE(credential_ok(ByteView(std::string("hvs.CAESIJ-x_y"))));
  EXPECT_TRUE(credential_ok(ByteView(std::string(4096, 'a'))));
  for (const std::string& bad : {std::string(), std::string(4097, 'a'), std::string("a b"), std::string("a\"b"),
                                std::string("a\\b"), std::string("a\nb"), std::string("a\x7f"), std::string("\xc3\xa9")})
    EXPECT_FALSE(credential_ok(ByteView(bad))) << bad;
}

TEST(VaultJson, CiphertextForm) {
  for (const char* ok : {"vault:v1:abcdefgh", "vault:v12:AAAA", "vault:v2147483647:AA==", "vault:v3:+/+/"})
    EXPECT_TRUE(valid_ciphertext(ByteView(std::string(ok)))) << ok;
  for (const char* bad : {"", "vault:v1:", "vault:v0:AAAA", "vault:v01:AAAA", "vault:v2147483648:AAAA", "vault:v:AAAA",
                          "vault:1:AAAA", "Vault:v1:AAAA", "vault:v1:AAA", "vault:v1:AA AA", "vault:v1:AAAA\n",
                          "vault:v1:A===", "vault:v1:AA=A", "vault:v1:-_-_", "vault:v1x:AAAA", "vault:v1:AAAA\"",
                          "xvault:v1:AAAA"})
    EXPECT_FALSE(valid_ciphertext(ByteView(std::string(bad)))) << bad;
  std::string longest = "vault:v1:" + std::string(4096 - 9 - 3, 'A');
  while ((longest.size() - 9) % 4) longest.pop_back();
  EXPECT_TRUE(valid_ciphertext(ByteView(longest)));
  EXPECT_FALSE(valid_ciphertext(ByteView("vault:v1:" + std::string(4092, 'A'))));
}

TEST(VaultJson, EncryptResponse) {
  std::string ct;
  // the documented sample response
  EXPECT_EQ(parse_encrypt_response(R"({"data":{"ciphertext":"vault:v1:abcdefgh","key_version":1}})", &ct), "");
  EXPECT_EQ(ct, "vault:v1:abcdefgh");
  EXPECT_EQ(parse_encrypt_response(R"({"request_id":"x","lease_id":"","renewable":false,"lease_duration":0,)"
                                   R"("data":{"ciphertext":"vault:v7:AAAA"},"wrap_info":null,"warnings":null,"auth":null})",
                                   &ct),
            "");
  EXPECT_EQ(ct, "vault:v7:AAAA");
  const struct {
    const char* body;
    const char* why;
  } bad[] = {
      {"", "the response is not a JSON object"},
      {"[]", "the response is not a JSON object"},
      {"{\"data\":", "the response is not a JSON object"},
      {"{}", "the response has no \"data\" object"},
      {R"({"data":[]})", "the response has no \"data\" object"},
      {R"({"data":{}})", "the response has no data.ciphertext string"},
      {R"({"data":{"ciphertext":5}})", "the response has no data.ciphertext string"},
      {R"({"data":{"ciphertext":"vault:v1:abc"}})",
       "data.ciphertext is not a Transit ciphertext (vault:v<N>:<base64>, at most 4096 characters)"},
      {R"({"data":{"ciphertext":"vault:v1:AAAA"},"warnings":["Endpoint ignored these unrecognized parameters: [associated_data]"]})",
       "Vault ignored associated_data (it warned: the parameter is unknown to it): Vault 1.13 or later, or OpenBao, is "
       "needed to bind the organization and version to the wrapped DEK"},
  };
  for (const auto& b : bad) {
    ct = "unchanged";
    EXPECT_EQ(parse_encrypt_response(b.body, &ct), b.why) << b.body;
    EXPECT_EQ(ct, "unchanged");
  }
  // other warnings are fine
  EXPECT_EQ(parse_encrypt_response(R"({"data":{"ciphertext":"vault:v1:AAAA"},"warnings":["something else"]})", &ct), "");
  // deep nesting is refused without recursion trouble
  std::string deep = "{\"data\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  EXPECT_EQ(parse_encrypt_response(deep, &ct), "the response is not a JSON object");
  EXPECT_EQ(parse_encrypt_response(std::string(70000, ' ') + "{}", &ct), "the response is not a JSON object");
}

TEST(VaultJson, DecryptResponse) {
  SecretBytes pt;
  EXPECT_EQ(parse_decrypt_response(R"({"data":{"plaintext":"dGhlIHF1aWNrIGJyb3duIGZveAo="}})", &pt), "");
  EXPECT_EQ(str(pt), "the quick brown fox\n");
  const struct {
    const char* body;
    const char* why;
  } bad[] = {
      {"null", "the response is not a JSON object"},
      {R"({"data":null})", "the response has no \"data\" object"},
      {R"({"data":{"plaintext":null}})", "the response has no data.plaintext string"},
      {R"({"data":{"plaintext":""}})", "data.plaintext is not base64 of 1 to 1024 bytes"},
      {R"({"data":{"plaintext":"dGhl IHF1"}})", "data.plaintext is not base64 of 1 to 1024 bytes"},
      {R"({"data":{"plaintext":"dGhlIHF1aWNrIGJyb3duIGZveAo"}})", "data.plaintext is not base64 of 1 to 1024 bytes"},
  };
  for (const auto& b : bad) EXPECT_EQ(parse_decrypt_response(b.body, &pt), b.why) << b.body;
  std::string big = R"({"data":{"plaintext":")" + std::string(1368, 'A') + "\"}}";  // 1026 bytes
  EXPECT_EQ(parse_decrypt_response(big, &pt), "data.plaintext is not base64 of 1 to 1024 bytes");
  big = R"({"data":{"plaintext":")" + std::string(1364, 'A') + "\"}}";  // 1023 bytes
  EXPECT_EQ(parse_decrypt_response(big, &pt), "");
  EXPECT_EQ(pt.size(), 1023u);
}

TEST(VaultJson, AuthResponse) {
  // "Login with AppRole", documented sample
  const char* login = R"({
    "auth": {"renewable": true, "lease_duration": 1200, "metadata": null, "token_policies": ["default"],
             "accessor": "fd6c9a00-d2dc-3b11-0be5-af7ae0e1d374", "client_token": "5b1a0318-679c-9c45-e5c6-d1b9a9035d49"},
    "warnings": null, "wrap_info": null, "data": null, "lease_duration": 0, "renewable": false, "lease_id": ""})";
  AuthInfo a;
  EXPECT_EQ(parse_auth_response(login, &a), "");
  EXPECT_EQ(str(a.token), "5b1a0318-679c-9c45-e5c6-d1b9a9035d49");
  EXPECT_EQ(a.lease_seconds, 1200);
  EXPECT_TRUE(a.renewable);
  // a root-like token: no lease, not renewable (fields may be missing)
  EXPECT_EQ(parse_auth_response(R"({"auth":{"client_token":"hvs.x"}})", &a), "");
  EXPECT_EQ(a.lease_seconds, 0);
  EXPECT_FALSE(a.renewable);
  const struct {
    const char* body;
    const char* why;
  } bad[] = {
      {"{", "the response is not a JSON object"},
      {R"({"auth":null})", "the response has no \"auth\" object"},
      {R"({"auth":{}})", "the response has no auth.client_token string"},
      {R"({"auth":{"client_token":""}})",
       "auth.client_token is empty, longer than 4096 bytes, or has characters a token cannot have"},
      {R"({"auth":{"client_token":"a\r\nX-Evil: 1"}})",
       "auth.client_token is empty, longer than 4096 bytes, or has characters a token cannot have"},
      {R"({"auth":{"client_token":"t","lease_duration":-1}})", "auth.lease_duration is negative"},
      {R"({"auth":{"client_token":"t","lease_duration":1.5}})", "auth.lease_duration is not a whole number of seconds"},
      {R"({"auth":{"client_token":"t","lease_duration":"60"}})", "auth.lease_duration is not a whole number of seconds"},
      {R"({"auth":{"client_token":"t","lease_duration":999999999999}})", "auth.lease_duration is out of range"},
      {R"({"auth":{"client_token":"t","renewable":"yes"}})", "auth.renewable is not true or false"},
  };
  for (const auto& b : bad) {
    AuthInfo x;
    EXPECT_EQ(parse_auth_response(b.body, &x), b.why) << b.body;
    EXPECT_TRUE(x.token.empty());
  }
}

TEST(VaultJson, Errors) {
  EXPECT_EQ(parse_errors(R"({"errors":["permission denied"]})"), "permission denied");
  EXPECT_EQ(parse_errors(R"({"errors":["Vault is sealed"]})"), "Vault is sealed");
  EXPECT_EQ(parse_errors(R"({"errors":["1 error occurred:\n\t* invalid role or secret ID\n\n"]})"),
            "1 error occurred: * invalid role or secret ID");
  EXPECT_EQ(parse_errors(R"({"errors":["a",5,"b\u0001"]})"), "a; b?");
  EXPECT_EQ(parse_errors(R"({"errors":[]})"), "");
  EXPECT_EQ(parse_errors("<html>502 Bad Gateway</html>"), "");
  EXPECT_EQ(parse_errors(""), "");
  std::string many = "{\"errors\":[";
  for (int i = 0; i < 100; i++) many += std::string(i ? "," : "") + "\"" + std::string(50, 'e') + "\"";
  many += "]}";
  std::string e = parse_errors(many);
  EXPECT_EQ(e.size(), kMaxErrorText + 3);
  EXPECT_EQ(e.substr(e.size() - 3), "...");
}
