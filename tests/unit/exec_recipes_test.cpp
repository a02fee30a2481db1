// The recipes in docs/examples/ (exec-gcloud-kms.sh, exec-azure-keyvault.sh)
// run for real by the exec: provider, with stand-ins for the gcloud and az
// CLIs (tests/helpers/exec_test_kek.cpp under those names) substituted for
// the absolute CLI path each recipe configures at its top. What this checks
// of a recipe: its request parsing, its base64 handling, that it binds the
// wrap AAD (gcloud: as KMS additional authenticated data; az: SHA-256 of it
// inside the RSA-OAEP plaintext), its fingerprint, and that the DEK never
// appears on a command line.
#include <gtest/gtest.h>

#include <string>

#include "base64.hpp"
#include "dek_create.hpp"
#include "envelope.hpp"
#include "exec_test_util.hpp"
#include "provider.hpp"

using namespace orgcrypt;
using exectest::slurp;
using testutil::expect_error;

namespace {

std::string b64(ByteView v) {
  std::string out(b64_encoded_len(v.size), '\0');
  b64_encode(v.data, v.size, &out[0]);
  return out;
}

Bytes fp_of(const std::string& id) {
  static const char kLabel[] = "orgcrypt exec key id v1";
  Bytes h = sha256(ByteView(std::string(kLabel) + id));
  h.resize(8);
  return h;
}

class RecipeTest : public ::testing::Test {
 protected:
  // Installs docs/examples/<recipe> as dir/<recipe> with `var=...` pointing
  // at the fake CLI dir/<cli>; returns the exec: URI.
  std::string install(const std::string& recipe, const std::string& var, const std::string& cli) {
    cli_key_ = exectest::install_kek(dir_, cli);
    cli_ = dir_.file(cli);
    std::string text = slurp(std::string(ORGCRYPT_SOURCE_DIR) + "/docs/examples/" + recipe);
    const std::string line = var + "=/usr/bin/" + cli + "\n";
    std::size_t at = text.find(line);
    EXPECT_NE(at, std::string::npos) << recipe << " must configure " << line;
    EXPECT_EQ(text.find(line, at + 1), std::string::npos);
    text.replace(at, line.size(), var + "=" + cli_ + "\n");
    testutil::write_file(dir_.file(recipe), text, 0755);
    exectest::trust_dir(dir_.path());
    return "exec:" + dir_.file(recipe);
  }

  // What every recipe must do.
  void common(const std::string& uri, const std::string& key_id) {
    auto p = open_provider(uri);
    EXPECT_EQ(p->fingerprint(), fp_of(key_id));
    const std::string org = "acme", org2 = "globex";
    const Bytes aad = wrap_aad(ByteView(org), 1);
    Bytes dek(32);
    random_bytes(dek.data(), dek.size());
    blob_ = p->wrap(ByteView(dek), ByteView(aad));
    SecretBytes back = p->unwrap(ByteView(blob_), ByteView(aad));
    EXPECT_EQ(Bytes(back.begin(), back.end()), dek);
    // Bound to org and version.
    for (const Bytes& other : {wrap_aad(ByteView(org2), 1), wrap_aad(ByteView(org), 2)}) {
      std::string msg = expect_error("58000", [&] { p->unwrap(ByteView(blob_), ByteView(other)); });
      EXPECT_NE(msg.find(uri + " unwrap failed: exit status 1: "), std::string::npos) << msg;
      EXPECT_EQ(msg.find(b64(ByteView(dek))), std::string::npos) << msg;
    }
    Bytes t = blob_;
    t[t.size() / 2] ^= 1;
    expect_error("58000", [&] { p->unwrap(ByteView(t), ByteView(aad)); }, "tampered");
    // A whole DEK creation through the recipe.
    NewDek d = create_wrapped_dek(uri, ByteView(org2), 5);
    EXPECT_EQ(d.kek_fp, fp_of(key_id));
    // No DEK on any command line the recipe ran.
    const std::string log = slurp(cli_ + ".log");
    EXPECT_NE(log.find(" encrypt "), std::string::npos) << log;
    EXPECT_NE(log.find(" decrypt "), std::string::npos) << log;
    EXPECT_EQ(log.find(b64(ByteView(dek))), std::string::npos) << log;
    EXPECT_EQ(log.find(b64(ByteView(d.dek))), std::string::npos) << log;
    dek_ = dek;
    aad_ = aad;
  }

  testutil::TempDir dir_;
  exectest::PolicyGuard guard_;
  Bytes cli_key_, blob_, dek_, aad_;
  std::string cli_;
};

}  // namespace

TEST_F(RecipeTest, GoogleCloudKms) {
  const std::string uri = install("exec-gcloud-kms.sh", "GCLOUD", "gcloud");
  const std::string key_name = "projects/my-project/locations/europe-west1/keyRings/orgcrypt/cryptoKeys/master";
  common(uri, key_name);
  // The wrapped DEK is what KMS returned, and KMS bound the wrap AAD as its
  // additional authenticated data (the fake binds the key name too).
  ASSERT_GE(blob_.size(), 28u);
  Bytes pt;
  const std::string gcm_aad = key_name + std::string(1, '\0') + std::string(aad_.begin(), aad_.end());
  ASSERT_TRUE(gcm_decrypt(ByteView(cli_key_), ByteView(blob_.data(), 12), ByteView(gcm_aad),
                          ByteView(blob_.data() + 12, blob_.size() - 28), ByteView(blob_.data() + blob_.size() - 16, 16),
                          pt));
  EXPECT_EQ(pt, dek_);
  EXPECT_NE(slurp(cli_ + ".log").find("--plaintext-file=- --ciphertext-file=-"), std::string::npos);
  // gcloud failing (e.g. no credentials): its message reaches the error.
  testutil::write_file(cli_ + ".key", "short", 0600);
  std::string msg = expect_error("58000", [&] { open_provider(uri)->wrap(ByteView(dek_), ByteView(aad_)); });
  EXPECT_NE(msg.find("gcloud kms encrypt failed"), std::string::npos) << msg;
}

TEST_F(RecipeTest, AzureKeyVault) {
  const std::string uri = install("exec-azure-keyvault.sh", "AZ", "az");
  common(uri, "https://my-vault.vault.azure.net/keys/orgcrypt-master");
  // What the vault encrypted: the recipe's text with the DEK and SHA-256(aad).
  Bytes pt;
  const std::string name = "my-vault/orgcrypt-master";
  ASSERT_TRUE(gcm_decrypt(ByteView(cli_key_), ByteView(blob_.data(), 12), ByteView(name),
                          ByteView(blob_.data() + 12, blob_.size() - 28), ByteView(blob_.data() + blob_.size() - 16, 16),
                          pt));
  EXPECT_EQ(std::string(pt.begin(), pt.end()),
            "orgcrypt-azure-v1 " + b64(ByteView(dek_)) + " " + testutil::tohex(sha256(ByteView(aad_))));
  const std::string log = slurp(cli_ + ".log");
  EXPECT_NE(log.find("--value @-"), std::string::npos) << log;
  // The AAD check is the recipe's own: the vault decrypts, the script refuses.
  std::string msg = expect_error(
      "58000", [&] { open_provider(uri)->unwrap(ByteView(blob_), ByteView(wrap_aad(ByteView(std::string("x")), 1))); });
  EXPECT_NE(msg.find("AAD mismatch"), std::string::npos) << msg;
}
