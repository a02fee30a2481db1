// The exec: protocol without processes: URIs, requests, responses.
#include <gtest/gtest.h>

#include <string>

#include "base64.hpp"
#include "envelope.hpp"
#include "exec_protocol.hpp"
#include "provider.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using namespace orgcrypt::exec_proto;

namespace {

std::string b64(const std::string& s) {
  std::string out(b64_encoded_len(s.size()), '\0');
  b64_encode(reinterpret_cast<const std::uint8_t*>(s.data()), s.size(), &out[0]);
  return out;
}

std::string str(const SecretBytes& b) { return std::string(b.begin(), b.end()); }

// "" if it parses (and the response in *r), else the reason.
std::string parse(const std::string& out, Response* r = nullptr) {
  Response tmp;
  return parse_response(ByteView(out), r ? r : &tmp);
}

}  // namespace

TEST(ExecUri, AcceptsAbsolutePathsAndATimeout) {
  Uri u;
  EXPECT_EQ(parse_uri("exec:/usr/local/lib/orgcrypt/kms-wrap", &u), "");
  EXPECT_EQ(u.path, "/usr/local/lib/orgcrypt/kms-wrap");
  EXPECT_EQ(u.timeout_ms, kDefaultTimeoutMs);
  EXPECT_EQ(kDefaultTimeoutMs, 30000u);
  EXPECT_EQ(parse_uri("exec:/opt/kek?timeout_ms=5000", &u), "");
  EXPECT_EQ(u.path, "/opt/kek");
  EXPECT_EQ(u.timeout_ms, 5000u);
  EXPECT_EQ(parse_uri("exec:/a?timeout_ms=1", &u), "");
  EXPECT_EQ(u.timeout_ms, 1u);
  EXPECT_EQ(parse_uri("exec:/a?timeout_ms=600000", &u), "");
  EXPECT_EQ(u.timeout_ms, 600000u);
  EXPECT_EQ(parse_uri("exec:/dir.d/prog-1_2.sh", &u), "");
  EXPECT_EQ(check_uri_syntax("exec:/usr/bin/x"), "");
  EXPECT_EQ(check_exec_uri("exec:/usr/bin/x"), "");
  EXPECT_EQ(uri_scheme("exec:/usr/bin/x"), "exec");
}

TEST(ExecUri, RefusesEverythingElse) {
  const std::string bad[] = {
      "exec:",                 // no path
      "exec:relative/prog",    // relative
      "exec:prog",             //
      "exec://host/prog",      // authority form
      "exec:///prog",          //
      "exec:/",                // the root directory
      "exec:/usr/bin/",        // a directory
      "exec:/usr//bin/x",      // empty segment
      "exec:/usr/../tmp/x",    // .. (would escape an allow-list prefix)
      "exec:/usr/./bin/x",     // .
      "exec:/usr/bin/..",      //
      "exec:/a b",             // whitespace
      "exec:/a\tb",            //
      "exec:/a\nb",            //
      std::string("exec:/a\0b", 9),  // NUL
      "exec:/a\x7f",           // DEL
      "exec:/a?",              // empty query
      "exec:/a?timeout=5",     // unknown parameter
      "exec:/a?timeout_ms=",   //
      "exec:/a?timeout_ms=0",  // out of range
      "exec:/a?timeout_ms=600001",
      "exec:/a?timeout_ms=05",        // leading zero
      "exec:/a?timeout_ms=-5",        //
      "exec:/a?timeout_ms=5s",        //
      "exec:/a?timeout_ms=99999999",  //
      "exec:/a?timeout_ms=5&x=1",     // a second parameter
      "EXEC:/a",                      // scheme is case-sensitive here
      "exec /a",                      //
      "exec:/" + std::string(5000, 'a'),
  };
  for (const auto& u : bad) {
    SCOPED_TRACE(u);
    EXPECT_NE(parse_uri(u, nullptr), "");
    EXPECT_NE(check_uri_syntax(u), "");
    testutil::expect_error("58000", [&] { open_provider(u); }, u.c_str());
  }
  EXPECT_NE(parse_uri("exec://h/p", nullptr).find("one slash"), std::string::npos);
  EXPECT_NE(parse_uri("exec:rel", nullptr).find("absolute path"), std::string::npos);
  EXPECT_NE(parse_uri("exec:/a/../b", nullptr).find(".."), std::string::npos);
  EXPECT_NE(parse_uri("exec:/a?x=1", nullptr).find("timeout_ms"), std::string::npos);
}

