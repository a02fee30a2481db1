// The orgcrypt envelope, format v1 (docs/format.md):
//
//   offset size
//   0      2    magic "OC" (0x4F 0x43)
//   2      1    format version (1)
//   3      1    algorithm id (1 = AES-256-GCM)
//   4      1    plaintext kind (0 = text as UTF-8, 1 = bytea)
//   5      4    DEK version, big-endian, >= 1
//   9      12   nonce (random)
//   21     n    ciphertext
//   21+n   16   GCM tag
//
// Overhead: 37 bytes. The GCM AAD is
//   header[0..9) || u32be(len(org)) || org || has_context (0 or 1)
//   [|| u32be(len(context)) || context]
// so every field is length-prefixed and "no context" differs from "".
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "aead.hpp"
#include "nonce.hpp"
#include "secure.hpp"

namespace orgcrypt {

constexpr std::uint8_t kMagic0 = 0x4F;  // 'O'
constexpr std::uint8_t kMagic1 = 0x43;  // 'C'
constexpr std::uint8_t kFormatV1 = 1;
constexpr std::uint8_t kAlgAes256Gcm = 1;
constexpr std::size_t kHeaderLen = 9;
constexpr std::size_t kOverhead = kHeaderLen + kNonceLen + kTagLen;  // 37
constexpr std::size_t kMaxOrgLen = 255;

enum class Kind : std::uint8_t { Text = 0, Bytea = 1 };

struct Header {
  Kind kind;
  std::uint32_t dek_version;
};

// Optional context: present=false means "no context" (NULL or omitted).
struct Context {
  bool present = false;
  ByteView bytes;
};

// Validates the header and length of an envelope; throws Error 22P02 with a
// message saying what is wrong. Never reads past len.
Header parse_header(const std::uint8_t* env, std::size_t len);

// Validates an org name (1..255 bytes); throws Error 22023.
void check_org(std::size_t org_len);

inline std::size_t sealed_size(std::size_t pt_len) { return pt_len + kOverhead; }

// Builds the AAD into out (reused buffer: no allocation once it is large
// enough).
void build_aad(std::string& out, const std::uint8_t* header, ByteView org, const Context& ctx);

// Seals pt into out (exactly sealed_size(pt.size) bytes).
void seal(AesGcm& key, NonceSource& nonces, std::string& aad_buf, Kind kind, std::uint32_t dek_version,
          ByteView org, const Context& ctx, ByteView pt, std::uint8_t* out);

// Opens an envelope that has passed parse_header into out
// (len - kOverhead bytes). Throws Error XX001 on authentication failure.
void open(AesGcm& key, std::string& aad_buf, const std::uint8_t* env, std::size_t len, ByteView org,
          const Context& ctx, std::uint8_t* out);

// The AAD that binds a wrapped DEK to its place: a fixed label, the org
// (length-prefixed) and the version. The database OID is not bound, so a
// restore into another database still unwraps.
Bytes wrap_aad(ByteView org, std::uint32_t version);

// The inverse of wrap_aad: true (and org, pointing into aad, and version) if
// aad is exactly a wrap AAD, else false. Used to tell an exec: program which
// org and version it is wrapping for.
bool parse_wrap_aad(ByteView aad, ByteView* org, std::uint32_t* version);

}  // namespace orgcrypt
