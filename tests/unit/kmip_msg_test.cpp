// KMIP message layer (src/providers/kmip_msg.cpp): requests byte for byte
// against PyKMIP's own encoder and responses made by it decoded field by field
// (tests/helpers/pykmip_msg.py, run at test time with Debian's python3-pykmip),
// the enumeration values checked against PyKMIP's enums, and every refusal of
// the response parser and payload readers with its exact message.
#include "kmip_msg.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "error.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using namespace orgcrypt::kmip;
using namespace orgcrypt::ttlv;
using testutil::tohex;
using testutil::unhex;

namespace {

std::map<std::string, std::string> pykmip_msg_cases() { return testutil::python_helper_cases("pykmip_msg.py"); }

// The helper's output, run once for the whole binary.
const std::map<std::string, std::string>& py() {
  static std::map<std::string, std::string> cases = [] {
    try {
      return pykmip_msg_cases();
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      return std::map<std::string, std::string>{};
    }
  }();
  return cases;
}

Bytes py_bytes(const std::string& name) {
  auto it = py().find(name);
  if (it == py().end()) throw std::runtime_error("PyKMIP helper did not print case " + name);
  return unhex(it->second);
}

std::size_t count_prefix(const std::string& prefix) {
  std::size_t n = 0;
  for (const auto& kv : py())
    if (kv.first.compare(0, prefix.size(), prefix) == 0) n++;
  return n;
}

Bytes seq(int from, int n) {
  Bytes b;
  for (int i = 0; i < n; i++) b.push_back(static_cast<std::uint8_t>(from + i));
  return b;
}

// Asserts that fn throws orgcrypt::Error 58000 with exactly this message.
void expect_refused(const std::function<void()>& fn, const std::string& msg) {
  try {
    fn();
    ADD_FAILURE() << "accepted, expected: " << msg;
  } catch (const Error& e) {
    EXPECT_STREQ(e.sqlstate(), "58000") << msg;
    EXPECT_EQ(std::string(e.what()), msg);
  }
}

// ---- hand-made responses

Item pv(int major, int minor) {
  return structure(tag::kProtocolVersion,
                   {integer(tag::kProtocolVersionMajor, major), integer(tag::kProtocolVersionMinor, minor)});
}

Item header(int count = 1) {
  return structure(tag::kResponseHeader,
                   {pv(1, 4), datetime(tag::kTimeStamp, 1700000000), integer(tag::kBatchCount, count)});
}

Item batch_item(std::vector<Item> children) { return structure(tag::kBatchItem, std::move(children)); }

Item ok_item(std::uint32_t operation, std::vector<Item> payload) {
  return batch_item({enumeration(tag::kOperation, operation), enumeration(tag::kResultStatus, status::kSuccess),
                     structure(tag::kResponsePayload, std::move(payload))});
}

SecretBytes message(std::vector<Item> children) { return encode(structure(tag::kResponseMessage, std::move(children))); }

SecretBytes one(Item item) { return message({header(), std::move(item)}); }

Item decrypt_payload() { return structure(tag::kResponsePayload, {text(tag::kUniqueIdentifier, "k"), bytes(tag::kData, seq(0, 4))}); }

// A Get response payload around a Key Block.
Result get_result(std::vector<Item> key_block, std::uint32_t object_type = 2) {
  Result r;
  r.operation = op::kGet;
  r.payload = structure(tag::kResponsePayload,
                        {enumeration(tag::kObjectType, object_type), text(tag::kUniqueIdentifier, "42"),
                         structure(tag::kSymmetricKey, {structure(tag::kKeyBlock, std::move(key_block))})});
  return r;
}

Item raw_value(const Bytes& key) { return structure(tag::kKeyValue, {bytes(tag::kKeyMaterial, key)}); }

const std::string kDecMal = "KMIP Decrypt: malformed response: ";
const std::string kGetMal = "KMIP Get: malformed response: ";

}  // namespace

// ---- requests, byte for byte against PyKMIP --------------------------------

