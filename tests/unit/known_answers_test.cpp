// Known answers from outside sources. The NIST CAVP AES-GCM and SP 800-38F
// key-wrap vectors are read at run time from the Debian package
// python3-cryptography-vectors (nothing is copied into this repository); the
// HMAC and SHA-256 answers are the published RFC 4231 / FIPS 180-2 examples.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "aead.hpp"
#include "error.hpp"
#include "test_util.hpp"

using namespace orgcrypt;
using testutil::tohex;
using testutil::unhex;

namespace {

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_file(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The cryptography_vectors directory: $ORGCRYPT_VECTORS_DIR, the Debian
// location, or whatever `find` turns up under /usr. "" if none.
const std::string& vectors_dir() {
  static const std::string dir = [] {
    const char* env = std::getenv("ORGCRYPT_VECTORS_DIR");
    if (env && *env && is_dir(env)) return std::string(env);
    const char* known = "/usr/lib/python3/dist-packages/cryptography_vectors";
    if (is_dir(std::string(known) + "/ciphers/AES/GCM")) return std::string(known);
    std::string found;
    if (FILE* p = ::popen("find /usr /opt -type f -name gcmDecrypt256.rsp -path '*cryptography_vectors*' 2>/dev/null",
                          "r")) {
      char line[4096];
      if (std::fgets(line, sizeof line, p)) found = line;
      ::pclose(p);
    }
    while (!found.empty() && (found.back() == '\n' || found.back() == '\r')) found.pop_back();
    const std::string suffix = "/ciphers/AES/GCM/gcmDecrypt256.rsp";
    if (found.size() > suffix.size() && found.compare(found.size() - suffix.size(), suffix.size(), suffix) == 0)
      return found.substr(0, found.size() - suffix.size());
    return std::string();
  }();
  return dir;
}

// One record of a CAVP response file: its fields, whether it is marked FAIL,
// the [section] parameters in force, and the line it starts on.
struct Record {
  std::map<std::string, std::string> f;
  std::map<std::string, std::string> section;
  bool fail = false;
  int line = 0;
  const std::string& at(const std::string& k) const {
    auto it = f.find(k);
    if (it == f.end()) throw std::runtime_error("record at line " + std::to_string(line) + " lacks field " + k);
    return it->second;
  }
  Bytes hex(const std::string& k) const { return unhex(at(k)); }
  int section_int(const std::string& k) const {
    auto it = section.find(k);
    if (it == section.end()) throw std::runtime_error("record at line " + std::to_string(line) + " lacks [" + k + "]");
    return std::stoi(it->second);
  }
};

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t' || s[b] == '\r' || s[b] == '\n')) b++;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r' || s[e - 1] == '\n')) e--;
  return s.substr(b, e - b);
}

// Parses a CAVP .rsp / .txt file. A record starts at a "Count"/"COUNT" line
// and holds the "Name = value" lines (and a bare FAIL) that follow it.
std::vector<Record> parse_cavp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::vector<Record> out;
  std::map<std::string, std::string> section;
  bool in_rec = false, last_was_section = false;
  Record cur;
  std::string raw;
  int lineno = 0;
  while (std::getline(in, raw)) {
    lineno++;
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') {
      if (in_rec) {
        out.push_back(cur);
        in_rec = false;
      }
      if (!last_was_section) section.clear();  // a new block of [..] lines
      last_was_section = true;
      std::string body = line.substr(1, line.find(']') == std::string::npos ? std::string::npos : line.find(']') - 1);
      auto eq = body.find('=');
      if (eq == std::string::npos) section[trim(body)] = "";
      else section[trim(body.substr(0, eq))] = trim(body.substr(eq + 1));
      continue;
    }
    last_was_section = false;
    if (line == "FAIL") {
      if (!in_rec) throw std::runtime_error(path + ":" + std::to_string(lineno) + ": FAIL outside a record");
      cur.fail = true;
      continue;
    }
    auto eq = line.find('=');
    if (eq == std::string::npos) throw std::runtime_error(path + ":" + std::to_string(lineno) + ": unparsed line: " + line);
    std::string k = trim(line.substr(0, eq)), v = trim(line.substr(eq + 1));
    if (k == "Count" || k == "COUNT") {
      if (in_rec) out.push_back(cur);
      cur = Record();
      cur.section = section;
      cur.line = lineno;
      in_rec = true;
    } else if (!in_rec) {
      continue;  // header fields outside records (none expected)
    }
    cur.f[k] = v;
  }
  if (in_rec) out.push_back(cur);
  return out;
}

