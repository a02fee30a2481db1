#include "envelope.hpp"

#include <cstring>
#include <string>

#include "error.hpp"

namespace orgcrypt {

Header parse_header(const std::uint8_t* env, std::size_t len) {
  if (len < 2 || env[0] != kMagic0 || env[1] != kMagic1)
    throw Error(sqlstate::kInvalidText, "invalid orgcrypt ciphertext: bad magic bytes",
                "The value does not start with an orgcrypt envelope header.");
  if (len < 3) throw Error(sqlstate::kInvalidText, "invalid orgcrypt ciphertext: truncated header");
  if (env[2] != kFormatV1)
    throw Error(sqlstate::kInvalidText, "invalid orgcrypt ciphertext: unknown format version " + std::to_string(env[2]),
                "This orgcrypt understands format version 1; upgrade the extension to read newer values.");
  if (len < kHeaderLen) throw Error(sqlstate::kInvalidText, "invalid orgcrypt ciphertext: truncated header");
  if (env[3] != kAlgAes256Gcm)
    throw Error(sqlstate::kInvalidText, "invalid orgcrypt ciphertext: unknown algorithm id " + std::to_string(env[3]));
  if (env[4] > 1)
    throw Error(sqlstate::kInvalidText, "invalid orgcrypt ciphertext: unknown plaintext kind " + std::to_string(env[4]));
  std::uint32_t v = read_u32be(env + 5);
  if (v == 0 || v > 0x7FFFFFFFu)
    throw Error(sqlstate::kInvalidText, "invalid orgcrypt ciphertext: DEK version out of range");
  if (len < kOverhead)
    throw Error(sqlstate::kInvalidText, "invalid orgcrypt ciphertext: truncated",
                "An envelope is at least " + std::to_string(kOverhead) + " bytes; this one has " + std::to_string(len) + ".");
  return Header{static_cast<Kind>(env[4]), v};
}

void check_org(std::size_t org_len) {
  if (org_len < 1 || org_len > kMaxOrgLen)
    throw Error(sqlstate::kInvalidParameter,
                "organization name must be 1 to 255 bytes long, not " + std::to_string(org_len));
}

namespace {
// The one AAD encoder: header || u32be(len(org)) || org || has_context
// [|| u32be(len(context)) || context].
std::size_t aad_size(ByteView org, const Context& ctx) {
  return kHeaderLen + 4 + org.size + 1 + (ctx.present ? 4 + ctx.bytes.size : 0);
}
void write_aad(std::uint8_t* p, const std::uint8_t* header, ByteView org, const Context& ctx) {
  auto put32 = [&p](std::size_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
    p += 4;
  };
  std::memcpy(p, header, kHeaderLen);
  p += kHeaderLen;
  put32(org.size);
  if (org.size) std::memcpy(p, org.data, org.size);
  p += org.size;
  *p++ = ctx.present ? 1 : 0;
  if (ctx.present) {
    put32(ctx.bytes.size);
    if (ctx.bytes.size) std::memcpy(p, ctx.bytes.data, ctx.bytes.size);
  }
}
// The AAD of a value: written into a stack buffer when it fits (always, but
// for contexts over ~200 bytes), else into the reusable string.
constexpr std::size_t kAadStack = 512;
ByteView make_aad(std::uint8_t* stack, std::string& spill, const std::uint8_t* header, ByteView org,
                  const Context& ctx) {
  if (aad_size(org, ctx) > kAadStack) {
    build_aad(spill, header, org, ctx);
    return ByteView(spill);
  }
  write_aad(stack, header, org, ctx);
  return ByteView(stack, aad_size(org, ctx));
}
}  // namespace

void build_aad(std::string& out, const std::uint8_t* header, ByteView org, const Context& ctx) {
  if (ctx.present && ctx.bytes.size > 0xFFFFFFFFu) throw Error(sqlstate::kInvalidParameter, "context too long");
  out.resize(aad_size(org, ctx));
  write_aad(reinterpret_cast<std::uint8_t*>(&out[0]), header, org, ctx);
}

void seal(AesGcm& key, NonceSource& nonces, std::string& aad_buf, Kind kind, std::uint32_t dek_version,
          ByteView org, const Context& ctx, ByteView pt, std::uint8_t* out) {
  check_org(org.size);
  if (dek_version == 0 || dek_version > 0x7FFFFFFFu) throw Error(sqlstate::kInternal, "DEK version out of range");
  out[0] = kMagic0;
  out[1] = kMagic1;
  out[2] = kFormatV1;
  out[3] = kAlgAes256Gcm;
  out[4] = static_cast<std::uint8_t>(kind);
  out[5] = static_cast<std::uint8_t>(dek_version >> 24);
  out[6] = static_cast<std::uint8_t>(dek_version >> 16);
  out[7] = static_cast<std::uint8_t>(dek_version >> 8);
  out[8] = static_cast<std::uint8_t>(dek_version);
  std::uint8_t* nonce = out + kHeaderLen;
  nonces.next(nonce);
  std::uint8_t stack[kAadStack];
  ByteView aad = make_aad(stack, aad_buf, out, org, ctx);
  key.seal(nonce, aad, pt.data, pt.size, nonce + kNonceLen, nonce + kNonceLen + pt.size);
}

void open(AesGcm& key, std::string& aad_buf, const std::uint8_t* env, std::size_t len, ByteView org,
          const Context& ctx, std::uint8_t* out) {
  check_org(org.size);
  // The caller has run parse_header on env; only the length matters here (the
  // header bytes are authenticated as part of the AAD).
  if (len < kOverhead) (void)parse_header(env, len);  // throws 22P02
  const std::size_t n = len - kOverhead;
  const std::uint8_t* nonce = env + kHeaderLen;
  std::uint8_t stack[kAadStack];
  ByteView aad = make_aad(stack, aad_buf, env, org, ctx);
  if (!key.open(nonce, aad, nonce + kNonceLen, n, nonce + kNonceLen + n, out))
    throw Error(sqlstate::kAuthFailure,
                "could not authenticate orgcrypt ciphertext",
                "The value was tampered with, or it was sealed for another organization or with another context.");
}

namespace {
constexpr char kWrapLabel[] = "orgcrypt DEK wrap v1";
constexpr std::size_t kWrapLabelLen = sizeof kWrapLabel - 1;
}  // namespace

Bytes wrap_aad(ByteView org, std::uint32_t version) {
  std::string s;
  s.append(kWrapLabel, kWrapLabelLen);
  append_u32be(s, static_cast<std::uint32_t>(org.size));
  s.append(reinterpret_cast<const char*>(org.data), org.size);
  append_u32be(s, version);
  return Bytes(s.begin(), s.end());
}

bool parse_wrap_aad(ByteView aad, ByteView* org, std::uint32_t* version) {
  if (aad.size < kWrapLabelLen + 8 || std::memcmp(aad.data, kWrapLabel, kWrapLabelLen) != 0) return false;
  const std::uint8_t* p = aad.data + kWrapLabelLen;
  std::uint32_t n = read_u32be(p);
  if (n != aad.size - kWrapLabelLen - 8) return false;
  if (org) *org = ByteView(p + 4, n);
  if (version) *version = read_u32be(p + 4 + n);
  return true;
}

}  // namespace orgcrypt
