#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>

#include "aead.hpp"
#include "error.hpp"
#include "provider.hpp"

namespace orgcrypt {

namespace {
InterruptCheck g_interrupt_check = nullptr;
UriPolicy g_policy;
ProviderObserver g_observer = nullptr;

// Times every call of the provider it wraps and reports it to the observer.
class ObservedProvider final : public KeyProvider {
 public:
  explicit ObservedProvider(std::unique_ptr<KeyProvider> p) : p_(std::move(p)) {}
  const std::string& uri() const override { return p_->uri(); }
  void validate() override { observe("validate", [&] { p_->validate(); }); }
  Bytes fingerprint() override {
    Bytes r;
    observe("fingerprint", [&] { r = p_->fingerprint(); });
    return r;
  }
  Bytes wrap(ByteView dek, ByteView aad) override {
    Bytes r;
    observe("wrap", [&] { r = p_->wrap(dek, aad); });
    return r;
  }
  SecretBytes unwrap(ByteView blob, ByteView aad) override {
    SecretBytes r;
    observe("unwrap", [&] { r = p_->unwrap(blob, aad); });
    return r;
  }
  bool production_ready() const override { return p_->production_ready(); }
  // What the provider resolved (an alias: its key ARN), not its URI.
  std::string key_uri() override { return p_->key_uri(); }

 private:
  template <typename F>
  void observe(const char* op, F&& f) {
    auto t0 = std::chrono::steady_clock::now();
    bool ok = false;
    try {
      f();
      ok = true;
    } catch (...) {
      report(op, false, t0);
      throw;
    }
    report(op, ok, t0);
  }
  void report(const char* op, bool ok, std::chrono::steady_clock::time_point t0) {
    ProviderObserver o = g_observer;
    if (!o) return;
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    try {
      o(p_->uri(), op, ok, static_cast<std::int64_t>(us));
    } catch (...) {
      // statistics never change the outcome of a call
    }
  }
  std::unique_ptr<KeyProvider> p_;
};
}  // namespace

void set_provider_observer(ProviderObserver observer) { g_observer = observer; }

void set_interrupt_check(InterruptCheck check) { g_interrupt_check = check; }
bool provider_interrupted() { return g_interrupt_check && g_interrupt_check(); }
void throw_interrupted(const std::string& provider, const std::string& operation) {
  throw Error(sqlstate::kQueryCanceled, provider + " " + operation + " was interrupted");
}

void set_uri_policy(UriPolicy policy) { g_policy = std::move(policy); }

std::string parse_allowed_uris(const std::string& list, std::vector<std::string>* out) {
  std::vector<std::string> v;
  std::string cur;
  auto flush = [&]() {
    if (!cur.empty()) v.push_back(cur);
    cur.clear();
  };
  for (char c : list) {
    if (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r') flush();
    else cur.push_back(c);
  }
  flush();
  for (const auto& e : v) {
    std::size_t star = e.find('*');
    if (star != std::string::npos && star != e.size() - 1)
      return "\"" + e + "\": '*' may only end an entry (a prefix)";
    if (e == "*") return "\"*\" alone would trust every URI: list the URIs, or prefixes such as exec:/usr/local/lib/orgcrypt/*";
    std::string base = star == std::string::npos ? e : e.substr(0, e.size() - 1);
    if (uri_scheme(base).empty()) return "\"" + e + "\" does not start with a URI scheme";
  }
  if (out) *out = std::move(v);
  return {};
}

bool uri_runs_code(const std::string& uri) {
  const SchemeInfo* sc = find_scheme_info(uri_scheme(uri));
  return sc && sc->runs_code && sc->runs_code(uri);
}

std::string remote_trust_scope(const std::string& uri, std::size_t cut) {
  const std::size_t q = uri.find('?');
  std::string base = uri.substr(0, q);
  if (cut < base.size()) base.resize(cut);
  std::vector<std::string> params;
  if (q != std::string::npos) {
    std::string cur;
    for (std::size_t i = q + 1; i <= uri.size(); i++) {
      if (i == uri.size() || uri[i] == '&') {
        if (!cur.empty()) params.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(uri[i]);
      }
    }
  }
  std::sort(params.begin(), params.end());
  std::string out = base + "?";
  for (const auto& p : params) out += p + "&";
  return out;
}

namespace {
// A dot segment ("." or "..") anywhere in the part before '?'.
bool has_dot_segment(const std::string& uri) {
  const std::string base = uri.substr(0, uri.find('?'));
  std::size_t start = 0;
  while (start <= base.size()) {
    std::size_t end = base.find('/', start);
    if (end == std::string::npos) end = base.size();
    const std::string seg = base.substr(start, end - start);
    if (start > 0 && (seg == "." || seg == "..")) return true;
    start = end + 1;
  }
  return false;
}

// What a prefix entry lets an SQL caller append: a name (letters, digits,
// '.', '_', '~', '-', and '/' between names), never a parameter, an
// attribute, a percent-encoding or a dot segment.
bool safe_suffix(const std::string& rest) {
  if (rest.empty() || rest.find("..") != std::string::npos) return false;
  for (unsigned char c : rest)
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '~' || c == '-' || c == '/')) return false;
  return true;
}

// orgcrypt.master_key, an exact entry, or a prefix entry; name_only: what
// follows a prefix must be a name (the rule for URIs given from SQL).
bool listed(const std::string& uri, bool name_only) {
  if (!g_policy.master_key.empty() && uri == g_policy.master_key) return true;
  for (const auto& e : g_policy.allowed) {
    if (!e.empty() && e.back() == '*') {
      const std::size_t n = e.size() - 1;
      if (uri.compare(0, n, e, 0, n) != 0) continue;
      if (!name_only || (uri.size() > n && safe_suffix(uri.substr(n)) && !has_dot_segment(uri))) return true;
    } else if (uri == e) {
      return true;
    }
  }
  return false;
}
}  // namespace

