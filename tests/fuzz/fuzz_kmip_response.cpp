// libFuzzer target for the KMIP message layer (src/providers/kmip_msg.hpp):
// every byte a KMIP server (or anything answering on its port) sends is
// untrusted input.
//
// Build (clang only), as for fuzz_envelope:
//   CC=clang CXX=clang++ cmake -S . -B build-fuzz -DORGCRYPT_FUZZ=ON -DORGCRYPT_TESTS=OFF
//   cmake --build build-fuzz --target fuzz_kmip_response
//   ./build-fuzz/fuzz_kmip_response -dict=tests/fuzz/fuzz_kmip_response.dict -max_total_time=60
//
// The input is framed with message_length, then parsed with parse_response
// for each operation orgcrypt sends, and every accepted result is given to
// every payload reader and to describe_failure. Invariants (a violation aborts):
//  1. the only refusal is orgcrypt::Error 58000 "KMIP <Op>: malformed
//     response: ..." (message_length: "KMIP: malformed response: ..."),
//     short printable ASCII;
//  2. an accepted response has the expected operation, a Response Payload
//     structure, and a Result Message of at most 512 bytes of UTF-8 without
//     control characters; message_length of its first 8 bytes is its size;
//  3. what a reader returns is no longer than the input;
//  4. a request built around the input decodes back to it.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "error.hpp"
#include "kmip_msg.hpp"

using namespace orgcrypt;
using namespace orgcrypt::kmip;

namespace {

[[noreturn]] void die(const char* why) {
  std::fprintf(stderr, "fuzz_kmip_response: invariant violated: %s\n", why);
  std::abort();
}

void check_refusal(const Error& e, const std::string& prefix) {
  if (std::strcmp(e.sqlstate(), "58000") != 0) die("SQLSTATE is not 58000");
  std::string m = e.what();
  if (m.compare(0, prefix.size(), prefix) != 0) die("refusal without the expected prefix");
  if (m.size() > 200) die("refusal longer than 200 bytes");
  for (unsigned char c : m)
    if (c < 0x20 || c >= 0x7F) die("refusal is not printable ASCII");
}

// UTF-8 without C0, DEL or C1 controls (the decoder checked the encoding;
// recheck the structure after cutting).
bool clean_text(const std::string& s) {
  std::size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return false;
    std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len == 0 || len > s.size() - i) return false;
    for (std::size_t k = 1; k < len; k++)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    if (c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0) return false;
    i += len;
  }
  return true;
}

template <class F>
void reader(const std::string& prefix, F f) {
  try {
    f();
  } catch (const Error& e) {
    check_refusal(e, prefix);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ByteView in(data, size);

  bool framed = false;
  try {
    std::size_t n = message_length(ByteView(data, size < 8 ? size : 8));
    if (n < 8) die("message_length below 8");
    framed = n == size;
  } catch (const Error& e) {
    check_refusal(e, "KMIP: malformed response: ");
  }

  for (std::uint32_t op : {op::kDiscoverVersions, op::kEncrypt, op::kDecrypt, op::kGet}) {
    const std::string prefix = "KMIP " + operation_name(op) + ": malformed response: ";
    Result r;
    try {
      r = parse_response(in, op);
    } catch (const Error& e) {
      check_refusal(e, prefix);
      continue;
    }
    if (!framed) die("accepted a message message_length does not frame");
    if (r.operation != op) die("operation is not the expected one");
    if (r.payload.tag != ttlv::tag::kResponsePayload || r.payload.type != ttlv::Type::kStructure)
      die("payload is not a Response Payload structure");
    if (r.message.size() > 512) die("Result Message longer than 512 bytes");
    if (!clean_text(r.message)) die("Result Message has a control character or bad UTF-8");
    std::string d = describe_failure(r);
    if (d.compare(0, status_name(r.status).size(), status_name(r.status)) != 0) die("describe_failure prefix");

    reader(prefix, [&] { parse_discover_versions(r); });
    reader(prefix, [&] {
      EncryptOutput o = parse_encrypt(r);
      if (o.data.size() > size || o.iv.size() > size || o.tag.size() > size) die("Encrypt output too long");
    });
    reader(prefix, [&] {
      if (parse_decrypt(r).size() > size) die("Decrypt output too long");
    });
    reader(prefix, [&] {
      if (parse_get_symmetric_key(r).size() > size) die("Get output too long");
    });
  }

  // A request built around the input decodes back to it.
  if (size <= 4096) {
    SecretBytes req = request_decrypt({1, 4}, "k", in, in, in, in, 16);
    ttlv::Item m = ttlv::decode(req);
    const ttlv::Item& p = m.get(ttlv::tag::kBatchItem).get(ttlv::tag::kRequestPayload);
    const SecretBytes& back = p.get(ttlv::tag::kData).as_bytes();
    if (back.size() != size || (size != 0 && std::memcmp(back.data(), data, size) != 0))
      die("request Data does not decode back to the input");
  }
  return 0;
}
