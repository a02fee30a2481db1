#include "aws_credentials.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pwd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

#include "aws_ini.hpp"
#include "error.hpp"
#include "provider.hpp"
#include "secret_file.hpp"

namespace orgcrypt {
namespace aws {

namespace {

constexpr std::size_t kMaxTokenFile = 16 * 1024;
constexpr const char* kDocs = "See docs/providers.md, \"aws-kms:\", \"Credentials\".";

[[noreturn]] void fail(const std::string& msg, const std::string& detail = {}, const std::string& hint = {}) {
  throw Error(sqlstate::kSystemError, "aws-kms: " + msg, detail, hint);
}

void wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(&s[0], s.size());
}

bool is_true(const std::string& v) {
  std::string l;
  for (char c : v) l.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return l == "true";
}

std::string home_dir(const Deps& d) {
  if (auto h = env_value(d, "HOME")) return *h;
  struct passwd pw, *res = nullptr;
  char buf[4096];
  if (::getpwuid_r(::geteuid(), &pw, buf, sizeof buf, &res) == 0 && res && res->pw_dir) return res->pw_dir;
  return "";
}

bool file_exists(const std::string& path) { return !path.empty() && ::access(path.c_str(), F_OK) == 0; }

// Reads and parses an INI file (owned by the server's OS user, mode 0600).
IniFile read_ini(const std::string& path, const std::string& noun) {
  SecretFile f = read_secret_file(path, noun, kMaxIniFile,
                                  "Create it, or point the URI parameter or the environment variable elsewhere.");
  if (f.content.size() > kMaxIniFile) fail(noun + " \"" + path + "\" is longer than " + std::to_string(kMaxIniFile) + " bytes");
  IniFile ini;
  std::string why = parse_ini(ByteView(f.content), &ini);
  if (!why.empty()) fail("could not parse " + noun + " \"" + path + "\": " + why);
  return ini;
}

std::string value_of(const IniSection* s, const char* key) {
  if (!s) return "";
  auto it = s->find(key);
  return it == s->end() ? "" : std::string(it->second.c_str());
}

bool has(const IniSection* s, const char* key) { return s && s->count(key) && !s->at(key).empty(); }

std::string sts_region(const KmsUri& u, const Deps& d) {
  if (auto r = env_value(d, "AWS_REGION")) return *r;
  if (auto r = env_value(d, "AWS_DEFAULT_REGION")) return *r;
  return u.region;
}

std::string default_session_name(const Deps& d) { return "orgcrypt-" + std::to_string(static_cast<long long>(d.now())); }

CredentialPlan web_identity_plan(const KmsUri& u, const Deps& d, const std::string& token_file,
                                 const std::string& role_arn, std::string session, const std::string& from) {
  std::string why = check_role_arn(role_arn);
  if (!why.empty()) fail("the role ARN from " + from + " is malformed", why);
  if (token_file.empty() || token_file[0] != '/')
    fail("the web identity token file from " + from + " must be an absolute path");
  CredentialPlan p;
  p.kind = SourceKind::WebIdentity;
  p.token_file = token_file;
  p.role_arn = role_arn;
  p.session_name = session.empty() ? default_session_name(d) : session;
  p.sts_url = sts_endpoint(u, d);
  p.source = "web identity (" + from + ", role " + role_arn + ")";
  p.cache_key = "web-identity\n" + token_file + "\n" + role_arn + "\n" + p.sts_url + "\n" + u.ca_file;
  return p;
}

// The profile's credentials from the shared files; nullopt if the files have
// no such profile or it has no credentials (the chain goes on), unless
// `required` (an explicit profile), which makes that an error.
std::optional<CredentialPlan> profile_plan(const KmsUri& u, const Deps& d, const std::string& profile, bool required) {
  std::string cred_path = u.credentials_file;
  if (cred_path.empty()) cred_path = env_value(d, "AWS_SHARED_CREDENTIALS_FILE").value_or("");
  std::string conf_path = u.config_file;
  if (conf_path.empty()) conf_path = env_value(d, "AWS_CONFIG_FILE").value_or("");
  const std::string home = home_dir(d);
  if (cred_path.empty() && !home.empty()) cred_path = home + "/.aws/credentials";
  if (conf_path.empty() && !home.empty()) conf_path = home + "/.aws/config";
  // A file named explicitly must exist; the default ones may be missing.
  const bool cred_named = !u.credentials_file.empty() || env_value(d, "AWS_SHARED_CREDENTIALS_FILE");
  const bool conf_named = !u.config_file.empty() || env_value(d, "AWS_CONFIG_FILE");
  IniFile cred, conf;
  bool cred_read = false, conf_read = false;
  if (cred_named || file_exists(cred_path)) {
    cred = read_ini(cred_path, "the AWS credentials file");
    cred_read = true;
  }
  if (conf_named || file_exists(conf_path)) {
    conf = read_ini(conf_path, "the AWS config file");
    conf_read = true;
  }
  const IniSection* cs = cred_read ? find_profile(cred, profile, false) : nullptr;
  const IniSection* fs = conf_read ? find_profile(conf, profile, true) : nullptr;
  const std::string where = "profile \"" + profile + "\"";
  if (!cs && !fs) {
    if (!required) return std::nullopt;
    fail("the AWS " + where + " was not found",
         "Looked in " + (cred_read ? "\"" + cred_path + "\"" : "no credentials file") + " and " +
             (conf_read ? "\"" + conf_path + "\"" : "no config file") + ".",
         "Add [" + profile + "] to the credentials file or [profile " + profile + "] to the config file. " + kDocs);
  }
  // A key in the credentials file wins over the same key in the config file.
  auto get = [&](const char* k) { return has(cs, k) ? value_of(cs, k) : value_of(fs, k); };
  auto given = [&](const char* k) { return has(cs, k) || has(fs, k); };
  if (given("role_arn")) {
    if (given("web_identity_token_file"))
      return web_identity_plan(u, d, get("web_identity_token_file"), get("role_arn"), get("role_session_name"),
                               "the " + where);
    fail("the AWS " + where + " assumes a role with " +
             std::string(given("source_profile") ? "source_profile" : given("credential_source") ? "credential_source" : "no credential source") +
             ", which orgcrypt does not support",
         "", "Give the profile role_arn with web_identity_token_file, or static keys, or use another source. " +
                 std::string(kDocs));
  }
  if (given("credential_process") || given("sso_session") || given("sso_start_url"))
    fail("the AWS " + where + " uses credential_process or SSO, which orgcrypt does not support", "", kDocs);
  const bool has_id = given("aws_access_key_id"), has_secret = given("aws_secret_access_key");
  if (has_id != has_secret)
    fail("the AWS " + where + " has " + (has_id ? "aws_access_key_id but no aws_secret_access_key" : "aws_secret_access_key but no aws_access_key_id"));
  if (!has_id) {
    if (required) fail("the AWS " + where + " has no credentials (no aws_access_key_id, no role_arn)", "", kDocs);
    return std::nullopt;
  }
  CredentialPlan p;
  p.kind = SourceKind::Static;
  p.source = "the AWS " + where + " (" + (has(cs, "aws_access_key_id") ? cred_path : conf_path) + ")";
  p.statics.access_key_id = get("aws_access_key_id");
  const IniSection* ss = has(cs, "aws_secret_access_key") ? cs : fs;
  const SecretString& sec = ss->at("aws_secret_access_key");
  p.statics.secret_access_key.assign(sec.begin(), sec.end());
  const IniSection* ts = has(cs, "aws_session_token") ? cs : has(fs, "aws_session_token") ? fs : nullptr;
  if (ts) {
    const SecretString& tok = ts->at("aws_session_token");
    p.statics.session_token.assign(tok.begin(), tok.end());
  }
  p.statics.source = p.source;
  return p;
}

// ---- the cache
struct Cached {
  Creds creds;
  std::time_t obtained = 0;
};
std::mutex g_mu;
std::map<std::string, Cached>& cache() {
  static std::map<std::string, Cached> m;
  return m;
}
unsigned long g_fetches = 0;

Creds copy(const Creds& c) {
  Creds o;
  o.access_key_id = c.access_key_id;
  o.secret_access_key = c.secret_access_key;
  o.session_token = c.session_token;
  o.expiration = c.expiration;
  o.temporary = c.temporary;
  o.source = c.source;
  return o;
}

bool fresh(const Cached& c, std::time_t now) {
  if (c.creds.expiration == 0) return true;
  const std::time_t lifetime = c.creds.expiration - c.obtained;
  const std::time_t margin = std::min<std::time_t>(300, lifetime > 0 ? lifetime / 4 : 0);
  return c.creds.expiration - now > margin;
}

http::Options options(const Timeouts& t, bool metadata) {
  http::Options o;
  o.connect_timeout_ms = metadata ? std::min<long>(t.connect_ms, 1000) : t.connect_ms;
  o.total_timeout_ms = metadata ? std::min<long>(t.total_ms, 5000) : t.total_ms;
  o.ca_file = t.ca_file;
  o.max_body = kMaxServiceResponse;
  return o;
}

bool retryable_status(long status) { return status == 429 || (status >= 500 && status <= 599); }

// Sends with up to 3 attempts (throttling, 5xx, transport errors).
http::Response send_retrying(const http::Request& req, const http::Options& o, const Deps& d, const std::string& op,
                             const std::function<bool(const http::Response&)>& retry_on) {
  for (int attempt = 1;; attempt++) {
    try {
      http::Response r = d.transport(req, o, op);
      if (attempt < 3 && (retryable_status(r.status) || (retry_on && retry_on(r)))) {
        d.sleep(backoff_ms(attempt, d.random()), op);
        continue;
      }
      return r;
    } catch (const Error& e) {
      if (std::string(e.sqlstate()) == sqlstate::kQueryCanceled || attempt >= 3) throw;
      d.sleep(backoff_ms(attempt, d.random()), op);
    }
  }
}


// Temporary credentials from an answer (STS, ECS, IMDS), moved out of it.
Creds temporary_creds(TempCredentials& tc, const std::string& source) {
  Creds c;
  c.access_key_id = tc.access_key_id;
  c.secret_access_key = std::move(tc.secret_access_key);
  c.session_token = std::move(tc.session_token);
  c.expiration = tc.expiration;
  c.temporary = true;
  c.source = source;
  return c;
}
Creds fetch_web_identity(const CredentialPlan& p, const Deps& d, const Timeouts& t) {
  SecretFile f = read_secret_file(p.token_file, "the web identity token file", kMaxTokenFile,
                                  "AWS_WEB_IDENTITY_TOKEN_FILE (or web_identity_token_file=) names the file that holds "
                                  "the OIDC token the role trusts.");
  SecretBytes& tok = f.content;
  if (tok.size() > kMaxTokenFile) fail("the web identity token file \"" + p.token_file + "\" is longer than " + std::to_string(kMaxTokenFile) + " bytes");
  while (!tok.empty() && (tok.back() == '\n' || tok.back() == '\r' || tok.back() == ' ')) tok.pop_back();
  if (tok.empty()) fail("the web identity token file \"" + p.token_file + "\" is empty");
  http::Request req;
  req.method = "POST";
  req.url = p.sts_url + (p.sts_url.back() == '/' ? "" : "/");
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"}, {"Accept", "application/xml"}};
  req.body = sts_web_identity_body(p.role_arn, p.session_name, ByteView(tok));
  struct Wiper {
    std::string& s;
    ~Wiper() { wipe(s); }
  } wiper{req.body};
  const std::string op = "AssumeRoleWithWebIdentity";
  http::Response r = send_retrying(req, options(t, false), d, op, [](const http::Response& resp) {
    if (resp.status != 400) return false;
    ServiceError e = parse_sts_error(resp.body);
    return e.type == "IDPCommunicationError" || e.type == "Throttling";
  });
  if (r.status != 200) {
    ServiceError e = parse_sts_error(r.body);
    std::string hint;
    if (e.type == "InvalidIdentityToken" || e.type == "ExpiredTokenException")
      hint = "STS did not accept the web identity token: check that the token file is current and that the role's "
             "trust policy names its issuer and audience.";
    else if (e.type == "AccessDenied")
      hint = "The role's trust policy does not allow sts:AssumeRoleWithWebIdentity for this token.";
    fail(op + " for role " + p.role_arn + " failed: HTTP " + std::to_string(r.status) +
             (e.type.empty() ? "" : ": " + e.type) + (e.message.empty() ? "" : ": " + e.message),
         "STS endpoint " + http::url_host(p.sts_url) + ".", hint);
  }
  TempCredentials tc;
  std::string why = parse_sts_response(r.body, &tc);
  wipe(r.body);
  if (!why.empty()) fail(op + " for role " + p.role_arn + ": malformed answer: " + why);
  return temporary_creds(tc, p.source);
}

Creds from_json(http::Response& r, const std::string& op, const CredentialPlan& p) {
  TempCredentials tc;
  std::string why = parse_container_credentials(r.body, &tc);
  wipe(r.body);
  if (!why.empty()) fail(op + ": malformed credentials from " + p.source + ": " + why);
  return temporary_creds(tc, p.source);
}

Creds fetch_container(const CredentialPlan& p, const Deps& d, const Timeouts& t) {
  http::Request req;
  req.method = "GET";
  req.url = p.container_url;
  req.metadata = true;
  SecretBytes token;
  if (!p.container_token_file.empty()) {
    SecretFile f = read_secret_file(p.container_token_file, "the container authorization token file", kMaxTokenFile,
                                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE names the file with the token.");
    token = std::move(f.content);
    if (token.size() > kMaxTokenFile) fail("the container authorization token file is too long");
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  } else if (p.container_token_env) {
    token = p.container_token;
  }
  for (auto c : token)
    if (c < 0x20 || c == 0x7F) fail("the container authorization token contains a control character");
  if (!token.empty()) req.headers.push_back({"Authorization", std::string(token.begin(), token.end())});
  const std::string op = "container credentials";
  http::Response r;
  try {
    r = send_retrying(req, options(t, true), d, op, nullptr);
  } catch (...) {
    for (auto& h : req.headers) wipe(h.value);
    throw;
  }
  for (auto& h : req.headers) wipe(h.value);
  if (r.status != 200) {
    wipe(r.body);
    fail(op + ": HTTP " + std::to_string(r.status) + " from " + http::url_host(p.container_url), "",
         "Check AWS_CONTAINER_CREDENTIALS_RELATIVE_URI / _FULL_URI and the authorization token.");
  }
  return from_json(r, op, p);
}

Creds fetch_imds(const CredentialPlan& p, const Deps& d, const Timeouts& t) {
  const std::string op = "instance metadata";
  const std::string base = p.imds_base.back() == '/' ? p.imds_base.substr(0, p.imds_base.size() - 1) : p.imds_base;
  const http::Options o = options(t, true);
  http::Request tr;
  tr.method = "PUT";
  tr.url = base + "/latest/api/token";
  tr.headers = {{"x-aws-ec2-metadata-token-ttl-seconds", "21600"}};
  tr.metadata = true;
  http::Response r = send_retrying(tr, o, d, op, nullptr);
  if (r.status != 200)
    fail(op + ": HTTP " + std::to_string(r.status) + " for an IMDSv2 token from " + http::url_host(base), "",
         "Set AWS_EC2_METADATA_DISABLED=true where there is no EC2 instance metadata, or give credentials another way.");
  std::string token = std::move(r.body);
  struct Wiper {
    std::string& s;
    ~Wiper() { wipe(s); }
  } wiper{token};
  if (token.empty() || token.size() > 1024) fail(op + ": malformed IMDSv2 token");
  for (unsigned char c : token)
    if (c < 0x21 || c > 0x7E) fail(op + ": malformed IMDSv2 token");
  http::Request rr;
  rr.method = "GET";
  rr.url = base + "/latest/meta-data/iam/security-credentials/";
  rr.headers = {{"x-aws-ec2-metadata-token", token}};
  rr.metadata = true;
  struct HWiper {
    http::Request& r;
    ~HWiper() {
      for (auto& h : r.headers) wipe(h.value);
    }
  } hw1{rr};
  r = send_retrying(rr, o, d, op, nullptr);
  if (r.status != 200)
    fail(op + ": HTTP " + std::to_string(r.status) + " listing the instance's IAM role", "",
         "Attach an IAM role (instance profile) to the instance.");
  std::string role;
  std::string why = parse_imds_role(r.body, &role);
  if (!why.empty()) fail(op + ": " + why, "", "Attach an IAM role (instance profile) to the instance.");
  http::Request cr = rr;
  HWiper hw2{cr};
  cr.url += role;
  r = send_retrying(cr, o, d, op, nullptr);
  if (r.status != 200) {
    wipe(r.body);
    fail(op + ": HTTP " + std::to_string(r.status) + " for the credentials of role " + role);
  }
  return from_json(r, op, p);
}

}  // namespace

std::optional<std::string> env_value(const Deps& d, const std::string& name) {
  if (!d.env) return std::nullopt;
  auto v = d.env(name);
  if (v && v->empty()) return std::nullopt;
  return v;
}

long backoff_ms(int retry, double r) {
  long cap = 50L << std::min(std::max(retry, 1) - 1, 10);
  if (cap > 1000) cap = 1000;
  if (r < 0) r = 0;
  if (r >= 1) r = 0.999999;
  return static_cast<long>(r * static_cast<double>(cap));
}

Deps default_deps() {
  Deps d;
  d.env = [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
  d.transport = [](const http::Request& req, const http::Options& o, const std::string& op) {
    return http::send(req, o, "aws-kms", op);
  };
  d.now = [] { return std::time(nullptr); };
  d.sleep = [](long ms, const std::string& op) {
    while (ms > 0) {
      if (provider_interrupted()) throw_interrupted("aws-kms", op);
      long slice = std::min(ms, 100L);
      struct timespec ts {slice / 1000, (slice % 1000) * 1000000L};
      ::nanosleep(&ts, nullptr);
      ms -= slice;
    }
    if (provider_interrupted()) throw_interrupted("aws-kms", op);
  };
  d.random = [] {
    std::uint32_t x = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&x), sizeof x) != 1) return 0.5;
    return static_cast<double>(x) / 4294967296.0;
  };
  return d;
}

