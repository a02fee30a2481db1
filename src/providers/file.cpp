// file:/absolute/path — a 32-byte KEK in a file owned by the server's OS user
// with no group or other permission bits.
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "aead.hpp"
#include "error.hpp"
#include "provider.hpp"
#include "secret_file.hpp"

namespace orgcrypt {

namespace {

constexpr std::size_t kMaxKeyFile = 4096;

int hexval(std::uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_b64(std::uint8_t c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// The keys this process has read, by path, with the identity of the file
// they came from: a file: key is read again only when its file changes (the
// permission checks still run at every use). Wiped when replaced and at exit.
struct KeptKey {
  bool valid = false;
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = 0;
  struct timespec mtim = {}, ctim = {};
  SecretBytes key;
};
std::map<std::string, KeptKey>& kept_keys() {
  static std::map<std::string, KeptKey> m;
  return m;
}
bool same_time(const struct timespec& a, const struct timespec& b) { return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec; }
std::atomic<unsigned long> g_file_key_loads{0};

// Reads and parses its key file at most once: the first call that needs the
// key loads it, and every later call on this object (fingerprint, wrap,
// unwrap, validate) uses those same bytes, or rethrows the same error. A key
// file replaced between a fingerprint() and a wrap() therefore cannot give a
// fingerprint of one key and a wrap under another. A replaced file is seen by
// the next provider object (each operation opens its own). The cached key is
// a SecretBytes: wiped when the provider is destroyed.
class FileProvider final : public KeyProvider {
 public:
  explicit FileProvider(std::string uri) : uri_(std::move(uri)), path_(uri_.substr(5)) {}
  const std::string& uri() const override { return uri_; }
  void validate() override { (void)key(); }
  bool production_ready() const override { return false; }  // a key file next to the data
  Bytes fingerprint() override { return kek_fingerprint(ByteView(key())); }
  Bytes wrap(ByteView dek, ByteView aad) override { return keywrap_with_aad(ByteView(key()), dek, aad); }
  SecretBytes unwrap(ByteView blob, ByteView aad) override {
    SecretBytes dek;
    if (!keyunwrap_with_aad(ByteView(key()), blob, aad, dek))
      throw Error(sqlstate::kSystemError, "master key file \"" + path_ + "\" could not unwrap a DEK",
                  "The wrapped DEK does not authenticate under this key for this organization and version.");
    return dek;
  }

 private:
  [[noreturn]] void fail(const std::string& msg, const std::string& hint = {}) const {
    throw Error(sqlstate::kSystemError, msg, {}, hint);
  }

  // The key, loaded on first use. A failed load is remembered too, so the
  // file is read at most once per provider object.
  const SecretBytes& key() {
    if (!loaded_) {
      try {
        key_ = load();
      } catch (const Error& e) {
        error_ = std::make_unique<Error>(e);
      }
      loaded_ = true;
    }
    if (error_) throw Error(*error_);
    return key_;
  }

  SecretBytes load() const {
    KeptKey& kept = kept_keys()[path_];
    // The key read last time, if the file is unchanged (same inode, size and
    // times): no read, no parse. The file's checks run on every use.
    SecretFile f = read_secret_file(
        path_, "master key file", kMaxKeyFile,
        "Create it with: head -c 32 /dev/urandom > FILE; chmod 600 FILE (owned by the server's OS user).",
        [&](const struct stat& st) {
          if (st.st_size > static_cast<off_t>(kMaxKeyFile))
            fail("master key file \"" + path_ + "\" has wrong length " + std::to_string(st.st_size),
                 "Expected 32 raw bytes, 64 hex characters or 44 base64 characters.");
          return kept.valid && kept.dev == st.st_dev && kept.ino == st.st_ino && kept.size == st.st_size &&
                 same_time(kept.mtim, st.st_mtim) && same_time(kept.ctim, st.st_ctim);
        });
    if (f.reused) return kept.key;
    kept.valid = false;
    kept.key = SecretBytes();  // the old key's storage is wiped as it is freed
    const struct stat& st = f.st;
    SecretBytes& buf = f.content;
    std::size_t total = buf.size();
    SecretBytes key = parse_key_material(ByteView(buf.data(), total), "master key file \"" + path_ + "\"");
    g_file_key_loads++;
    kept.valid = true;
    kept.dev = st.st_dev;
    kept.ino = st.st_ino;
    kept.size = st.st_size;
    kept.mtim = st.st_mtim;
    kept.ctim = st.st_ctim;
    kept.key = key;  // the previous key (if any) is wiped as it is replaced
    return key;
  }

  std::string uri_;
  std::string path_;
  bool loaded_ = false;
  SecretBytes key_;               // wiped on destruction (CleansingAllocator)
  std::unique_ptr<Error> error_;  // the error of the one load, if it failed
};

}  // namespace

SecretBytes parse_key_material(ByteView content, const std::string& source) {
  const std::uint8_t* p = content.data;
  std::size_t n = content.size;
  if (n == kKeyLen) return SecretBytes(p, p + n);  // raw
  // Text forms: strip one trailing newline.
  std::size_t t = n;
  if (t > 0 && p[t - 1] == '\n') {
    t--;
    if (t > 0 && p[t - 1] == '\r') t--;
  }
  if (t == 64) {
    SecretBytes out(kKeyLen);
    bool ok = true;
    for (std::size_t i = 0; i < 32 && ok; i++) {
      int hi = hexval(p[2 * i]), lo = hexval(p[2 * i + 1]);
      if (hi < 0 || lo < 0) ok = false;
      else out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    if (ok) return out;
    throw Error(sqlstate::kSystemError, source + " holds 64 characters that are not all hexadecimal",
                {}, "Expected 32 raw bytes, 64 hex characters or 44 base64 characters.");
  }
  if (t == 44) {
    bool ok = p[43] == '=' && p[42] != '=';
    for (std::size_t i = 0; i < 43 && ok; i++) ok = is_b64(p[i]);
    if (ok) {
      SecretBytes out(33);
      int r = EVP_DecodeBlock(out.data(), p, 44);
      if (r == 33) {  // EVP_DecodeBlock counts the padding byte
        out.resize(kKeyLen);
        return out;
      }
    }
    throw Error(sqlstate::kSystemError, source + " holds 44 characters that are not base64 of 32 bytes",
                {}, "Expected 32 raw bytes, 64 hex characters or 44 base64 characters.");
  }
  throw Error(sqlstate::kSystemError, source + " has wrong length " + std::to_string(n),
              {}, "Expected 32 raw bytes, 64 hex characters or 44 base64 characters (one trailing newline allowed).");
}

std::string check_file_uri(const std::string& uri) {
  if (uri.size() < 6 || uri.compare(0, 5, "file:") != 0 || uri[5] != '/')
    return "a file master key is file:/absolute/path";
  if (uri.compare(0, 7, "file://") == 0) return "write file:/absolute/path (one slash), not file://";
  if (uri.find('\0') != std::string::npos) return "the path contains a NUL byte";
  return {};
}

unsigned long file_key_loads() { return g_file_key_loads.load(); }

std::unique_ptr<KeyProvider> make_file_provider(const std::string& uri) {
  return std::make_unique<FileProvider>(uri);
}

}  // namespace orgcrypt
