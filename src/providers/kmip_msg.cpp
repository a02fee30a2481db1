// KMIP 1.x request and response messages; see kmip_msg.hpp.
#include "kmip_msg.hpp"

#include <cstdio>
#include <string>
#include <utility>

#include "error.hpp"

namespace orgcrypt::kmip {

using ttlv::Item;
using ttlv::Type;
namespace tag = ttlv::tag;

namespace {

// Enumeration values used here (KMIP 1.4 section 9.1.3.2).
constexpr std::uint32_t kBlockCipherModeGCM = 0x09;
constexpr std::uint32_t kAlgorithmAES = 0x03;
constexpr std::uint32_t kKeyFormatRaw = 0x01;
constexpr std::uint32_t kKeyFormatTransparentSymmetric = 0x07;
constexpr std::uint32_t kObjectSymmetricKey = 0x02;
constexpr std::size_t kMaxResultMessage = 512;

// An enumeration value as the specification prints it: "0x0000001E".
std::string hex8(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(v));
  return buf;
}

std::string hex_tag(std::uint32_t t) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%06X", static_cast<unsigned>(t));
  return buf;
}

// ---- requests

Item protocol_version(Version v) {
  return ttlv::structure(tag::kProtocolVersion, {ttlv::integer(tag::kProtocolVersionMajor, v.major),
                                                 ttlv::integer(tag::kProtocolVersionMinor, v.minor)});
}

SecretBytes request(Version header, std::uint32_t operation, std::vector<Item> payload) {
  Item msg = ttlv::structure(
      tag::kRequestMessage,
      {ttlv::structure(tag::kRequestHeader, {protocol_version(header),
                                             ttlv::integer(tag::kMaximumResponseSize, kMaxResponseSize),
                                             ttlv::integer(tag::kBatchCount, 1)}),
       ttlv::structure(tag::kBatchItem, {ttlv::enumeration(tag::kOperation, operation),
                                         ttlv::structure(tag::kRequestPayload, std::move(payload))})});
  return ttlv::encode(msg);
}

Item gcm_parameters(int tag_len) {
  return ttlv::structure(tag::kCryptographicParameters,
                         {ttlv::enumeration(tag::kBlockCipherMode, kBlockCipherModeGCM),
                          ttlv::enumeration(tag::kCryptographicAlgorithm, kAlgorithmAES),
                          ttlv::integer(tag::kTagLength, tag_len)});
}

// The Encrypt / Decrypt payload up to the Additional Data (sections 4.29, 4.30).
std::vector<Item> cipher_payload(const std::string& uid, ByteView data, ByteView iv, ByteView aad,
                                 int tag_len) {
  std::vector<Item> p;
  p.push_back(ttlv::text(tag::kUniqueIdentifier, uid));
  p.push_back(gcm_parameters(tag_len));
  p.push_back(ttlv::bytes(tag::kData, data));
  if (iv.size != 0) p.push_back(ttlv::bytes(tag::kIVCounterNonce, iv));
  if (aad.size != 0) p.push_back(ttlv::bytes(tag::kAuthenticatedEncryptionAdditionalData, aad));
  return p;
}

// ---- responses

const char* field_name(std::uint32_t t) {
  switch (t) {
    case tag::kResponseMessage: return "Response Message";
    case tag::kResponseHeader: return "Response Header";
    case tag::kProtocolVersion: return "Protocol Version";
    case tag::kProtocolVersionMajor: return "Protocol Version Major";
    case tag::kProtocolVersionMinor: return "Protocol Version Minor";
    case tag::kBatchCount: return "Batch Count";
    case tag::kBatchItem: return "Batch Item";
    case tag::kOperation: return "Operation";
    case tag::kResultStatus: return "Result Status";
    case tag::kResultReason: return "Result Reason";
    case tag::kResultMessage: return "Result Message";
    case tag::kResponsePayload: return "Response Payload";
    case tag::kUniqueIdentifier: return "Unique Identifier";
    case tag::kData: return "Data";
    case tag::kIVCounterNonce: return "IV/Counter/Nonce";
    case tag::kAuthenticatedEncryptionTag: return "Authenticated Encryption Tag";
    case tag::kObjectType: return "Object Type";
    case tag::kSymmetricKey: return "Symmetric Key";
    case tag::kKeyBlock: return "Key Block";
    case tag::kKeyFormatType: return "Key Format Type";
    case tag::kKeyValue: return "Key Value";
    case tag::kKeyMaterial: return "Key Material";
    case tag::kKey: return "Key";
    case tag::kKeyWrappingData: return "Key Wrapping Data";
    case tag::kCryptographicAlgorithm: return "Cryptographic Algorithm";
    case tag::kCryptographicLength: return "Cryptographic Length";
    default: return "item";
  }
}

