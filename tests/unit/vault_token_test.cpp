// Vault tokens: where the token comes from, the token-file reader, and the
// AppRole renewal decisions (the clock is a parameter).
#include <gtest/gtest.h>

#include <string>

#include "test_util.hpp"
#include "vault_token.hpp"

using namespace orgcrypt;
using namespace orgcrypt::vault;
using testutil::expect_error;

TEST(VaultToken, SourceOrder) {
  VaultUri u;
  TokenSource s;
  EXPECT_EQ(choose_token_source(u, true, &s), "");
  EXPECT_EQ(s, TokenSource::Environment);
  EXPECT_EQ(choose_token_source(u, false, &s),
            "no Vault token: name a token file (token_file=/path, e.g. a Vault Agent sink) or an AppRole "
            "(role_id_file=/path&secret_id_file=/path) in the key URI, or set VAULT_TOKEN in the server's environment");
  u.role_id_file = "/r";
  u.secret_id_file = "/s";
  EXPECT_EQ(choose_token_source(u, true, &s), "");
  EXPECT_EQ(s, TokenSource::AppRole);
  u = VaultUri();
  u.token_file = "/t";
  EXPECT_EQ(choose_token_source(u, true, &s), "");
  EXPECT_EQ(s, TokenSource::File);
}

TEST(VaultToken, RenewalDecisions) {
  CachedToken t;
  EXPECT_EQ(token_action(t, 0), TokenAction::Login);  // none yet
  t.token = SecretBytes{'t'};
  t.lease_seconds = 60;
  t.renewable = true;
  t.start_ms = 1000;
  EXPECT_EQ(token_action(t, 1000), TokenAction::Use);
  EXPECT_EQ(token_action(t, 1000 + 40000), TokenAction::Use);       // exactly a third left
  EXPECT_EQ(token_action(t, 1000 + 40001), TokenAction::Renew);     // less than a third
  EXPECT_EQ(token_action(t, 1000 + 59999), TokenAction::Renew);
  EXPECT_EQ(token_action(t, 1000 + 60000), TokenAction::Login);     // expired
  t.renewable = false;
  EXPECT_EQ(token_action(t, 1000 + 40001), TokenAction::Login);
  EXPECT_EQ(token_action(t, 1000 + 39999), TokenAction::Use);
  t.lease_seconds = 0;  // never expires
  EXPECT_EQ(token_action(t, 1000LL * 3600 * 24 * 365), TokenAction::Use);
}

TEST(VaultToken, RenewalThatCannotExtendEndsRenewing) {
  CachedToken t;
  t.token = SecretBytes{'a'};
  t.lease_seconds = 60;
  t.renewable = true;
  t.start_ms = 0;
  AuthInfo a;
  a.token = SecretBytes{'a'};
  a.lease_seconds = 60;
  a.renewable = true;
  apply_renewal(t, a, 45000);  // a full new lease from 45 s
  EXPECT_TRUE(t.renewable);
  EXPECT_EQ(t.start_ms, 45000);
  EXPECT_EQ(t.lease_seconds, 60);
  a.lease_seconds = 10;        // max_ttl reached: ends at 95 s, before 105 s
  apply_renewal(t, a, 85000);
  EXPECT_FALSE(t.renewable);
  EXPECT_EQ(token_action(t, 85000 + 6700), TokenAction::Login);
  EXPECT_EQ(token_action(t, 85000 + 6000), TokenAction::Use);
  a.lease_seconds = 60;
  a.renewable = false;          // Vault says it is not renewable
  apply_renewal(t, a, 90000);
  EXPECT_FALSE(t.renewable);
}

TEST(VaultToken, TokenFileReadAgainOnlyWhenChanged) {
  clear_token_caches();
  testutil::TempDir d;
  const std::string f = d.file("token");
  testutil::write_file(f, "hvs.first-token\n", 0600);
  const unsigned long r0 = token_file_reads();
  EXPECT_EQ(testutil::str_of(read_token_file(f, "the token file")), "hvs.first-token");
  EXPECT_EQ(testutil::str_of(read_token_file(f, "the token file")), "hvs.first-token");
  EXPECT_EQ(token_file_reads(), r0 + 1);
  // a Vault Agent writes a new sink file (rename over the old one)
  const std::string tmp = d.file("token.new");
  testutil::write_file(tmp, "hvs.second-token", 0600);
  ASSERT_EQ(::rename(tmp.c_str(), f.c_str()), 0);
  EXPECT_EQ(testutil::str_of(read_token_file(f, "the token file")), "hvs.second-token");
  EXPECT_EQ(token_file_reads(), r0 + 2);
  clear_token_caches();
}

TEST(VaultToken, TokenFileRefusedWithoutShowingTheToken) {
  clear_token_caches();
  testutil::TempDir d;
  const std::string f = d.file("token");
  const std::string secret = "hvs.SECRET-TOKEN-77";
  struct Case {
    const char* what;
    std::string content;
    mode_t mode;
    const char* says;
  } cases[] = {
      {"group-readable", secret, 0640, "group or other permissions (mode 0640)"},
      {"empty", "", 0600, "is empty"},
      {"newline only", "\n", 0600, "is empty"},
      {"two lines", secret + "\nX-Other: 1\n", 0600, "does not hold a Vault token"},
      {"space", secret + " x", 0600, "does not hold a Vault token"},
      {"too long", secret + std::string(5000, 'x'), 0600, "does not hold a Vault token"},
  };
  for (const auto& c : cases) {
    clear_token_caches();
    testutil::write_file(f, c.content, c.mode);
    std::string msg = expect_error("58000", [&] { read_token_file(f, "the token file"); }, c.what);
    EXPECT_NE(msg.find(c.says), std::string::npos) << c.what << ": " << msg;
    EXPECT_NE(msg.find(f), std::string::npos) << msg;
    EXPECT_EQ(msg.find("SECRET-TOKEN"), std::string::npos) << msg;
  }
  std::string msg = expect_error("58000", [&] { read_token_file(d.file("missing"), "the token file"); });
  EXPECT_NE(msg.find("could not open the token file"), std::string::npos) << msg;
  clear_token_caches();
}

TEST(VaultToken, CacheKeyPerLoginConfiguration) {
  VaultUri a;
  a.host = "h";
  a.port = 8200;
  a.role_id_file = "/r";
  a.secret_id_file = "/s";
  VaultUri b = a;
  EXPECT_EQ(approle_cache_key(a, ""), approle_cache_key(b, ""));
  EXPECT_NE(approle_cache_key(a, ""), approle_cache_key(b, "ns1"));
  b.secret_id_file = "/s2";
  EXPECT_NE(approle_cache_key(a, ""), approle_cache_key(b, ""));
  b = a;
  b.approle_mount = "other";
  EXPECT_NE(approle_cache_key(a, ""), approle_cache_key(b, ""));
  b = a;
  b.port = 8201;
  EXPECT_NE(approle_cache_key(a, ""), approle_cache_key(b, ""));
  b = a;
  b.name = "another-key";  // the same login serves every key
  EXPECT_EQ(approle_cache_key(a, ""), approle_cache_key(b, ""));
}
