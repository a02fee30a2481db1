// The provider framework: which URIs the server trusts
// (orgcrypt.allowed_key_uris), the registry, and cancellation.
#include <gtest/gtest.h>

#include "error.hpp"
#include "provider.hpp"

using namespace orgcrypt;

namespace {
struct PolicyReset {
  ~PolicyReset() {
    set_uri_policy(UriPolicy{});
    set_interrupt_check(nullptr);
  }
};
}  // namespace

TEST(ProviderPolicy, ParsesAllowedLists) {
  std::vector<std::string> v;
  EXPECT_EQ(parse_allowed_uris("", &v), "");
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(parse_allowed_uris(" exec:/usr/lib/oc/wrap ,pkcs11:token=a*\n file:/k ", &v), "");
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[0], "exec:/usr/lib/oc/wrap");
  EXPECT_EQ(v[1], "pkcs11:token=a*");
  EXPECT_EQ(v[2], "file:/k");
  EXPECT_NE(parse_allowed_uris("*", &v), "");
  EXPECT_NE(parse_allowed_uris("exec:/a*b", &v), "");
  EXPECT_NE(parse_allowed_uris("/no/scheme", &v), "");
}

TEST(ProviderPolicy, FileUrisRunNoCodeAndNeedNoListing) {
  PolicyReset r;
  set_uri_policy(UriPolicy{});
  EXPECT_FALSE(uri_runs_code("file:/etc/orgcrypt.key"));
  EXPECT_EQ(uri_trust_problem("file:/etc/orgcrypt.key"), "");
}

TEST(ProviderPolicy, UnknownSchemesAreRefusedBySyntax) {
  EXPECT_NE(check_uri_syntax("nosuch:/x").find("unknown key provider scheme \"nosuch\""), std::string::npos);
  EXPECT_NE(check_uri_syntax("nosuch:/x").find(supported_schemes()), std::string::npos);
  try {
    open_provider("nosuch:/x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.sqlstate(), "58000");
  }
}

TEST(ProviderPolicy, InterruptCheckIsAskedAndThrows57014) {
  PolicyReset r;
  EXPECT_FALSE(provider_interrupted());
  static bool flag = false;
  set_interrupt_check([]() { return flag; });
  EXPECT_FALSE(provider_interrupted());
  flag = true;
  EXPECT_TRUE(provider_interrupted());
  try {
    throw_interrupted("exec:/x", "wrap");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.sqlstate(), "57014");
    EXPECT_NE(std::string(e.what()).find("exec:/x wrap was interrupted"), std::string::npos);
  }
  flag = false;
}

TEST(ProviderPolicy, RemoteTrustScopeIgnoresTheKeyAndTheOrderOfParameters) {
  const std::string a = "aws-kms:arn:aws:kms:eu-west-1:111122223333:alias/orgcrypt?profile=p&endpoint=https://k";
  const std::string b = "aws-kms:arn:aws:kms:eu-west-1:111122223333:key/1234?endpoint=https://k&profile=p";
  const std::size_t cut = std::string("aws-kms:arn:aws:kms:eu-west-1:111122223333").size();
  EXPECT_EQ(remote_trust_scope(a, cut), remote_trust_scope(b, cut));
  EXPECT_EQ(remote_trust_scope(a, cut), "aws-kms:arn:aws:kms:eu-west-1:111122223333?endpoint=https://k&profile=p&");
  // another endpoint, another parameter, another account: another scope
  EXPECT_NE(remote_trust_scope(a, cut), remote_trust_scope(b + "&x=1", cut));
  EXPECT_NE(remote_trust_scope(a, cut),
            remote_trust_scope("aws-kms:arn:aws:kms:eu-west-1:111122223333:key/1234?endpoint=https://evil&profile=p", cut));
  EXPECT_NE(remote_trust_scope(a, cut),
            remote_trust_scope("aws-kms:arn:aws:kms:eu-west-1:999999999999:key/1?endpoint=https://k&profile=p", cut));
  EXPECT_EQ(remote_trust_scope("vault-transit://h:8200/transit/keys/a", 24), "vault-transit://h:8200/t?");
}