// Field checks for one response, naming the operation in every error.
struct Reader {
  std::uint32_t operation;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(sqlstate::kSystemError,
                "KMIP " + operation_name(operation) + ": malformed response: " + what);
  }

  void check_type(const Item& it, Type want) const {
    if (it.type != want)
      fail(std::string(field_name(it.tag)) + " is a " + ttlv::type_name(it.type) + ", expected a " +
           ttlv::type_name(want));
  }

  // The one child of `parent` with tag `t`, of type `want`; nullptr if there is none.
  const Item* opt(const Item& parent, std::uint32_t t, Type want) const {
    const Item* found = nullptr;
    for (const Item& c : parent.children) {
      if (c.tag != t) continue;
      if (found != nullptr)
        fail(std::string(field_name(parent.tag)) + " has more than one " + field_name(t));
      found = &c;
    }
    if (found != nullptr) check_type(*found, want);
    return found;
  }

  const Item& need(const Item& parent, std::uint32_t t, Type want) const {
    const Item* it = opt(parent, t, want);
    if (it == nullptr) fail(std::string(field_name(parent.tag)) + " has no " + field_name(t));
    return *it;
  }
};

// Control characters (C0, DEL, C1) become '?'; at most kMaxResultMessage
// bytes are kept, cut at a character boundary (the decoder checked UTF-8).
std::string clean_message(const std::string& s) {
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (len > s.size() - i) len = s.size() - i;  // not reached for valid UTF-8
    bool control = c < 0x20 || c == 0x7F ||
                   (c == 0xC2 && len == 2 && static_cast<unsigned char>(s[i + 1]) < 0xA0);
    std::size_t add = control ? 1 : len;
    if (out.size() + add > kMaxResultMessage) break;
    if (control)
      out.push_back('?');
    else
      out.append(s, i, len);
    i += len;
  }
  return out;
}

SecretBytes copy_bytes(const SecretBytes& b) { return SecretBytes(b.begin(), b.end()); }

}  // namespace

std::string operation_name(std::uint32_t operation) {
  switch (operation) {
    case op::kCreate: return "Create";
    case op::kGet: return "Get";
    case op::kActivate: return "Activate";
    case op::kRevoke: return "Revoke";
    case op::kDestroy: return "Destroy";
    case op::kDiscoverVersions: return "DiscoverVersions";
    case op::kEncrypt: return "Encrypt";
    case op::kDecrypt: return "Decrypt";
    default: return "operation " + hex8(operation);
  }
}

std::string status_name(std::uint32_t s) {
  switch (s) {
    case status::kSuccess: return "Success";
    case status::kOperationFailed: return "Operation Failed";
    case status::kOperationPending: return "Operation Pending";
    case status::kOperationUndone: return "Operation Undone";
    default: return "status " + hex8(s);
  }
}

std::string reason_name(std::uint32_t r) {
  static const char* const names[] = {
      nullptr,
      "Item Not Found",
      "Response Too Large",
      "Authentication Not Successful",
      "Invalid Message",
      "Operation Not Supported",
      "Missing Data",
      "Invalid Field",
      "Feature Not Supported",
      "Operation Canceled By Requester",
      "Cryptographic Failure",
      "Illegal Operation",
      "Permission Denied",
      "Object archived",
      "Index Out of Bounds",
      "Application Namespace Not Supported",
      "Key Format Type Not Supported",
      "Key Compression Type Not Supported",
      "Encoding Option Error",
      "Key Value Not Present",
      "Attestation Required",
      "Attestation Failed",
      "Sensitive",
      "Not Extractable",
      "Object Already Exists",
  };
  if (r < sizeof names / sizeof names[0] && names[r] != nullptr) return names[r];
  if (r == reason::kGeneralFailure) return "General Failure";
  return "reason " + hex8(r);
}

// ---- requests

