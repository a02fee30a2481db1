// The AWS shared credentials/config file parser (src/providers/aws_ini.hpp).
#include <gtest/gtest.h>

#include <string>

#include "aws_ini.hpp"

using namespace orgcrypt;
using namespace orgcrypt::aws;

namespace {
std::string parse(const std::string& text, IniFile* f) { return parse_ini(ByteView(text), f); }
std::string val(const IniSection* s, const std::string& k) {
  if (!s || !s->count(k)) return "<none>";
  return std::string(s->at(k).c_str());
}
}  // namespace

TEST(AwsIni, ProfilesCommentsAndWhitespace) {
  const std::string text =
      "# comment\n"
      "; another\n"
      "[default]\n"
      "aws_access_key_id = AKIDDEFAULT0000000\r\n"
      "  \n"
      "AWS_Secret_Access_Key=sec/ret+default \n"
      "\t# indented comment\n"
      "[ prod ]\n"
      "aws_access_key_id\t=\tAKIDPROD000000000\n"
      "aws_session_token = tok=en==\n"
      "s3 =\n"
      "  max_concurrent_requests = 20\n"
      "[profile   prod]\n"
      "region = eu-west-1\n"
      "[default]\n"
      "region = us-east-1\n";
  IniFile f;
  ASSERT_EQ(parse(text, &f), "");
  const IniSection* d = find_profile(f, "default", false);
  EXPECT_EQ(val(d, "aws_access_key_id"), "AKIDDEFAULT0000000");
  EXPECT_EQ(val(d, "aws_secret_access_key"), "sec/ret+default");  // keys lower-cased, values trimmed
  EXPECT_EQ(val(d, "region"), "us-east-1");                       // a repeated section merges
  const IniSection* p = find_profile(f, "prod", false);
  EXPECT_EQ(val(p, "aws_access_key_id"), "AKIDPROD000000000");
  EXPECT_EQ(val(p, "aws_session_token"), "tok=en==");  // only the first = splits
  EXPECT_EQ(val(p, "s3"), "");
  EXPECT_EQ(val(p, "max_concurrent_requests"), "<none>");  // nested values are skipped
  // Config files: [profile prod], and [default] for default.
  EXPECT_EQ(val(find_profile(f, "prod", true), "region"), "eu-west-1");
  EXPECT_EQ(val(find_profile(f, "default", true), "region"), "us-east-1");
  EXPECT_EQ(find_profile(f, "nope", false), nullptr);
  EXPECT_EQ(find_profile(f, "nope", true), nullptr);
}

TEST(AwsIni, ProfileVersusBareSectionInConfig) {
  IniFile f;
  ASSERT_EQ(parse("[dev]\nregion = a\n[profile default]\nregion = b\n", &f), "");
  EXPECT_EQ(find_profile(f, "dev", true), nullptr);  // a config file wants [profile dev]
  EXPECT_NE(find_profile(f, "dev", false), nullptr);  // a credentials file wants [dev]
  EXPECT_EQ(val(find_profile(f, "default", true), "region"), "b");
  EXPECT_EQ(find_profile(f, "profile dev", false), nullptr);
}

TEST(AwsIni, Refusals) {
  IniFile f;
  EXPECT_EQ(parse("aws_access_key_id = x\n", &f), "line 1: key = value before the first [section]");
  EXPECT_EQ(parse("[a]\nnot a pair\n", &f), "line 2 is neither a [section] nor key = value");
  EXPECT_EQ(parse("[a\n", &f), "line 1: a section header must end with ]");
  EXPECT_EQ(parse("[ ]\n", &f), "line 1: an empty section name");
  EXPECT_EQ(parse("[a]\n= v\n", &f), "line 2: an empty key");
  EXPECT_EQ(parse(std::string("[a]\nk = v\0w\n", 13), &f), "line 2 contains a NUL byte");
  EXPECT_EQ(parse(std::string(kMaxIniFile + 1, '#'), &f), "the file is longer than 262144 bytes");
  // A reason never quotes the line.
  EXPECT_EQ(parse("[a]\nwJalrXUtnFEMI/K7MDENG\n", &f).find("wJalr"), std::string::npos);
  EXPECT_EQ(parse("", &f), "");
  EXPECT_TRUE(f.sections.empty());
}
