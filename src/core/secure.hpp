// Byte containers; SecretBytes wipes its memory (OPENSSL_cleanse) whenever it
// is freed or reallocated.
#pragma once

#include <openssl/crypto.h>

#include <cstddef>
#include <cstdint>
#include <new>
#include <string>
#include <vector>

namespace orgcrypt {

template <class T>
struct CleansingAllocator {
  using value_type = T;
  CleansingAllocator() noexcept = default;
  template <class U>
  CleansingAllocator(const CleansingAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept {
    OPENSSL_cleanse(p, n * sizeof(T));
    ::operator delete(p);
  }
  template <class U>
  bool operator==(const CleansingAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const CleansingAllocator<U>&) const noexcept { return false; }
};

using Bytes = std::vector<std::uint8_t>;
using SecretBytes = std::vector<std::uint8_t, CleansingAllocator<std::uint8_t>>;

// A non-owning view of bytes (C++17 has no std::span).
struct ByteView {
  const std::uint8_t* data = nullptr;
  std::size_t size = 0;
  ByteView() = default;
  ByteView(const void* d, std::size_t n) : data(static_cast<const std::uint8_t*>(d)), size(n) {}
  ByteView(const Bytes& b) : data(b.data()), size(b.size()) {}                // NOLINT
  ByteView(const SecretBytes& b) : data(b.data()), size(b.size()) {}          // NOLINT
  ByteView(const std::string& s) : ByteView(s.data(), s.size()) {}            // NOLINT
};

inline void append_u32be(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

inline std::uint32_t read_u32be(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

}  // namespace orgcrypt
