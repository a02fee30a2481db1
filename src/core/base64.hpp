// Strict base64 (RFC 4648, standard alphabet, '=' padding) for the text form
// of orgcrypt.ciphertext. No allocation and no exceptions: the glue calls it
// with buffers it allocated itself (palloc).
//
// Encoding: no line breaks, always padded.
// Decoding: whitespace (space, \t, \n, \r, \v, \f) is ignored anywhere, so the
// 76-column output of PostgreSQL's encode(..., 'base64') decodes. Everything
// else must be exact: only the standard alphabet (no '-', '_', NUL ...); the
// significant characters form whole groups of four; '=' appears only as the
// last one or two significant characters, where padding belongs ("xx==" or
// "xxx="); the unused bits of a padded last group are zero (one encoding per
// value). Empty input (or only whitespace) decodes to zero bytes.
#pragma once
#include <cstddef>
#include <cstdint>

namespace orgcrypt {

// Length of the encoding of n bytes, 4 * ceil(n / 3), computed without
// overflow; SIZE_MAX if that does not fit in size_t.
std::size_t b64_encoded_len(std::size_t n);

// Stores b64_encoded_len(n) in *out and returns true if it is <= limit;
// returns false (and leaves *out alone) otherwise. Never overflows.
bool b64_encoded_len_ok(std::size_t n, std::size_t limit, std::size_t* out);

// Writes exactly b64_encoded_len(n) characters to out (no terminating NUL).
// Call only for an n whose length b64_encoded_len_ok accepted.
void b64_encode(const std::uint8_t* in, std::size_t n, char* out);

// An upper bound on the bytes any n characters decode to: 3 * floor(n / 4)
// (never more than n, so it cannot overflow).
std::size_t b64_decoded_max(std::size_t n);

// Decodes n characters (NUL bytes among them are invalid, not terminators)
// into out, which must hold b64_decoded_max(n) bytes. Returns true and sets
// *out_len, or returns false for any invalid input (out then holds
// unspecified bytes and *out_len is untouched). Never writes past
// out + b64_decoded_max(n) and never reads past in + n.
bool b64_decode(const char* in, std::size_t n, std::uint8_t* out, std::size_t* out_len);

}  // namespace orgcrypt