std::string vector_path(const std::string& rel) {
  const std::string& d = vectors_dir();
  return d.empty() ? std::string() : d + "/" + rel;
}

#define REQUIRE_VECTORS(path)                                                                          \
  do {                                                                                                 \
    ASSERT_FALSE(vectors_dir().empty())                                                                \
        << "NIST test vectors not found: install the Debian package python3-cryptography-vectors "     \
           "(apt-get install python3-cryptography-vectors), or set ORGCRYPT_VECTORS_DIR to its "       \
           "cryptography_vectors directory";                                                           \
    ASSERT_TRUE(is_file(path)) << "missing vector file " << (path)                                     \
                               << " (install python3-cryptography-vectors)";                           \
  } while (0)

// Collects mismatches and reports the first few, so a broken implementation
// does not print thousands of lines.
struct Mismatches {
  int n = 0;
  std::string first;
  void add(const std::string& file, const Record& r, const std::string& what) {
    if (n++ < 5) first += "  " + file + ":" + std::to_string(r.line) + ": " + what + "\n";
  }
};

// ---- AES-GCM (NIST CAVP gcmtestvectors) ----

struct GcmCounts {
  int total = 0, fail_cases = 0, class_checked = 0;
};

GcmCounts run_gcm_encrypt_file(const std::string& name, Mismatches& mm) {
  GcmCounts c;
  std::string path = vector_path("ciphers/AES/GCM/" + name);
  for (const Record& r : parse_cavp(path)) {
    Bytes key = r.hex("Key"), iv = r.hex("IV"), pt = r.hex("PT"), aad = r.hex("AAD"), ect = r.hex("CT"),
          etag = r.hex("Tag");
    // Cross-check the parse against the section parameters.
    if (key.size() * 8 != static_cast<std::size_t>(r.section_int("Keylen")) ||
        iv.size() * 8 != static_cast<std::size_t>(r.section_int("IVlen")) ||
        pt.size() * 8 != static_cast<std::size_t>(r.section_int("PTlen")) ||
        aad.size() * 8 != static_cast<std::size_t>(r.section_int("AADlen")) ||
        etag.size() * 8 != static_cast<std::size_t>(r.section_int("Taglen")) || ect.size() != pt.size()) {
      mm.add(name, r, "record does not match its section parameters");
      continue;
    }
    c.total++;
    Bytes ct, tag;
    gcm_encrypt(ByteView(key), ByteView(iv), ByteView(aad), ByteView(pt), ct, tag, etag.size());
    if (ct != ect) mm.add(name, r, "gcm_encrypt ciphertext " + tohex(ct) + " != " + tohex(ect));
    if (tag != etag) mm.add(name, r, "gcm_encrypt tag " + tohex(tag) + " != " + tohex(etag));
    Bytes back;
    if (!gcm_decrypt(ByteView(key), ByteView(iv), ByteView(aad), ByteView(ect), ByteView(etag), back) || back != pt)
      mm.add(name, r, "gcm_decrypt of the expected ciphertext failed");
    if (key.size() == kKeyLen && iv.size() == kNonceLen && etag.size() == kTagLen) {
      c.class_checked++;
      AesGcm g{ByteView(key)};
      Bytes ct2(pt.size() + 1), tag2(kTagLen), pt2(pt.size() + 1);
      g.seal(iv.data(), ByteView(aad), pt.data(), pt.size(), ct2.data(), tag2.data());
      ct2.resize(pt.size());
      if (ct2 != ect || tag2 != etag) mm.add(name, r, "AesGcm::seal mismatch");
      if (!g.open(iv.data(), ByteView(aad), ect.data(), ect.size(), etag.data(), pt2.data()))
        mm.add(name, r, "AesGcm::open rejected a valid vector");
      pt2.resize(pt.size());
      if (pt2 != pt) mm.add(name, r, "AesGcm::open plaintext mismatch");
    }
  }
  return c;
}

