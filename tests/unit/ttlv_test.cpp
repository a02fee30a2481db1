// KMIP TTLV codec (src/core/ttlv.cpp): known answers from the KMIP 1.4
// specification (section 9.1.2), byte-for-byte agreement with PyKMIP's own
// encoder (tests/helpers/pykmip_ttlv.py, run at test time with Debian's
// python3-pykmip), and every refusal of the decoder with its exact message.
#include "ttlv.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "error.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using namespace orgcrypt::ttlv;
using testutil::tohex;
using testutil::unhex;

namespace {

// Hex with spaces and '|' (as printed in the specification) to bytes.
Bytes spec_hex(const std::string& s) {
  std::string h;
  for (char c : s)
    if (c != ' ' && c != '|') h.push_back(c);
  return unhex(h);
}

std::string enc_hex(const Item& it) { return tohex(encode(it)); }

// Asserts that decode() refuses `in` with exactly this message and 58000.
void expect_refused(const Bytes& in, const std::string& msg, const Limits& lim = Limits{}) {
  try {
    decode(in, lim);
    ADD_FAILURE() << "decoded, expected: " << msg;
  } catch (const Error& e) {
    EXPECT_STREQ(e.sqlstate(), "58000");
    EXPECT_EQ(std::string(e.what()), msg);
  }
}

Item decode_bytes(const Bytes& b) { return decode(b); }

}  // namespace

// ---- KMIP 1.4 specification, section 9.1.2 (tag 420020 = Compromise Date) --

TEST(TtlvSpec, Examples) {
  struct Case {
    Item item;
    const char* spec;
  };
  const std::uint32_t t = 0x420020;
  std::vector<Case> cases = {
      {integer(t, 8), "42 00 20 | 02 | 00 00 00 04 | 00 00 00 08 00 00 00 00"},
      {long_integer(t, 123456789000000000LL),
       "42 00 20 | 03 | 00 00 00 08 | 01 B6 9B 4B A5 74 92 00"},
      {big_integer(t, spec_hex("00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00")),
       "42 00 20 | 04 | 00 00 00 10 | 00 00 00 00 03 FD 35 EB 6B C2 DF 46 18 08 00 00"},
      {enumeration(t, 255), "42 00 20 | 05 | 00 00 00 04 | 00 00 00 FF 00 00 00 00"},
      {boolean(t, true), "42 00 20 | 06 | 00 00 00 08 | 00 00 00 00 00 00 00 01"},
      {text(t, "Hello World"),
       "42 00 20 | 07 | 00 00 00 0B | 48 65 6C 6C 6F 20 57 6F 72 6C 64 00 00 00 00 00"},
      {bytes(t, spec_hex("01 02 03")), "42 00 20 | 08 | 00 00 00 03 | 01 02 03 00 00 00 00 00"},
      // Friday, March 14, 2008, 11:56:40 GMT
      {datetime(t, 1205495800), "42 00 20 | 09 | 00 00 00 08 | 00 00 00 00 47 DA 67 F8"},
      {interval(t, 10 * 24 * 3600), "42 00 20 | 0A | 00 00 00 04 | 00 0D 2F 00 00 00 00 00"},
      {structure(t, {enumeration(0x420004, 254), integer(0x420005, 255)}),
       "42 00 20 | 01 | 00 00 00 20 | 42 00 04 | 05 | 00 00 00 04 | 00 00 00 FE 00 00 00 00 | "
       "42 00 05 | 02 | 00 00 00 04 | 00 00 00 FF 00 00 00 00"},
  };
  for (const Case& c : cases) {
    Bytes want = spec_hex(c.spec);
    EXPECT_EQ(enc_hex(c.item), tohex(want)) << c.spec;
    Item back = decode(want);
    EXPECT_EQ(enc_hex(back), tohex(want)) << c.spec;
  }
  Item s = decode(spec_hex(cases.back().spec));
  EXPECT_EQ(s.tag, 0x420020u);
  EXPECT_EQ(s.get(0x420004).as_enum(), 254u);
  EXPECT_EQ(s.get(0x420005).as_integer(), 255);
  EXPECT_EQ(decode(spec_hex(cases[1].spec)).as_long(), 123456789000000000LL);
  EXPECT_EQ(decode(spec_hex(cases[5].spec)).as_text(), "Hello World");
  EXPECT_EQ(decode(spec_hex(cases[7].spec)).as_datetime(), 1205495800);
  EXPECT_EQ(decode(spec_hex(cases[8].spec)).as_interval(), 864000u);
  EXPECT_TRUE(decode(spec_hex(cases[4].spec)).as_bool());
}

