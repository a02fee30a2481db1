#!/usr/bin/python3
"""Prints KMIP messages made by PyKMIP's own encoder (python3-pykmip), one
case a line: "<case-name> <hex>"; and the enumeration values orgcrypt names
("op_<NAME> <hex>", "status_<NAME> <hex>", "reason_<NAME> <hex>"). Used by
tests/unit/kmip_msg_test.cpp as an independent reference for orgcrypt's KMIP
message layer (src/providers/kmip_msg.cpp): requests are compared byte for
byte, responses are decoded field by field."""
import sys
import warnings

warnings.simplefilter("ignore")  # python3-cryptography's deprecation notes

try:
    from kmip.core import attributes, enums, misc, objects as cobjects, utils
    from kmip.core.messages import contents, messages, payloads
    from kmip.pie import factory, objects
    from kmip.services.server import engine
except ImportError as e:  # the C++ test turns this into a failure
    sys.stderr.write("python3-pykmip is not installed: %s\n" % e)
    sys.exit(3)

V14 = enums.KMIPVersion.KMIP_1_4
V11 = enums.KMIPVersion.KMIP_1_1
Op = enums.Operation
TIME = 1700000000
AAD = b"orgcrypt wrap aad"


def seq(start, n):
    return bytes((start + i) & 0xFF for i in range(n))


def out(name, msg, version=V14):
    s = utils.BytearrayStream()
    msg.write(s, kmip_version=version)
    print(name, bytes(s.buffer).hex())


def request(major, minor, operation, payload):
    header = messages.RequestHeader(
        protocol_version=contents.ProtocolVersion(major, minor),
        maximum_response_size=contents.MaximumResponseSize(65536),
        batch_count=contents.BatchCount(1))
    item = messages.RequestBatchItem(operation=contents.Operation(operation),
                                     request_payload=payload)
    return messages.RequestMessage(request_header=header, batch_items=[item])


def gcm(tag_length):
    return attributes.CryptographicParameters(
        block_cipher_mode=enums.BlockCipherMode.GCM,
        cryptographic_algorithm=enums.CryptographicAlgorithm.AES,
        tag_length=tag_length)


def pv(major, minor):
    return contents.ProtocolVersion(major, minor)


# ---- requests (orgcrypt's builders must produce exactly these bytes)
out("req_discover_14", request(1, 4, Op.DISCOVER_VERSIONS,
    payloads.DiscoverVersionsRequestPayload([pv(1, 4), pv(1, 3), pv(1, 2)])))
out("req_discover_11", request(1, 1, Op.DISCOVER_VERSIONS,
    payloads.DiscoverVersionsRequestPayload([pv(1, 4), pv(1, 1)])), V11)
out("req_discover_empty", request(1, 4, Op.DISCOVER_VERSIONS,
    payloads.DiscoverVersionsRequestPayload([])))
out("req_encrypt", request(1, 4, Op.ENCRYPT, payloads.EncryptRequestPayload(
    unique_identifier="kek-1", cryptographic_parameters=gcm(16),
    data=seq(0, 32), iv_counter_nonce=seq(100, 12),
    auth_additional_data=AAD)))
out("req_encrypt_no_iv", request(1, 4, Op.ENCRYPT, payloads.EncryptRequestPayload(
    unique_identifier="kek-1", cryptographic_parameters=gcm(12),
    data=seq(0, 5))))
out("req_decrypt", request(1, 4, Op.DECRYPT, payloads.DecryptRequestPayload(
    unique_identifier="kek-2", cryptographic_parameters=gcm(16),
    data=seq(0, 32), iv_counter_nonce=seq(100, 12),
    auth_additional_data=AAD, auth_tag=seq(200, 16))))
out("req_get", request(1, 4, Op.GET, payloads.GetRequestPayload(
    unique_identifier="42", key_format_type=enums.KeyFormatType.RAW)))
out("req_get_12", request(1, 2, Op.GET, payloads.GetRequestPayload(
    unique_identifier="42", key_format_type=enums.KeyFormatType.RAW)),
    enums.KMIPVersion.KMIP_1_2)


