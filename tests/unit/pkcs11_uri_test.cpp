// The RFC 7512 PKCS#11 URI parser, the pkcs11: provider's URI check, the
// registry entry (trust: a module-path loads code), redaction and CKR names.
// Known answers: the examples of RFC 7512, section 3.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "error.hpp"
#include "pkcs11_ckr.hpp"
#include "pkcs11_uri.hpp"
#include "provider.hpp"
#include "test_util.hpp"

using namespace orgcrypt;

namespace {

Pkcs11Uri parse_ok(const std::string& uri) {
  Pkcs11Uri u;
  std::string why = parse_pkcs11_uri(uri, &u);
  EXPECT_EQ(why, "") << uri;
  return u;
}

std::string refused(const std::string& uri) {
  Pkcs11Uri u;
  std::string why = parse_pkcs11_uri(uri, &u);
  EXPECT_NE(why, "") << "should be refused: " << uri;
  return why;
}

const std::string kModule = "module-path=/usr/lib/softhsm/libsofthsm2.so";

}  // namespace

// RFC 7512, section 3: every example, with the values it names.
TEST(Pkcs11Uri, Rfc7512Examples) {
  Pkcs11Uri u = parse_ok("pkcs11:");
  EXPECT_TRUE(u.path.empty());
  EXPECT_TRUE(u.query.empty());

  u = parse_ok("pkcs11:object=my-pubkey;type=public");
  EXPECT_EQ(u.path, (std::map<std::string, std::string>{{"object", "my-pubkey"}, {"type", "public"}}));
  EXPECT_TRUE(u.query.empty());

  u = parse_ok("pkcs11:object=my-key;type=private?pin-source=file:/etc/token");
  EXPECT_EQ(u.path, (std::map<std::string, std::string>{{"object", "my-key"}, {"type", "private"}}));
  EXPECT_EQ(u.query, (std::map<std::string, std::string>{{"pin-source", "file:/etc/token"}}));

  u = parse_ok(
      "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;"
      "object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin");
  EXPECT_EQ(u.path.at("token"), "The Software PKCS#11 Softtoken");
  EXPECT_EQ(u.path.at("manufacturer"), "Snake Oil, Inc.");
  EXPECT_EQ(u.path.at("model"), "1.0");
  EXPECT_EQ(u.path.at("object"), "my-certificate");
  EXPECT_EQ(u.path.at("type"), "cert");
  EXPECT_EQ(testutil::tohex(u.path.at("id")), "69953e5cf4bdec91");
  ASSERT_TRUE(u.path.count("serial"));
  EXPECT_EQ(u.path.at("serial"), "");  // present and empty, not absent
  EXPECT_EQ(u.path.size(), 7u);
  EXPECT_EQ(u.query.at("pin-source"), "file:/etc/token_pin");

  u = parse_ok("pkcs11:object=my-sign-key;type=private?module-name=mypkcs11");
  EXPECT_EQ(u.query.at("module-name"), "mypkcs11");
  u = parse_ok("pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1");
  EXPECT_EQ(u.query.at("module-path"), "/mnt/libmypkcs11.so.1");

  u = parse_ok("pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin");
  EXPECT_EQ(u.path.at("token"), "Software PKCS#11 softtoken");
  EXPECT_EQ(u.query.at("pin-value"), "the-pin");  // valid syntax; the provider refuses it (below)

  u = parse_ok("pkcs11:slot-description=Sun%20Metaslot");
  EXPECT_EQ(u.path.at("slot-description"), "Sun Metaslot");

  u = parse_ok(
      "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token%20Library;library-version=1.23");
  EXPECT_EQ(u.path.at("library-manufacturer"), "Snake Oil, Inc.");
  EXPECT_EQ(u.path.at("library-description"), "Soft Token Library");
  EXPECT_EQ(u.path.at("library-version"), "1.23");

  u = parse_ok("pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;id=%01%02%03%Ba%dd%Ca%fe%04%05%06");
  EXPECT_EQ(u.path.at("token"), "My token% created by Joe");
  EXPECT_EQ(u.path.at("library-version"), "3");
  EXPECT_EQ(testutil::tohex(u.path.at("id")), "010203baddcafe040506");

  u = parse_ok("pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert");
  EXPECT_EQ(u.path.at("token"), "A name with a substring %;");

  u = parse_ok("pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;object=my-certificate;type=cert");
  EXPECT_EQ(u.path.at("token"), "Name with a small A with acute: \xC3\xA1");

  // The RFC's vendor-specific example: orgcrypt accepts only the standard
  // attributes, so this one is refused, naming the attribute.
  std::string why = refused(
      "pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a?pin-source=file:/etc/token_pin"
      "&vendor-bbb=value-b");
  EXPECT_NE(why.find("unknown attribute \"vendor-aaa\""), std::string::npos) << why;
}

