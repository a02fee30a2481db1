#!/usr/bin/python3
"""Prints TTLV encodings made by PyKMIP's own encoder (python3-pykmip), one
case a line: "<case-name> <hex>". Used by tests/unit/ttlv_test.cpp as an
independent reference for orgcrypt's TTLV codec (src/core/ttlv.cpp)."""
import sys

try:
    from kmip.core import enums, primitives, utils, attributes
    from kmip.core.messages import contents, messages, payloads
except ImportError as e:  # the C++ test turns this into a failure
    sys.stderr.write("python3-pykmip is not installed: %s\n" % e)
    sys.exit(3)

T = enums.Tags
V14 = enums.KMIPVersion.KMIP_1_4


def enc(obj):
    s = utils.BytearrayStream()
    obj.write(s, kmip_version=V14)
    return bytes(s.buffer).hex()


def out(name, obj):
    print(name, enc(obj))


out("integer", primitives.Integer(8, T.COMPROMISE_DATE))
out("integer_neg", primitives.Integer(-2, T.BATCH_COUNT))
out("long", primitives.LongInteger(123456789000000000, T.BATCH_COUNT))
out("long_neg", primitives.LongInteger(-1, T.BATCH_COUNT))
out("bigint", primitives.BigInteger(1234567890000000000000000000,
                                    T.COMPROMISE_DATE))
out("enum", primitives.Enumeration(enums.CryptographicAlgorithm,
                                   enums.CryptographicAlgorithm.AES,
                                   T.CRYPTOGRAPHIC_ALGORITHM))
out("bool_true", primitives.Boolean(True, T.COMPROMISE_DATE))
out("bool_false", primitives.Boolean(False, T.COMPROMISE_DATE))
out("text", primitives.TextString("Hello World", T.COMPROMISE_DATE))
out("text_empty", primitives.TextString("", T.UNIQUE_IDENTIFIER))
out("bytes", primitives.ByteString(b"\x01\x02\x03", T.COMPROMISE_DATE))
out("bytes_8", primitives.ByteString(bytes(range(8)), T.DATA))
out("datetime", primitives.DateTime(0x47DA67F8, T.COMPROMISE_DATE))
out("interval", primitives.Interval(864000, T.COMPROMISE_DATE))

out("discover_versions_payload", payloads.DiscoverVersionsRequestPayload(
    [contents.ProtocolVersion(1, 4), contents.ProtocolVersion(1, 3)]))

cp = attributes.CryptographicParameters(
    block_cipher_mode=enums.BlockCipherMode.GCM,
    cryptographic_algorithm=enums.CryptographicAlgorithm.AES,
    tag_length=16)
out("encrypt_payload", payloads.EncryptRequestPayload(
    unique_identifier="1",
    cryptographic_parameters=cp,
    data=bytes(range(32)),
    iv_counter_nonce=bytes(range(100, 112)),
    auth_additional_data=b"orgcrypt wrap aad"))
out("decrypt_payload", payloads.DecryptRequestPayload(
    unique_identifier="key-42",
    cryptographic_parameters=cp,
    data=bytes(range(48)),
    iv_counter_nonce=bytes(range(100, 112)),
    auth_additional_data=b"orgcrypt wrap aad",
    auth_tag=bytes(range(200, 216))))

header = messages.RequestHeader(
    protocol_version=contents.ProtocolVersion(1, 4),
    batch_count=contents.BatchCount(1))
item = messages.RequestBatchItem(
    operation=contents.Operation(enums.Operation.DISCOVER_VERSIONS),
    request_payload=payloads.DiscoverVersionsRequestPayload(
        [contents.ProtocolVersion(1, 4)]))
out("request_message", messages.RequestMessage(request_header=header,
                                               batch_items=[item]))

# The tag numbers named in src/core/ttlv.hpp, as PyKMIP numbers them.
for name in ["ASYNCHRONOUS_CORRELATION_VALUE",
             "AUTHENTICATED_ENCRYPTION_ADDITIONAL_DATA",
             "AUTHENTICATED_ENCRYPTION_TAG", "BATCH_COUNT", "BATCH_ITEM",
             "BLOCK_CIPHER_MODE", "CRYPTOGRAPHIC_ALGORITHM",
             "CRYPTOGRAPHIC_LENGTH", "CRYPTOGRAPHIC_PARAMETERS", "DATA",
             "IV_COUNTER_NONCE", "KEY", "KEY_BLOCK", "KEY_COMPRESSION_TYPE",
             "KEY_FORMAT_TYPE", "KEY_MATERIAL", "KEY_VALUE",
             "KEY_WRAPPING_DATA", "MAXIMUM_RESPONSE_SIZE",
             "OBJECT_TYPE", "OPERATION", "PADDING_METHOD", "PROTOCOL_VERSION",
             "PROTOCOL_VERSION_MAJOR", "PROTOCOL_VERSION_MINOR",
             "REQUEST_HEADER", "REQUEST_MESSAGE", "REQUEST_PAYLOAD",
             "RESPONSE_HEADER", "RESPONSE_MESSAGE", "RESPONSE_PAYLOAD",
             "RESULT_MESSAGE", "RESULT_REASON", "RESULT_STATUS",
             "SYMMETRIC_KEY", "TAG_LENGTH", "TIME_STAMP",
             "UNIQUE_BATCH_ITEM_ID", "UNIQUE_IDENTIFIER"]:
    print("tag_" + name, "%06x" % getattr(T, name).value)
