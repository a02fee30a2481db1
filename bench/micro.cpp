// Micro-benchmark of orgcrypt's core hot path outside PostgreSQL: what each
// step of encrypt_for_org/decrypt_for_org costs beyond the floor's bare
// AesGcm::seal/open (bench/floor.cpp). Not built by CMake; bench/PROFILE.md
// says how it was used:
//
//   g++ -O2 -std=c++17 -Isrc/core bench/micro.cpp build-bench/liborgcrypt_core.a -lcrypto -o /tmp/oc-micro
//   /tmp/oc-micro [value bytes, default 100]
//
// Prints the median of 7 runs of N calls each, in ns per call.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "aead.hpp"
#include "envelope.hpp"
#include "keyring.hpp"
#include "nonce.hpp"

using namespace orgcrypt;

namespace {

volatile std::uint64_t g_sink = 0;

template <typename F>
double ns_per_call(F&& f, int n) {
  std::vector<double> runs;
  for (int r = 0; r < 7; r++) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; i++) f(i);
    auto t1 = std::chrono::steady_clock::now();
    runs.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / n);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

void row(const char* name, double ns, double base = 0) {
  if (base > 0)
    std::printf("%-58s %8.1f ns  (%+.1f ns, %.2fx)\n", name, ns, ns - base, ns / base);
  else
    std::printf("%-58s %8.1f ns\n", name, ns);
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t len = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 100;
  const int n = len > 1000 ? 100000 : 1000000;
  std::uint8_t key[32];
  for (int i = 0; i < 32; i++) key[i] = static_cast<std::uint8_t>(i);
  AesGcm gcm(ByteView(key, 32));
  NonceSource nonces;
  std::vector<std::uint8_t> pt(len, 'a'), out(len + kOverhead + 64), back(len + 64);
  const std::string org_s = "org1";
  ByteView org(org_s);
  Context noctx;
  std::string aad;

  // Floor-like: nonce + seal without AAD.
  double fl_seal = ns_per_call([&](int) {
    nonces.next(out.data());
    gcm.seal(out.data(), ByteView(), pt.data(), len, out.data() + 12, out.data() + 12 + len);
  }, n);
  std::vector<std::uint8_t> flct(out.begin(), out.begin() + 12 + len + 16);
  double fl_open = ns_per_call([&](int) {
    g_sink += gcm.open(flct.data(), ByteView(), flct.data() + 12, len, flct.data() + 12 + len, back.data());
  }, n);

  std::printf("value: %zu bytes, %d calls per run, median of 7 runs\n\n", len, n);
  row("floor: nonce + AesGcm::seal, no AAD", fl_seal);
  // The same with an AAD of the size orgcrypt uses (header 9 + len 4 + org + flag 1).
  std::uint8_t hdr[kHeaderLen] = {kMagic0, kMagic1, kFormatV1, kAlgAes256Gcm, 0, 0, 0, 0, 1};
  build_aad(aad, hdr, org, noctx);
  const std::string fixed_aad = aad;
  row("  + AAD (18 bytes, one more EVP_EncryptUpdate)", ns_per_call([&](int) {
    nonces.next(out.data());
    gcm.seal(out.data(), ByteView(fixed_aad), pt.data(), len, out.data() + 12, out.data() + 12 + len);
  }, n), fl_seal);
  row("orgcrypt::seal (check_org + header + build_aad + seal)", ns_per_call([&](int) {
    seal(gcm, nonces, aad, Kind::Text, 1, org, noctx, ByteView(pt.data(), len), out.data());
  }, n), fl_seal);
  std::printf("\n");
  row("floor: AesGcm::open, no AAD", fl_open);
  seal(gcm, nonces, aad, Kind::Text, 1, org, noctx, ByteView(pt.data(), len), out.data());
  std::vector<std::uint8_t> env(out.begin(), out.begin() + len + kOverhead);
  row("  + AAD (18 bytes, one more EVP_DecryptUpdate)", ns_per_call([&](int) {
    const std::uint8_t* nonce = env.data() + kHeaderLen;
    g_sink += gcm.open(nonce, ByteView(fixed_aad), nonce + 12, len, nonce + 12 + len, back.data());
  }, n), fl_open);
  row("orgcrypt::open (check_org + parse_header + build_aad + open)", ns_per_call([&](int) {
    open(gcm, aad, env.data(), env.size(), org, noctx, back.data());
  }, n), fl_open);
  row("parse_header + orgcrypt::open (as open_value does)", ns_per_call([&](int) {
    g_sink += static_cast<std::uint64_t>(parse_header(env.data(), env.size()).dek_version);
    open(gcm, aad, env.data(), env.size(), org, noctx, back.data());
  }, n), fl_open);
  std::printf("\nparts:\n");
  row("build_aad (std::string, 4 appends)", ns_per_call([&](int i) {
    build_aad(aad, env.data(), org, noctx);
    g_sink += static_cast<std::uint64_t>(aad[i & 7]);
  }, n));
  row("parse_header", ns_per_call([&](int) {
    g_sink += parse_header(env.data(), env.size()).dek_version;
  }, n));
  row("NonceSource::next (amortised RAND_bytes refill)", ns_per_call([&](int) {
    nonces.next(out.data());
    g_sink += out[3];
  }, n));
  // Key lookup as the glue does it on a hit: KeyRing::find + KeyRing::key.
  KeyRing ring(16);
  {
    OrgState& st = ring.load(org, {}, 1);
    DekRow r;
    r.version = 1;
    r.state = DekState::Active;
    r.wrapped = Bytes(40, 1);
    r.kek_uri = "file:/dev/null";
    ring.put_new(org, st, r, ByteView(key, 32));
  }
  row("KeyRing::find + KeyRing::key (hit)", ns_per_call([&](int) {
    OrgState* st = ring.find(org);
    g_sink += reinterpret_cast<std::uintptr_t>(&ring.key(org, *st, 1));
  }, n));
  return 0;
}