SecretBytes request_discover_versions(Version header, const std::vector<Version>& offer) {
  std::vector<Item> p;
  for (const Version& v : offer) p.push_back(protocol_version(v));
  return request(header, op::kDiscoverVersions, std::move(p));
}

SecretBytes request_encrypt(Version header, const std::string& uid, ByteView data, ByteView iv,
                            ByteView aad, int tag_len) {
  return request(header, op::kEncrypt, cipher_payload(uid, data, iv, aad, tag_len));
}

SecretBytes request_decrypt(Version header, const std::string& uid, ByteView data, ByteView iv,
                            ByteView aad, ByteView tag, int tag_len) {
  std::vector<Item> p = cipher_payload(uid, data, iv, aad, tag_len);
  p.push_back(ttlv::bytes(tag::kAuthenticatedEncryptionTag, tag));
  return request(header, op::kDecrypt, std::move(p));
}

SecretBytes request_get(Version header, const std::string& uid) {
  return request(header, op::kGet,
                 {ttlv::text(tag::kUniqueIdentifier, uid), ttlv::enumeration(tag::kKeyFormatType, kKeyFormatRaw)});
}

// ---- responses

std::size_t message_length(ByteView h, std::size_t max) {
  if (h.size < 8 || read_u32be(h.data) != ((tag::kResponseMessage << 8) | 0x01u))
    throw Error(sqlstate::kSystemError,
                "KMIP: malformed response: the message does not start with a Response Message structure");
  std::size_t total = 8 + static_cast<std::size_t>(read_u32be(h.data + 4));
  if (total > max)
    throw Error(sqlstate::kSystemError, "KMIP: malformed response: message of " + std::to_string(total) +
                                            " bytes is longer than the limit of " + std::to_string(max));
  return total;
}

Result parse_response(ByteView message, std::uint32_t expected) {
  const Reader rd{expected};
  Item top;
  try {
    top = ttlv::decode(message);
  } catch (const Error& e) {
    // "KMIP: malformed response: <what> at offset N" -> "KMIP <Op>: ..."
    std::string m = e.what();
    const std::string pre = "KMIP: malformed response: ";
    rd.fail(m.compare(0, pre.size(), pre) == 0 ? m.substr(pre.size()) : m);
  }
  if (top.tag != tag::kResponseMessage)
    rd.fail("the message is item " + hex_tag(top.tag) + ", not a Response Message");
  rd.check_type(top, Type::kStructure);

  Result r;
  const Item& header = rd.need(top, tag::kResponseHeader, Type::kStructure);
  const Item& pv = rd.need(header, tag::kProtocolVersion, Type::kStructure);
  r.version.major = rd.need(pv, tag::kProtocolVersionMajor, Type::kInteger).as_integer();
  r.version.minor = rd.need(pv, tag::kProtocolVersionMinor, Type::kInteger).as_integer();
  std::int32_t count = rd.need(header, tag::kBatchCount, Type::kInteger).as_integer();
  std::vector<const Item*> items = top.find_all(tag::kBatchItem);
  if (count != 1) rd.fail("Batch Count is " + std::to_string(count) + ", expected 1");
  if (items.size() != 1)
    rd.fail("Batch Count is 1 but the message has " + std::to_string(items.size()) + " Batch Items");
  const Item& bi = *items[0];
  rd.check_type(bi, Type::kStructure);

  r.status = rd.need(bi, tag::kResultStatus, Type::kEnumeration).as_enum();
  const Item* opi = rd.opt(bi, tag::kOperation, Type::kEnumeration);
  if (opi != nullptr) {
    if (opi->as_enum() != expected)
      rd.fail("the Operation is " + operation_name(opi->as_enum()) + ", expected " + operation_name(expected));
  } else if (r.status != status::kOperationFailed) {
    rd.fail("Batch Item has no Operation");
  }
  r.operation = expected;
  if (const Item* ri = rd.opt(bi, tag::kResultReason, Type::kEnumeration)) r.reason = ri->as_enum();
  if (const Item* mi = rd.opt(bi, tag::kResultMessage, Type::kTextString)) r.message = clean_message(mi->as_text());
  const Item* payload = rd.opt(bi, tag::kResponsePayload, Type::kStructure);
  if (payload != nullptr) {
    r.payload = *payload;
  } else {
    if (r.status == status::kSuccess) rd.fail("status Success without a Response Payload");
    r.payload = ttlv::structure(tag::kResponsePayload);
  }
  return r;
}