TEST(KmipMsgPyKmip, RequestsByteForByte) {
  const Bytes aad = testutil::bytes_of("orgcrypt wrap aad");
  std::map<std::string, SecretBytes> ours;
  ours["req_discover_14"] = request_discover_versions({1, 4}, {{1, 4}, {1, 3}, {1, 2}});
  ours["req_discover_11"] = request_discover_versions({1, 1}, {{1, 4}, {1, 1}});
  ours["req_discover_empty"] = request_discover_versions({1, 4}, {});
  ours["req_encrypt"] = request_encrypt({1, 4}, "kek-1", seq(0, 32), seq(100, 12), aad, 16);
  ours["req_encrypt_no_iv"] = request_encrypt({1, 4}, "kek-1", seq(0, 5), ByteView(), ByteView(), 12);
  ours["req_decrypt"] = request_decrypt({1, 4}, "kek-2", seq(0, 32), seq(100, 12), aad, seq(200, 16), 16);
  ours["req_get"] = request_get({1, 4}, "42");
  ours["req_get_12"] = request_get({1, 2}, "42");
  EXPECT_EQ(count_prefix("req_"), ours.size());
  for (const auto& kv : ours) {
    SCOPED_TRACE(kv.first);
    EXPECT_EQ(tohex(kv.second), tohex(py_bytes(kv.first)));
  }
  // The header as documented: version, MaximumResponseSize, BatchCount 1.
  Item m = decode(ours["req_get"]);
  const Item& h = m.get(tag::kRequestHeader);
  ASSERT_EQ(h.children.size(), 3u);
  EXPECT_EQ(h.children[1].tag, tag::kMaximumResponseSize);
  EXPECT_EQ(h.children[1].as_integer(), kMaxResponseSize);
  EXPECT_EQ(h.get(tag::kBatchCount).as_integer(), 1);
  EXPECT_EQ(m.get(tag::kBatchItem).get(tag::kRequestPayload).get(tag::kKeyFormatType).as_enum(), 1u);
}

// ---- enumeration values and names against PyKMIP's enums -------------------

TEST(KmipMsgPyKmip, EnumerationValues) {
  const std::map<std::string, std::uint32_t> ops = {
      {"CREATE", op::kCreate},   {"GET", op::kGet},
      {"ACTIVATE", op::kActivate}, {"REVOKE", op::kRevoke},
      {"DESTROY", op::kDestroy}, {"DISCOVER_VERSIONS", op::kDiscoverVersions},
      {"ENCRYPT", op::kEncrypt}, {"DECRYPT", op::kDecrypt},
  };
  const std::map<std::string, std::uint32_t> statuses = {
      {"SUCCESS", status::kSuccess},
      {"OPERATION_FAILED", status::kOperationFailed},
      {"OPERATION_PENDING", status::kOperationPending},
      {"OPERATION_UNDONE", status::kOperationUndone},
  };
  const std::map<std::string, std::uint32_t> reasons = {
      {"ITEM_NOT_FOUND", reason::kItemNotFound},
      {"AUTHENTICATION_NOT_SUCCESSFUL", reason::kAuthenticationNotSuccessful},
      {"INVALID_MESSAGE", reason::kInvalidMessage},
      {"OPERATION_NOT_SUPPORTED", reason::kOperationNotSupported},
      {"CRYPTOGRAPHIC_FAILURE", reason::kCryptographicFailure},
      {"PERMISSION_DENIED", reason::kPermissionDenied},
      {"GENERAL_FAILURE", reason::kGeneralFailure},
  };
  auto check = [](const std::string& prefix, const std::map<std::string, std::uint32_t>& ours) {
    for (const auto& kv : ours) {
      auto it = py().find(prefix + kv.first);
      ASSERT_NE(it, py().end()) << prefix << kv.first;
      char want[16];
      std::snprintf(want, sizeof want, "%x", static_cast<unsigned>(kv.second));
      EXPECT_EQ(it->second, want) << prefix << kv.first;
    }
  };
  check("op_", ops);
  check("status_", statuses);
  check("reason_", reasons);
  EXPECT_EQ(count_prefix("op_"), ops.size());
  EXPECT_EQ(count_prefix("status_"), 4u);
  EXPECT_EQ(count_prefix("reason_"), 25u);

  // Every KMIP 1.x status and reason PyKMIP knows has a name here, spelled
  // as PyKMIP's member name (upper case, '_' for ' ').
  auto as_member = [](std::string s) {
    for (char& c : s) c = c == ' ' ? '_' : c;
    return testutil::upper(s);
  };
  for (const auto& kv : py()) {
    bool is_status = kv.first.compare(0, 7, "status_") == 0;
    bool is_reason = kv.first.compare(0, 7, "reason_") == 0;
    if (!is_status && !is_reason) continue;
    std::uint32_t v = static_cast<std::uint32_t>(std::stoul(kv.second, nullptr, 16));
    std::string name = is_status ? status_name(v) : reason_name(v);
    EXPECT_EQ(as_member(name), kv.first.substr(7)) << kv.first;
  }
  EXPECT_EQ(operation_name(op::kDiscoverVersions), "DiscoverVersions");
  EXPECT_EQ(operation_name(op::kEncrypt), "Encrypt");
  EXPECT_EQ(operation_name(op::kDecrypt), "Decrypt");
  EXPECT_EQ(operation_name(op::kGet), "Get");
  EXPECT_EQ(operation_name(op::kCreate), "Create");
  EXPECT_EQ(operation_name(op::kActivate), "Activate");
  EXPECT_EQ(operation_name(op::kRevoke), "Revoke");
  EXPECT_EQ(operation_name(op::kDestroy), "Destroy");
  EXPECT_EQ(operation_name(0x2A), "operation 0x0000002A");
  EXPECT_EQ(status_name(4), "status 0x00000004");
  EXPECT_EQ(reason_name(0), "reason 0x00000000");
  EXPECT_EQ(reason_name(0x19), "reason 0x00000019");
  EXPECT_EQ(reason_name(0xFFFFFFFFu), "reason 0xFFFFFFFF");
  EXPECT_EQ(reason_name(reason::kPermissionDenied), "Permission Denied");
  EXPECT_EQ(reason_name(0x0D), "Object archived");
}

