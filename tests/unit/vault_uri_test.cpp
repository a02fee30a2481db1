// vault-transit:// URI syntax: accepted forms and their parts, refusals with
// their exact reasons, and redaction.
#include <gtest/gtest.h>

#include <string>

#include "error.hpp"
#include "provider.hpp"
#include "vault_uri.hpp"

using namespace orgcrypt;

TEST(VaultUri, GoodUrisAndTheirParts) {
  VaultUri u;
  ASSERT_EQ(parse_vault_uri("vault-transit://vault.example.com:8200/transit/keys/orgcrypt", &u), "");
  EXPECT_EQ(u.host, "vault.example.com");
  EXPECT_EQ(u.port, 8200u);
  EXPECT_EQ(u.mount, "transit");
  EXPECT_EQ(u.name, "orgcrypt");
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.approle_mount, "approle");
  EXPECT_EQ(u.timeout_ms, 30000);
  EXPECT_EQ(u.connect_timeout_ms, 5000);
  EXPECT_EQ(u.base_url(), "https://vault.example.com:8200");
  EXPECT_EQ(u.key_path(), "transit/keys/orgcrypt");
  EXPECT_FALSE(u.ns_given);

  // MOUNT is everything before the last /keys/ (a mount may itself contain "keys")
  ASSERT_EQ(parse_vault_uri("vault-transit://V.Example.COM:8200/team-a/keys/transit/keys/kek.v2_x", &u), "");
  EXPECT_EQ(u.host, "v.example.com");
  EXPECT_EQ(u.mount, "team-a/keys/transit");
  EXPECT_EQ(u.name, "kek.v2_x");

  ASSERT_EQ(parse_vault_uri("vault-transit://127.0.0.1:18200/transit/keys/k?tls=off&token_file=/run/vault/token"
                            "&namespace=ns1/team%2Da/&timeout_ms=2500&connect_timeout_ms=700",
                            &u),
            "");
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.base_url(), "http://127.0.0.1:18200");
  EXPECT_EQ(u.token_file, "/run/vault/token");
  EXPECT_EQ(u.ns, "ns1/team-a");
  EXPECT_TRUE(u.ns_given);
  EXPECT_EQ(u.timeout_ms, 2500);
  EXPECT_EQ(u.connect_timeout_ms, 700);

  ASSERT_EQ(parse_vault_uri("vault-transit://[::1]:8200/transit/keys/k?role_id_file=/etc/oc/role%20id"
                            "&secret_id_file=/etc/oc/sid&approle_mount=auth-x&ca_file=/etc/oc/ca.pem",
                            &u),
            "");
  EXPECT_EQ(u.host, "[::1]");
  EXPECT_EQ(u.hostport(), "[::1]:8200");
  EXPECT_EQ(u.role_id_file, "/etc/oc/role id");
  EXPECT_EQ(u.secret_id_file, "/etc/oc/sid");
  EXPECT_EQ(u.approle_mount, "auth-x");
  EXPECT_EQ(u.ca_file, "/etc/oc/ca.pem");

  for (const char* ok : {"vault-transit://localhost:1/transit/keys/a", "vault-transit://[::1]:65535/t/keys/_",
                         "vault-transit://localhost:8200/a/keys/k?tls=off", "vault-transit://127.9.8.7:8200/a/keys/k?tls=off",
                         "vault-transit://[::1]:8200/a/keys/k?tls=off", "vault-transit://h:8200/a/keys/k?tls=on"})
    EXPECT_EQ(check_uri_syntax(ok), "") << ok;
}