TEST(ExecRequest, WrapAndUnwrapRequestsAreExact) {
  const std::string org = "acme \xc3\xa9";  // UTF-8
  const Bytes aad = wrap_aad(ByteView(org), 7);
  const std::string dek(32, '\x11');
  const std::string expect_tail = "org " + b64(org) + "\nversion 7\naad " + b64(std::string(aad.begin(), aad.end())) +
                                  "\ndata " + b64(dek) + "\n\n";
  EXPECT_EQ(str(build_request(Op::Wrap, ByteView(aad), ByteView(dek))),
            "orgcrypt-exec 1\noperation wrap\n" + expect_tail);
  EXPECT_EQ(str(build_request(Op::Unwrap, ByteView(aad), ByteView(dek))),
            "orgcrypt-exec 1\noperation unwrap\n" + expect_tail);
  EXPECT_EQ(str(build_request(Op::Fingerprint, ByteView(aad), ByteView(dek))),
            "orgcrypt-exec 1\noperation fingerprint\n\n");
  // An AAD that is not a wrap AAD: no org/version lines, still aad and data.
  const std::string other = "not a wrap aad";
  EXPECT_EQ(str(build_request(Op::Wrap, ByteView(other), ByteView(dek))),
            "orgcrypt-exec 1\noperation wrap\naad " + b64(other) + "\ndata " + b64(dek) + "\n\n");
  EXPECT_STREQ(op_name(Op::Wrap), "wrap");
  EXPECT_STREQ(op_name(Op::Unwrap), "unwrap");
  EXPECT_STREQ(op_name(Op::Fingerprint), "fingerprint");
}

TEST(ExecRequest, ParseWrapAadInvertsWrapAad) {
  for (const std::string& org : {std::string("a"), std::string("acme"), std::string(255, 'z'), std::string("a\0b", 3)}) {
    for (std::uint32_t v : {1u, 7u, 0x7FFFFFFFu}) {
      Bytes aad = wrap_aad(ByteView(org), v);
      ByteView o;
      std::uint32_t ver = 0;
      ASSERT_TRUE(parse_wrap_aad(ByteView(aad), &o, &ver));
      EXPECT_EQ(std::string(reinterpret_cast<const char*>(o.data), o.size), org);
      EXPECT_EQ(ver, v);
      // Truncated, extended, or with another label: not a wrap AAD.
      Bytes t(aad.begin(), aad.end() - 1);
      EXPECT_FALSE(parse_wrap_aad(ByteView(t), &o, &ver));
      Bytes x = aad;
      x.push_back(0);
      EXPECT_FALSE(parse_wrap_aad(ByteView(x), &o, &ver));
      Bytes l = aad;
      l[0] ^= 1;
      EXPECT_FALSE(parse_wrap_aad(ByteView(l), &o, &ver));
    }
  }
  EXPECT_FALSE(parse_wrap_aad(ByteView(), nullptr, nullptr));
}

