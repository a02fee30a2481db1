// KMIP TTLV codec; see ttlv.hpp.
#include "ttlv.hpp"

#include <cstring>
#include <string>
#include <utility>

#include "error.hpp"

namespace orgcrypt {
namespace ttlv {

namespace {

[[noreturn]] void malformed(const std::string& what, std::size_t offset) {
  throw Error(sqlstate::kSystemError,
              "KMIP: malformed response: " + what + " at offset " + std::to_string(offset));
}

std::string hex_tag(std::uint32_t t) {
  static const char* d = "0123456789ABCDEF";
  std::string s = "0x";
  for (int sh = 20; sh >= 0; sh -= 4) s += d[(t >> sh) & 0xF];
  return s;
}

[[noreturn]] void wrong_type(const Item& it, Type want) {
  throw Error(sqlstate::kSystemError, std::string("KMIP: malformed response: item ") +
                                          hex_tag(it.tag) + " is a " + type_name(it.type) +
                                          ", expected a " + type_name(want));
}

bool known_type(std::uint8_t t) { return t >= 0x01 && t <= 0x0A; }

// Strict UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF.
bool valid_utf8(const std::uint8_t* p, std::size_t n) {
  std::size_t i = 0;
  while (i < n) {
    std::uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    std::size_t len;
    std::uint8_t lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (n - i < len) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (std::size_t k = 2; k < len; k++)
      if (p[i + k] < 0x80 || p[i + k] > 0xBF) return false;
    i += len;
  }
  return true;
}

std::uint64_t be(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; i++) v = (v << 8) | p[i];
  return v;
}

void put_be(SecretBytes& out, std::uint64_t v, int n) {
  for (int i = n - 1; i >= 0; i--) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

std::size_t padded(std::size_t n) { return (n + 7) & ~static_cast<std::size_t>(7); }

struct Decoder {
  const std::uint8_t* base;
  const Limits& limits;
  std::size_t items = 0;

  // Decodes one item starting at base[pos], not past base[end]; returns the
  // offset after it (padding included).
  std::size_t item(std::size_t pos, std::size_t end, int depth, Item& out) {
    if (end - pos < 8) malformed("truncated item header", pos);
    if (++items > limits.max_items)
      malformed("more than " + std::to_string(limits.max_items) + " items", pos);
    const std::uint8_t* h = base + pos;
    out.tag = static_cast<std::uint32_t>(be(h, 3));
    std::uint8_t ty = h[3];
    std::size_t len = static_cast<std::size_t>(be(h + 4, 4));
    if (!known_type(ty)) malformed("unknown item type " + std::to_string(ty), pos + 3);
    out.type = static_cast<Type>(ty);
    std::size_t need = 0;  // exact length required, 0 = variable
    switch (out.type) {
      case Type::kInteger:
      case Type::kEnumeration:
      case Type::kInterval:
        need = 4;
        break;
      case Type::kLongInteger:
      case Type::kBoolean:
      case Type::kDateTime:
        need = 8;
        break;
      default:
        break;
    }
    if (need != 0 && len != need)
      malformed(std::string("length ") + std::to_string(len) + " is wrong for a " +
                    type_name(out.type),
                pos + 4);
    if (out.type == Type::kBigInteger && (len == 0 || len % 8 != 0))
      malformed("Big Integer length " + std::to_string(len) + " is not a positive multiple of 8",
                pos + 4);
    std::size_t vpos = pos + 8;
    std::size_t room = end - vpos;
    if (len > room) malformed("item length past the end", pos + 4);
    std::size_t plen = padded(len);
    if (plen > room) malformed("item padding past the end", pos + 4);
    const std::uint8_t* v = base + vpos;
    for (std::size_t i = len; i < plen; i++)
      if (v[i] != 0) malformed("nonzero padding", vpos + i);
    switch (out.type) {
      case Type::kStructure: {
        if (depth >= limits.max_depth)
          malformed("structures nested deeper than " + std::to_string(limits.max_depth), pos);
        std::size_t p = vpos, e = vpos + len;
        while (p < e) {
          out.children.emplace_back();
          p = item(p, e, depth + 1, out.children.back());
        }
        break;
      }
      case Type::kInteger:
        out.num = static_cast<std::int32_t>(static_cast<std::uint32_t>(be(v, 4)));
        break;
      case Type::kEnumeration:
      case Type::kInterval:
        out.num = static_cast<std::int64_t>(be(v, 4));
        break;
      case Type::kLongInteger:
      case Type::kDateTime:
        out.num = static_cast<std::int64_t>(be(v, 8));
        break;
      case Type::kBoolean: {
        std::uint64_t b = be(v, 8);
        if (b > 1) malformed("Boolean value is neither 0 nor 1", vpos);
        out.num = static_cast<std::int64_t>(b);
        break;
      }
      case Type::kTextString:
        if (!valid_utf8(v, len)) malformed("Text String is not valid UTF-8", vpos);
        out.text.assign(reinterpret_cast<const char*>(v), len);
        break;
      case Type::kBigInteger:
      case Type::kByteString:
        out.bytes.assign(v, v + len);
        break;
    }
    return vpos + plen;
  }
};

void encode_into(const Item& it, SecretBytes& out) {
  put_be(out, it.tag & 0xFFFFFF, 3);
  out.push_back(static_cast<std::uint8_t>(it.type));
  std::size_t len_at = out.size();
  put_be(out, 0, 4);
  std::size_t start = out.size();
  switch (it.type) {
    case Type::kStructure:
      for (const Item& c : it.children) encode_into(c, out);
      break;
    case Type::kInteger:
    case Type::kEnumeration:
    case Type::kInterval:
      put_be(out, static_cast<std::uint32_t>(it.num), 4);
      break;
    case Type::kLongInteger:
    case Type::kDateTime:
    case Type::kBoolean:
      put_be(out, static_cast<std::uint64_t>(it.num), 8);
      break;
    case Type::kTextString:
      out.insert(out.end(), it.text.begin(), it.text.end());
      break;
    case Type::kBigInteger:
    case Type::kByteString:
      out.insert(out.end(), it.bytes.begin(), it.bytes.end());
      break;
    default:
      throw Error(sqlstate::kInternal, "KMIP: cannot encode an item of unknown type");
  }
  std::size_t len = out.size() - start;
  if (len > 0xFFFFFFFFu) throw Error(sqlstate::kInternal, "KMIP: item too long to encode");
  for (int i = 0; i < 4; i++) out[len_at + i] = static_cast<std::uint8_t>(len >> (8 * (3 - i)));
  out.resize(start + padded(len), 0);
}

Item scalar(std::uint32_t tag, Type t, std::int64_t v) {
  Item it;
  it.tag = tag;
  it.type = t;
  it.num = v;
  return it;
}

}  // namespace

const char* type_name(Type t) {
  switch (t) {
    case Type::kStructure: return "Structure";
    case Type::kInteger: return "Integer";
    case Type::kLongInteger: return "Long Integer";
    case Type::kBigInteger: return "Big Integer";
    case Type::kEnumeration: return "Enumeration";
    case Type::kBoolean: return "Boolean";
    case Type::kTextString: return "Text String";
    case Type::kByteString: return "Byte String";
    case Type::kDateTime: return "Date-Time";
    case Type::kInterval: return "Interval";
  }
  return "unknown type";
}

const Item* Item::find(std::uint32_t t) const {
  for (const Item& c : children)
    if (c.tag == t) return &c;
  return nullptr;
}

const Item& Item::get(std::uint32_t t) const {
  const Item* c = find(t);
  if (c == nullptr)
    throw Error(sqlstate::kSystemError, "KMIP: malformed response: item " + hex_tag(tag) +
                                            " has no item " + hex_tag(t));
  return *c;
}

std::vector<const Item*> Item::find_all(std::uint32_t t) const {
  std::vector<const Item*> r;
  for (const Item& c : children)
    if (c.tag == t) r.push_back(&c);
  return r;
}

#define ORGCRYPT_TTLV_CHECK(want) \
  if (type != (want)) wrong_type(*this, (want))

std::int32_t Item::as_integer() const {
  ORGCRYPT_TTLV_CHECK(Type::kInteger);
  return static_cast<std::int32_t>(num);
}
std::int64_t Item::as_long() const {
  ORGCRYPT_TTLV_CHECK(Type::kLongInteger);
  return num;
}
std::uint32_t Item::as_enum() const {
  ORGCRYPT_TTLV_CHECK(Type::kEnumeration);
  return static_cast<std::uint32_t>(num);
}
bool Item::as_bool() const {
  ORGCRYPT_TTLV_CHECK(Type::kBoolean);
  return num != 0;
}
std::int64_t Item::as_datetime() const {
  ORGCRYPT_TTLV_CHECK(Type::kDateTime);
  return num;
}
std::uint32_t Item::as_interval() const {
  ORGCRYPT_TTLV_CHECK(Type::kInterval);
  return static_cast<std::uint32_t>(num);
}
const std::string& Item::as_text() const {
  ORGCRYPT_TTLV_CHECK(Type::kTextString);
  return text;
}
const SecretBytes& Item::as_bytes() const {
  ORGCRYPT_TTLV_CHECK(Type::kByteString);
  return bytes;
}
const SecretBytes& Item::as_bigint() const {
  ORGCRYPT_TTLV_CHECK(Type::kBigInteger);
  return bytes;
}
SecretBytes Item::take_bytes() {
  ORGCRYPT_TTLV_CHECK(Type::kByteString);
  SecretBytes r = std::move(bytes);
  bytes.clear();
  return r;
}
#undef ORGCRYPT_TTLV_CHECK

Item structure(std::uint32_t tag, std::vector<Item> children) {
  Item it;
  it.tag = tag;
  it.type = Type::kStructure;
  it.children = std::move(children);
  return it;
}
Item integer(std::uint32_t tag, std::int32_t v) { return scalar(tag, Type::kInteger, v); }
Item long_integer(std::uint32_t tag, std::int64_t v) {
  return scalar(tag, Type::kLongInteger, v);
}
Item big_integer(std::uint32_t tag, ByteView v) {
  if (v.size == 0 || v.size % 8 != 0)
    throw Error(sqlstate::kInternal, "KMIP: a Big Integer must be a positive multiple of 8 bytes");
  Item it = scalar(tag, Type::kBigInteger, 0);
  it.bytes.assign(v.data, v.data + v.size);
  return it;
}
Item enumeration(std::uint32_t tag, std::uint32_t v) {
  return scalar(tag, Type::kEnumeration, v);
}
Item boolean(std::uint32_t tag, bool v) { return scalar(tag, Type::kBoolean, v ? 1 : 0); }
Item text(std::uint32_t tag, std::string v) {
  Item it = scalar(tag, Type::kTextString, 0);
  it.text = std::move(v);
  return it;
}
Item bytes(std::uint32_t tag, ByteView v) {
  Item it = scalar(tag, Type::kByteString, 0);
  if (v.size != 0) it.bytes.assign(v.data, v.data + v.size);
  return it;
}
Item datetime(std::uint32_t tag, std::int64_t s) { return scalar(tag, Type::kDateTime, s); }
Item interval(std::uint32_t tag, std::uint32_t s) { return scalar(tag, Type::kInterval, s); }

SecretBytes encode(const Item& item) {
  SecretBytes out;
  encode_into(item, out);
  return out;
}

Item decode(ByteView in, const Limits& limits) {
  if (in.size > limits.max_message)
    malformed("message of " + std::to_string(in.size) + " bytes is longer than the limit of " +
                  std::to_string(limits.max_message),
              0);
  Decoder d{in.data, limits};
  Item top;
  std::size_t end = d.item(0, in.size, 0, top);
  if (end != in.size) malformed("trailing bytes after the message", end);
  return top;
}

}  // namespace ttlv
}  // namespace orgcrypt
