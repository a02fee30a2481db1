// libFuzzer target for the envelope parser and opener.
//
// Build (clang only):
//   CC=clang CXX=clang++ cmake -S . -B build-fuzz -DORGCRYPT_FUZZ=ON -DORGCRYPT_TESTS=OFF
//   cmake --build build-fuzz --target fuzz_envelope
//   ./build-fuzz/fuzz_envelope -max_total_time=60 [corpus_dir]
//
// Every input is used three ways:
//  1. as an envelope: parse_header, then open() under a fixed key and org with
//     no context, an empty context and a non-empty one. orgcrypt::Error is the
//     only acceptable failure; a crash, a sanitizer report, a read past the
//     input or another exception type is a finding.
//  2. as a plaintext: seal() then open() must give it back, and one bit flip
//     or one truncation (positions taken from the input) must be rejected with
//     22P02 or XX001. A violation aborts.
//  3. as an org name / context pair: seal and open across them, checking that
//     a different context never opens.
//  4. as the type's text form: b64_decode either refuses it or gives bytes
//     whose encoding is the input without its whitespace (one text form per
//     value); and any bytes encode to text that decodes back to them.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "base64.hpp"
#include "envelope.hpp"
#include "error.hpp"

using namespace orgcrypt;

namespace {

struct Fixture {
  Fixture() : key(ByteView(std::string(32, '\x5a'))) {}
  AesGcm key;
  NonceSource nonces;
  std::string aad;
};

Fixture& fx() {
  static Fixture f;
  return f;
}

[[noreturn]] void die(const char* why) {
  std::fprintf(stderr, "fuzz_envelope: invariant violated: %s\n", why);
  std::abort();
}

bool is_reject(const Error& e) {
  return std::strcmp(e.sqlstate(), sqlstate::kInvalidText) == 0 ||
         std::strcmp(e.sqlstate(), sqlstate::kAuthFailure) == 0;
}

Context ctx_of(const std::string& s) {
  Context c;
  c.present = true;
  c.bytes = ByteView(s);
  return c;
}

// 1. Arbitrary bytes as an envelope.
void as_envelope(const std::uint8_t* data, std::size_t size) {
  Fixture& f = fx();
  bool header_ok = false;
  try {
    Header h = parse_header(data, size);
    if (h.dek_version == 0 || h.dek_version > 0x7FFFFFFFu) die("parse_header accepted a bad version");
    if (static_cast<unsigned>(h.kind) > 1) die("parse_header accepted a bad kind");
    if (size < kOverhead) die("parse_header accepted a short envelope");
    header_ok = true;
  } catch (const Error& e) {
    if (std::strcmp(e.sqlstate(), sqlstate::kInvalidText) != 0) die("parse_header threw a SQLSTATE other than 22P02");
  }
  static const std::string org = "fuzz-org", empty, ctx = "fuzz-ctx";
  const Context ctxs[3] = {Context{}, ctx_of(empty), ctx_of(ctx)};
  // The output buffer is exactly as large as open() may write.
  std::vector<std::uint8_t> out(size >= kOverhead ? size - kOverhead : 0);
  for (const Context& c : ctxs) {
    try {
      open(f.key, f.aad, data, size, ByteView(org), c, out.data());
      if (!header_ok) die("open() accepted what parse_header rejected");
    } catch (const Error& e) {
      // open() expects a header that passed parse_header (the glue always
      // parses first); given a bad one of sufficient length it must still
      // refuse (22P02, or XX001 since the header is authenticated), never open.
      if (!is_reject(e)) die("open() threw an unexpected SQLSTATE");
      if (!header_ok && size < kOverhead && std::strcmp(e.sqlstate(), sqlstate::kInvalidText) != 0)
        die("open() of a short envelope did not give 22P02");
    }
  }
}

std::uint32_t pick(const std::uint8_t* data, std::size_t size, std::uint32_t salt) {
  std::uint32_t h = 2166136261u ^ salt;  // FNV-1a
  for (std::size_t i = 0; i < size; i++) h = (h ^ data[i]) * 16777619u;
  return h;
}

// 2. Arbitrary bytes as a plaintext.
void as_plaintext(const std::uint8_t* data, std::size_t size) {
  Fixture& f = fx();
  static const std::string org = "fuzz-org", ctx = "c";
  const Kind kind = (size && (data[0] & 1)) ? Kind::Bytea : Kind::Text;
  const std::uint32_t version = 1 + (pick(data, size, 1) & 0x7FFFFFFEu);
  std::vector<std::uint8_t> env(sealed_size(size));
  seal(f.key, f.nonces, f.aad, kind, version, ByteView(org), ctx_of(ctx), ByteView(data, size), env.data());
  Header h = parse_header(env.data(), env.size());
  if (h.kind != kind || h.dek_version != version) die("header does not round-trip");
  std::vector<std::uint8_t> out(size);
  open(f.key, f.aad, env.data(), env.size(), ByteView(org), ctx_of(ctx), out.data());
  if (size && std::memcmp(out.data(), data, size) != 0) die("plaintext does not round-trip");

  // One bit flip.
  std::vector<std::uint8_t> m = env;
  std::uint32_t bit = pick(data, size, 2) % static_cast<std::uint32_t>(m.size() * 8);
  m[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
  try {
    open(f.key, f.aad, m.data(), m.size(), ByteView(org), ctx_of(ctx), out.data());
    die("a bit-flipped envelope opened");
  } catch (const Error& e) {
    if (!is_reject(e)) die("bit flip: unexpected SQLSTATE");
  }

  // One truncation, into an exact-size buffer.
  std::size_t cut = pick(data, size, 3) % env.size();
  std::vector<std::uint8_t> t(env.begin(), env.begin() + static_cast<std::ptrdiff_t>(cut));
  std::vector<std::uint8_t> tout(cut >= kOverhead ? cut - kOverhead : 0);
  try {
    open(f.key, f.aad, t.data(), t.size(), ByteView(org), ctx_of(ctx), tout.data());
    die("a truncated envelope opened");
  } catch (const Error& e) {
    if (!is_reject(e)) die("truncation: unexpected SQLSTATE");
  }
}

// 3. Arbitrary bytes split into org and two contexts.
void as_names(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return;
  Fixture& f = fx();
  std::size_t a = 1 + data[0] % (size - 1);  // org = data[1..a]
  std::string org(reinterpret_cast<const char*>(data + 1), a > 255 ? 255 : a);
  std::string rest(reinterpret_cast<const char*>(data + 1 + a), size - 1 - a);
  std::size_t half = rest.size() / 2;
  std::string c1 = rest.substr(0, half), c2 = rest.substr(half);
  if (org.empty()) return;
  static const std::string pt = "payload";
  std::vector<std::uint8_t> env(sealed_size(pt.size())), out(pt.size());
  seal(f.key, f.nonces, f.aad, Kind::Text, 1, ByteView(org), ctx_of(c1), ByteView(pt), env.data());
  open(f.key, f.aad, env.data(), env.size(), ByteView(org), ctx_of(c1), out.data());
  if (std::memcmp(out.data(), pt.data(), pt.size()) != 0) die("names: no round trip");
  try {
    open(f.key, f.aad, env.data(), env.size(), ByteView(org), Context{}, out.data());
    die("names: opened without the context");
  } catch (const Error& e) {
    if (std::strcmp(e.sqlstate(), sqlstate::kAuthFailure) != 0) die("names: unexpected SQLSTATE (no context)");
  }
  if (c1 != c2) {
    try {
      open(f.key, f.aad, env.data(), env.size(), ByteView(org), ctx_of(c2), out.data());
      die("names: opened with another context");
    } catch (const Error& e) {
      if (std::strcmp(e.sqlstate(), sqlstate::kAuthFailure) != 0) die("names: unexpected SQLSTATE (other context)");
    }
  }
}

}  // namespace

// 4. The text form.
void as_text_form(const std::uint8_t* data, std::size_t size) {
  const char* in = reinterpret_cast<const char*>(data);
  std::vector<std::uint8_t> out(b64_decoded_max(size) + 1);
  std::size_t n = 0;
  if (b64_decode(in, size, out.data(), &n)) {
    if (n > b64_decoded_max(size)) die("b64_decode wrote more than b64_decoded_max");
    std::string stripped;
    for (std::size_t i = 0; i < size; i++)
      if (!std::strchr(" \t\n\r\v\f", in[i]) || in[i] == '\0') stripped.push_back(in[i]);
    std::string again(b64_encoded_len(n), '\0');
    b64_encode(out.data(), n, again.data());
    if (again != stripped) die("a decoded text form does not encode back to the input");
  }
  std::string enc(b64_encoded_len(size), '\0');
  b64_encode(data, size, enc.data());
  std::vector<std::uint8_t> back(b64_decoded_max(enc.size()) + 1);
  if (!b64_decode(enc.data(), enc.size(), back.data(), &n) || n != size || (size && std::memcmp(back.data(), data, size)))
    die("encoded bytes do not decode back");
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > (1u << 16)) return 0;
  as_envelope(size ? data : nullptr, size);
  as_plaintext(data, size);
  as_names(data, size);
  as_text_form(data, size);
  return 0;
}