// ---- PyKMIP's own encoder -------------------------------------------------

namespace {

std::map<std::string, std::string> pykmip_cases() { return testutil::python_helper_cases("pykmip_ttlv.py"); }

Item protocol_version(int major, int minor) {
  return structure(tag::kProtocolVersion, {integer(tag::kProtocolVersionMajor, major),
                                           integer(tag::kProtocolVersionMinor, minor)});
}

Bytes seq(int from, int n) {
  Bytes b;
  for (int i = 0; i < n; i++) b.push_back(static_cast<std::uint8_t>(from + i));
  return b;
}

Item gcm_params() {
  return structure(tag::kCryptographicParameters,
                   {enumeration(tag::kBlockCipherMode, 9 /* GCM */),
                    enumeration(tag::kCryptographicAlgorithm, 3 /* AES */),
                    integer(tag::kTagLength, 16)});
}

}  // namespace

TEST(TtlvPyKmip, ByteForByte) {
  std::map<std::string, std::string> py;
  try {
    py = pykmip_cases();
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const std::uint32_t cd = 0x420020;  // Compromise Date
  const std::string aad = "orgcrypt wrap aad";
  std::map<std::string, Item> ours;
  ours["integer"] = integer(cd, 8);
  ours["integer_neg"] = integer(tag::kBatchCount, -2);
  ours["long"] = long_integer(tag::kBatchCount, 123456789000000000LL);
  ours["long_neg"] = long_integer(tag::kBatchCount, -1);
  ours["bigint"] = big_integer(cd, unhex("0000000003fd35eb6bc2df4618080000"));
  ours["enum"] = enumeration(tag::kCryptographicAlgorithm, 3);
  ours["bool_true"] = boolean(cd, true);
  ours["bool_false"] = boolean(cd, false);
  ours["text"] = text(cd, "Hello World");
  ours["text_empty"] = text(tag::kUniqueIdentifier, "");
  ours["bytes"] = bytes(cd, unhex("010203"));
  ours["bytes_8"] = bytes(tag::kData, seq(0, 8));
  ours["datetime"] = datetime(cd, 0x47DA67F8);
  ours["interval"] = interval(cd, 864000);
  ours["discover_versions_payload"] =
      structure(tag::kRequestPayload, {protocol_version(1, 4), protocol_version(1, 3)});
  ours["encrypt_payload"] = structure(
      tag::kRequestPayload,
      {text(tag::kUniqueIdentifier, "1"), gcm_params(), bytes(tag::kData, seq(0, 32)),
       bytes(tag::kIVCounterNonce, seq(100, 12)),
       bytes(tag::kAuthenticatedEncryptionAdditionalData, aad)});
  ours["decrypt_payload"] = structure(
      tag::kRequestPayload,
      {text(tag::kUniqueIdentifier, "key-42"), gcm_params(), bytes(tag::kData, seq(0, 48)),
       bytes(tag::kIVCounterNonce, seq(100, 12)),
       bytes(tag::kAuthenticatedEncryptionAdditionalData, aad),
       bytes(tag::kAuthenticatedEncryptionTag, seq(200, 16))});
  ours["request_message"] = structure(
      tag::kRequestMessage,
      {structure(tag::kRequestHeader,
                 {protocol_version(1, 4), integer(tag::kBatchCount, 1)}),
       structure(tag::kBatchItem,
                 {enumeration(tag::kOperation, 0x1E /* DiscoverVersions */),
                  structure(tag::kRequestPayload, {protocol_version(1, 4)})})});

  std::size_t encodings = 0;
  for (const auto& kv : py)
    if (kv.first.compare(0, 4, "tag_") != 0) encodings++;
  EXPECT_EQ(encodings, ours.size());
  for (const auto& kv : ours) {
    SCOPED_TRACE(kv.first);
    auto it = py.find(kv.first);
    ASSERT_NE(it, py.end()) << "PyKMIP helper did not print case " << kv.first;
    EXPECT_EQ(enc_hex(kv.second), it->second);
    // Decode PyKMIP's bytes and encode them again: the same bytes.
    Item back = decode(unhex(it->second));
    EXPECT_EQ(enc_hex(back), it->second);
  }

  // Lookups on a decoded PyKMIP message.
  Item d = decode_bytes(unhex(py["decrypt_payload"]));
  EXPECT_EQ(d.get(tag::kUniqueIdentifier).as_text(), "key-42");
  EXPECT_EQ(d.get(tag::kCryptographicParameters).get(tag::kBlockCipherMode).as_enum(), 9u);
  EXPECT_EQ(tohex(d.get(tag::kAuthenticatedEncryptionTag).as_bytes()), tohex(seq(200, 16)));
  Item* data = nullptr;
  for (Item& c : d.children)
    if (c.tag == tag::kData) data = &c;
  ASSERT_NE(data, nullptr);
  SecretBytes taken = data->take_bytes();
  EXPECT_EQ(tohex(taken), tohex(seq(0, 48)));
  EXPECT_TRUE(data->bytes.empty());
  Item m = decode_bytes(unhex(py["request_message"]));
  EXPECT_EQ(m.get(tag::kRequestHeader).get(tag::kProtocolVersion).get(tag::kProtocolVersionMinor)
                .as_integer(),
            4);
  EXPECT_EQ(decode_bytes(unhex(py["integer_neg"])).as_integer(), -2);
  EXPECT_EQ(decode_bytes(unhex(py["long_neg"])).as_long(), -1);
}

TEST(TtlvPyKmip, TagNumbers) {
  std::map<std::string, std::string> py;
  try {
    py = pykmip_cases();
  } catch (const std::exception& e) {
    FAIL() << e.what();
  }
  const std::map<std::string, std::uint32_t> ours = {
      {"ASYNCHRONOUS_CORRELATION_VALUE", tag::kAsynchronousCorrelationValue},
      {"AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA", tag::kAuthenticatedEncryptionAdditionalData},
      {"AUTHENTICATED_ENCRYPTION_TAG", tag::kAuthenticatedEncryptionTag},
      {"BATCH_COUNT", tag::kBatchCount},
      {"BATCH_ITEM", tag::kBatchItem},
      {"BLOCK_CIPHER_MODE", tag::kBlockCipherMode},
      {"CRYPTOGRAPHIC_ALGORITHM", tag::kCryptographicAlgorithm},
      {"CRYPTOGRAPHIC_LENGTH", tag::kCryptographicLength},
      {"CRYPTOGRAPHIC_PARAMETERS", tag::kCryptographicParameters},
      {"DATA", tag::kData},
      {"IV_COUNTER_NONCE", tag::kIVCounterNonce},
      {"KEY", tag::kKey},
      {"KEY_BLOCK", tag::kKeyBlock},
      {"KEY_COMPRESSION_TYPE", tag::kKeyCompressionType},
      {"KEY_FORMAT_TYPE", tag::kKeyFormatType},
      {"KEY_MATERIAL", tag::kKeyMaterial},
      {"KEY_VALUE", tag::kKeyValue},
      {"KEY_WRAPPING_DATA", tag::kKeyWrappingData},
      {"MAXIMUM_RESPONSE_SIZE", tag::kMaximumResponseSize},
      {"OBJECT_TYPE", tag::kObjectType},
      {"OPERATION", tag::kOperation},
      {"PADDING_METHOD", tag::kPaddingMethod},
      {"PROTOCOL_VERSION", tag::kProtocolVersion},
      {"PROTOCOL_VERSION_MAJOR", tag::kProtocolVersionMajor},
      {"PROTOCOL_VERSION_MINOR", tag::kProtocolVersionMinor},
      {"REQUEST_HEADER", tag::kRequestHeader},
      {"REQUEST_MESSAGE", tag::kRequestMessage},
      {"REQUEST_PAYLOAD", tag::kRequestPayload},
      {"RESPONSE_HEADER", tag::kResponseHeader},
      {"RESPONSE_MESSAGE", tag::kResponseMessage},
      {"RESPONSE_PAYLOAD", tag::kResponsePayload},
      {"RESULT_MESSAGE", tag::kResultMessage},
      {"RESULT_REASON", tag::kResultReason},
      {"RESULT_STATUS", tag::kResultStatus},
      {"SYMMETRIC_KEY", tag::kSymmetricKey},
      {"TAG_LENGTH", tag::kTagLength},
      {"TIME_STAMP", tag::kTimeStamp},
      {"UNIQUE_BATCH_ITEM_ID", tag::kUniqueBatchItemID},
      {"UNIQUE_IDENTIFIER", tag::kUniqueIdentifier},
  };
  std::size_t printed = 0;
  for (const auto& kv : py)
    if (kv.first.compare(0, 4, "tag_") == 0) printed++;
  EXPECT_EQ(printed, ours.size());
  for (const auto& kv : ours) {
    auto it = py.find("tag_" + kv.first);
    ASSERT_NE(it, py.end()) << kv.first;
    char want[16];
    std::snprintf(want, sizeof want, "%06x", static_cast<unsigned>(kv.second));
    EXPECT_EQ(it->second, want) << kv.first;
  }
}

// ---- Lookups and typed getters ---------------------------------------------

TEST(TtlvItem, GettersThrowOnMismatch) {
  Item s = structure(tag::kResponsePayload, {text(tag::kUniqueIdentifier, "k"),
                                             text(tag::kUniqueIdentifier, "k2")});
  EXPECT_EQ(s.find(tag::kData), nullptr);
  EXPECT_EQ(s.find_all(tag::kUniqueIdentifier).size(), 2u);
  try {
    s.get(tag::kData);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.sqlstate(), "58000");
    EXPECT_EQ(std::string(e.what()),
              "KMIP: malformed response: item 0x42007C has no item 0x4200C2");
  }
  try {
    s.get(tag::kUniqueIdentifier).as_bytes();
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.sqlstate(), "58000");
    EXPECT_EQ(std::string(e.what()),
              "KMIP: malformed response: item 0x420094 is a Text String, expected a Byte String");
  }
  EXPECT_THROW(s.as_integer(), Error);
  EXPECT_THROW(integer(1, 1).as_enum(), Error);
  EXPECT_THROW(enumeration(1, 1).as_interval(), Error);
  EXPECT_THROW(boolean(1, true).as_long(), Error);
  EXPECT_THROW(long_integer(1, 1).as_datetime(), Error);
  EXPECT_THROW(bytes(1, Bytes{1}).as_bigint(), Error);
  EXPECT_THROW(text(1, "x").take_bytes(), Error);
  EXPECT_THROW(big_integer(1, Bytes{1, 2, 3}), Error);
}

