// AWS Signature Version 4 (SigV4), header-based signing, as the AWS SDKs do
// it for KMS and STS: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
// No PostgreSQL header. Checked against AWS's published SigV4 test suite and,
// byte for byte, against @smithy/signature-v4 (tests/unit/sigv4_test.cpp).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "secure.hpp"

namespace orgcrypt {
namespace sigv4 {

// The secret access key is wiped when freed (SecretBytes).
struct Credentials {
  std::string access_key_id;
  SecretBytes secret_access_key;
  std::string session_token;  // "" if none
};

struct Request {
  std::string method;  // "POST"
  // The path as it goes on the wire (already percent-encoded where needed),
  // e.g. "/" ; it is normalized (RFC 3986 dot segments, repeated slashes) and
  // encoded once more for the canonical request, as for every service but S3.
  std::string path = "/";
  // Query parameters, decoded (name, value); they are encoded and sorted for
  // the canonical request.
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign, as they will be sent; must include "host". Names are
  // lower-cased, values trimmed and inner runs of spaces collapsed.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // the Authorization header's value
  std::string signed_headers; // "content-type;host;x-amz-date;x-amz-target"
};

// Signs req for (region, service) at amz_date ("20150830T123600Z", UTC).
// The caller adds "x-amz-date" (= amz_date) and, with a session token,
// "x-amz-security-token" to req.headers before signing; sign() does not add
// headers. The payload hash is SHA-256 of req.body.
Signature sign(const Request& req, const Credentials& creds, const std::string& region, const std::string& service,
               const std::string& amz_date);

// The current UTC time as SigV4 wants it: "YYYYMMDDTHHMMSSZ".
std::string amz_date_now();

}  // namespace sigv4
}  // namespace orgcrypt
