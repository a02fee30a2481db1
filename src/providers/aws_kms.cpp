// aws-kms:arn:aws:kms:REGION:ACCOUNT:key/ID (or alias/NAME)[?params] — see
// aws_kms.hpp. The wire formats are in aws_kms_json, the URI in aws_uri, the
// credentials in aws_credentials; this file is the calls and their retries.
#include "aws_kms.hpp"

#include <openssl/crypto.h>

#include "aead.hpp"
#include "error.hpp"
#include "sigv4.hpp"

namespace orgcrypt {
namespace aws {

namespace {

constexpr int kMaxAttempts = 3;

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(&s[0], s.size());
}

bool contains(const std::string& hay, const std::uint8_t* p, std::size_t n) {
  if (n < 8) return false;
  // Any 16-byte (or whole, if shorter) piece of the secret.
  const std::size_t piece = n < 16 ? n : 16;
  for (std::size_t i = 0; i + piece <= n; i += piece)
    if (hay.find(std::string(reinterpret_cast<const char*>(p + i), piece)) != std::string::npos) return true;
  return false;
}

// host[:port] of an http(s) endpoint URL, as the Host header carries it.
std::string host_header(const std::string& url) {
  const bool https = url.compare(0, 8, "https://") == 0;
  std::string hp = url.substr(https ? 8 : 7);
  hp = hp.substr(0, hp.find('/'));
  const std::string def = https ? ":443" : ":80";
  if (hp.size() > def.size() && hp.compare(hp.size() - def.size(), def.size(), def) == 0 && hp.back() != ']')
    hp.resize(hp.size() - def.size());
  return hp;
}

class KmsProvider final : public KeyProvider {
 public:
  KmsProvider(std::string uri, KmsUri u, Deps d) : uri_(std::move(uri)), u_(std::move(u)), d_(std::move(d)) {
    if (!u_.alias) key_arn_ = u_.arn;
    t_.connect_ms = u_.connect_timeout_ms ? u_.connect_timeout_ms : 5000;
    t_.total_ms = u_.timeout_ms ? u_.timeout_ms : 10000;
    t_.ca_file = u_.ca_file;
    if (t_.ca_file.empty()) {
      if (auto ca = env_value(d_, "AWS_CA_BUNDLE")) t_.ca_file = *ca;
    }
  }

  const std::string& uri() const override { return uri_; }

  // The credentials can be had, and an alias resolves.
  void validate() override {
    (void)creds(false);
    (void)fingerprint();
  }

  Bytes fingerprint() override {
    if (key_arn_.empty()) key_arn_ = describe_key();
    return kms_key_fingerprint(key_arn_);
  }

  std::string key_uri() override { return key_arn_.empty() ? uri_ : key_uri_with_arn(u_, key_arn_); }

  Bytes wrap(ByteView dek, ByteView aad) override {
    const KmsContext ctx = encryption_context(aad);
    std::string body = encrypt_body(key_arn_.empty() ? u_.arn : key_arn_, dek, ctx);
    http::Response r;
    try {
      r = call("Encrypt", body);
    } catch (...) {
      wipe(body);
      throw;
    }
    wipe(body);
    Bytes blob;
    std::string kid;
    std::string why = parse_encrypt_response(r.body, &blob, &kid);
    if (!why.empty()) fail("Encrypt", "malformed answer: " + why);
    check_answer_key("Encrypt", kid);
    return blob;
  }

  SecretBytes unwrap(ByteView blob, ByteView aad) override {
    const KmsContext ctx = encryption_context(aad);
    const std::string body = decrypt_body(key_arn_.empty() ? u_.arn : key_arn_, blob, ctx);
    http::Response r = call("Decrypt", body);
    SecretBytes pt;
    std::string kid;
    std::string why = parse_decrypt_response(r.body, &pt, &kid);
    wipe(r.body);
    if (!why.empty()) fail("Decrypt", "malformed answer: " + why);
    check_answer_key("Decrypt", kid);
    if (pt.size() != kKeyLen)
      fail("Decrypt", "KMS returned " + std::to_string(pt.size()) + " bytes, not a " + std::to_string(kKeyLen) +
                          "-byte data key");
    return pt;
  }

