// kmip://HOST[:PORT]/UID — a symmetric key on a KMIP server (KMIP 1.4 or
// later) wraps and unwraps DEKs with server-side AES-256-GCM, so the KEK
// never leaves the server:
//
//   wrap:   Encrypt { UID, CryptographicParameters { GCM, AES, TagLength 16 },
//                     Data = DEK, IV = 12 random bytes, AAD = wrap AAD }
//           -> blob = IV || Data || Authenticated Encryption Tag
//   unwrap: Decrypt { UID, same parameters, Data, IV, AAD, Tag } -> the DEK
//
// The version is agreed with DiscoverVersions on each new connection. A
// server without 1.4 (no Authenticated Encryption Additional Data) is
// refused unless orgcrypt.kmip_allow_get_fallback is on: then the key is
// fetched with Get, used for the same AES-GCM in this process and wiped
// (the blob is the same, so either way unwraps the other's DEKs).
//
// One TLS connection per (server, certificate files) per process, kept
// across calls and statements, opened again after a failure; a reused
// connection that the server closed while idle is re-opened and the request
// sent once more (Encrypt and Decrypt change nothing on the server).
// URI syntax: kmip_uri.hpp; messages: kmip_msg.hpp; TLS: kmip_conn.hpp.
#include "kmip.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "aead.hpp"
#include "error.hpp"
#include "kmip_conn.hpp"
#include "kmip_msg.hpp"
#include "kmip_uri.hpp"
#include "provider.hpp"

namespace orgcrypt {
namespace kmip {

namespace {

Settings g_settings;
SettingsSource g_source = nullptr;
std::uint64_t g_opened = 0;
std::uint64_t g_requests = 0;

constexpr std::size_t kMaxSessions = 4;
constexpr std::size_t kDekLen = 32;
constexpr std::size_t kMaxResponse = static_cast<std::size_t>(kMaxResponseSize) + 4096;

// What we offer, in preference order: 1.4 (or 2.x, where Encrypt and
// Decrypt carry the same fields) is needed for server-side GCM with
// additional data; older ones only for the Get fallback.
const std::vector<Version> kOffer = {{1, 4}, {2, 1}, {2, 0}, {1, 3}, {1, 2}, {1, 1}, {1, 0}};

struct Session {
  std::string key;
  std::unique_ptr<Connection> conn;
  Version version;
  bool server_side = true;  // false: Get fallback
  std::uint64_t uses = 0;
};
// Never destroyed: at process exit OpenSSL may already be cleaned up, and
// the server sees the connection close anyway.
std::vector<Session>& g_sessions = *new std::vector<Session>();

// A file's identity for the session key: a replaced certificate or key
// opens a new connection.
std::string file_id(const std::string& path) {
  struct stat st {};
  if (path.empty() || stat(path.c_str(), &st) != 0) return path + "|-";
  return path + "|" + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec);
}

std::string versions_text(const std::vector<Version>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x.str();
  return s.empty() ? "none" : s;
}

std::string failure_hint(const Result& r) {
  switch (r.reason) {
    case reason::kPermissionDenied:
      return "The server refused this client for this key: the key may belong to another identity (the client "
             "certificate's), or it is not Active (revoked, deactivated). Check the key's owner and state on the KMIP "
             "server.";
    case reason::kItemNotFound:
      return "The server has no key with this Unique Identifier (destroyed, or another server).";
    case reason::kAuthenticationNotSuccessful:
      return "The server did not accept the client certificate.";
    case reason::kCryptographicFailure:
      return "The wrapped key does not authenticate under this KMIP key and organization (another key, another "
             "org, or damaged).";
    default:
      return {};
  }
}

class KmipProvider final : public KeyProvider {
 public:
  KmipProvider(std::string uri, KmipUri u) : uri_(std::move(uri)), u_(std::move(u)) {
    const Settings s = settings();
    cfg_.host = u_.host;
    cfg_.port = u_.port;
    cfg_.ca_file = u_.ca_file.empty() ? s.ca_file : u_.ca_file;
    cfg_.cert_file = u_.cert_file.empty() ? s.cert_file : u_.cert_file;
    cfg_.key_file = u_.cert_file.empty() ? s.key_file : u_.key_file;
    cfg_.connect_timeout_ms = u_.connect_timeout_ms;
    allow_get_ = s.allow_get_fallback;
    where_ = "key " + u_.uid + " at " + u_.hostport();
  }

  const std::string& uri() const override { return uri_; }

  // One wrap of a fixed test key under a validation AAD: the connection,
  // the version, the client's identity and the key's state, all at once.
  void validate() override {
    static const char kAad[] = "orgcrypt kmip validate";
    const Bytes zero(kDekLen, 0);
    (void)wrap(ByteView(zero), ByteView(kAad, sizeof kAad - 1));
  }