TEST(VaultUri, RefusedWithExactReasons) {
  const struct {
    const char* uri;
    const char* reason;
  } cases[] = {
      {"vault-transit:/h:8200/transit/keys/k",
       "a Vault Transit key URI starts with vault-transit:// (vault-transit://HOST:PORT/MOUNT/keys/NAME)"},
      {"vault-transit://h/transit/keys/k", "no port: write HOST:PORT (Vault listens on 8200 by default)"},
      {"vault-transit://h:0/transit/keys/k", "the port must be a number from 1 to 65535"},
      {"vault-transit://h:65536/transit/keys/k", "the port must be a number from 1 to 65535"},
      {"vault-transit://h:08200/transit/keys/k", "the port must be a number from 1 to 65535"},
      {"vault-transit://:8200/transit/keys/k", "no host: write vault-transit://HOST:PORT/MOUNT/keys/NAME"},
      {"vault-transit://u@h:8200/transit/keys/k", "user information (user@host) is not allowed in the URI"},
      {"vault-transit://h_x:8200/transit/keys/k", "the host name has a character that does not belong in a host name"},
      {"vault-transit://h..x:8200/transit/keys/k", "the host name has an empty label"},
      {"vault-transit://[::1/transit/keys/k", "an IPv6 address in brackets has no closing ']'"},
      {"vault-transit://h:8200", "no key path: write vault-transit://HOST:PORT/MOUNT/keys/NAME"},
      {"vault-transit://h:8200/", "no key path: write vault-transit://HOST:PORT/MOUNT/keys/NAME"},
      {"vault-transit://h:8200/transit/k", "the key path must be MOUNT/keys/NAME (for example transit/keys/orgcrypt)"},
      {"vault-transit://h:8200/keys/k", "the key path must be MOUNT/keys/NAME (for example transit/keys/orgcrypt)"},
      {"vault-transit://h:8200/a//b/keys/k",
       "the mount \"a//b\" is not a Vault mount path (segments of letters, digits, '_', '-', '.', separated by single '/')"},
      {"vault-transit://h:8200/a/../b/keys/k",
       "the mount \"a/../b\" is not a Vault mount path (segments of letters, digits, '_', '-', '.', separated by single '/')"},
      {"vault-transit://h:8200/transit/keys/-k",
       "the key name \"-k\" is not a Vault key name (letters, digits, '_', '-' and '.', starting and ending with a "
       "letter, digit or '_', at most 256 characters)"},
      {"vault-transit://h:8200/transit/keys/a/b",
       "the key name \"a/b\" is not a Vault key name (letters, digits, '_', '-' and '.', starting and ending with a "
       "letter, digit or '_', at most 256 characters)"},
      {"vault-transit://h:8200/transit/keys/k%41", "the key path may not be percent-encoded (mount and key names are plain)"},
      {"vault-transit://h:8200/transit/keys/k#x", "a fragment ('#') is not allowed"},
      {"vault-transit://h:8200/transit/keys/k x", "spaces and control characters are not allowed (percent-encode them)"},
      {"vault-transit://h:8200/transit/keys/k?", "an empty query after '?'"},
      {"vault-transit://h:8200/transit/keys/k?token_file=run/token",
       "token_file must be an absolute path (it is opened by the server process)"},
      {"vault-transit://h:8200/transit/keys/k?ca_file=ca.pem",
       "ca_file must be an absolute path (it is opened by the server process)"},
      {"vault-transit://h:8200/transit/keys/k?token_file=/a&token_file=/b", "parameter \"token_file\" is given twice"},
      {"vault-transit://h:8200/transit/keys/k?token_file", "parameter \"token_file\" has no value (write token_file=...)"},
      {"vault-transit://h:8200/transit/keys/k?token_file=", "parameter \"token_file\" has an empty value"},
      {"vault-transit://h:8200/transit/keys/k?token_file=/a%2", "parameter \"token_file\": a '%' must be followed by two hexadecimal digits"},
      {"vault-transit://h:8200/transit/keys/k?token_file=/a%0a", "parameter \"token_file\": a control character or NUL"},
      {"vault-transit://h:8200/transit/keys/k?mount=x",
       "unknown parameter \"mount\" (known: token_file, role_id_file, secret_id_file, approle_mount, namespace, "
       "ca_file, tls, timeout_ms, connect_timeout_ms)"},
      {"vault-transit://h:8200/transit/keys/k?tls=no", "tls must be on or off"},
      {"vault-transit://h:8200/transit/keys/k?tls=off",
       "tls=off (plain http) is allowed only to a loopback host (localhost, 127.0.0.1, [::1]): use https with ca_file"},
      {"vault-transit://128.0.0.1:8200/transit/keys/k?tls=off",
       "tls=off (plain http) is allowed only to a loopback host (localhost, 127.0.0.1, [::1]): use https with ca_file"},
      {"vault-transit://127.0.0.1:8200/transit/keys/k?tls=off&ca_file=/ca.pem", "ca_file has no use with tls=off"},
      {"vault-transit://h:8200/transit/keys/k?timeout_ms=0",
       "timeout_ms must be a whole number of milliseconds from 1 to 600000"},
      {"vault-transit://h:8200/transit/keys/k?connect_timeout_ms=600001",
       "connect_timeout_ms must be a whole number of milliseconds from 1 to 600000"},
      {"vault-transit://h:8200/transit/keys/k?token_file=/t&role_id_file=/r&secret_id_file=/s",
       "token_file and AppRole (role_id_file, secret_id_file) exclude each other: choose one way to get a token"},
      {"vault-transit://h:8200/transit/keys/k?role_id_file=/r", "AppRole needs both role_id_file and secret_id_file"},
      {"vault-transit://h:8200/transit/keys/k?approle_mount=ar", "approle_mount is used only with role_id_file and secret_id_file"},
      {"vault-transit://h:8200/transit/keys/k?namespace=a//b",
       "namespace \"a//b\" is not a Vault namespace path (segments of letters, digits, '_', '-', '.')"},
  };
  for (const auto& c : cases) EXPECT_EQ(check_uri_syntax(c.uri), c.reason) << c.uri;
  EXPECT_EQ(check_uri_syntax("vault-transit://h:8200/t/keys/" + std::string(5000, 'k')), "the URI is longer than 4096 bytes");
}