 private:
  [[noreturn]] void fail(const std::string& op, const std::string& why, const std::string& detail = {},
                         const std::string& hint = {}) const {
    throw Error(sqlstate::kSystemError, "aws-kms " + op + ": " + why + " (key " + shown_key() + ")", detail, hint);
  }

  std::string shown_key() const { return key_arn_.empty() ? u_.arn : key_arn_; }

  // The key ARN an answer names must be the key we mean (for an alias: the
  // key it resolved to when the fingerprint was taken).
  void check_answer_key(const std::string& op, const std::string& kid) {
    KmsUri k;
    std::string why = parse_kms_arn(kid, &k);
    if (!why.empty() || k.alias) fail(op, "the answer's KeyId is not a key ARN");
    if (key_arn_.empty()) {
      key_arn_ = kid;
      return;
    }
    if (kid != key_arn_) {
      if (u_.alias)
        fail(op, "the alias moved: it named " + key_arn_ + " when the fingerprint was taken, and now " + kid, "",
             "Retry; if the alias was re-pointed on purpose, the new key is used from now on.");
      fail(op, "KMS answered for another key: " + kid);
    }
  }

  const CredentialPlan& plan() {
    if (!plan_) plan_ = std::make_unique<CredentialPlan>(plan_credentials(u_, d_));
    return *plan_;
  }

  Creds creds(bool force) { return get_credentials(plan(), d_, t_, force); }

  const std::string& endpoint() {
    if (endpoint_.empty()) endpoint_ = kms_endpoint(u_, d_);
    return endpoint_;
  }

  std::string describe_key() {
    http::Response r = call("DescribeKey", describe_key_body(u_.arn));
    std::string arn;
    std::string why = parse_describe_key_response(r.body, &arn);
    if (!why.empty()) fail("DescribeKey", "malformed answer: " + why);
    KmsUri k;
    why = parse_kms_arn(arn, &k);
    if (!why.empty() || k.alias) fail("DescribeKey", "the answer's KeyMetadata.Arn is not a key ARN");
    return arn;
  }

  http::Response call(const std::string& op, const std::string& body) {
    Creds c = creds(false);
    bool refreshed = false;
    const std::string url = endpoint() + (endpoint().back() == '/' ? "" : "/");
    const std::string host = host_header(url);
    http::Options o;
    o.connect_timeout_ms = t_.connect_ms;
    o.total_timeout_ms = t_.total_ms;
    o.ca_file = t_.ca_file;
    o.max_body = kMaxServiceResponse;
    for (int attempt = 1;; attempt++) {
      http::Request req;
      req.method = "POST";
      req.url = url;
      req.body = body;
      struct Wiper {
        http::Request& r;
        ~Wiper() {
          wipe(r.body);
          for (auto& h : r.headers) wipe(h.value);
        }
      } wiper{req};
      sign(req, host, op, c);
      http::Response r;
      try {
        r = d_.transport(req, o, op);
      } catch (const Error& e) {
        if (std::string(e.sqlstate()) == sqlstate::kQueryCanceled || attempt >= kMaxAttempts) throw;
        d_.sleep(backoff_ms(attempt, d_.random()), op);
        continue;
      }
      if (r.status == 200) return r;
      ServiceError e = parse_kms_error(r.header("x-amzn-errortype"), r.body);
      wipe(r.body);
      switch (kms_verdict(r.status, e.type, c.temporary)) {
        case Verdict::Ok: return r;
        case Verdict::Retry:
          if (attempt < kMaxAttempts) {
            d_.sleep(backoff_ms(attempt, d_.random()), op);
            continue;
          }
          break;
        case Verdict::ExpiredCredentials:
          if (c.temporary && !refreshed) {
            refreshed = true;
            c = creds(true);
            attempt--;
            continue;
          }
          break;
        case Verdict::Fail: break;
      }
      const std::string msg = safe_service_message(e.message, c);
      fail(op, (e.type.empty() ? "HTTP " + std::to_string(r.status) : e.type) + (msg.empty() ? "" : ": " + msg),
           "HTTP " + std::to_string(r.status) + " from " + http::url_host(url) + " after " + std::to_string(attempt) +
               (attempt == 1 ? " attempt" : " attempts") + "; credentials from " + c.source + ".",
           kms_error_hint(e.type, op));
    }
  }

