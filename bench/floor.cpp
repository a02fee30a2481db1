// The benchmark floor: bare AES-256-GCM on a fixed key, as a SQL function.
// One reused EVP context, 12-byte random nonces from a batched RAND_bytes
// buffer, output nonce || ciphertext || tag. Not part of orgcrypt; built only
// so that bench/run can measure orgcrypt against the cost of the cipher.
#include "pg/prelude.h"

#include "aead.hpp"
#include "nonce.hpp"

extern "C" {
PG_MODULE_MAGIC;
PG_FUNCTION_INFO_V1(bench_gcm_encrypt);
PG_FUNCTION_INFO_V1(bench_gcm_decrypt);
}

namespace {
orgcrypt::AesGcm* g_key = nullptr;
orgcrypt::NonceSource* g_nonces = nullptr;

void init() {
  if (g_key) return;
  try {
    std::uint8_t k[32];
    for (int i = 0; i < 32; i++) k[i] = static_cast<std::uint8_t>(i);  // fixed bench key
    g_key = new orgcrypt::AesGcm(orgcrypt::ByteView(k, 32));
    g_nonces = new orgcrypt::NonceSource();
  } catch (...) {
    g_key = nullptr;
  }
  if (!g_key) elog(ERROR, "bench floor: init failed");
}
}  // namespace

extern "C" PGDLLEXPORT Datum bench_gcm_encrypt(PG_FUNCTION_ARGS) {
  init();
  bytea* pt = PG_GETARG_BYTEA_PP(0);
  size_t n = VARSIZE_ANY_EXHDR(pt);
  bytea* out = (bytea*)palloc(VARHDRSZ + 12 + n + 16);
  SET_VARSIZE(out, VARHDRSZ + 12 + n + 16);
  auto* o = reinterpret_cast<std::uint8_t*>(VARDATA(out));
  bool ok = true;
  try {
    g_nonces->next(o);
    g_key->seal(o, orgcrypt::ByteView(), reinterpret_cast<const std::uint8_t*>(VARDATA_ANY(pt)), n, o + 12, o + 12 + n);
  } catch (...) {
    ok = false;
  }
  if (!ok) elog(ERROR, "bench floor: encrypt failed");
  PG_RETURN_BYTEA_P(out);
}

extern "C" PGDLLEXPORT Datum bench_gcm_decrypt(PG_FUNCTION_ARGS) {
  init();
  bytea* ct = PG_GETARG_BYTEA_PP(0);
  size_t len = VARSIZE_ANY_EXHDR(ct);
  if (len < 28) elog(ERROR, "bench floor: short input");
  size_t n = len - 28;
  auto* c = reinterpret_cast<const std::uint8_t*>(VARDATA_ANY(ct));
  bytea* out = (bytea*)palloc(VARHDRSZ + n);
  SET_VARSIZE(out, VARHDRSZ + n);
  bool ok = false;
  try {
    ok = g_key->open(c, orgcrypt::ByteView(), c + 12, n, c + 12 + n, reinterpret_cast<std::uint8_t*>(VARDATA(out)));
  } catch (...) {
    ok = false;
  }
  if (!ok) elog(ERROR, "bench floor: authentication failed");
  PG_RETURN_BYTEA_P(out);
}
