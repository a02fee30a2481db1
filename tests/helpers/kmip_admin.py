#!/usr/bin/python3
"""An independent KMIP client for the tests: PyKMIP's own client
(ProxyKmipClient / KMIPProxy) against the loopback PyKMIP server.

  kmip_admin.py --port P --ca CA --cert CERT --key KEY CMD [ARGS...]

  create               AES-256, usage mask Encrypt|Decrypt, then Activate; prints the UID
  create-inactive      the same, not activated (state Pre-Active); prints the UID
  activate UID
  revoke UID           Revoke with reason Key Compromise (state Compromised: any
                       operation with the key is refused, Destroy is allowed)
  deactivate UID       Revoke with reason Cessation of Operation (Active -> Deactivated)
  destroy UID          Destroy (revoking it first if it is Active)
  state UID            prints the State attribute (e.g. ACTIVE, COMPROMISED)
  encrypt UID HEXDATA HEXIV HEXAAD
                       server-side AES-256-GCM, tag length 16; prints "HEXCT HEXTAG"
  decrypt UID HEXCT HEXIV HEXAAD HEXTAG
                       prints the plaintext in hex
  versions             DiscoverVersions; prints the versions, e.g. "2.0 1.4 1.3 1.2 1.1 1.0"

Exit status 0 on success; on a KMIP failure prints "STATUS: REASON: MESSAGE"
on stderr and exits 2.
"""
import argparse
import binascii
import logging
import sys

from kmip.core import enums
from kmip.core import exceptions as core_exceptions
from kmip.core.attributes import CryptographicParameters
from kmip.core.messages import messages, payloads
from kmip.core.primitives import Enumeration
from kmip.pie import client as pie_client
from kmip.pie import exceptions


def crypto_params():
    return CryptographicParameters(
        block_cipher_mode=enums.BlockCipherMode.GCM,
        cryptographic_algorithm=enums.CryptographicAlgorithm.AES,
        tag_length=16)


def run_payload(c, operation, payload):
    """Sends one request with PyKMIP's lower-level proxy (the high-level client
    has no AAD / tag arguments) and returns the response payload."""
    proxy = c.proxy
    item = messages.RequestBatchItem(
        operation=Enumeration(enums.Operation, operation, tag=enums.Tags.OPERATION),
        request_payload=payload)
    request = proxy._build_request_message(None, [item])
    response = proxy._send_and_receive_message(request)
    bi = response.batch_items[0]
    if bi.result_status.value != enums.ResultStatus.SUCCESS:
        raise exceptions.KmipOperationFailure(
            bi.result_status.value,
            bi.result_reason.value if bi.result_reason else None,
            bi.result_message.value if bi.result_message else None)
    return bi.response_payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("cmd")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()
    logging.disable(logging.CRITICAL)

    c = pie_client.ProxyKmipClient(
        hostname=a.host, port=a.port, cert=a.cert, key=a.key, ca=a.ca,
        ssl_version="PROTOCOL_TLSv1_2", config_file="/dev/null",
        kmip_version=enums.KMIPVersion.KMIP_1_2)
    h = binascii.unhexlify
    with c:
        if a.cmd in ("encrypt", "decrypt"):
            # Authenticated Encryption Additional Data and Tag exist from
            # KMIP 1.4 on; everything else is sent as KMIP 1.2 (PyKMIP's
            # default), which a server limited to older versions accepts.
            c.proxy.kmip_version = enums.KMIPVersion.KMIP_1_4
        if a.cmd in ("create", "create-inactive"):
            uid = c.create(enums.CryptographicAlgorithm.AES, 256,
                           cryptographic_usage_mask=[
                               enums.CryptographicUsageMask.ENCRYPT,
                               enums.CryptographicUsageMask.DECRYPT])
            if a.cmd == "create":
                c.activate(uid)
            print(uid)
        elif a.cmd == "activate":
            c.activate(a.args[0])
        elif a.cmd == "revoke":
            c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, a.args[0])
        elif a.cmd == "deactivate":
            c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, a.args[0])
        elif a.cmd == "destroy":
            uid = a.args[0]
            _, attrs = c.get_attributes(uid, ["State"])
            state = [x.attribute_value.value for x in attrs
                     if x.attribute_name.value == "State"]
            if state and state[0] == enums.State.ACTIVE:
                c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
            c.destroy(uid)
        elif a.cmd == "state":
            _, attrs = c.get_attributes(a.args[0], ["State"])
            print(" ".join(x.attribute_value.value.name for x in attrs
                           if x.attribute_name.value == "State"))
        elif a.cmd == "encrypt":
            uid, data, iv, aad = a.args
            p = run_payload(c, enums.Operation.ENCRYPT, payloads.EncryptRequestPayload(
                unique_identifier=uid, data=h(data), cryptographic_parameters=crypto_params(),
                iv_counter_nonce=h(iv), auth_additional_data=h(aad)))
            print(p.data.hex(), (p.auth_tag or b"").hex())
        elif a.cmd == "decrypt":
            uid, ct, iv, aad, tag = a.args
            p = run_payload(c, enums.Operation.DECRYPT, payloads.DecryptRequestPayload(
                unique_identifier=uid, data=h(ct), cryptographic_parameters=crypto_params(),
                iv_counter_nonce=h(iv), auth_additional_data=h(aad), auth_tag=h(tag)))
            print(p.data.hex())
        elif a.cmd == "versions":
            r = c.proxy.discover_versions()
            if r.result_status.value != enums.ResultStatus.SUCCESS:
                raise exceptions.KmipOperationFailure(
                    r.result_status.value, r.result_reason.value, r.result_message.value)
            print(" ".join("%d.%d" % (v.major, v.minor) for v in r.protocol_versions))
        else:
            print("kmip_admin: unknown command " + a.cmd, file=sys.stderr)
            return 64
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except exceptions.KmipOperationFailure as e:
        print("%s: %s: %s" % (e.status.name if e.status else None,
                              e.reason.name if e.reason else None, e.message),
              file=sys.stderr)
        sys.exit(2)
    except (core_exceptions.KmipError, OSError) as e:
        print("kmip_admin: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        sys.exit(3)