// ---- responses made by PyKMIP ----------------------------------------------

TEST(KmipMsgPyKmip, SuccessResponses) {
  Result d = parse_response(py_bytes("resp_discover"), op::kDiscoverVersions);
  EXPECT_EQ(d.operation, op::kDiscoverVersions);
  EXPECT_EQ(d.status, status::kSuccess);
  EXPECT_EQ(d.reason, 0u);
  EXPECT_EQ(d.message, "");
  EXPECT_EQ(d.version, (Version{1, 1}));
  std::vector<Version> v = parse_discover_versions(d);
  ASSERT_EQ(v.size(), 5u);
  EXPECT_EQ(v[0], (Version{1, 4}));
  EXPECT_EQ(v[1], (Version{1, 3}));
  EXPECT_EQ(v[2], (Version{1, 2}));
  EXPECT_EQ(v[3], (Version{1, 1}));
  EXPECT_EQ(v[4], (Version{1, 0}));
  EXPECT_TRUE(v[0].at_least(1, 4));
  EXPECT_FALSE(v[1].at_least(1, 4));

  Result none = parse_response(py_bytes("resp_discover_none"), op::kDiscoverVersions);
  EXPECT_EQ(none.version, (Version{1, 4}));
  EXPECT_TRUE(parse_discover_versions(none).empty());

  Result e = parse_response(py_bytes("resp_encrypt"), op::kEncrypt);
  EXPECT_EQ(e.status, status::kSuccess);
  EncryptOutput eo = parse_encrypt(e);
  EXPECT_EQ(tohex(eo.data), tohex(seq(0, 32)));
  EXPECT_EQ(tohex(eo.iv), tohex(seq(100, 12)));
  EXPECT_EQ(tohex(eo.tag), tohex(seq(200, 16)));

  EncryptOutput eo2 = parse_encrypt(parse_response(py_bytes("resp_encrypt_no_iv"), op::kEncrypt));
  EXPECT_EQ(tohex(eo2.data), tohex(seq(50, 20)));
  EXPECT_TRUE(eo2.iv.empty());
  EXPECT_EQ(tohex(eo2.tag), tohex(seq(1, 16)));

  Result dr = parse_response(py_bytes("resp_decrypt"), op::kDecrypt);
  EXPECT_EQ(tohex(parse_decrypt(dr)), tohex(seq(7, 32)));

  Result g = parse_response(py_bytes("resp_get"), op::kGet);
  EXPECT_EQ(tohex(parse_get_symmetric_key(g)), tohex(seq(33, 32)));
}