TEST(Pkcs11Uri, PercentDecoding) {
  Pkcs11Uri u = parse_ok("pkcs11:object=a%2fb%2Fc%00d%ffe;id=%00?module-path=/opt/x%20y/lib.so&pin-source=file:/p%3Fq");
  EXPECT_EQ(u.path.at("object"), std::string("a/b/c\0d\xff" "e", 9));
  EXPECT_EQ(u.path.at("id"), std::string(1, '\0'));
  EXPECT_EQ(u.query.at("module-path"), "/opt/x y/lib.so");
  EXPECT_EQ(u.query.at("pin-source"), "file:/p?q");
  // '=' inside a value is a character of the value; '/', '?' and '|' are
  // allowed unencoded in the query only.
  u = parse_ok("pkcs11:object=a=b?module-path=/a/b?c|d");
  EXPECT_EQ(u.path.at("object"), "a=b");
  EXPECT_EQ(u.query.at("module-path"), "/a/b?c|d");
  EXPECT_EQ(parse_ok("pkcs11:?").query.size(), 0u);
}

TEST(Pkcs11Uri, Refusals) {
  // bad percent escapes
  for (const char* bad : {"pkcs11:object=a%", "pkcs11:object=a%4", "pkcs11:object=a%4g", "pkcs11:object=%zz",
                          "pkcs11:object=x?module-path=/a%2"})
    EXPECT_NE(refused(bad).find("'%' must be followed by two hexadecimal digits"), std::string::npos) << bad;
  // duplicates, in either component
  EXPECT_NE(refused("pkcs11:object=a;object=b").find("\"object\" appears twice"), std::string::npos);
  EXPECT_NE(refused("pkcs11:object=a?module-path=/x&module-path=/y").find("appears twice"), std::string::npos);
  // unknown attributes, and attributes in the wrong component
  EXPECT_NE(refused("pkcs11:label=a").find("unknown attribute \"label\""), std::string::npos);
  EXPECT_NE(refused("pkcs11:Object=a").find("unknown attribute"), std::string::npos);  // names are lower case
  EXPECT_NE(refused("pkcs11:object=a?x-foo=1").find("unknown attribute"), std::string::npos);
  EXPECT_NE(refused("pkcs11:module-path=/x").find("belongs in the query"), std::string::npos);
  EXPECT_NE(refused("pkcs11:?object=a").find("belongs in the path"), std::string::npos);
  // malformed
  for (const char* bad : {"pkcs11:object", "pkcs11:object=a;", "pkcs11:;object=a", "pkcs11:object=a;;id=b",
                          "pkcs11:object=a?&module-path=/x", "pkcs11:object=a b", "pkcs11:object=a#frag",
                          "pkcs11:object=a/b", "pkcs11:object=a&b", "pkcs11:type=secret", "pkcs11:slot-id=x1",
                          "pkcs11:slot-id=", "pkcs11:library-version=1.", "pkcs11:library-version=a.1",
                          "pkcs11:object=\xC3\xA1", "PKCS11:object=a", "pkcs11", "file:/x"})
    refused(bad);
  EXPECT_EQ(refused("pkcs11:object=a b").find("a b"), std::string::npos) << "a value is never quoted";
}

TEST(Pkcs11Uri, ProviderCheck) {
  const std::string base = "pkcs11:token=orgcrypt;object=kek1?" + kModule;
  EXPECT_EQ(check_pkcs11_uri(base), "");
  EXPECT_EQ(check_pkcs11_uri(base + "&pin-source=file:/etc/orgcrypt/hsm.pin"), "");
  EXPECT_EQ(check_pkcs11_uri("pkcs11:id=%01%02?" + kModule), "");
  EXPECT_EQ(check_pkcs11_uri("pkcs11:object=k;type=secret-key?" + kModule + "&module-name=softhsm2"), "");
  EXPECT_EQ(check_uri_syntax(base), "") << "registered under pkcs11";

  // pin-value: refused, and the reason never quotes the PIN
  std::string why = check_pkcs11_uri(base + "&pin-value=S3cr3tPin");
  EXPECT_NE(why.find("pin-value"), std::string::npos) << why;
  EXPECT_NE(why.find("pin-source=file:"), std::string::npos) << why;
  EXPECT_EQ(why.find("S3cr3tPin"), std::string::npos) << why;
  why = check_uri_syntax("pkcs11:object=k?pin-value=S3cr3tPin&" + kModule);
  EXPECT_NE(why, "");
  EXPECT_EQ(why.find("S3cr3tPin"), std::string::npos) << why;

  // module-path: required, absolute
  EXPECT_NE(check_pkcs11_uri("pkcs11:object=k").find("module-path is required"), std::string::npos);
  EXPECT_NE(check_pkcs11_uri("pkcs11:object=k?module-name=softhsm2").find("module-path is required"),
            std::string::npos);
  for (const char* rel : {"module-path=libsofthsm2.so", "module-path=./lib.so", "module-path=", "module-path=%00/x"})
    EXPECT_NE(check_pkcs11_uri(std::string("pkcs11:object=k?") + rel).find("absolute"), std::string::npos) << rel;
  // pin-source: file:/absolute/path only
  for (const char* ps : {"pin-source=/etc/pin", "pin-source=file:pin", "pin-source=file://host/pin",
                         "pin-source=|/bin/cat", "pin-source=", "pin-source=file:"})
    EXPECT_NE(check_pkcs11_uri(base + "&" + ps).find("pin-source must be file:/absolute/path"), std::string::npos)
        << ps;
  // the key must be named, and be a secret key
  EXPECT_NE(check_pkcs11_uri("pkcs11:token=orgcrypt?" + kModule).find("name the key"), std::string::npos);
  EXPECT_NE(check_pkcs11_uri("pkcs11:object=k;type=private?" + kModule).find("secret-key"), std::string::npos);
  // values that can never match their PKCS#11 field
  EXPECT_NE(check_pkcs11_uri("pkcs11:object=k;token=" + std::string(33, 'a') + "?" + kModule).find("at most 32"),
            std::string::npos);
  EXPECT_EQ(check_pkcs11_uri("pkcs11:object=k;token=" + std::string(32, 'a') + "?" + kModule), "");
  EXPECT_NE(check_pkcs11_uri("pkcs11:object=k;serial=" + std::string(17, '1') + "?" + kModule).find("at most 16"),
            std::string::npos);
  // a syntax error is reported as such
  EXPECT_NE(check_pkcs11_uri("pkcs11:object=k;object=j?" + kModule).find("RFC 7512"), std::string::npos);
}