GcmCounts run_gcm_decrypt_file(const std::string& name, Mismatches& mm) {
  GcmCounts c;
  std::string path = vector_path("ciphers/AES/GCM/" + name);
  for (const Record& r : parse_cavp(path)) {
    Bytes key = r.hex("Key"), iv = r.hex("IV"), ct = r.hex("CT"), aad = r.hex("AAD"), tag = r.hex("Tag");
    if (key.size() * 8 != static_cast<std::size_t>(r.section_int("Keylen")) ||
        iv.size() * 8 != static_cast<std::size_t>(r.section_int("IVlen")) ||
        ct.size() * 8 != static_cast<std::size_t>(r.section_int("PTlen")) ||
        aad.size() * 8 != static_cast<std::size_t>(r.section_int("AADlen")) ||
        tag.size() * 8 != static_cast<std::size_t>(r.section_int("Taglen"))) {
      mm.add(name, r, "record does not match its section parameters");
      continue;
    }
    Bytes ept;
    if (!r.fail) {
      ept = r.hex("PT");
      if (ept.size() != ct.size()) {
        mm.add(name, r, "PT length differs from CT length");
        continue;
      }
    } else if (r.f.count("PT")) {
      mm.add(name, r, "FAIL record with a PT field");
      continue;
    }
    c.total++;
    if (r.fail) c.fail_cases++;
    Bytes pt;
    bool ok = gcm_decrypt(ByteView(key), ByteView(iv), ByteView(aad), ByteView(ct), ByteView(tag), pt);
    if (ok != !r.fail) mm.add(name, r, r.fail ? "gcm_decrypt accepted a FAIL vector" : "gcm_decrypt rejected a valid vector");
    if (ok && !r.fail && pt != ept) mm.add(name, r, "gcm_decrypt plaintext mismatch");
    if (!ok && !pt.empty()) mm.add(name, r, "gcm_decrypt left plaintext behind after failing");
    if (!r.fail) {
      Bytes ct2, tag2;
      gcm_encrypt(ByteView(key), ByteView(iv), ByteView(aad), ByteView(ept), ct2, tag2, tag.size());
      if (ct2 != ct || tag2 != tag) mm.add(name, r, "gcm_encrypt does not reproduce the decrypt vector");
    }
    if (key.size() == kKeyLen && iv.size() == kNonceLen && tag.size() == kTagLen) {
      c.class_checked++;
      AesGcm g{ByteView(key)};
      Bytes pt2(ct.size() + 1, 0xAA);
      bool ok2 = g.open(iv.data(), ByteView(aad), ct.data(), ct.size(), tag.data(), pt2.data());
      if (ok2 != !r.fail) mm.add(name, r, r.fail ? "AesGcm::open accepted a FAIL vector" : "AesGcm::open rejected a valid vector");
      pt2.resize(ct.size());
      if (ok2 && pt2 != ept) mm.add(name, r, "AesGcm::open plaintext mismatch");
      if (!ok2 && pt2 != Bytes(ct.size(), 0)) mm.add(name, r, "AesGcm::open did not wipe the output on failure");
    }
  }
  return c;
}

// ---- AES key wrap (NIST SP 800-38F kwtestvectors) ----

struct KwCounts {
  int total = 0, fail_cases = 0;
};

// AE files: K, P, C (wrap P must give C, unwrap C must give P).
// AD files: K, C, and P or FAIL (unwrap must succeed iff not FAIL).
KwCounts run_kw_file(const std::string& name, bool pad, bool decrypt_file, Mismatches& mm) {
  KwCounts c;
  std::string path = vector_path("keywrap/kwtestvectors/" + name);
  for (const Record& r : parse_cavp(path)) {
    Bytes k = r.hex("K"), cph = r.hex("C");
    int ptbits = r.section_int("PLAINTEXT LENGTH");
    Bytes p;
    if (!r.fail) {
      p = r.hex("P");
      if (p.size() * 8 != static_cast<std::size_t>(ptbits)) {
        mm.add(name, r, "P does not match [PLAINTEXT LENGTH]");
        continue;
      }
    }
    if (r.fail && !decrypt_file) {
      mm.add(name, r, "FAIL in an encrypt file");
      continue;
    }
    c.total++;
    if (r.fail) c.fail_cases++;
    if (!r.fail) {
      Bytes w = aes_key_wrap(ByteView(k), ByteView(p), pad);
      if (w != cph) mm.add(name, r, "aes_key_wrap " + tohex(w) + " != " + tohex(cph));
    }
    SecretBytes out;
    bool ok = aes_key_unwrap(ByteView(k), ByteView(cph), pad, out);
    if (ok != !r.fail) mm.add(name, r, r.fail ? "aes_key_unwrap accepted a FAIL vector" : "aes_key_unwrap rejected a valid vector");
    if (ok && !r.fail && Bytes(out.begin(), out.end()) != p) mm.add(name, r, "aes_key_unwrap plaintext mismatch");
    if (!ok && !out.empty()) mm.add(name, r, "aes_key_unwrap left output behind after failing");
  }
  return c;
}

}  // namespace