  void sign(http::Request& req, const std::string& host, const std::string& op, const Creds& c) const {
    const std::string date = sigv4::amz_date_now();
    sigv4::Request sr;
    sr.method = "POST";
    sr.path = "/";
    sr.body = req.body;
    sr.headers = {{"content-type", "application/x-amz-json-1.1"},
                  {"host", host},
                  {"x-amz-date", date},
                  {"x-amz-target", "TrentService." + op}};
    sigv4::Credentials sc;
    sc.access_key_id = c.access_key_id;
    sc.secret_access_key = c.secret_access_key;
    if (!c.session_token.empty()) {
      sc.session_token.assign(c.session_token.begin(), c.session_token.end());
      sr.headers.push_back({"x-amz-security-token", sc.session_token});
    }
    sigv4::Signature s = sigv4::sign(sr, sc, u_.region, "kms", date);
    wipe(sr.body);
    for (auto& h : sr.headers) {
      req.headers.push_back({h.first == "host" ? "Host" : h.first, h.second});
      wipe(h.second);
    }
    req.headers.push_back({"Authorization", s.authorization});
    wipe(sc.session_token);
    wipe(s.canonical_request);
  }

  std::string uri_;
  KmsUri u_;
  Deps d_;
  Timeouts t_;
  std::string key_arn_;   // the key ARN: from the URI, DescribeKey, or the first answer
  std::string endpoint_;  // KMS endpoint URL
  std::unique_ptr<CredentialPlan> plan_;
};

}  // namespace

Bytes kms_key_fingerprint(const std::string& key_arn) {
  static const char kLabel[] = "orgcrypt aws-kms key v1";
  Bytes in(kLabel, kLabel + sizeof kLabel - 1);
  in.insert(in.end(), key_arn.begin(), key_arn.end());
  Bytes fp = sha256(ByteView(in));
  fp.resize(8);
  return fp;
}

std::string safe_service_message(const std::string& msg, const Creds& creds) {
  // Only the first line is shown (a signature error goes on with the
  // canonical request), and not even that if it quotes a secret.
  const std::string first = msg.substr(0, msg.find('\n'));
  if (contains(first, creds.secret_access_key.data(), creds.secret_access_key.size()) ||
      contains(first, creds.session_token.data(), creds.session_token.size()) ||
      first.find("x-amz-security-token") != std::string::npos)
    return "(the service's message is withheld: it quoted the request's credentials)";
  return printable(first, kMaxServiceMessage);
}

std::unique_ptr<KeyProvider> make_kms_provider(const std::string& uri, Deps deps) {
  KmsUri u;
  std::string why = parse_kms_uri(uri, &u);
  if (!why.empty()) throw Error(sqlstate::kSystemError, "invalid key URI \"" + uri + "\"", why);
  return std::make_unique<KmsProvider>(uri, std::move(u), std::move(deps));
}

}  // namespace aws

std::unique_ptr<KeyProvider> make_aws_kms_provider(const std::string& uri) {
  return aws::make_kms_provider(uri, aws::default_deps());
}

std::string check_aws_kms_uri(const std::string& uri) { return aws::parse_kms_uri(uri, nullptr); }

std::string aws_kms_trust_scope(const std::string& uri) {
  return remote_trust_scope(uri, aws::kms_uri_service_length(uri));
}

}  // namespace orgcrypt
