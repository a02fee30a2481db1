// libFuzzer target for everything the aws-kms: provider parses from outside:
// KMS JSON answers (Encrypt, Decrypt, DescribeKey) and errors, the STS XML
// answer and errors, the ECS/IMDS credentials JSON and role list, INI files
// (the shared credentials/config files), ISO 8601 times, and key URIs.
//
// Build (clang only), as for fuzz_envelope:
//   CC=clang CXX=clang++ cmake -S . -B build-fuzz -DORGCRYPT_FUZZ=ON -DORGCRYPT_TESTS=OFF
//   cmake --build build-fuzz --target fuzz_kms_response
//   ./build-fuzz/fuzz_kms_response -max_total_time=60 [corpus_dir]
//
// Invariants (a violation aborts): no crash, leak or unbounded allocation
// (every parser checks sizes first); a reason or a service message is short
// printable text; an accepted Decrypt plaintext is at most a few KiB; an
// accepted error type has only name characters; accepted credentials have a
// well-formed access key ID and a non-empty secret and token.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "aws_ini.hpp"
#include "aws_kms_json.hpp"
#include "aws_uri.hpp"

using namespace orgcrypt;
using namespace orgcrypt::aws;

namespace {

[[noreturn]] void die(const char* why) {
  std::fprintf(stderr, "fuzz_kms_response: invariant violated: %s\n", why);
  std::abort();
}

bool printable(const std::string& s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7E) return false;
  return true;
}

void reason(const std::string& why) {
  if (why.size() > 400) die("a reason longer than 400 characters");
}

void creds(const TempCredentials& t) {
  if (t.access_key_id.size() < 16 || t.access_key_id.size() > 128) die("access key id length");
  if (t.secret_access_key.empty() || t.session_token.empty()) die("empty secret or token accepted");
}

void service_error(const ServiceError& e) {
  if (e.message.size() > kMaxServiceMessage + 3 || !printable(e.message)) die("service message not bounded printable");
  for (char c : e.type)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
      die("error type with a character that is not a name character");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 2 * kMaxServiceResponse) return 0;
  const std::string in(reinterpret_cast<const char*>(data), size);

  {
    Bytes blob;
    std::string kid;
    std::string why = parse_encrypt_response(in, &blob, &kid);
    reason(why);
    if (why.empty() && (blob.empty() || blob.size() > 6144)) die("Encrypt blob size");
  }
  {
    SecretBytes pt;
    std::string kid;
    std::string why = parse_decrypt_response(in, &pt, &kid);
    reason(why);
    if (why.empty() && (pt.empty() || pt.size() > 4096)) die("Decrypt plaintext size");
  }
  {
    std::string arn;
    reason(parse_describe_key_response(in, &arn));
  }
  // Errors: the whole input as a body, and its first line as the header.
  service_error(parse_kms_error("", in));
  service_error(parse_kms_error(in.substr(0, in.find('\n')), in));
  service_error(parse_sts_error(in));
  {
    TempCredentials t;
    std::string why = parse_sts_response(in, &t);
    reason(why);
    if (why.empty()) creds(t);
  }
  {
    TempCredentials t;
    std::string why = parse_container_credentials(in, &t);
    reason(why);
    if (why.empty()) creds(t);
  }
  {
    std::string role;
    std::string why = parse_imds_role(in, &role);
    reason(why);
    if (why.empty() && (role.empty() || role.size() > 128 || !printable(role))) die("IMDS role");
  }
  {
    IniFile f;
    std::string why = parse_ini(ByteView(in), &f);
    reason(why);
    if (!printable(why)) die("INI reason not printable");
  }
  {
    std::time_t t;
    (void)parse_iso8601(in, &t);
  }
  {
    KmsUri u;
    std::string why = parse_kms_uri("aws-kms:" + in, &u);
    reason(why);
    if (why.empty() && (u.region.empty() || u.account.size() != 12 || u.resource.empty())) die("accepted URI parts");
    const std::string uri = "aws-kms:" + in;
    if (kms_uri_service_length(uri) > uri.size()) die("service length beyond the URI");
  }
  return 0;
}