// gcmEncryptExtIV*.rsp: every IV length (8 .. 1024 bits) and tag length
// (32 .. 128 bits) through gcm_encrypt/gcm_decrypt, plus AesGcm for the
// 256-bit-key, 96-bit-IV, 128-bit-tag records.
TEST(KnownAnswer, GcmEncryptExtIV) {
  for (const char* name : {"gcmEncryptExtIV128.rsp", "gcmEncryptExtIV192.rsp", "gcmEncryptExtIV256.rsp"}) {
    SCOPED_TRACE(name);
    REQUIRE_VECTORS(vector_path(std::string("ciphers/AES/GCM/") + name));
    Mismatches mm;
    GcmCounts c = run_gcm_encrypt_file(name, mm);
    EXPECT_EQ(mm.n, 0) << mm.first;
    EXPECT_GE(c.total, 7875) << name << ": too few vectors parsed";
    if (std::string(name) == "gcmEncryptExtIV256.rsp") {
      EXPECT_GE(c.class_checked, 375);
    }
    std::printf("[   info   ] %s: %d vectors checked, %d through AesGcm\n", name, c.total, c.class_checked);
  }
}

// gcmDecrypt*.rsp, including the FAIL (tag mismatch) records.
TEST(KnownAnswer, GcmDecrypt) {
  for (const char* name : {"gcmDecrypt128.rsp", "gcmDecrypt192.rsp", "gcmDecrypt256.rsp"}) {
    SCOPED_TRACE(name);
    REQUIRE_VECTORS(vector_path(std::string("ciphers/AES/GCM/") + name));
    Mismatches mm;
    GcmCounts c = run_gcm_decrypt_file(name, mm);
    EXPECT_EQ(mm.n, 0) << mm.first;
    EXPECT_GE(c.total, 7875) << name << ": too few vectors parsed";
    EXPECT_GE(c.fail_cases, 3500) << name << ": too few FAIL vectors parsed";
    EXPECT_LT(c.fail_cases, c.total);
    if (std::string(name) == "gcmDecrypt256.rsp") {
      EXPECT_GE(c.class_checked, 375);
    }
    std::printf("[   info   ] %s: %d vectors checked (%d FAIL), %d through AesGcm\n", name, c.total, c.fail_cases,
                c.class_checked);
  }
}

TEST(KnownAnswer, KeyWrap) {
  struct F {
    const char* name;
    bool pad, ad;
  };
  const F files[] = {
      {"KW_AE_128.txt", false, false},  {"KW_AE_192.txt", false, false},  {"KW_AE_256.txt", false, false},
      {"KW_AD_128.txt", false, true},   {"KW_AD_192.txt", false, true},   {"KW_AD_256.txt", false, true},
      {"KWP_AE_128.txt", true, false},  {"KWP_AE_192.txt", true, false},  {"KWP_AE_256.txt", true, false},
      {"KWP_AD_128.txt", true, true},   {"KWP_AD_192.txt", true, true},   {"KWP_AD_256.txt", true, true},
  };
  for (const F& f : files) {
    SCOPED_TRACE(f.name);
    REQUIRE_VECTORS(vector_path(std::string("keywrap/kwtestvectors/") + f.name));
    Mismatches mm;
    KwCounts c = run_kw_file(f.name, f.pad, f.ad, mm);
    EXPECT_EQ(mm.n, 0) << mm.first;
    EXPECT_GE(c.total, 500) << f.name << ": too few vectors parsed";
    if (f.ad) {
      EXPECT_GE(c.fail_cases, 100) << f.name << ": too few FAIL vectors parsed";
    }
    std::printf("[   info   ] %s: %d vectors checked (%d FAIL)\n", f.name, c.total, c.fail_cases);
  }
}