TEST(KmipMsgPyKmip, FailureResponses) {
  Result p = parse_response(py_bytes("resp_fail_permission"), op::kEncrypt);
  EXPECT_EQ(p.operation, op::kEncrypt);
  EXPECT_EQ(p.status, status::kOperationFailed);
  EXPECT_EQ(p.reason, reason::kPermissionDenied);
  EXPECT_EQ(p.message, "Could not locate object: kek-1");
  EXPECT_EQ(p.payload.tag, tag::kResponsePayload);
  EXPECT_EQ(p.payload.type, Type::kStructure);
  EXPECT_TRUE(p.payload.children.empty());
  EXPECT_EQ(describe_failure(p), "Operation Failed: Permission Denied: Could not locate object: kek-1");
  // The readers refuse the (empty) payload of a failure.
  expect_refused([&] { parse_encrypt(p); },
                 "KMIP Encrypt: malformed response: Response Payload has no Unique Identifier");

  Result nf = parse_response(py_bytes("resp_fail_not_found"), op::kGet);
  EXPECT_EQ(nf.status, status::kOperationFailed);
  EXPECT_EQ(nf.reason, reason::kItemNotFound);
  EXPECT_EQ(describe_failure(nf), "Operation Failed: Item Not Found: Could not locate object: 99");

  // build_error_response: no Operation; accepted for any expected operation.
  for (std::uint32_t o : {op::kDiscoverVersions, op::kEncrypt, op::kDecrypt, op::kGet}) {
    Result x = parse_response(py_bytes("resp_error_no_operation"), o);
    EXPECT_EQ(x.operation, o);
    EXPECT_EQ(x.status, status::kOperationFailed);
    EXPECT_EQ(x.reason, reason::kInvalidMessage);
    EXPECT_EQ(describe_failure(x),
              "Operation Failed: Invalid Message: Error parsing request message. See server logs for "
              "more information.");
  }
  // A failure for another operation is still refused.
  expect_refused([] { parse_response(py_bytes("resp_fail_not_found"), op::kDecrypt); },
                 kDecMal + "the Operation is Get, expected Decrypt");
}

TEST(KmipMsgPyKmip, GetOfOtherObjects) {
  Result s = parse_response(py_bytes("resp_get_secret_data"), op::kGet);
  expect_refused([&] { parse_get_symmetric_key(s); },
                 kGetMal + "the Object Type is 0x00000007, expected Symmetric Key (0x00000002)");
  Result h = parse_response(py_bytes("resp_get_hmac"), op::kGet);
  expect_refused([&] { parse_get_symmetric_key(h); },
                 kGetMal + "the Cryptographic Algorithm is 0x00000009, expected AES (0x00000003)");
}

// ---- describe_failure --------------------------------------------------------

TEST(KmipMsgResponse, DescribeFailure) {
  Result r;
  r.status = status::kOperationFailed;
  EXPECT_EQ(describe_failure(r), "Operation Failed");
  r.reason = reason::kGeneralFailure;
  EXPECT_EQ(describe_failure(r), "Operation Failed: General Failure");
  r.message = "boom";
  EXPECT_EQ(describe_failure(r), "Operation Failed: General Failure: boom");
  r.reason = 0;
  EXPECT_EQ(describe_failure(r), "Operation Failed: boom");
  r.status = status::kOperationPending;
  r.reason = 0x77;
  EXPECT_EQ(describe_failure(r), "Operation Pending: reason 0x00000077: boom");
}

// ---- what parse_response accepts beyond PyKMIP's shapes ----------------------

TEST(KmipMsgResponse, IgnoresUnknownFields) {
  const std::uint32_t unknown = 0x540001;  // an extension tag
  Item bi = batch_item({enumeration(tag::kOperation, op::kDecrypt), bytes(tag::kUniqueBatchItemID, seq(1, 4)),
                        enumeration(tag::kResultStatus, status::kSuccess),
                        bytes(tag::kAsynchronousCorrelationValue, seq(9, 3)), text(unknown, "x"),
                        structure(tag::kResponsePayload, {text(tag::kUniqueIdentifier, "k"), integer(unknown, 5),
                                                          bytes(tag::kData, seq(0, 4))})});
  Item h = structure(tag::kResponseHeader,
                     {pv(1, 2), integer(unknown, 1), integer(tag::kBatchCount, 1)});  // no Time Stamp
  Result r = parse_response(message({h, bi, text(unknown, "trailer")}), op::kDecrypt);
  EXPECT_EQ(r.version, (Version{1, 2}));
  EXPECT_EQ(tohex(parse_decrypt(r)), tohex(seq(0, 4)));
  // Fields in another order than the specification's.
  Item shuffled = batch_item({decrypt_payload(), enumeration(tag::kResultStatus, status::kSuccess),
                              enumeration(tag::kOperation, op::kDecrypt)});
  EXPECT_EQ(tohex(parse_decrypt(parse_response(one(shuffled), op::kDecrypt))), tohex(seq(0, 4)));
  // An empty Result Message is "".
  Item empty_msg = batch_item({enumeration(tag::kOperation, op::kDecrypt),
                               enumeration(tag::kResultStatus, status::kOperationFailed),
                               text(tag::kResultMessage, "")});
  Result f = parse_response(one(empty_msg), op::kDecrypt);
  EXPECT_EQ(f.message, "");
  EXPECT_EQ(f.reason, 0u);
  EXPECT_EQ(describe_failure(f), "Operation Failed");
  // A zero-length Data decrypts to nothing (the caller checks lengths).
  Item z = ok_item(op::kDecrypt, {text(tag::kUniqueIdentifier, "k"), bytes(tag::kData, Bytes{})});
  EXPECT_TRUE(parse_decrypt(parse_response(one(z), op::kDecrypt)).empty());
}