TEST(ExecResponse, GoodResponses) {
  Response r;
  const std::string v = std::string("\x00\x01\xfe\xff", 4) + std::string(40, 'k');
  EXPECT_EQ(parse("ok " + b64(v) + "\n", &r), "");
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(str(r.value), v);
  EXPECT_EQ(parse("ok " + b64(v), &r), "");  // no final newline
  EXPECT_EQ(str(r.value), v);
  EXPECT_EQ(parse("ok QQ==\n", &r), "");
  EXPECT_EQ(str(r.value), "A");
  EXPECT_EQ(parse("error key disabled\n", &r), "");
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.value.empty());
  EXPECT_EQ(r.error, "key disabled");
  EXPECT_EQ(parse("error x", &r), "");
  EXPECT_EQ(r.error, "x");
  // The error text is sanitised and bounded.
  EXPECT_EQ(parse("error bad\tthing \x01\xff\n", &r), "");
  EXPECT_EQ(r.error, "bad thing ??");
  EXPECT_EQ(parse("error " + std::string(5000, 'e') + "\n", &r), "");
  EXPECT_EQ(r.error, std::string(kMaxErrorText, 'e') + "...");
  // The largest response fits exactly.
  std::string big = "ok " + std::string(((kMaxResponse - 4) / 4) * 4, 'A') + "\n";
  ASSERT_LE(big.size(), kMaxResponse);
  EXPECT_EQ(parse(big, &r), "");
}

TEST(ExecResponse, EveryMalformedFormIsRefused) {
  const std::string good = b64(std::string(32, 'd'));
  const std::string bad[] = {
      "",                                 // nothing
      "\n",                               //
      "ok\n",                             // no value
      "ok \n",                            //
      "ok",                               //
      "OK " + good + "\n",                // case
      "ok  " + good + "\n",               // two spaces
      "ok\t" + good + "\n",               // tab
      " ok " + good + "\n",               // leading space
      "ok " + good + " \n",               // trailing space
      "ok " + good + "\r\n",              // CRLF
      "ok " + good + "\n\n",              // an empty second line
      "ok " + good + "\nextra\n",         // trailing garbage
      "ok " + good + "\nerror x\n",       //
      "ok " + good.substr(0, 43) + "\n",  // not a whole group
      "ok " + good.substr(0, 42) + "=\n", // wrong padding
      "ok QR==\n",                        // non-zero unused bits
      "ok ====\n",                        //
      "ok QQ==QQ==\n",                    // data after padding
      "ok " + std::string("QUJD\0RA==", 9) + "\n",  // NUL
      "ok QUJD-_8=\n",                    // base64url alphabet
      "ok QUJD RA==\n",                   // inner whitespace
      "ok QUJD\nRA==\n",                  // wrapped
      "error\n",                          // no text
      "error \n",                         //
      "error",                            //
      "error " + std::string("a\0b", 3),  // NUL in the text
      "error x\nmore\n",                  // two lines
      "fail " + good + "\n",              // unknown word
      "okay " + good + "\n",              //
      "ok=" + good + "\n",                //
      good + "\n",                        // bare value
      "ok " + std::string(kMaxResponse, 'A'),  // over the limit
  };
  for (const auto& b : bad) {
    SCOPED_TRACE(testutil::tohex(b).substr(0, 80));
    Response r;
    r.ok = true;
    r.error = "untouched";
    const std::string why = parse(b, &r);
    EXPECT_NE(why, "");
    // The reason never quotes the response.
    if (b.size() > 8) {
      EXPECT_EQ(why.find(b.substr(3, 6)), std::string::npos) << why;
    }
  }
  EXPECT_NE(parse("ok " + std::string(kMaxResponse, 'A')).find("longer than"), std::string::npos);
  EXPECT_NE(parse("").find("nothing"), std::string::npos);
  EXPECT_NE(parse("ok " + good + "\nx").find("more than one line"), std::string::npos);
  EXPECT_NE(parse("ok @@@@").find("not base64"), std::string::npos);
  EXPECT_NE(parse("hello").find("neither"), std::string::npos);
}

TEST(ExecResponse, Sanitize) {
  EXPECT_EQ(sanitize(ByteView(std::string("line one\nline two\n")), 100), "line one line two");
  EXPECT_EQ(sanitize(ByteView(std::string("\x1b[31mred\x1b[0m")), 100), "?[31mred?[0m");
  EXPECT_EQ(sanitize(ByteView(std::string("abcdef")), 3), "abc...");
  EXPECT_EQ(sanitize(ByteView(std::string("abc")), 3), "abc");
  EXPECT_EQ(sanitize(ByteView(std::string("\xc3\xa9")), 10), "??");
  EXPECT_EQ(sanitize(ByteView(), 10), "");
}