// ---- Decoder refusals -------------------------------------------------------

TEST(TtlvDecode, Refusals) {
  const std::string p = "KMIP: malformed response: ";
  expect_refused(Bytes{}, p + "truncated item header at offset 0");
  expect_refused(unhex("42002002000000"), p + "truncated item header at offset 0");
  // A structure whose child header is cut short.
  expect_refused(unhex("4200200100000008420020020000"), p + "item length past the end at offset 4");
  expect_refused(unhex("4200200100000004" "4200200200000000"), p + "truncated item header at offset 8");
  // Unknown types 0x00 and 0x0B.
  expect_refused(unhex("4200200000000000"), p + "unknown item type 0 at offset 3");
  expect_refused(unhex("4200200b00000000"), p + "unknown item type 11 at offset 3");
  // Length past the end: a Text String claiming 4 GiB - 1 bytes (nothing allocated).
  expect_refused(unhex("42002007ffffffff41"), p + "item length past the end at offset 4");
  expect_refused(unhex("420020080000000901020304050607080900"),
                 p + "item padding past the end at offset 4");
  expect_refused(unhex("420020070000000341424300000000"),
                 p + "item padding past the end at offset 4");
  // Nonzero padding.
  expect_refused(unhex("42002002000000040000000800000100"), p + "nonzero padding at offset 14");
  expect_refused(unhex("42002008000000030102030000000001"), p + "nonzero padding at offset 15");
  // Wrong length for the type.
  expect_refused(unhex("42002002000000080000000000000008"),
                 p + "length 8 is wrong for a Integer at offset 4");
  expect_refused(unhex("42002005000000080000000000000001"),
                 p + "length 8 is wrong for a Enumeration at offset 4");
  expect_refused(unhex("4200200a000000080000000000000001"),
                 p + "length 8 is wrong for a Interval at offset 4");
  expect_refused(unhex("42002003000000040000000100000000"),
                 p + "length 4 is wrong for a Long Integer at offset 4");
  expect_refused(unhex("42002006000000040000000100000000"),
                 p + "length 4 is wrong for a Boolean at offset 4");
  expect_refused(unhex("420020090000000000"), p + "length 0 is wrong for a Date-Time at offset 4");
  expect_refused(unhex("42002004000000040000000100000000"),
                 p + "Big Integer length 4 is not a positive multiple of 8 at offset 4");
  expect_refused(unhex("4200200400000000"),
                 p + "Big Integer length 0 is not a positive multiple of 8 at offset 4");
  // Boolean neither 0 nor 1.
  expect_refused(unhex("42002006000000080000000000000002"),
                 p + "Boolean value is neither 0 nor 1 at offset 8");
  expect_refused(unhex("42002006000000080100000000000001"),
                 p + "Boolean value is neither 0 nor 1 at offset 8");
  // Bad UTF-8: a lone continuation byte, an overlong '/', a surrogate, above U+10FFFF, cut short.
  for (const char* bad : {"80", "c0af", "eda080", "f4908080", "e282"}) {
    std::string v = bad;
    std::size_t n = v.size() / 2;
    char len[24];
    std::snprintf(len, sizeof len, "%08zx", n);
    std::string h = std::string("42002007") + len + v + std::string((8 - n) * 2, '0');
    expect_refused(unhex(h), p + "Text String is not valid UTF-8 at offset 8");
  }
  EXPECT_EQ(decode(unhex("4200200700000009636cc3a920e282ac2e00000000000000")).as_text(),
            "cl\xc3\xa9 \xe2\x82\xac.");
  // Trailing bytes after the top item.
  expect_refused(unhex("4200200200000004000000080000000000"),
                 p + "trailing bytes after the message at offset 16");
  expect_refused(unhex("42002002000000040000000800000000" "42002002000000040000000800000000"),
                 p + "trailing bytes after the message at offset 16");
  // Oversize message.
  Limits small;
  small.max_message = 15;
  expect_refused(unhex("42002002000000040000000800000000"),
                 p + "message of 16 bytes is longer than the limit of 15 at offset 0", small);
  Bytes big(Limits{}.max_message + 1, 0);
  expect_refused(big, p + "message of 1048577 bytes is longer than the limit of 1048576 at offset 0");
}