// ---- refusals of parse_response ---------------------------------------------

TEST(KmipMsgResponse, Refusals) {
  auto refused = [](const SecretBytes& m, const std::string& what) {
    expect_refused([&] { parse_response(m, op::kDecrypt); }, kDecMal + what);
  };
  Item good = ok_item(op::kDecrypt, decrypt_payload().children);
  ASSERT_NO_THROW(parse_response(one(good), op::kDecrypt));

  // The TTLV decoder's refusals, with the operation named.
  expect_refused([] { parse_response(Bytes{}, op::kDecrypt); }, kDecMal + "truncated item header at offset 0");
  SecretBytes cut = one(good);
  cut.resize(cut.size() - 8);
  refused(cut, "item length past the end at offset 4");
  // Wrong top item.
  refused(encode(structure(tag::kRequestMessage, {header(), good})),
          "the message is item 0x420078, not a Response Message");
  refused(encode(structure(tag::kResponseHeader, {})), "the message is item 0x42007A, not a Response Message");
  refused(encode(integer(tag::kResponseMessage, 1)), "Response Message is a Integer, expected a Structure");
  // Header.
  refused(message({good}), "Response Message has no Response Header");
  refused(message({header(), header(), good}), "Response Message has more than one Response Header");
  refused(message({integer(tag::kResponseHeader, 1), good}), "Response Header is a Integer, expected a Structure");
  refused(message({structure(tag::kResponseHeader, {integer(tag::kBatchCount, 1)}), good}),
          "Response Header has no Protocol Version");
  refused(message({structure(tag::kResponseHeader, {structure(tag::kProtocolVersion, {integer(tag::kProtocolVersionMajor, 1)}),
                                                    integer(tag::kBatchCount, 1)}),
                   good}),
          "Protocol Version has no Protocol Version Minor");
  refused(message({structure(tag::kResponseHeader,
                             {structure(tag::kProtocolVersion, {enumeration(tag::kProtocolVersionMajor, 1),
                                                                integer(tag::kProtocolVersionMinor, 4)}),
                              integer(tag::kBatchCount, 1)}),
                   good}),
          "Protocol Version Major is a Enumeration, expected a Integer");
  refused(message({structure(tag::kResponseHeader, {pv(1, 4)}), good}), "Response Header has no Batch Count");
  refused(message({structure(tag::kResponseHeader, {pv(1, 4), long_integer(tag::kBatchCount, 1)}), good}),
          "Batch Count is a Long Integer, expected a Integer");
  // Batch count and batch items.
  refused(message({header(2), good, good}), "Batch Count is 2, expected 1");
  refused(message({header(0)}), "Batch Count is 0, expected 1");
  refused(message({header(-1), good}), "Batch Count is -1, expected 1");
  refused(message({header(1), good, good}), "Batch Count is 1 but the message has 2 Batch Items");
  refused(message({header(1)}), "Batch Count is 1 but the message has 0 Batch Items");
  refused(message({header(1), integer(tag::kBatchItem, 1)}), "Batch Item is a Integer, expected a Structure");
  // Status.
  refused(one(batch_item({enumeration(tag::kOperation, op::kDecrypt), decrypt_payload()})),
          "Batch Item has no Result Status");
  refused(one(batch_item({enumeration(tag::kOperation, op::kDecrypt), integer(tag::kResultStatus, 0),
                          decrypt_payload()})),
          "Result Status is a Integer, expected a Enumeration");
  refused(one(batch_item({enumeration(tag::kOperation, op::kDecrypt), enumeration(tag::kResultStatus, 0),
                          enumeration(tag::kResultStatus, 0), decrypt_payload()})),
          "Batch Item has more than one Result Status");
  // Operation.
  refused(one(ok_item(op::kEncrypt, decrypt_payload().children)), "the Operation is Encrypt, expected Decrypt");
  refused(one(ok_item(0x99, decrypt_payload().children)), "the Operation is operation 0x00000099, expected Decrypt");
  refused(one(batch_item({text(tag::kOperation, "Decrypt"), enumeration(tag::kResultStatus, 0), decrypt_payload()})),
          "Operation is a Text String, expected a Enumeration");
  refused(one(batch_item({enumeration(tag::kResultStatus, status::kSuccess), decrypt_payload()})),
          "Batch Item has no Operation");
  refused(one(batch_item({enumeration(tag::kResultStatus, status::kOperationPending)})),
          "Batch Item has no Operation");
  refused(one(batch_item({enumeration(tag::kOperation, op::kEncrypt), enumeration(tag::kResultStatus, 1)})),
          "the Operation is Encrypt, expected Decrypt");
  // Reason, message, payload types.
  refused(one(batch_item({enumeration(tag::kOperation, op::kDecrypt), enumeration(tag::kResultStatus, 1),
                          integer(tag::kResultReason, 1)})),
          "Result Reason is a Integer, expected a Enumeration");
  refused(one(batch_item({enumeration(tag::kOperation, op::kDecrypt), enumeration(tag::kResultStatus, 1),
                          bytes(tag::kResultMessage, seq(65, 3))})),
          "Result Message is a Byte String, expected a Text String");
  refused(one(batch_item({enumeration(tag::kOperation, op::kDecrypt), enumeration(tag::kResultStatus, 0),
                          bytes(tag::kResponsePayload, seq(0, 4))})),
          "Response Payload is a Byte String, expected a Structure");
  // Success needs a payload.
  refused(one(batch_item({enumeration(tag::kOperation, op::kDecrypt), enumeration(tag::kResultStatus, 0)})),
          "status Success without a Response Payload");
  expect_refused(
      [] {
        parse_response(one(batch_item({enumeration(tag::kOperation, op::kDiscoverVersions),
                                       enumeration(tag::kResultStatus, 0)})),
                       op::kDiscoverVersions);
      },
      "KMIP DiscoverVersions: malformed response: status Success without a Response Payload");
}