  Bytes fingerprint() override { return location_fingerprint(u_.hostport(), u_.uid); }

  Bytes wrap(ByteView dek, ByteView aad) override {
    Bytes iv(kIvLen);
    random_bytes(iv.data(), iv.size());
    Session& s = session("Encrypt");
    if (!s.server_side) {
      SecretBytes kek = get_key(s);
      Bytes ct, tag;
      gcm_encrypt(ByteView(kek), ByteView(iv), aad, dek, ct, tag, kTagLen);
      return join(iv, ct, tag);
    }
    Result r = call("Encrypt", op::kEncrypt, [&](Version v) {
      return request_encrypt(v, u_.uid, dek, ByteView(iv), aad, static_cast<int>(kTagLen));
    });
    EncryptOutput out = parse_encrypt(r);
    if (out.data.size() != dek.size)
      fail("Encrypt", "the server returned " + std::to_string(out.data.size()) + " bytes of ciphertext for a " +
                          std::to_string(dek.size) + "-byte key");
    if (out.tag.size() != kTagLen)
      fail("Encrypt", "the server returned a " + std::to_string(out.tag.size()) + "-byte tag, not " +
                          std::to_string(kTagLen) + " (is AES-GCM with a tag supported?)");
    if (!out.iv.empty() && out.iv != iv) fail("Encrypt", "the server used another IV than the one sent");
    Bytes ct(out.data.begin(), out.data.end());
    return join(iv, ct, out.tag);
  }

  SecretBytes unwrap(ByteView blob, ByteView aad) override {
    if (blob.size <= kIvLen + kTagLen)
      fail("Decrypt", "the wrapped key is " + std::to_string(blob.size) + " bytes: too short for IV, key and tag");
    const ByteView iv(blob.data, kIvLen);
    const ByteView ct(blob.data + kIvLen, blob.size - kIvLen - kTagLen);
    const ByteView tag(blob.data + blob.size - kTagLen, kTagLen);
    Session& s = session("Decrypt");
    if (!s.server_side) {
      SecretBytes kek = get_key(s);
      Bytes pt;
      if (!gcm_decrypt(ByteView(kek), iv, aad, ct, tag, pt))
        throw Error(sqlstate::kSystemError, "kmip Decrypt: the wrapped key does not authenticate (" + where_ + ")", "",
                    "Another key, another organization, or a damaged row.");
      SecretBytes out(pt.begin(), pt.end());
      OPENSSL_cleanse(pt.data(), pt.size());
      return out;
    }
    Result r = call("Decrypt", op::kDecrypt, [&](Version v) {
      return request_decrypt(v, u_.uid, ct, iv, aad, tag, static_cast<int>(kTagLen));
    });
    SecretBytes dek = parse_decrypt(r);
    if (dek.size() != ct.size)
      fail("Decrypt", "the server returned " + std::to_string(dek.size()) + " bytes for " + std::to_string(ct.size) +
                          " bytes of ciphertext");
    return dek;
  }

 private:
  [[noreturn]] void fail(const std::string& op, const std::string& what, const std::string& hint = {}) {
    throw Error(sqlstate::kSystemError, "kmip " + op + ": " + what + " (" + where_ + ")", "", hint);
  }

  static Bytes join(const Bytes& iv, const Bytes& ct, const Bytes& tag) {
    Bytes b;
    b.reserve(iv.size() + ct.size() + tag.size());
    b.insert(b.end(), iv.begin(), iv.end());
    b.insert(b.end(), ct.begin(), ct.end());
    b.insert(b.end(), tag.begin(), tag.end());
    return b;
  }

  std::string session_key() const {
    return u_.hostport() + "\x1f" + file_id(cfg_.ca_file) + "\x1f" + file_id(cfg_.cert_file) + "\x1f" +
           file_id(cfg_.key_file) + "\x1f" + (allow_get_ ? "get" : "");
  }

  // The open session for this server and these files, negotiated; opens
  // one if there is none (or it broke, or belongs to a parent process).
  Session& session(const std::string& op) {
    const std::string key = session_key();
    const int pid = static_cast<int>(getpid());
    for (auto it = g_sessions.begin(); it != g_sessions.end(); ++it) {
      if (it->key != key) continue;
      if (it->conn && !it->conn->broken() && it->conn->owner_pid() == pid) return *it;
      g_sessions.erase(it);
      break;
    }
    if (g_sessions.size() >= kMaxSessions) g_sessions.erase(g_sessions.begin());
    Session s;
    s.key = key;
    s.conn = Connection::open(cfg_, op);
    g_opened++;
    negotiate(s, op);
    g_sessions.push_back(std::move(s));
    return g_sessions.back();
  }