namespace {
// `levels` structures nested in one another, an Integer innermost.
Bytes nested(int levels) {
  Item it = integer(0x420020, 1);
  for (int i = 0; i < levels; i++) it = structure(0x420020, {it});
  SecretBytes e = encode(it);
  return Bytes(e.begin(), e.end());
}
}  // namespace

TEST(TtlvDecode, DepthLimit) {
  const std::string p = "KMIP: malformed response: ";
  EXPECT_NO_THROW(decode(nested(32)));
  // The 33rd structure starts at offset 32 * 8.
  expect_refused(nested(33), p + "structures nested deeper than 32 at offset 256");
  Limits l;
  l.max_depth = 2;
  EXPECT_NO_THROW(decode(nested(2), l));
  expect_refused(nested(3), p + "structures nested deeper than 2 at offset 16", l);
  // Input nested far beyond the limit is refused at the limit.
  expect_refused(nested(300), p + "structures nested deeper than 32 at offset 256");
}

TEST(TtlvDecode, ItemCountLimit) {
  const std::string p = "KMIP: malformed response: ";
  std::vector<Item> kids(9, integer(0x420020, 1));
  Item s = structure(0x420020, kids);  // 10 items
  SecretBytes e = encode(s);
  Bytes b(e.begin(), e.end());
  Limits l;
  l.max_items = 10;
  EXPECT_NO_THROW(decode(b, l));
  l.max_items = 9;
  // The 10th item is the 9th child: 8 + 8 * 16.
  expect_refused(b, p + "more than 9 items at offset 136", l);
  // The default limit (4096): 4096 items pass, 4097 do not.
  std::vector<Item> many(4095, integer(0x420020, 1));
  SecretBytes e2 = encode(structure(0x420020, many));
  EXPECT_NO_THROW(decode(e2));
  many.push_back(integer(0x420020, 1));
  SecretBytes e3 = encode(structure(0x420020, many));
  expect_refused(Bytes(e3.begin(), e3.end()), p + "more than 4096 items at offset 65528");
}
