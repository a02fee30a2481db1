// KMIP 1.x request and response messages for the kmip:// provider (KMIP 1.4
// sections 6, 7 and 4): the few operations orgcrypt sends, built on the TTLV
// codec (src/core/ttlv.hpp). Pure functions (unit tests, fuzzing): no I/O.
//
// Every request is a RequestMessage with one batch item:
//   RequestHeader { ProtocolVersion { major, minor }, MaximumResponseSize, BatchCount = 1 }
//   BatchItem { Operation, RequestPayload { ... } }
// Responses are checked strictly (tag and type of every field we read, one
// batch item, the operation we asked for); anything else is Error 58000
// "KMIP <Op>: malformed response: <what>". Byte strings that may be key
// material (Data, Key Material) are SecretBytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "secure.hpp"
#include "ttlv.hpp"

namespace orgcrypt::kmip {

struct Version {
  int major = 1;
  int minor = 4;
  bool operator==(const Version& o) const { return major == o.major && minor == o.minor; }
  bool at_least(int ma, int mi) const { return major > ma || (major == ma && minor >= mi); }
  std::string str() const { return std::to_string(major) + "." + std::to_string(minor); }
};

// Operation enumeration values (KMIP 1.4 section 9.1.3.2.27).
namespace op {
constexpr std::uint32_t kCreate = 0x01;
constexpr std::uint32_t kGet = 0x0A;
constexpr std::uint32_t kActivate = 0x12;
constexpr std::uint32_t kRevoke = 0x13;
constexpr std::uint32_t kDestroy = 0x14;
constexpr std::uint32_t kDiscoverVersions = 0x1E;
constexpr std::uint32_t kEncrypt = 0x1F;
constexpr std::uint32_t kDecrypt = 0x20;
}  // namespace op
// "Encrypt", "DiscoverVersions", ...; "operation 0x..." for others.
std::string operation_name(std::uint32_t operation);

// Result Status (9.1.3.2.26) and Result Reason (9.1.3.2.28) enumerations.
namespace status {
constexpr std::uint32_t kSuccess = 0;
constexpr std::uint32_t kOperationFailed = 1;
constexpr std::uint32_t kOperationPending = 2;
constexpr std::uint32_t kOperationUndone = 3;
}  // namespace status
namespace reason {
constexpr std::uint32_t kItemNotFound = 0x01;
constexpr std::uint32_t kAuthenticationNotSuccessful = 0x03;
constexpr std::uint32_t kInvalidMessage = 0x04;
constexpr std::uint32_t kOperationNotSupported = 0x05;
constexpr std::uint32_t kCryptographicFailure = 0x0A;
constexpr std::uint32_t kPermissionDenied = 0x0C;
constexpr std::uint32_t kGeneralFailure = 0x100;
}  // namespace reason
// "Operation Failed", "Permission Denied", ... as KMIP 1.4 spells them
// (section 9.1.3.2.26/28); "status 0x..." / "reason 0x..." for others.
std::string status_name(std::uint32_t status);
std::string reason_name(std::uint32_t reason);

// ---- requests (the encoded RequestMessage; SecretBytes as it may hold a DEK)
constexpr std::int32_t kMaxResponseSize = 65536;  // MaximumResponseSize sent in every header

// DiscoverVersions (KMIP 1.1+) offering `offer` (in preference order).
SecretBytes request_discover_versions(Version header, const std::vector<Version>& offer);
// Encrypt / Decrypt with CryptographicParameters { BlockCipherMode GCM,
// CryptographicAlgorithm AES, TagLength tag_len }, Data, IV/Counter/Nonce,
// Authenticated Encryption Additional Data (and the Tag, for Decrypt), in the
// order of KMIP 1.4 sections 4.29 / 4.30 (and of PyKMIP's encoder). An empty
// iv or aad is left out of the payload (the server then picks the IV).
SecretBytes request_encrypt(Version header, const std::string& uid, ByteView data, ByteView iv, ByteView aad,
                            int tag_len);
SecretBytes request_decrypt(Version header, const std::string& uid, ByteView data, ByteView iv, ByteView aad,
                            ByteView tag, int tag_len);
// Get (KMIP 1.0+) asking for Key Format Type Raw.
SecretBytes request_get(Version header, const std::string& uid);

// ---- responses
// Framing: the total length (8 + value length) of a TTLV message whose first
// 8 bytes are `header`; throws 58000 if those are not a ResponseMessage
// structure ("KMIP: malformed response: the message does not start with a
// Response Message structure"), or if it is longer than max ("KMIP: malformed
// response: message of N bytes is longer than the limit of M").
std::size_t message_length(ByteView header8, std::size_t max = 1u << 20);

struct Result {
  std::uint32_t operation = 0;  // the expected operation (also when a failure omits it)
  std::uint32_t status = 0;
  std::uint32_t reason = 0;  // 0: none given
  std::string message;       // Result Message ("" if none): control characters (C0, DEL, C1) as '?',
                             // at most 512 bytes kept (cut at a UTF-8 character boundary)
  ttlv::Item payload;        // the Response Payload (an empty structure if none)
  Version version;           // the response header's protocol version
};
// Decodes a whole ResponseMessage (bounded, ttlv::decode) and its single
// batch item. The operation must be `expected` (a failure without an
// Operation field, as servers send for a message they could not parse, is
// accepted). Throws 58000 "KMIP <Op>: malformed response: ..." otherwise
// (the TTLV decoder's own refusals too, "KMIP <Op>: malformed response: <what>
// at offset N"). Extra fields it does not read are ignored.
Result parse_response(ByteView message, std::uint32_t expected);
// "Operation Failed: Permission Denied: <message>" (the message omitted if
// empty), for errors.
std::string describe_failure(const Result& r);

// Payload readers (for a Result with status Success); each throws 58000
// "KMIP <Op>: malformed response: ..." on a missing or ill-typed field.
std::vector<Version> parse_discover_versions(const Result& r);
struct EncryptOutput {
  SecretBytes data;
  Bytes iv;   // empty if the server did not return one
  Bytes tag;  // Authenticated Encryption Tag; empty if absent
};
EncryptOutput parse_encrypt(const Result& r);
SecretBytes parse_decrypt(const Result& r);
// A Get response for a Symmetric Key whose Key Block has Key Format Type Raw
// (or Transparent Symmetric Key), Cryptographic Algorithm AES and plain Key
// Material (a byte string, or a Key Material structure holding one); returns
// the key bytes (the caller checks the length). Raw must hold a Byte String,
// Transparent Symmetric Key a structure with a Key; a Cryptographic Length, if
// present, must match; a wrapped key (Key Wrapping Data) is refused.
SecretBytes parse_get_symmetric_key(const Result& r);

}  // namespace orgcrypt::kmip