// set_org_master_key's rule: a URI given as an SQL argument must equal
// orgcrypt.master_key or match an entry of orgcrypt.allowed_key_uris, whatever
// its scheme (file: included, which uri_trust_problem lets through).
TEST(ProviderPolicy, SqlKeyUrisMustBeListed) {
  PolicyReset r;
  UriPolicy p;
  p.master_key = "file:/etc/orgcrypt/master.key";
  p.allowed = {"file:/etc/orgcrypt/orgs/*", "pkcs11:token=orgcrypt;object=kek-b?module-path=/usr/lib/softhsm/libsofthsm2.so"};
  set_uri_policy(p);
  EXPECT_TRUE(uri_listed("file:/etc/orgcrypt/master.key"));
  EXPECT_TRUE(uri_listed("file:/etc/orgcrypt/orgs/a.key"));
  EXPECT_TRUE(uri_listed("pkcs11:token=orgcrypt;object=kek-b?module-path=/usr/lib/softhsm/libsofthsm2.so"));
  // not listed: another file (trusted when read from a row, not as an argument)
  EXPECT_EQ(uri_trust_problem("file:/tmp/other.key"), "");
  EXPECT_FALSE(uri_listed("file:/tmp/other.key"));
  // a prefix matches only what starts with it; an exact entry only itself
  EXPECT_FALSE(uri_listed("file:/etc/orgcrypt/orgs"));
  EXPECT_FALSE(uri_listed("file:/etc/orgcrypt/master.key2"));
  EXPECT_FALSE(uri_listed("file:/etc/orgcrypt/master.ke"));
  EXPECT_FALSE(uri_listed("pkcs11:token=orgcrypt;object=kek-b?module-path=/usr/lib/softhsm/libsofthsm2.so&x=1"));
  EXPECT_FALSE(uri_listed(""));
  // an empty master key matches nothing
  set_uri_policy(UriPolicy{});
  EXPECT_FALSE(uri_listed(""));
  EXPECT_FALSE(uri_listed("file:/etc/orgcrypt/master.key"));
}

// From SQL (orgcrypt_admin is not a superuser), a prefix entry covers only a
// name after it: no parameter (a pkcs11 module-path would be a dlopen of the
// caller's choice), no attribute, no percent-encoding, no path traversal.
TEST(ProviderPolicy, SqlPrefixCoversOnlyAName) {
  PolicyReset r;
  UriPolicy p;
  p.master_key = "file:/etc/orgcrypt/master.key";
  p.allowed = {"file:/etc/orgcrypt/orgs/*", "exec:/usr/local/lib/orgcrypt/*", "pkcs11:token=prod;object=*",
               "vault-transit://v:8200/transit/keys/*", "exec:/opt/.*"};
  set_uri_policy(p);
  for (const char* ok : {"file:/etc/orgcrypt/master.key", "file:/etc/orgcrypt/orgs/a.key",
                         "file:/etc/orgcrypt/orgs/eu/acme-1_x~y.key", "exec:/usr/local/lib/orgcrypt/kms-acme",
                         "pkcs11:token=prod;object=acme", "vault-transit://v:8200/transit/keys/acme"}) {
    EXPECT_TRUE(uri_listed_for_sql(ok)) << ok;
    EXPECT_TRUE(uri_listed(ok)) << ok;
  }
  for (const char* bad : {"file:/etc/orgcrypt/orgs/../../passwd", "file:/etc/orgcrypt/orgs/./a.key",
                          "file:/etc/orgcrypt/orgs/a/..", "file:/etc/orgcrypt/orgs/%2e%2e/x",
                          "file:/etc/orgcrypt/orgs/", "file:/etc/orgcrypt/orgs/a key",
                          "exec:/usr/local/lib/orgcrypt/../../../tmp/evil",
                          "pkcs11:token=prod;object=a?module-path=/tmp/evil.so",
                          "pkcs11:token=prod;object=a;module-name=evil",
                          "vault-transit://v:8200/transit/keys/a?token_file=/tmp/t",
                          "vault-transit://v:8200/transit/keys/a#x", "exec:/opt/./x"}) {
    EXPECT_FALSE(uri_listed_for_sql(bad)) << bad;
  }
  // Read back from a row, the prefix still covers what follows it (the
  // superuser's rule for settings and rows is unchanged).
  EXPECT_TRUE(uri_listed("pkcs11:token=prod;object=a?module-path=/tmp/evil.so"));
  try {
    check_sql_key_uri("file:/etc/orgcrypt/orgs/../master.key");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.sqlstate(), "58000");
    EXPECT_STREQ(e.what(), "key URI \"file:/etc/orgcrypt/orgs/../master.key\" is not trusted by this server");
    EXPECT_NE(e.detail().find("only a name"), std::string::npos);
  }
}

TEST(ProviderPolicy, CheckSqlKeyUriErrors) {
  PolicyReset r;
  UriPolicy p;
  p.master_key = "file:/etc/orgcrypt/master.key";
  p.allowed = {"file:/etc/orgcrypt/orgs/*"};
  set_uri_policy(p);
  EXPECT_NO_THROW(check_sql_key_uri("file:/etc/orgcrypt/master.key"));
  EXPECT_NO_THROW(check_sql_key_uri("file:/etc/orgcrypt/orgs/a.key"));
  try {
    check_sql_key_uri("file:/tmp/other.key");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.sqlstate(), "58000");
    EXPECT_STREQ(e.what(), "key URI \"file:/tmp/other.key\" is not trusted by this server");
    EXPECT_NE(e.detail().find("must equal orgcrypt.master_key or match an entry of orgcrypt.allowed_key_uris"),
              std::string::npos);
    EXPECT_NE(e.hint().find("orgcrypt.allowed_key_uris"), std::string::npos);
  }
  // malformed: 22023 before the list is looked at (a listed prefix does not help)
  try {
    check_sql_key_uri("file:relative.key");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.sqlstate(), "22023");
    EXPECT_STREQ(e.what(), "invalid key URI \"file:relative.key\"");
  }
  try {
    check_sql_key_uri("nosuch:/x");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.sqlstate(), "22023");
  }
}