// The *_inv files test KW/KWP built on the AES *inverse* cipher function
// (SP 800-38F allows either direction). OpenSSL, and so orgcrypt, implements
// the forward-cipher variant only (RFC 3394/5649), so these vectors must NOT
// verify: a match would mean we wrap with the wrong cipher direction.
TEST(KnownAnswer, KeyWrapInverseCipherVectorsAreADifferentFunction) {
  int files = 0;
  for (const char* name : {"KW_AE_256_inv.txt", "KWP_AE_256_inv.txt", "KW_AD_256_inv.txt", "KWP_AD_256_inv.txt"}) {
    std::string path = vector_path(std::string("keywrap/kwtestvectors/") + name);
    if (!is_file(path)) continue;  // only in some versions of the package
    files++;
    bool pad = std::string(name).rfind("KWP", 0) == 0;
    int checked = 0, matched = 0;
    for (const Record& r : parse_cavp(path)) {
      if (r.fail) continue;
      Bytes k = r.hex("K"), p = r.hex("P"), cph = r.hex("C");
      checked++;
      SecretBytes out;
      if (aes_key_wrap(ByteView(k), ByteView(p), pad) == cph) matched++;
      if (aes_key_unwrap(ByteView(k), ByteView(cph), pad, out)) matched++;
    }
    EXPECT_GE(checked, 400) << name;
    EXPECT_EQ(matched, 0) << name;
    std::printf("[   info   ] %s: %d inverse-cipher vectors checked (none verify, as expected)\n", name, checked);
  }
  if (!vectors_dir().empty()) {
    EXPECT_GT(files, 0);
  }
}

