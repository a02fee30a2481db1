#include <cstring>

#include "aead.hpp"
#include "error.hpp"
#include "provider.hpp"

namespace orgcrypt {

namespace {
struct Scheme {
  const char* name;
  ProviderFactory factory;
  std::string (*check)(const std::string&);
};
// The registry: one line per provider.
const Scheme kSchemes[] = {
    {"file", make_file_provider, check_file_uri},
};
}  // namespace

std::string uri_scheme(const std::string& uri) {
  auto colon = uri.find(':');
  if (colon == std::string::npos || colon == 0) return {};
  for (std::size_t i = 0; i < colon; i++) {
    char c = uri[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
    if (!ok) return {};
  }
  return uri.substr(0, colon);
}

static const Scheme* find_scheme(const std::string& uri) {
  std::string s = uri_scheme(uri);
  for (const auto& sc : kSchemes)
    if (s == sc.name) return &sc;
  return nullptr;
}

std::string check_uri_syntax(const std::string& uri) {
  const Scheme* sc = find_scheme(uri);
  if (!sc) {
    std::string s = uri_scheme(uri);
    if (s.empty()) return "a key URI starts with a scheme, such as file:/absolute/path";
    return "unknown key provider scheme \"" + s + "\" (this build supports: file)";
  }
  return sc->check(uri);
}

std::unique_ptr<KeyProvider> open_provider(const std::string& uri) {
  std::string why = check_uri_syntax(uri);
  if (!why.empty()) throw Error(sqlstate::kSystemError, "invalid master key URI \"" + uri + "\"", why);
  return find_scheme(uri)->factory(uri);
}

Bytes kek_fingerprint(ByteView kek) {
  static const char kLabel[] = "orgcrypt KEK fingerprint v1";
  Bytes mac = hmac_sha256(kek, ByteView(kLabel, sizeof kLabel - 1));
  mac.resize(8);
  return mac;
}

Bytes keywrap_with_aad(ByteView kek, ByteView dek, ByteView aad) {
  SecretBytes in(dek.data, dek.data + dek.size);
  Bytes digest = sha256(aad);
  in.insert(in.end(), digest.begin(), digest.end());
  return aes_key_wrap(kek, ByteView(in), false);
}

bool keyunwrap_with_aad(ByteView kek, ByteView blob, ByteView aad, SecretBytes& dek) {
  SecretBytes out;
  if (!aes_key_unwrap(kek, blob, false, out)) return false;
  if (out.size() != kKeyLen + 32) return false;
  Bytes digest = sha256(aad);
  if (CRYPTO_memcmp(out.data() + kKeyLen, digest.data(), 32) != 0) return false;
  dek.assign(out.begin(), out.begin() + kKeyLen);
  return true;
}

}  // namespace orgcrypt