  void negotiate(Session& s, const std::string& op) {
    // DiscoverVersions exists since KMIP 1.1; a server that does not take a
    // 1.4 header for it may take a 2.0 one (a KMIP 2.x-only server) or a 1.1
    // one (an older server).
    std::vector<Version> offered;
    bool answered = false;
    std::string last;
    for (Version header : {Version{1, 4}, Version{2, 0}, Version{1, 1}}) {
      SecretBytes req = request_discover_versions(header, kOffer);
      g_requests++;
      SecretBytes resp = s.conn->exchange(ByteView(req), u_.timeout_ms, "DiscoverVersions", kMaxResponse);
      Result r = parse_response(ByteView(resp), op::kDiscoverVersions);
      if (r.status == status::kSuccess) {
        offered = parse_discover_versions(r);
        answered = true;
        break;
      }
      last = describe_failure(r);
    }
    // 1.4 if the server has it; else the highest 2.x we know (2.1, 2.0).
    const Version* pick = nullptr;
    for (const Version& v : offered) {
      if (v == Version{1, 4}) {
        pick = &v;
        break;
      }
      if (v.major == 2 && v.minor <= 1 && (!pick || v.at_least(pick->major, pick->minor))) pick = &v;
    }
    if (pick) {
      s.version = *pick;
      s.server_side = true;
      return;
    }
    const std::string what = answered ? "the server offers KMIP " + versions_text(offered)
                                      : "the server does not answer DiscoverVersions (" + last + ")";
    if (allow_get_) {
      Version best{1, 0};
      for (const Version& v : offered)
        if (v.major == 1 && v.at_least(best.major, best.minor)) best = v;
      s.version = best;
      s.server_side = false;
      return;
    }
    s.conn.reset();
    fail(op, what + "; orgcrypt needs KMIP 1.4 or later for server-side AES-GCM with additional data",
         "Upgrade the KMIP server, or set orgcrypt.kmip_allow_get_fallback = on to fetch the key with Get and use it "
         "in the backend (weaker: the KEK then visits the database server's memory).");
  }

  // One request on the session, reconnecting once if a reused connection
  // was closed by the server while idle.
  Result call(const std::string& op, std::uint32_t operation, const std::function<SecretBytes(Version)>& build) {
    for (int attempt = 0;; attempt++) {
      Session& s = session(op);
      const bool reused = s.uses > 0;
      SecretBytes resp;
      try {
        SecretBytes req = build(s.version);
        g_requests++;
        resp = s.conn->exchange(ByteView(req), u_.timeout_ms, op, kMaxResponse);
      } catch (const Error&) {
        const bool retry = attempt == 0 && reused && s.conn && s.conn->broken() && s.conn->closed_by_peer();
        if (s.conn && s.conn->broken()) s.conn.reset();
        if (!retry) throw;
        continue;
      }
      s.uses++;
      Result r;
      try {
        r = parse_response(ByteView(resp), operation);
      } catch (...) {
        s.conn.reset();  // out of step with the server: never reused
        throw;
      }
      if (r.status != status::kSuccess) fail(op, describe_failure(r), failure_hint(r));
      return r;
    }
  }

  // Get fallback: the key's bytes, checked to be a 256-bit AES key.
  SecretBytes get_key(Session& s) {
    (void)s;
    Result r = call("Get", op::kGet, [&](Version v) { return request_get(v, u_.uid); });
    SecretBytes key = parse_get_symmetric_key(r);
    if (key.size() != kDekLen)
      fail("Get", "the key is " + std::to_string(key.size() * 8) + " bits; orgcrypt needs a 256-bit AES key");
    return key;
  }

  std::string uri_;
  KmipUri u_;
  TlsConfig cfg_;
  bool allow_get_ = false;
  std::string where_;
};

}  // namespace

void set_settings(const Settings& s) { g_settings = s; }
void set_settings_source(SettingsSource source) { g_source = source; }
Settings settings() { return g_source ? g_source() : g_settings; }
std::uint64_t connections_opened() { return g_opened; }
std::uint64_t requests_sent() { return g_requests; }
void close_connections() { g_sessions.clear(); }

Bytes location_fingerprint(const std::string& hostport, const std::string& uid) {
  static const char kLabel[] = "orgcrypt kmip key v1";
  std::string in(kLabel, sizeof kLabel - 1);
  for (const std::string* s : {&hostport, &uid}) {
    append_u32be(in, static_cast<std::uint32_t>(s->size()));
    in += *s;
  }
  Bytes fp = sha256(ByteView(in));
  fp.resize(8);
  return fp;
}

}  // namespace kmip

std::unique_ptr<KeyProvider> make_kmip_provider(const std::string& uri) {
  KmipUri u;
  const std::string why = parse_kmip_uri(uri, &u);
  if (!why.empty()) throw Error(sqlstate::kSystemError, "invalid key URI \"" + kmip_uri_redacted(uri) + "\"", why);
  return std::make_unique<kmip::KmipProvider>(uri, std::move(u));
}

}  // namespace orgcrypt