bool uri_listed(const std::string& uri) { return listed(uri, false); }

bool uri_listed_for_sql(const std::string& uri) { return listed(uri, true); }

void check_sql_key_uri(const std::string& uri) {
  std::string why = check_uri_syntax(uri);
  if (!why.empty()) throw Error(sqlstate::kInvalidParameter, "invalid key URI \"" + uri_for_message(uri) + "\"", why);
  if (!uri_listed_for_sql(uri))
    throw Error(sqlstate::kSystemError, "key URI \"" + uri_for_message(uri) + "\" is not trusted by this server",
                "A key URI passed to an SQL function must equal orgcrypt.master_key or match an entry of "
                "orgcrypt.allowed_key_uris (after a prefix entry ending in *, only a name: letters, digits, "
                "'.', '_', '~', '-' and '/', without '..').",
                "A superuser may add it to orgcrypt.allowed_key_uris (exact URI or a prefix ending in *).");
}

std::string uri_trust_problem(const std::string& uri) {
  const SchemeInfo* sc = find_scheme_info(uri_scheme(uri));
  if (sc && sc->trust_scope) {
    if (uri_listed(uri)) return {};
    // Another key of a trusted service, reached with the same credentials
    // (an alias's key ARN, the next key name on the same Vault server).
    const std::string scope = sc->trust_scope(uri);
    auto same = [&](const std::string& t) {
      return !t.empty() && t.back() != '*' && uri_scheme(t) == sc->name && sc->check(t).empty() &&
             sc->trust_scope(t) == scope;
    };
    if (same(g_policy.master_key)) return {};
    for (const auto& e : g_policy.allowed)
      if (same(e)) return {};
    return "it sends credentials to the service it names, and neither orgcrypt.master_key nor an entry of "
           "orgcrypt.allowed_key_uris names the same service with the same parameters";
  }
  if (!uri_runs_code(uri)) return {};
  if (uri_listed(uri)) return {};
  return "it loads or runs code and is neither orgcrypt.master_key nor listed in orgcrypt.allowed_key_uris";
}

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

std::string check_uri_syntax(const std::string& uri) {
  const SchemeInfo* sc = find_scheme_info(uri_scheme(uri));
  if (!sc) {
    std::string s = uri_scheme(uri);
    if (s.empty()) return "a key URI starts with a scheme, such as file:/absolute/path";
    return "unknown key provider scheme \"" + s + "\" (this build supports: " + supported_schemes() + ")";
  }
  return sc->check(uri);
}

std::string uri_for_message(const std::string& uri) {
  const SchemeInfo* sc = find_scheme_info(uri_scheme(uri));
  return sc && sc->redact ? sc->redact(uri) : uri;
}

std::unique_ptr<KeyProvider> open_provider(const std::string& uri) {
  std::string why = check_uri_syntax(uri);
  if (!why.empty()) throw Error(sqlstate::kSystemError, "invalid master key URI \"" + uri_for_message(uri) + "\"", why);
  why = uri_trust_problem(uri);
  if (!why.empty())
    throw Error(sqlstate::kSystemError, "key URI \"" + uri + "\" is not trusted by this server", why,
                "A superuser may add it to orgcrypt.allowed_key_uris (exact URI or a prefix ending in *).");
  std::unique_ptr<KeyProvider> p = find_scheme_info(uri_scheme(uri))->factory(uri);
  if (g_observer) return std::make_unique<ObservedProvider>(std::move(p));
  return p;
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