// RFC 4231 section 4.3 (test case 2) and 4.2 (test case 1), 4.7 (test case 6).
TEST(KnownAnswer, HmacSha256Rfc4231) {
  std::string key = "Jefe", msg = "what do ya want for nothing?";
  EXPECT_EQ(tohex(hmac_sha256(ByteView(key), ByteView(msg))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  Bytes k1(20, 0x0b);
  std::string m1 = "Hi There";
  EXPECT_EQ(tohex(hmac_sha256(ByteView(k1), ByteView(m1))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  Bytes k6(131, 0xaa);
  std::string m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
  EXPECT_EQ(tohex(hmac_sha256(ByteView(k6), ByteView(m6))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

// FIPS 180-2 appendix B.1 and B.2, and the empty message.
TEST(KnownAnswer, Sha256Fips180) {
  EXPECT_EQ(tohex(sha256(ByteView(std::string("abc")))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(tohex(sha256(ByteView(std::string("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(tohex(sha256(ByteView(std::string()))),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

// Unit-level edges of the AEAD layer that the vectors do not reach.
TEST(Aead, AesGcmContextReuseAfterFailure) {
  Bytes key(32, 7), nonce(12, 1), aad = testutil::bytes_of("aad");
  AesGcm g{ByteView(key)};
  std::string msg = "hello, reuse";
  Bytes ct(msg.size()), tag(16), pt(msg.size());
  g.seal(nonce.data(), ByteView(aad), reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size(), ct.data(), tag.data());
  Bytes bad = tag;
  bad[0] ^= 1;
  EXPECT_FALSE(g.open(nonce.data(), ByteView(aad), ct.data(), ct.size(), bad.data(), pt.data()));
  EXPECT_EQ(pt, Bytes(msg.size(), 0));
  EXPECT_TRUE(g.open(nonce.data(), ByteView(aad), ct.data(), ct.size(), tag.data(), pt.data()));
  EXPECT_EQ(testutil::str_of(pt), msg);
  // In-place sealing (ct == pt buffer) is allowed.
  Bytes buf(msg.begin(), msg.end()), tag2(16);
  g.seal(nonce.data(), ByteView(aad), buf.data(), buf.size(), buf.data(), tag2.data());
  EXPECT_EQ(buf, ct);
  EXPECT_EQ(tag2, tag);
}

TEST(Aead, WrongLengthsRejected) {
  EXPECT_THROW(AesGcm(ByteView(Bytes(31, 0))), Error);
  EXPECT_THROW(AesGcm(ByteView(Bytes(16, 0))), Error);
  Bytes kek(32, 1);
  EXPECT_THROW(aes_key_wrap(ByteView(kek), ByteView(Bytes(8, 0)), false), Error);   // < 16
  EXPECT_THROW(aes_key_wrap(ByteView(kek), ByteView(Bytes(20, 0)), false), Error);  // not a multiple of 8
  EXPECT_THROW(aes_key_wrap(ByteView(kek), ByteView(Bytes()), true), Error);
  SecretBytes out;
  EXPECT_FALSE(aes_key_unwrap(ByteView(kek), ByteView(Bytes(8, 0)), false, out));
  EXPECT_FALSE(aes_key_unwrap(ByteView(kek), ByteView(Bytes(23, 0)), true, out));
  EXPECT_FALSE(aes_key_unwrap(ByteView(kek), ByteView(Bytes(24, 0)), false, out));
}

// HMAC pads a short key with zeros to the block size, so an empty key and a
// key of 64 zero bytes give the same MAC (RFC 2104).
TEST(Aead, HmacEmptyKeyEqualsZeroBlockKey) {
  std::string empty, msg = "message";
  Bytes zeros(64, 0);
  EXPECT_EQ(hmac_sha256(ByteView(empty), ByteView(msg)), hmac_sha256(ByteView(zeros), ByteView(msg)));
  EXPECT_NE(hmac_sha256(ByteView(Bytes(65, 0)), ByteView(msg)), hmac_sha256(ByteView(zeros), ByteView(msg)));
}

// gcm_decrypt must not hand back plaintext when it returns false.
//
// Regression test: an invalid tag length used to return false with the
// unauthenticated plaintext left in pt.
TEST(Aead, GcmDecryptBadTagLengthReleasesNoPlaintext) {
  Bytes key(32, 1), iv(12, 2), pt = testutil::bytes_of("secret plaintext"), ct, tag;
  gcm_encrypt(ByteView(key), ByteView(iv), ByteView(), ByteView(pt), ct, tag, 16);
  for (std::size_t tl : {std::size_t{0}, std::size_t{17}, std::size_t{32}}) {
    Bytes t(tl, 0), out;
    EXPECT_FALSE(gcm_decrypt(ByteView(key), ByteView(iv), ByteView(), ByteView(ct), ByteView(t), out)) << tl;
    EXPECT_TRUE(out.empty()) << "tag length " << tl << ": gcm_decrypt failed but left " << out.size()
                             << " bytes of unauthenticated plaintext";
  }
}

// The worked examples printed in RFC 3394 section 4 (AES key wrap) and
// RFC 5649 section 6 (AES key wrap with padding).
TEST(KnownAnswer, Rfc3394Section4) {
  struct V { const char *kek, *data, *wrapped; } vs[] = {
      {"000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF",
       "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},  // 4.1
      {"000102030405060708090A0B0C0D0E0F1011121314151617", "00112233445566778899AABBCCDDEEFF",
       "96778B25AE6CA435F92B5B97C050AED2468AB8A17AD84E5D"},  // 4.2
      {"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F", "00112233445566778899AABBCCDDEEFF",
       "64E8C3F9CE0F5BA263E9777905818A2A93C8191E7D6E8AE7"},  // 4.3
      {"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
       "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
       "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"},  // 4.6
  };
  for (const V& v : vs) {
    Bytes kek = unhex(v.kek), data = unhex(v.data), wrapped = unhex(v.wrapped);
    EXPECT_EQ(aes_key_wrap(ByteView(kek), ByteView(data), false), wrapped) << v.wrapped;
    SecretBytes out;
    ASSERT_TRUE(aes_key_unwrap(ByteView(kek), ByteView(wrapped), false, out));
    EXPECT_EQ(Bytes(out.begin(), out.end()), data);
  }
}

TEST(KnownAnswer, Rfc5649Section6) {
  Bytes kek = unhex("5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8");
  struct V { const char *data, *wrapped; } vs[] = {
      {"c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
      {"466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
  };
  for (const V& v : vs) {
    Bytes data = unhex(v.data), wrapped = unhex(v.wrapped);
    EXPECT_EQ(aes_key_wrap(ByteView(kek), ByteView(data), true), wrapped) << v.wrapped;
    SecretBytes out;
    ASSERT_TRUE(aes_key_unwrap(ByteView(kek), ByteView(wrapped), true, out));
    EXPECT_EQ(Bytes(out.begin(), out.end()), data);
  }
}
