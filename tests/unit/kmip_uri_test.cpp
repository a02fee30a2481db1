// kmip:// URI syntax (src/providers/kmip_uri.cpp, uri_parts.cpp): accepted
// forms and their parts, every refusal with its exact reason, redaction, the
// trust scope and the registry entry. No network.
#include <gtest/gtest.h>

#include <string>

#include "error.hpp"
#include "kmip_uri.hpp"
#include "provider.hpp"
#include "test_util.hpp"

using namespace orgcrypt;

namespace {

// The reason a URI is refused ("" if accepted).
std::string why(const std::string& uri) { return parse_kmip_uri(uri, nullptr); }

const char kKnownList[] = "(known: ca_file, cert_file, key_file, timeout_ms, connect_timeout_ms)";

}  // namespace

TEST(KmipUri, DefaultsAndParts) {
  KmipUri u;
  ASSERT_EQ(parse_kmip_uri("kmip://kmip.example.com/1234", &u), "");
  EXPECT_EQ(u.host, "kmip.example.com");
  EXPECT_EQ(u.port, 5696u);
  EXPECT_EQ(u.uid, "1234");
  EXPECT_EQ(u.ca_file, "");
  EXPECT_EQ(u.cert_file, "");
  EXPECT_EQ(u.key_file, "");
  EXPECT_EQ(u.timeout_ms, 10000);
  EXPECT_EQ(u.connect_timeout_ms, 5000);
  EXPECT_EQ(u.hostport(), "kmip.example.com:5696");

  // upper-case host lower-cased; explicit port; the UID keeps its case
  ASSERT_EQ(parse_kmip_uri("kmip://KMIP.Example.COM:15696/Key-ABC", &u), "");
  EXPECT_EQ(u.host, "kmip.example.com");
  EXPECT_EQ(u.port, 15696u);
  EXPECT_EQ(u.uid, "Key-ABC");

  // IPv6 in brackets, with and without a port
  ASSERT_EQ(parse_kmip_uri("kmip://[::1]/7", &u), "");
  EXPECT_EQ(u.host, "[::1]");
  EXPECT_EQ(u.port, 5696u);
  EXPECT_EQ(u.hostport(), "[::1]:5696");
  ASSERT_EQ(parse_kmip_uri("kmip://[FE80::1:2]:1/7", &u), "");
  EXPECT_EQ(u.host, "[fe80::1:2]");
  EXPECT_EQ(u.port, 1u);

  // a percent-encoded UID (a '/' and a '?' inside it)
  ASSERT_EQ(parse_kmip_uri("kmip://127.0.0.1:5696/a%2Fb%3Fc%25d", &u), "");
  EXPECT_EQ(u.uid, "a/b?c%d");
  // a UID with every printable ASCII kind it may have; 255 characters is the limit
  ASSERT_EQ(parse_kmip_uri("kmip://h/" + std::string(255, 'u'), &u), "");
  EXPECT_EQ(u.uid.size(), 255u);
  ASSERT_EQ(parse_kmip_uri("kmip://h/~!$'()*+,;:@", &u), "");
  EXPECT_EQ(u.uid, "~!$'()*+,;:@");

  // every parameter
  ASSERT_EQ(parse_kmip_uri("kmip://localhost:65535/5?ca_file=/etc/oc/ca.pem&cert_file=/etc/oc/c%20d.pem"
                           "&key_file=/etc/oc/c.key&timeout_ms=600000&connect_timeout_ms=1",
                           &u),
            "");
  EXPECT_EQ(u.host, "localhost");
  EXPECT_EQ(u.port, 65535u);
  EXPECT_EQ(u.uid, "5");
  EXPECT_EQ(u.ca_file, "/etc/oc/ca.pem");
  EXPECT_EQ(u.cert_file, "/etc/oc/c d.pem");
  EXPECT_EQ(u.key_file, "/etc/oc/c.key");
  EXPECT_EQ(u.timeout_ms, 600000);
  EXPECT_EQ(u.connect_timeout_ms, 1);

  // ca_file alone is fine (cert and key from the settings)
  ASSERT_EQ(parse_kmip_uri("kmip://h/5?ca_file=/ca.pem", &u), "");
  EXPECT_EQ(u.ca_file, "/ca.pem");

  // out is not touched on a refusal
  KmipUri keep;
  keep.uid = "unchanged";
  EXPECT_NE(parse_kmip_uri("kmip://h/", &keep), "");
  EXPECT_EQ(keep.uid, "unchanged");

  // the longest URI accepted
  std::string longest = "kmip://h/" + std::string(255, 'x') + "?ca_file=/";
  longest += std::string(kKmipMaxUri - longest.size(), 'p');
  ASSERT_EQ(longest.size(), kKmipMaxUri);
  EXPECT_EQ(why(longest), "ca_file is longer than 1024 characters");  // not "too long" for the URI
}