// ---- refusals of the payload readers ----------------------------------------

TEST(KmipMsgResponse, ReaderRefusals) {
  auto result = [](std::uint32_t o, std::vector<Item> payload) {
    Result r;
    r.operation = o;
    r.payload = structure(tag::kResponsePayload, std::move(payload));
    return r;
  };
  const std::string enc = "KMIP Encrypt: malformed response: ";
  const std::string dv = "KMIP DiscoverVersions: malformed response: ";
  // Encrypt.
  expect_refused([&] { parse_encrypt(result(op::kEncrypt, {bytes(tag::kData, seq(0, 4))})); },
                 enc + "Response Payload has no Unique Identifier");
  expect_refused([&] { parse_encrypt(result(op::kEncrypt, {bytes(tag::kUniqueIdentifier, seq(0, 1)), bytes(tag::kData, seq(0, 4))})); },
                 enc + "Unique Identifier is a Byte String, expected a Text String");
  expect_refused([&] { parse_encrypt(result(op::kEncrypt, {text(tag::kUniqueIdentifier, "k")})); },
                 enc + "Response Payload has no Data");
  expect_refused([&] { parse_encrypt(result(op::kEncrypt, {text(tag::kUniqueIdentifier, "k"), text(tag::kData, "x")})); },
                 enc + "Data is a Text String, expected a Byte String");
  expect_refused([&] {
    parse_encrypt(result(op::kEncrypt, {text(tag::kUniqueIdentifier, "k"), bytes(tag::kData, seq(0, 4)),
                                        bytes(tag::kData, seq(0, 4))}));
  }, enc + "Response Payload has more than one Data");
  expect_refused([&] {
    parse_encrypt(result(op::kEncrypt, {text(tag::kUniqueIdentifier, "k"), bytes(tag::kData, seq(0, 4)),
                                        text(tag::kIVCounterNonce, "iv")}));
  }, enc + "IV/Counter/Nonce is a Text String, expected a Byte String");
  expect_refused([&] {
    parse_encrypt(result(op::kEncrypt, {text(tag::kUniqueIdentifier, "k"), bytes(tag::kData, seq(0, 4)),
                                        integer(tag::kAuthenticatedEncryptionTag, 16)}));
  }, enc + "Authenticated Encryption Tag is a Integer, expected a Byte String");
  {
    Result r;
    r.operation = op::kEncrypt;
    r.payload = bytes(tag::kResponsePayload, seq(0, 4));
    expect_refused([&] { parse_encrypt(r); }, enc + "Response Payload is a Byte String, expected a Structure");
  }
  // Decrypt.
  expect_refused([&] { parse_decrypt(result(op::kDecrypt, {bytes(tag::kData, seq(0, 4))})); },
                 kDecMal + "Response Payload has no Unique Identifier");
  expect_refused([&] { parse_decrypt(result(op::kDecrypt, {text(tag::kUniqueIdentifier, "k")})); },
                 kDecMal + "Response Payload has no Data");
  expect_refused([&] { parse_decrypt(result(op::kDecrypt, {text(tag::kUniqueIdentifier, "k"), big_integer(tag::kData, seq(0, 8))})); },
                 kDecMal + "Data is a Big Integer, expected a Byte String");
  // DiscoverVersions.
  expect_refused([&] { parse_discover_versions(result(op::kDiscoverVersions, {integer(tag::kProtocolVersion, 1)})); },
                 dv + "Protocol Version is a Integer, expected a Structure");
  expect_refused([&] {
    Item minor_only = structure(tag::kProtocolVersion, {integer(tag::kProtocolVersionMinor, 4)});
    parse_discover_versions(result(op::kDiscoverVersions, {pv(1, 4), minor_only}));
  }, dv + "Protocol Version has no Protocol Version Major");
  expect_refused([&] {
    Item text_minor = structure(tag::kProtocolVersion,
                                {integer(tag::kProtocolVersionMajor, 1), text(tag::kProtocolVersionMinor, "4")});
    parse_discover_versions(result(op::kDiscoverVersions, {text_minor}));
  }, dv + "Protocol Version Minor is a Text String, expected a Integer");
}

