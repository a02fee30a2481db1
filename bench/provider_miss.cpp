// The cold-miss cost of one unwrap per key provider, outside PostgreSQL:
// what a cache miss pays on top of the key-table read. Each sample is what
// the glue does on a miss: open the provider named by the row, check the KEK
// fingerprint, unwrap (unwrap_row). Built by CMake (target provider_miss, not
// installed); bench/run_providers runs it for file:, exec:, pkcs11:, and
// aws-kms: and vault-transit:// against the loopback test servers
// (ORGCRYPT_ALLOW_PLAIN_HTTP_LOOPBACK=1 lets them use plain http).
//
//   provider_miss URI [samples=2000]
//
// Prints one line: "URI median_us p99_us samples". The URI must be trusted
// (it is passed as the master key of the trust policy).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "dek_create.hpp"
#include "error.hpp"
#include "http.hpp"
#include "keyring.hpp"
#include "provider.hpp"

using namespace orgcrypt;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: provider_miss URI [samples]\n");
    return 2;
  }
  const std::string uri = argv[1];
  const int n = argc > 2 ? std::atoi(argv[2]) : 2000;
  UriPolicy policy;
  policy.master_key = uri;
  set_uri_policy(policy);
  // The loopback KMS and Vault test servers speak plain http.
  const char* plain = std::getenv("ORGCRYPT_ALLOW_PLAIN_HTTP_LOOPBACK");
  if (plain && std::string(plain) == "1") http::set_allow_plain_http_loopback(true);
  try {
    const std::string org = "bench-org";
    NewDek d = create_wrapped_dek(uri, ByteView(org), 1);
    DekRow row;
    row.version = 1;
    row.wrapped = d.wrapped;
    row.kek_uri = d.kek_uri;
    row.kek_fp = d.kek_fp;
    for (int i = 0; i < 20; i++) (void)unwrap_row(ByteView(org), row);  // warm-up
    std::vector<double> us;
    us.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; i++) {
      auto t0 = std::chrono::steady_clock::now();
      SecretBytes k = unwrap_row(ByteView(org), row);
      us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      if (k.size() != 32) return 1;
    }
    std::sort(us.begin(), us.end());
    std::printf("%s %.1f %.1f %d\n", uri.c_str(), us[us.size() / 2], us[(us.size() * 99) / 100], n);
  } catch (const Error& e) {
    std::fprintf(stderr, "provider_miss: %s: %s (%s)\n", e.sqlstate(), e.what(), e.detail().c_str());
    return 1;
  }
  return 0;
}