TEST(KmipUri, RefusedWithReasons) {
  const std::string usage = "kmip://HOST[:PORT]/UID";
  const std::string port = "the port must be a number from 1 to 65535";
  struct Case {
    std::string uri, reason;
  };
  const Case cases[] = {
      // prefix
      {"kmips://h/1", "a KMIP key URI starts with kmip:// (" + usage + ")"},
      {"KMIP://h/1", "a KMIP key URI starts with kmip:// (" + usage + ")"},
      {"kmip:/h/1", "a KMIP key URI starts with kmip:// (" + usage + ")"},
      {"", "a KMIP key URI starts with kmip:// (" + usage + ")"},
      // characters
      {"kmip://h/a b", "spaces, control characters and non-ASCII characters are not allowed (percent-encode them)"},
      {"kmip://h/a\tb", "spaces, control characters and non-ASCII characters are not allowed (percent-encode them)"},
      {"kmip://h/\xc3\xa9", "spaces, control characters and non-ASCII characters are not allowed (percent-encode them)"},
      {"kmip://h/1?ca_file=/\xc3\xa9.pem", "spaces, control characters and non-ASCII characters are not allowed (percent-encode them)"},
      {"kmip://h\xff/1", "spaces, control characters and non-ASCII characters are not allowed (percent-encode them)"},
      {"kmip://h/a\x7f", "spaces, control characters and non-ASCII characters are not allowed (percent-encode them)"},
      {"kmip://h/a#frag", "a fragment ('#') is not allowed"},
      {"kmip://h/a?timeout_ms=5#x", "a fragment ('#') is not allowed"},
      // host
      {"kmip:///1", "no host: write " + usage},
      {"kmip://", "no host: write " + usage},
      {"kmip://:5696/1", "no host: write " + usage},
      {"kmip://h_x/1", "the host name has a character that does not belong in a host name"},
      {"kmip://a..b/1", "the host name has an empty label"},
      {"kmip://a./1", "the host name has an empty label"},
      {"kmip://" + std::string(64, 'a') + "/1", "a label of the host name is longer than 63 characters"},
      {"kmip://" + std::string(254, 'a') + "/1", "the host name is longer than 253 characters"},
      {"kmip://user@h/1", "user information (user@host) is not allowed in the URI"},
      {"kmip://[::1/1", "an IPv6 address in brackets has no closing ']'"},
      {"kmip://[]/1", "empty IPv6 address"},
      {"kmip://[::g]/1", "the IPv6 address in brackets has a character that does not belong there"},
      {"kmip://[::1]x/1", "after an IPv6 address in brackets comes :PORT or nothing"},
      {"kmip://[::1]5696/1", "after an IPv6 address in brackets comes :PORT or nothing"},
      // port
      {"kmip://h:/1", port},
      {"kmip://h:0/1", port},
      {"kmip://h:65536/1", port},
      {"kmip://h:05696/1", port},
      {"kmip://h:123456/1", port},
      {"kmip://h:56a/1", port},
      {"kmip://h:-1/1", port},
      {"kmip://[::1]:/1", port},
      // UID
      {"kmip://h", "no key: write " + usage + " (UID is the key's KMIP Unique Identifier)"},
      {"kmip://h/", "no key: write " + usage + " (UID is the key's KMIP Unique Identifier)"},
      {"kmip://h:5696/?timeout_ms=5", "no key: write " + usage + " (UID is the key's KMIP Unique Identifier)"},
      {"kmip://h/" + std::string(256, 'u'), "the key's Unique Identifier is longer than 255 characters"},
      {"kmip://h/" + std::string(254, 'u') + "%41%41", "the key's Unique Identifier is longer than 255 characters"},
      {"kmip://h/a%20b", "the key's Unique Identifier must be printable ASCII without spaces"},
      {"kmip://h/%C3%A9", "the key's Unique Identifier must be printable ASCII without spaces"},
      {"kmip://h/%7F", "the key's Unique Identifier: a control character or NUL"},
      {"kmip://h/a%00", "the key's Unique Identifier: a control character or NUL"},
      {"kmip://h/a%0a", "the key's Unique Identifier: a control character or NUL"},
      {"kmip://h/a%2", "the key's Unique Identifier: a '%' must be followed by two hexadecimal digits"},
      {"kmip://h/a%zz", "the key's Unique Identifier: a '%' must be followed by two hexadecimal digits"},
      // query
      {"kmip://h/1?", "an empty query after '?'"},
      {"kmip://h/1?&timeout_ms=5", "an empty parameter in the query"},
      {"kmip://h/1?timeout_ms=5&", "an empty parameter in the query"},
      {"kmip://h/1?=5", "an empty parameter in the query"},
      {"kmip://h/1?tls=off", std::string("unknown parameter \"tls\" ") + kKnownList},
      {"kmip://h/1?CA_FILE=/x", std::string("unknown parameter \"CA_FILE\" ") + kKnownList},
      {"kmip://h/1?timeout_ms=5&timeout_ms=6", "parameter \"timeout_ms\" is given twice"},
      {"kmip://h/1?ca_file=/a&ca_file=/a", "parameter \"ca_file\" is given twice"},
      {"kmip://h/1?ca_file", "parameter \"ca_file\" has no value (write ca_file=...)"},
      {"kmip://h/1?ca_file=", "parameter \"ca_file\" has an empty value"},
      {"kmip://h/1?timeout_ms=", "parameter \"timeout_ms\" has an empty value"},
      {"kmip://h/1?ca_file=/a%g0", "parameter \"ca_file\": a '%' must be followed by two hexadecimal digits"},
      {"kmip://h/1?ca_file=/a%0d", "parameter \"ca_file\": a control character or NUL"},
      {"kmip://h/1?ca_file=ca.pem", "ca_file must be an absolute path (it is opened by the server process)"},
      {"kmip://h/1?cert_file=./c.pem&key_file=/k", "cert_file must be an absolute path (it is opened by the server process)"},
      {"kmip://h/1?cert_file=/c&key_file=k", "key_file must be an absolute path (it is opened by the server process)"},
      {"kmip://h/1?ca_file=/" + std::string(1024, 'p'), "ca_file is longer than 1024 characters"},
      {"kmip://h/1?cert_file=/c.pem", "cert_file and key_file go together (the client certificate and its private key)"},
      {"kmip://h/1?key_file=/c.key", "cert_file and key_file go together (the client certificate and its private key)"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(why(c.uri), c.reason) << c.uri;
    EXPECT_EQ(check_kmip_uri(c.uri), c.reason) << c.uri;
    if (uri_scheme(c.uri) == "kmip") {
      EXPECT_EQ(check_uri_syntax(c.uri), c.reason) << c.uri;
    }
  }
  // timeouts: 1..600000 whole milliseconds without a leading zero
  for (const char* name : {"timeout_ms", "connect_timeout_ms"}) {
    const std::string range = std::string(name) + " must be a whole number of milliseconds from 1 to 600000";
    for (const char* v : {"0", "600001", "01", "-5", "1.5", "1e3", "abc", "9999999999", "+5"})
      EXPECT_EQ(why(std::string("kmip://h/1?") + name + "=" + v), range) << name << "=" << v;
    for (const char* v : {"1", "600000", "250"})
      EXPECT_EQ(why(std::string("kmip://h/1?") + name + "=" + v), "") << name << "=" << v;
  }
  // a secret in the URI, under any of its names and cases
  for (const char* name : {"password", "pass", "passphrase", "pin", "key_password", "secret", "token", "PIN", "Password"}) {
    const std::string u = std::string("kmip://h/1?") + name + "=x";
    EXPECT_EQ(why(u), std::string("a ") + name +
                          " is never written in the URI (URIs are stored in tables and shown in messages): the client "
                          "key file must not be encrypted; protect it by its owner and mode (0600)")
        << u;
  }
  // too long, before anything else
  const std::string too_long = "kmip://h/" + std::string(kKmipMaxUri - 9 + 1, 'x');
  ASSERT_EQ(too_long.size(), kKmipMaxUri + 1);
  EXPECT_EQ(why(too_long), "the URI is longer than 4096 bytes");
  EXPECT_EQ(why("x" + too_long), "the URI is longer than 4096 bytes");
}

TEST(KmipUri, Redacted) {
  EXPECT_EQ(kmip_uri_redacted("kmip://h:5696/1"), "kmip://h:5696/1");
  EXPECT_EQ(kmip_uri_redacted("kmip://h/1?ca_file=/a&cert_file=/c&key_file=/k&timeout_ms=5&connect_timeout_ms=6"),
            "kmip://h/1?ca_file=/a&cert_file=/c&key_file=/k&timeout_ms=5&connect_timeout_ms=6");
  // an unknown parameter's value (and a secret's) is masked; the name stays
  EXPECT_EQ(kmip_uri_redacted("kmip://h/1?password=hunter2&ca_file=/a&tok=abc"),
            "kmip://h/1?password=***&ca_file=/a&tok=***");
  EXPECT_EQ(kmip_uri_redacted("kmip://h/1?pin=1234"), "kmip://h/1?pin=***");
  // user information before the host
  EXPECT_EQ(kmip_uri_redacted("kmip://alice:s3cret@h:5696/1"), "kmip://***@h:5696/1");
  EXPECT_EQ(kmip_uri_redacted("kmip://alice@h/1?pass=x"), "kmip://***@h/1?pass=***");
  // an '@' in the UID is not user information
  EXPECT_EQ(kmip_uri_redacted("kmip://h/a@b"), "kmip://h/a@b");
  // the registry's message form is the same
  EXPECT_EQ(uri_for_message("kmip://u:pw@h/1?secret=zz"), "kmip://***@h/1?secret=***");
  // a refused URI's error names it redacted, never the secret
  UriPolicy pol;
  pol.allowed = {"kmip://*"};
  set_uri_policy(pol);
  std::string m = testutil::expect_error("58000", [] { open_provider("kmip://h/1?password=hunter2"); });
  EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
  EXPECT_NE(m.find("kmip://h/1?password=***"), std::string::npos) << m;
  EXPECT_NE(m.find("is never written in the URI"), std::string::npos) << m;
  m = testutil::expect_error("58000", [] { make_kmip_provider("kmip://h/1?xyz=hunter2"); });
  EXPECT_EQ(m.find("hunter2"), std::string::npos) << m;
  EXPECT_NE(m.find("invalid key URI \"kmip://h/1?xyz=***\""), std::string::npos) << m;
  EXPECT_NE(m.find("unknown parameter \"xyz\""), std::string::npos) << m;
  set_uri_policy(UriPolicy());
}

TEST(KmipUri, TrustScope) {
  const std::string a = kmip_trust_scope("kmip://kms.example.com:5696/1?ca_file=/ca&timeout_ms=5");
  EXPECT_EQ(a, "kmip://kms.example.com:5696?ca_file=/ca&timeout_ms=5&");
  // same server, same parameters: another UID, or the parameters in another order
  EXPECT_EQ(kmip_trust_scope("kmip://kms.example.com:5696/other-key?ca_file=/ca&timeout_ms=5"), a);
  EXPECT_EQ(kmip_trust_scope("kmip://kms.example.com:5696/1?timeout_ms=5&ca_file=/ca"), a);
  // another port, host or parameter set: another scope
  EXPECT_NE(kmip_trust_scope("kmip://kms.example.com:5697/1?ca_file=/ca&timeout_ms=5"), a);
  EXPECT_NE(kmip_trust_scope("kmip://kms2.example.com:5696/1?ca_file=/ca&timeout_ms=5"), a);
  EXPECT_NE(kmip_trust_scope("kmip://kms.example.com:5696/1?ca_file=/ca2&timeout_ms=5"), a);
  EXPECT_NE(kmip_trust_scope("kmip://kms.example.com:5696/1?ca_file=/ca"), a);
  EXPECT_NE(kmip_trust_scope("kmip://kms.example.com:5696/1?ca_file=/ca&timeout_ms=5&cert_file=/c&key_file=/k"), a);
  EXPECT_EQ(kmip_trust_scope("kmip://h/1"), "kmip://h?");
  EXPECT_EQ(kmip_trust_scope("kmip://h:1"), "kmip://h:1?");

  // the registry uses it: a trusted kmip:// URI trusts other keys on the
  // same server with the same parameters, nothing else
  UriPolicy pol;
  pol.master_key = "kmip://kms.example.com:5696/1?ca_file=/ca&timeout_ms=5";
  set_uri_policy(pol);
  EXPECT_EQ(uri_trust_problem(pol.master_key), "");
  EXPECT_EQ(uri_trust_problem("kmip://kms.example.com:5696/2?timeout_ms=5&ca_file=/ca"), "");
  const std::string refused =
      "it sends credentials to the service it names, and neither orgcrypt.master_key nor an entry of "
      "orgcrypt.allowed_key_uris names the same service with the same parameters";
  EXPECT_EQ(uri_trust_problem("kmip://kms.example.com:5697/1?ca_file=/ca&timeout_ms=5"), refused);
  EXPECT_EQ(uri_trust_problem("kmip://evil.example.com:5696/1?ca_file=/ca&timeout_ms=5"), refused);
  EXPECT_EQ(uri_trust_problem("kmip://kms.example.com:5696/1?ca_file=/ca&timeout_ms=5&cert_file=/c&key_file=/k"),
            refused);
  std::string m = testutil::expect_error("58000", [] { open_provider("kmip://evil.example.com:5696/1"); });
  EXPECT_NE(m.find("is not trusted by this server"), std::string::npos) << m;
  // opening a trusted URI touches no network
  EXPECT_NO_THROW(open_provider("kmip://kms.example.com:5696/2?ca_file=/ca&timeout_ms=5"));
  // a prefix entry
  pol.master_key.clear();
  pol.allowed = {"kmip://127.0.0.1:*"};
  set_uri_policy(pol);
  EXPECT_EQ(uri_trust_problem("kmip://127.0.0.1:5696/9"), "");
  EXPECT_EQ(uri_trust_problem("kmip://127.0.0.2:5696/9"), refused);
  set_uri_policy(UriPolicy());
}

TEST(KmipUri, Registry) {
  const SchemeInfo* sc = find_scheme_info("kmip");
  ASSERT_NE(sc, nullptr);
  EXPECT_STREQ(sc->name, "kmip");
  EXPECT_NE(sc->trust_scope, nullptr);
  EXPECT_NE(sc->redact, nullptr);
  EXPECT_FALSE(sc->runs_code("kmip://h/1"));
  EXPECT_FALSE(uri_runs_code("kmip://h/1"));
  EXPECT_NE(supported_schemes().find("kmip"), std::string::npos) << supported_schemes();
  EXPECT_EQ(check_uri_syntax("kmip://h/1"), "");
  EXPECT_EQ(check_uri_syntax("kmip://h/"), "no key: write kmip://HOST[:PORT]/UID (UID is the key's KMIP Unique Identifier)");
  EXPECT_EQ(uri_scheme("kmip://h/1"), "kmip");
}
