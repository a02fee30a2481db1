// KMIP TTLV codec (KMIP 1.4 section 9.1): 3-byte tag, type, 4-byte length, value padded to 8.
// decode() takes untrusted bytes: lengths checked before allocating, Limits enforced, errors
// are Error 58000 "KMIP: malformed response: <what> at offset N"; byte strings are SecretBytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "secure.hpp"

namespace orgcrypt {
namespace ttlv {

enum class Type : std::uint8_t {
  kStructure = 0x01,
  kInteger = 0x02,
  kLongInteger = 0x03,
  kBigInteger = 0x04,
  kEnumeration = 0x05,
  kBoolean = 0x06,
  kTextString = 0x07,
  kByteString = 0x08,
  kDateTime = 0x09,
  kInterval = 0x0A,
};

const char* type_name(Type t);

// Tag numbers (KMIP 1.4 section 9.1.3.1; checked against PyKMIP's enums.Tags).
namespace tag {
constexpr std::uint32_t kAsynchronousCorrelationValue = 0x420006;
constexpr std::uint32_t kAuthenticatedEncryptionAdditionalData = 0x4200FE;
constexpr std::uint32_t kAuthenticatedEncryptionTag = 0x4200FF;
constexpr std::uint32_t kBatchCount = 0x42000D;
constexpr std::uint32_t kBatchItem = 0x42000F;
constexpr std::uint32_t kBlockCipherMode = 0x420011;
constexpr std::uint32_t kCryptographicAlgorithm = 0x420028;
constexpr std::uint32_t kCryptographicLength = 0x42002A;
constexpr std::uint32_t kCryptographicParameters = 0x42002B;
constexpr std::uint32_t kData = 0x4200C2;
constexpr std::uint32_t kIVCounterNonce = 0x42003D;
constexpr std::uint32_t kKey = 0x42003F;
constexpr std::uint32_t kKeyBlock = 0x420040;
constexpr std::uint32_t kKeyCompressionType = 0x420041;
constexpr std::uint32_t kKeyFormatType = 0x420042;
constexpr std::uint32_t kKeyMaterial = 0x420043;
constexpr std::uint32_t kKeyValue = 0x420045;
constexpr std::uint32_t kKeyWrappingData = 0x420046;
constexpr std::uint32_t kMaximumResponseSize = 0x420050;
constexpr std::uint32_t kObjectType = 0x420057;
constexpr std::uint32_t kOperation = 0x42005C;
constexpr std::uint32_t kPaddingMethod = 0x42005F;
constexpr std::uint32_t kProtocolVersion = 0x420069;
constexpr std::uint32_t kProtocolVersionMajor = 0x42006A;
constexpr std::uint32_t kProtocolVersionMinor = 0x42006B;
constexpr std::uint32_t kRequestHeader = 0x420077;
constexpr std::uint32_t kRequestMessage = 0x420078;
constexpr std::uint32_t kRequestPayload = 0x420079;
constexpr std::uint32_t kResponseHeader = 0x42007A;
constexpr std::uint32_t kResponseMessage = 0x42007B;
constexpr std::uint32_t kResponsePayload = 0x42007C;
constexpr std::uint32_t kResultMessage = 0x42007D;
constexpr std::uint32_t kResultReason = 0x42007E;
constexpr std::uint32_t kResultStatus = 0x42007F;
constexpr std::uint32_t kSymmetricKey = 0x42008F;
constexpr std::uint32_t kTagLength = 0x4200CE;
constexpr std::uint32_t kTimeStamp = 0x420092;
constexpr std::uint32_t kUniqueBatchItemID = 0x420093;
constexpr std::uint32_t kUniqueIdentifier = 0x420094;
}  // namespace tag

struct Limits {
  std::size_t max_message = 1u << 20;  // bytes
  int max_depth = 32;                  // structures nested in one another
  std::size_t max_items = 4096;        // items in the whole message
};

struct Item {
  std::uint32_t tag = 0;
  Type type = Type::kStructure;
  std::int64_t num = 0;       // Integer, Long Integer, Enumeration, Boolean, Date-Time, Interval
  std::string text;           // Text String (UTF-8)
  SecretBytes bytes;          // Byte String; Big Integer (two's complement, big-endian)
  std::vector<Item> children;  // Structure

  // First child with this tag, or nullptr; get() throws 58000 if absent.
  const Item* find(std::uint32_t t) const;
  const Item& get(std::uint32_t t) const;
  std::vector<const Item*> find_all(std::uint32_t t) const;

  // Typed getters; a type mismatch throws 58000.
  std::int32_t as_integer() const;
  std::int64_t as_long() const;
  std::uint32_t as_enum() const;
  bool as_bool() const;
  std::int64_t as_datetime() const;
  std::uint32_t as_interval() const;
  const std::string& as_text() const;
  const SecretBytes& as_bytes() const;
  const SecretBytes& as_bigint() const;
  SecretBytes take_bytes();  // moves a Byte String's value out
};

Item structure(std::uint32_t tag, std::vector<Item> children = {});
Item integer(std::uint32_t tag, std::int32_t v);
Item long_integer(std::uint32_t tag, std::int64_t v);
Item big_integer(std::uint32_t tag, ByteView twos_complement);  // length a multiple of 8
Item enumeration(std::uint32_t tag, std::uint32_t v);
Item boolean(std::uint32_t tag, bool v);
Item text(std::uint32_t tag, std::string v);
Item bytes(std::uint32_t tag, ByteView v);
Item datetime(std::uint32_t tag, std::int64_t seconds_since_epoch);
Item interval(std::uint32_t tag, std::uint32_t seconds);

// SecretBytes: a request may carry key material (Encrypt data is a DEK).
SecretBytes encode(const Item& item);
Item decode(ByteView in, const Limits& limits = Limits{});

}  // namespace ttlv
}  // namespace orgcrypt