TEST(KmipMsgResponse, GetSymmetricKey) {
  const Bytes key = seq(1, 32);
  auto aes = [] { return enumeration(tag::kCryptographicAlgorithm, 3); };
  auto raw = [] { return enumeration(tag::kKeyFormatType, 1); };
  // Raw, with and without a Cryptographic Length.
  EXPECT_EQ(tohex(parse_get_symmetric_key(get_result({raw(), raw_value(key), aes(), integer(tag::kCryptographicLength, 256)}))),
            tohex(key));
  EXPECT_EQ(tohex(parse_get_symmetric_key(get_result({raw(), raw_value(key), aes()}))), tohex(key));
  // Transparent Symmetric Key: Key Material { Key }.
  Item tsk_value = structure(tag::kKeyValue, {structure(tag::kKeyMaterial, {bytes(tag::kKey, key)})});
  EXPECT_EQ(tohex(parse_get_symmetric_key(get_result({enumeration(tag::kKeyFormatType, 7), tsk_value, aes()}))),
            tohex(key));

  auto refused = [](const Result& r, const std::string& what) {
    expect_refused([&] { parse_get_symmetric_key(r); }, kGetMal + what);
  };
  refused(get_result({raw(), raw_value(key), aes()}, 4), "the Object Type is 0x00000004, expected Symmetric Key (0x00000002)");
  {
    Result r = get_result({raw(), raw_value(key), aes()});
    r.payload.children.erase(r.payload.children.begin());
    refused(r, "Response Payload has no Object Type");
    r.payload.children.insert(r.payload.children.begin(), integer(tag::kObjectType, 2));
    refused(r, "Object Type is a Integer, expected a Enumeration");
  }
  {
    Result r = get_result({raw(), raw_value(key), aes()});
    r.payload.children.erase(r.payload.children.begin() + 1);
    refused(r, "Response Payload has no Unique Identifier");
  }
  {
    Result r = get_result({});
    r.payload.children.pop_back();
    refused(r, "Response Payload has no Symmetric Key");
    r.payload.children.push_back(bytes(tag::kSymmetricKey, key));
    refused(r, "Symmetric Key is a Byte String, expected a Structure");
    r.payload.children.back() = structure(tag::kSymmetricKey, {});
    refused(r, "Symmetric Key has no Key Block");
  }
  refused(get_result({raw_value(key), aes()}), "Key Block has no Key Format Type");
  refused(get_result({enumeration(tag::kKeyFormatType, 2), raw_value(key), aes()}),
          "the Key Format Type is 0x00000002, expected Raw (0x00000001) or Transparent Symmetric Key (0x00000007)");
  refused(get_result({raw(), raw_value(key), aes(), structure(tag::kKeyWrappingData, {})}),
          "the key is wrapped (Key Block has Key Wrapping Data)");
  refused(get_result({raw(), raw_value(key)}), "Key Block has no Cryptographic Algorithm");
  refused(get_result({raw(), raw_value(key), enumeration(tag::kCryptographicAlgorithm, 2)}),
          "the Cryptographic Algorithm is 0x00000002, expected AES (0x00000003)");
  refused(get_result({raw(), aes()}), "Key Block has no Key Value");
  refused(get_result({raw(), bytes(tag::kKeyValue, key), aes()}), "Key Value is a Byte String, expected a Structure");
  refused(get_result({raw(), structure(tag::kKeyValue, {}), aes()}), "Key Value has no Key Material");
  refused(get_result({raw(), tsk_value, aes()}), "Key Material is a Structure, expected a Byte String");
  refused(get_result({enumeration(tag::kKeyFormatType, 7), raw_value(key), aes()}),
          "Key Material is a Byte String, expected a Structure");
  refused(get_result({enumeration(tag::kKeyFormatType, 7), structure(tag::kKeyValue, {structure(tag::kKeyMaterial, {})}), aes()}),
          "Key Material has no Key");
  refused(get_result({raw(), raw_value(key), aes(), integer(tag::kCryptographicLength, 128)}),
          "the Cryptographic Length is 128 but the key has 256 bits");
  refused(get_result({raw(), raw_value(key), aes(), enumeration(tag::kCryptographicLength, 256)}),
          "Cryptographic Length is a Enumeration, expected a Integer");
}