TEST(VaultUri, InlineSecretsRefusedAndMasked) {
  const std::string secret = "hvs.SECRETTOKEN123";
  for (const char* p : {"token", "secret_id", "role_id", "TOKEN", "client_token", "vault_token"}) {
    const std::string uri = "vault-transit://h:8200/transit/keys/k?" + std::string(p) + "=" + secret;
    const std::string why = check_uri_syntax(uri);
    EXPECT_EQ(why, "a " + std::string(p) +
                       " is never written in the URI (URIs are stored in tables and shown in messages): name a file "
                       "that holds it (token_file=, role_id_file=, secret_id_file=) or set VAULT_TOKEN in the "
                       "server's environment");
    EXPECT_EQ(uri_for_message(uri).find(secret), std::string::npos) << uri_for_message(uri);
    try {
      open_provider(uri);
      ADD_FAILURE() << "opened " << p;
    } catch (const Error& e) {
      EXPECT_STREQ(e.sqlstate(), "58000");
      EXPECT_EQ(std::string(e.what()).find(secret), std::string::npos) << e.what();
      EXPECT_EQ(e.detail().find(secret), std::string::npos) << e.detail();
    }
  }
  EXPECT_EQ(vault_uri_redacted("vault-transit://h:8200/t/keys/k?token_file=/a&token=abc&x=y&tls=on"),
            "vault-transit://h:8200/t/keys/k?token_file=/a&token=***&x=***&tls=on");
  EXPECT_EQ(vault_uri_redacted("vault-transit://h:8200/t/keys/k"), "vault-transit://h:8200/t/keys/k");
  EXPECT_EQ(vault_uri_redacted("vault-transit://hvs.SECRET@h:8200/t/keys/k?tls=on"), "vault-transit://***@h:8200/t/keys/k?tls=on");
  EXPECT_EQ(vault_uri_redacted("vault-transit://a:b@c@h:8200/t/keys/k"), "vault-transit://***@h:8200/t/keys/k");
  EXPECT_EQ(vault_uri_redacted("vault-transit://h:8200/t/keys/k@x"), "vault-transit://h:8200/t/keys/k@x");
}

TEST(VaultUri, RegistryLine) {
  const SchemeInfo* sc = find_scheme_info("vault-transit");
  ASSERT_NE(sc, nullptr);
  EXPECT_FALSE(uri_runs_code("vault-transit://h:8200/transit/keys/k"));
  EXPECT_NE(supported_schemes().find("vault-transit"), std::string::npos);
  // Syntax is checked before anything is opened.
  try {
    open_provider("vault-transit://h/transit/keys/k");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.sqlstate(), "58000");
    EXPECT_EQ(e.detail(), "no port: write HOST:PORT (Vault listens on 8200 by default)");
  }
  EXPECT_TRUE(vault_host_is_loopback("127.0.0.1"));
  EXPECT_TRUE(vault_host_is_loopback("127.255.0.1"));
  EXPECT_TRUE(vault_host_is_loopback("localhost"));
  EXPECT_TRUE(vault_host_is_loopback("[::1]"));
  EXPECT_FALSE(vault_host_is_loopback("127.0.0.1.example.com"));
  EXPECT_FALSE(vault_host_is_loopback("127.0.0"));
  EXPECT_FALSE(vault_host_is_loopback("10.0.0.1"));
  EXPECT_FALSE(vault_host_is_loopback("[::2]"));
  EXPECT_FALSE(vault_host_is_loopback("localhost.example"));
}

TEST(VaultUri, TrustScopeIsTheServerAndTheParameters) {
  EXPECT_EQ(vault_trust_scope("vault-transit://h:8200/transit/keys/a?token_file=/t&tls=on"),
            "vault-transit://h:8200?tls=on&token_file=/t&");
  EXPECT_EQ(vault_trust_scope("vault-transit://h:8200/other/keys/b?tls=on&token_file=/t"),
            vault_trust_scope("vault-transit://h:8200/transit/keys/a?token_file=/t&tls=on"));
  EXPECT_NE(vault_trust_scope("vault-transit://evil:8200/transit/keys/a?token_file=/t&tls=on"),
            vault_trust_scope("vault-transit://h:8200/transit/keys/a?token_file=/t&tls=on"));
  EXPECT_NE(vault_trust_scope("vault-transit://h:8200/transit/keys/a?token_file=/other&tls=on"),
            vault_trust_scope("vault-transit://h:8200/transit/keys/a?token_file=/t&tls=on"));

  // open_provider applies it: the master key's server trusts its other keys, not another server
  UriPolicy pol;
  pol.master_key = "vault-transit://h:8200/transit/keys/a?token_file=/t";
  set_uri_policy(pol);
  EXPECT_EQ(uri_trust_problem("vault-transit://h:8200/transit/keys/b?token_file=/t"), "");
  EXPECT_NE(uri_trust_problem("vault-transit://h2:8200/transit/keys/a?token_file=/t"), "");
  EXPECT_NE(uri_trust_problem("vault-transit://h:8200/transit/keys/a?token_file=/elsewhere"), "");
  EXPECT_NE(uri_trust_problem("vault-transit://h:8200/transit/keys/a"), "");
  set_uri_policy(UriPolicy());
}