TEST(Pkcs11Uri, ModulePathLoadsCode) {
  EXPECT_TRUE(uri_runs_code("pkcs11:object=k?" + kModule));
  EXPECT_FALSE(uri_runs_code("pkcs11:object=k"));
  EXPECT_TRUE(uri_runs_code("pkcs11:object=k;object=k?" + kModule)) << "an unparsable URI is not trusted";
  set_uri_policy(UriPolicy{});
  EXPECT_NE(uri_trust_problem("pkcs11:object=k?" + kModule), "");
  set_uri_policy(UriPolicy{"pkcs11:object=k?" + kModule, {}});
  EXPECT_EQ(uri_trust_problem("pkcs11:object=k?" + kModule), "");
  EXPECT_NE(uri_trust_problem("pkcs11:object=j?" + kModule), "");
  set_uri_policy(UriPolicy{"", {"pkcs11:token=orgcrypt;*"}});
  EXPECT_EQ(uri_trust_problem("pkcs11:token=orgcrypt;object=j?" + kModule), "");
  set_uri_policy(UriPolicy{});
}

TEST(Pkcs11Uri, RedactedForMessages) {
  EXPECT_EQ(pkcs11_uri_redacted("pkcs11:object=k?" + kModule + "&pin-value=S3cr3t&pin-source=file:/p"),
            "pkcs11:object=k?" + kModule + "&pin-value=***&pin-source=file:/p");
  EXPECT_EQ(pkcs11_uri_redacted("pkcs11:object=k?pin%2Dvalue=S3cr3t&1234"), "pkcs11:object=k?***&***");
  EXPECT_EQ(pkcs11_uri_redacted("pkcs11:object=k"), "pkcs11:object=k");
  // open_provider's refusal shows the redacted URI only
  std::string msg = testutil::expect_error("58000", [] { open_provider("pkcs11:object=k?pin-value=S3cr3t&" + kModule); });
  EXPECT_EQ(msg.find("S3cr3t"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pin-value=***"), std::string::npos) << msg;
  EXPECT_EQ(uri_for_message("file:/a?pin-value=x"), "file:/a?pin-value=x");
}

TEST(Pkcs11Ckr, Names) {
  EXPECT_EQ(ckr_name(0x0), "CKR_OK");
  EXPECT_EQ(ckr_name(0x5), "CKR_GENERAL_ERROR");
  EXPECT_EQ(ckr_name(0x40), "CKR_ENCRYPTED_DATA_INVALID");
  EXPECT_EQ(ckr_name(0xa0), "CKR_PIN_INCORRECT");
  EXPECT_EQ(ckr_name(0xe0), "CKR_TOKEN_NOT_PRESENT");
  EXPECT_EQ(ckr_name(0xb3), "CKR_SESSION_HANDLE_INVALID");
  EXPECT_EQ(ckr_name(0x32), "CKR_DEVICE_REMOVED");
  EXPECT_EQ(ckr_name(0x191), "CKR_CRYPTOKI_ALREADY_INITIALIZED");
  EXPECT_EQ(ckr_name(0x80000001UL), "CKR_VENDOR_DEFINED+0x1");
  EXPECT_EQ(ckr_name(0x4), "CKR_0x4");
}