// ---- Result.message ----------------------------------------------------------

TEST(KmipMsgResponse, ResultMessageCleaned) {
  auto msg_of = [](const std::string& m) {
    Item bi = batch_item({enumeration(tag::kOperation, op::kGet), enumeration(tag::kResultStatus, 1),
                          enumeration(tag::kResultReason, 1), text(tag::kResultMessage, m)});
    return parse_response(one(bi), op::kGet).message;
  };
  EXPECT_EQ(msg_of("plain text, caf\xc3\xa9 \xe2\x82\xac"), "plain text, caf\xc3\xa9 \xe2\x82\xac");
  // C0 controls, DEL and C1 controls (U+0085, U+009F) become '?'; U+00A0 stays.
  EXPECT_EQ(msg_of(std::string("a\nb\rc\td\x1b[31m\x7f" "e\x01") + "\xc2\x85\xc2\x9f\xc2\xa0"),
            std::string("a?b?c?d?[31m?e?") + "??\xc2\xa0");
  EXPECT_EQ(msg_of(std::string("nul\0in", 6)), "nul?in");
  // At most 512 bytes, cut at a character boundary.
  EXPECT_EQ(msg_of(std::string(512, 'x')), std::string(512, 'x'));
  EXPECT_EQ(msg_of(std::string(513, 'x')), std::string(512, 'x'));
  EXPECT_EQ(msg_of(std::string(100000, 'y')), std::string(512, 'y'));
  EXPECT_EQ(msg_of(std::string(511, 'x') + "\xc3\xa9"), std::string(511, 'x'));
  EXPECT_EQ(msg_of(std::string(510, 'x') + "\xe2\x82\xac"), std::string(510, 'x'));
  EXPECT_EQ(msg_of(std::string(509, 'x') + "\xe2\x82\xac"), std::string(509, 'x') + "\xe2\x82\xac");
  EXPECT_EQ(msg_of(std::string(509, 'x') + "\xf0\x9f\x94\x91"), std::string(509, 'x'));
  EXPECT_EQ(msg_of(std::string(511, 'x') + "\n\n"), std::string(511, 'x') + "?");
  std::string controls(600, '\x01');
  EXPECT_EQ(msg_of(controls), std::string(512, '?'));
}

// ---- framing -----------------------------------------------------------------

TEST(KmipMsgResponse, MessageLength) {
  Bytes resp = py_bytes("resp_encrypt");
  EXPECT_EQ(message_length(ByteView(resp.data(), 8)), resp.size());
  EXPECT_EQ(message_length(unhex("42007b0100000000")), 8u);
  EXPECT_EQ(message_length(unhex("42007b0100000ff8"), 4096), 4096u);
  const std::string p = "KMIP: malformed response: ";
  expect_refused([] { message_length(unhex("42007b0100001000"), 4096); },
                 p + "message of 4104 bytes is longer than the limit of 4096");
  expect_refused([] { message_length(unhex("42007b01fffffff8")); },
                 p + "message of 4294967296 bytes is longer than the limit of 1048576");
  const std::string not_resp = p + "the message does not start with a Response Message structure";
  expect_refused([] { message_length(unhex("4200780100000010")); }, not_resp);  // a Request Message
  expect_refused([] { message_length(unhex("42007a0100000010")); }, not_resp);  // a Response Header
  expect_refused([] { message_length(unhex("42007b0200000004")); }, not_resp);  // not a structure
  expect_refused([] { message_length(unhex("48545450")); }, not_resp);          // "HTTP", short
  expect_refused([] { message_length(unhex("485454502f312e31")); }, not_resp);  // "HTTP/1.1"
  expect_refused([] { message_length(ByteView()); }, not_resp);
}