namespace {
std::string endpoint_from(const std::string& uri_value, const char* uri_name, const Deps& d, const char* service_var,
                          const std::string& fallback) {
  if (!uri_value.empty()) return uri_value;
  for (const char* var : {service_var, "AWS_ENDPOINT_URL"}) {
    if (auto v = env_value(d, var)) {
      std::string why = check_endpoint_url(*v, var);
      if (!why.empty()) fail("the environment variable " + std::string(var) + " is not usable", why);
      return *v;
    }
  }
  (void)uri_name;
  return fallback;
}

std::string dns_suffix(const std::string& partition) { return partition == "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com"; }
}  // namespace

std::string kms_endpoint(const KmsUri& u, const Deps& d) {
  return endpoint_from(u.endpoint, "endpoint", d, "AWS_ENDPOINT_URL_KMS",
                       "https://kms." + u.region + "." + dns_suffix(u.partition));
}

std::string sts_endpoint(const KmsUri& u, const Deps& d) {
  return endpoint_from(u.sts_endpoint, "sts_endpoint", d, "AWS_ENDPOINT_URL_STS",
                       "https://sts." + sts_region(u, d) + "." + dns_suffix(u.partition));
}

CredentialPlan plan_credentials(const KmsUri& u, const Deps& d) {
  // URI parameters first: they name the source outright.
  if (!u.web_identity_token_file.empty())
    return web_identity_plan(u, d, u.web_identity_token_file, u.role_arn, u.role_session_name, "the key URI");
  if (!u.profile.empty()) return *profile_plan(u, d, u.profile, true);
  // 1. the environment
  auto id = env_value(d, "AWS_ACCESS_KEY_ID");
  auto secret = env_value(d, "AWS_SECRET_ACCESS_KEY");
  if (id || secret) {
    if (!id || !secret) {
      if (secret) wipe(*secret);
      fail(std::string("the environment has ") +
           (id ? "AWS_ACCESS_KEY_ID but no AWS_SECRET_ACCESS_KEY" : "AWS_SECRET_ACCESS_KEY but no AWS_ACCESS_KEY_ID"),
           "", "Set both in the server's environment, or neither.");
    }
    CredentialPlan p;
    p.kind = SourceKind::Static;
    p.source = "the environment (AWS_ACCESS_KEY_ID)";
    p.statics.access_key_id = *id;
    p.statics.secret_access_key.assign(secret->begin(), secret->end());
    wipe(*secret);
    if (auto tok = env_value(d, "AWS_SESSION_TOKEN")) {
      p.statics.session_token.assign(tok->begin(), tok->end());
      wipe(*tok);
    }
    p.statics.source = p.source;
    return p;
  }
  // 2. the shared files
  auto env_profile = env_value(d, "AWS_PROFILE");
  if (auto p = profile_plan(u, d, env_profile.value_or("default"), env_profile.has_value())) return std::move(*p);
  // 3. web identity from the environment
  auto wif = env_value(d, "AWS_WEB_IDENTITY_TOKEN_FILE");
  auto role = env_value(d, "AWS_ROLE_ARN");
  if (wif || role) {
    if (!wif || !role)
      fail(std::string("the environment has ") +
           (wif ? "AWS_WEB_IDENTITY_TOKEN_FILE but no AWS_ROLE_ARN" : "AWS_ROLE_ARN but no AWS_WEB_IDENTITY_TOKEN_FILE"),
           "", "Web identity needs both.");
    return web_identity_plan(u, d, *wif, *role, env_value(d, "AWS_ROLE_SESSION_NAME").value_or(""), "the environment");
  }
  // 4. the container endpoint
  auto rel = env_value(d, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  auto full = env_value(d, "AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (rel || full) {
    CredentialPlan p;
    p.kind = SourceKind::Container;
    if (rel) {
      if ((*rel)[0] != '/') fail("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with /");
      p.container_url = "http://169.254.170.2" + *rel;
    } else {
      if (full->compare(0, 7, "http://") != 0 && full->compare(0, 8, "https://") != 0)
        fail("AWS_CONTAINER_CREDENTIALS_FULL_URI must be an http:// or https:// URL");
      p.container_url = *full;
    }
    for (unsigned char c : p.container_url)
      if (c <= 0x20 || c >= 0x7F) fail("the container credentials URI contains a space or a control character");
    if (auto tf = env_value(d, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")) {
      p.container_token_file = *tf;
    } else if (auto tok = env_value(d, "AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
      p.container_token_env = true;
      p.container_token.assign(tok->begin(), tok->end());
      wipe(*tok);
    }
    p.source = "the container credentials endpoint (" + http::url_host(p.container_url) + ")";
    p.cache_key = "container\n" + p.container_url + "\n" + p.container_token_file + "\n" + u.ca_file;
    return p;
  }
  // 5. EC2 instance metadata
  if (auto dis = env_value(d, "AWS_EC2_METADATA_DISABLED"); dis && is_true(*dis))
    fail("no AWS credentials found",
         "Looked in the environment (AWS_ACCESS_KEY_ID), the shared credentials and config files, web identity "
         "(AWS_WEB_IDENTITY_TOKEN_FILE), the container endpoint (AWS_CONTAINER_CREDENTIALS_*); instance metadata is "
         "disabled (AWS_EC2_METADATA_DISABLED).",
         "Give the PostgreSQL server credentials in one of these ways. " + std::string(kDocs));
  CredentialPlan p;
  p.kind = SourceKind::Imds;
  p.imds_base = "http://169.254.169.254";
  if (auto ep = env_value(d, "AWS_EC2_METADATA_SERVICE_ENDPOINT")) {
    std::string why = check_endpoint_url(*ep, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (!why.empty()) fail("the environment variable AWS_EC2_METADATA_SERVICE_ENDPOINT is not usable", why);
    p.imds_base = *ep;
  }
  p.source = "EC2 instance metadata (" + http::url_host(p.imds_base) + ")";
  p.cache_key = "imds\n" + p.imds_base;
  return p;
}

Creds get_credentials(const CredentialPlan& plan, const Deps& d, const Timeouts& t, bool force) {
  if (plan.kind == SourceKind::Static) return copy(plan.statics);
  const std::time_t now = d.now();
  {
    std::lock_guard<std::mutex> lock(g_mu);
    auto it = cache().find(plan.cache_key);
    if (it != cache().end()) {
      if (!force && fresh(it->second, now)) return copy(it->second.creds);
      cache().erase(it);
    }
  }
  Creds c;
  switch (plan.kind) {
    case SourceKind::WebIdentity: c = fetch_web_identity(plan, d, t); break;
    case SourceKind::Container: c = fetch_container(plan, d, t); break;
    case SourceKind::Imds: c = fetch_imds(plan, d, t); break;
    case SourceKind::Static: break;
  }
  std::lock_guard<std::mutex> lock(g_mu);
  g_fetches++;
  Cached& e = cache()[plan.cache_key];
  e.creds = copy(c);
  e.obtained = now;
  return c;
}

void clear_credential_cache() {
  std::lock_guard<std::mutex> lock(g_mu);
  cache().clear();
}

unsigned long credential_fetches() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_fetches;
}

}  // namespace aws
}  // namespace orgcrypt