# ---- responses (decoded by parse_response and the payload readers)
def response(items, major=1, minor=4):
    header = messages.ResponseHeader(
        protocol_version=pv(major, minor),
        time_stamp=contents.TimeStamp(TIME),
        batch_count=contents.BatchCount(len(items)))
    return messages.ResponseMessage(response_header=header, batch_items=items)


def success(operation, payload):
    return messages.ResponseBatchItem(
        operation=contents.Operation(operation),
        result_status=contents.ResultStatus(enums.ResultStatus.SUCCESS),
        response_payload=payload)


def failure(operation, reason, message):
    # As the engine's _process_batch composes a failed batch item.
    return messages.ResponseBatchItem(
        operation=contents.Operation(operation),
        result_status=contents.ResultStatus(
            enums.ResultStatus.OPERATION_FAILED),
        result_reason=contents.ResultReason(reason),
        result_message=contents.ResultMessage(message))


out("resp_discover", response([success(
    Op.DISCOVER_VERSIONS, payloads.DiscoverVersionsResponsePayload(
        [pv(1, 4), pv(1, 3), pv(1, 2), pv(1, 1), pv(1, 0)]))], 1, 1), V11)
out("resp_discover_none", response([success(
    Op.DISCOVER_VERSIONS, payloads.DiscoverVersionsResponsePayload([]))]))
out("resp_encrypt", response([success(Op.ENCRYPT, payloads.EncryptResponsePayload(
    unique_identifier="kek-1", data=seq(0, 32), iv_counter_nonce=seq(100, 12),
    auth_tag=seq(200, 16)))]))
out("resp_encrypt_no_iv", response([success(Op.ENCRYPT, payloads.EncryptResponsePayload(
    unique_identifier="kek-1", data=seq(50, 20), auth_tag=seq(1, 16)))]))
out("resp_decrypt", response([success(Op.DECRYPT, payloads.DecryptResponsePayload(
    unique_identifier="kek-1", data=seq(7, 32)))]))
# A Get of a symmetric key as the server builds it (pie object -> core object).
key = factory.ObjectFactory().convert(objects.SymmetricKey(
    enums.CryptographicAlgorithm.AES, 256, seq(33, 32)))
out("resp_get", response([success(Op.GET, payloads.GetResponsePayload(
    object_type=enums.ObjectType.SYMMETRIC_KEY, unique_identifier="42",
    secret=key))]))
secret = factory.ObjectFactory().convert(objects.SecretData(
    seq(1, 16), enums.SecretDataType.PASSWORD))
out("resp_get_secret_data", response([success(Op.GET, payloads.GetResponsePayload(
    object_type=enums.ObjectType.SECRET_DATA, unique_identifier="43",
    secret=secret))]))
hmac = factory.ObjectFactory().convert(objects.SymmetricKey(
    enums.CryptographicAlgorithm.HMAC_SHA256, 256, seq(33, 32)))
out("resp_get_hmac", response([success(Op.GET, payloads.GetResponsePayload(
    object_type=enums.ObjectType.SYMMETRIC_KEY, unique_identifier="44",
    secret=hmac))]))
out("resp_fail_permission", response([failure(
    Op.ENCRYPT, enums.ResultReason.PERMISSION_DENIED,
    "Could not locate object: kek-1")]))
out("resp_fail_not_found", response([failure(
    Op.GET, enums.ResultReason.ITEM_NOT_FOUND,
    "Could not locate object: 99")]))
# What the server sends for a request it could not parse (no Operation).
out("resp_error_no_operation", engine.KmipEngine().build_error_response(
    pv(1, 4), enums.ResultReason.INVALID_MESSAGE,
    "Error parsing request message. See server logs for more information."))

# ---- the enumeration values orgcrypt names
for name in ["CREATE", "GET", "ACTIVATE", "REVOKE", "DESTROY",
             "DISCOVER_VERSIONS", "ENCRYPT", "DECRYPT"]:
    print("op_" + name, "%x" % getattr(enums.Operation, name).value)
for m in enums.ResultStatus:
    print("status_" + m.name, "%x" % m.value)
# The KMIP 1.x Result Reasons (PyKMIP also lists KMIP 2.0's, 0x19 and up).
for m in enums.ResultReason:
    if m.value <= 0x18 or m.value == 0x100:
        print("reason_" + m.name, "%x" % m.value)