std::string describe_failure(const Result& r) {
  std::string s = status_name(r.status);
  if (r.reason != 0) s += ": " + reason_name(r.reason);
  if (!r.message.empty()) s += ": " + r.message;
  return s;
}

std::vector<Version> parse_discover_versions(const Result& r) {
  const Reader rd{r.operation};
  rd.check_type(r.payload, Type::kStructure);
  std::vector<Version> out;
  for (const Item* pv : r.payload.find_all(tag::kProtocolVersion)) {
    rd.check_type(*pv, Type::kStructure);
    Version v;
    v.major = rd.need(*pv, tag::kProtocolVersionMajor, Type::kInteger).as_integer();
    v.minor = rd.need(*pv, tag::kProtocolVersionMinor, Type::kInteger).as_integer();
    out.push_back(v);
  }
  return out;
}

EncryptOutput parse_encrypt(const Result& r) {
  const Reader rd{r.operation};
  const Item& p = r.payload;
  rd.check_type(p, Type::kStructure);
  rd.need(p, tag::kUniqueIdentifier, Type::kTextString);
  EncryptOutput out;
  out.data = copy_bytes(rd.need(p, tag::kData, Type::kByteString).as_bytes());
  if (const Item* iv = rd.opt(p, tag::kIVCounterNonce, Type::kByteString))
    out.iv.assign(iv->bytes.begin(), iv->bytes.end());
  if (const Item* t = rd.opt(p, tag::kAuthenticatedEncryptionTag, Type::kByteString))
    out.tag.assign(t->bytes.begin(), t->bytes.end());
  return out;
}

SecretBytes parse_decrypt(const Result& r) {
  const Reader rd{r.operation};
  const Item& p = r.payload;
  rd.check_type(p, Type::kStructure);
  rd.need(p, tag::kUniqueIdentifier, Type::kTextString);
  return copy_bytes(rd.need(p, tag::kData, Type::kByteString).as_bytes());
}

SecretBytes parse_get_symmetric_key(const Result& r) {
  const Reader rd{r.operation};
  const Item& p = r.payload;
  rd.check_type(p, Type::kStructure);
  std::uint32_t type = rd.need(p, tag::kObjectType, Type::kEnumeration).as_enum();
  if (type != kObjectSymmetricKey)
    rd.fail("the Object Type is " + hex8(type) + ", expected Symmetric Key (0x00000002)");
  rd.need(p, tag::kUniqueIdentifier, Type::kTextString);
  const Item& sk = rd.need(p, tag::kSymmetricKey, Type::kStructure);
  const Item& kb = rd.need(sk, tag::kKeyBlock, Type::kStructure);
  std::uint32_t format = rd.need(kb, tag::kKeyFormatType, Type::kEnumeration).as_enum();
  if (format != kKeyFormatRaw && format != kKeyFormatTransparentSymmetric)
    rd.fail("the Key Format Type is " + hex8(format) +
            ", expected Raw (0x00000001) or Transparent Symmetric Key (0x00000007)");
  if (kb.find(tag::kKeyWrappingData) != nullptr) rd.fail("the key is wrapped (Key Block has Key Wrapping Data)");
  std::uint32_t alg = rd.need(kb, tag::kCryptographicAlgorithm, Type::kEnumeration).as_enum();
  if (alg != kAlgorithmAES)
    rd.fail("the Cryptographic Algorithm is " + hex8(alg) + ", expected AES (0x00000003)");
  const Item& kv = rd.need(kb, tag::kKeyValue, Type::kStructure);
  const SecretBytes* key;
  if (format == kKeyFormatRaw) {
    key = &rd.need(kv, tag::kKeyMaterial, Type::kByteString).as_bytes();
  } else {
    const Item& km = rd.need(kv, tag::kKeyMaterial, Type::kStructure);
    key = &rd.need(km, tag::kKey, Type::kByteString).as_bytes();
  }
  if (const Item* len = rd.opt(kb, tag::kCryptographicLength, Type::kInteger)) {
    if (static_cast<std::int64_t>(len->as_integer()) != static_cast<std::int64_t>(key->size()) * 8)
      rd.fail("the Cryptographic Length is " + std::to_string(len->as_integer()) + " but the key has " +
              std::to_string(key->size() * 8) + " bits");
  }
  return copy_bytes(*key);
}

}  // namespace orgcrypt::kmip
