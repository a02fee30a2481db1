// Names of PKCS#11 return codes (CKR_*), for messages.
#pragma once
#include <string>

namespace orgcrypt {

// "CKR_PIN_INCORRECT" for 0xa0; "CKR_VENDOR_DEFINED+0x..." for vendor codes;
// "CKR_0x..." for a code this table does not know.
std::string ckr_name(unsigned long rv);

}  // namespace orgcrypt
