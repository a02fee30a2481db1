// NonceSource: uniqueness, batching, and fork safety.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <set>
#include <unordered_set>

#include "nonce.hpp"

using orgcrypt::NonceSource;

namespace {
using Nonce = std::array<std::uint8_t, 12>;
struct NonceHash {
  std::size_t operator()(const Nonce& n) const {
    std::size_t h;
    std::memcpy(&h, n.data(), sizeof h);
    return h;
  }
};

bool read_full(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<std::uint8_t*>(buf);
  while (n) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}
}  // namespace

TEST(NonceSource, HundredThousandDistinct) {
  NonceSource src;
  std::unordered_set<Nonce, NonceHash> seen;
  seen.reserve(200000);
  const int kN = 100000;
  for (int i = 0; i < kN; i++) {
    Nonce n;
    src.next(n.data());
    ASSERT_TRUE(seen.insert(n).second) << "duplicate nonce after " << i << " draws";
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kN));
  // One RAND_bytes call per batch.
  const std::uint64_t batches = (kN + NonceSource::kBatch - 1) / NonceSource::kBatch;
  EXPECT_EQ(src.refills(), batches);
  EXPECT_EQ(src.owner(), ::getpid());
}

TEST(NonceSource, TwoSourcesDiffer) {
  NonceSource a, b;
  Nonce x, y;
  a.next(x.data());
  b.next(y.data());
  EXPECT_NE(x, y);
}

// A forked child must not reuse the parent's buffered nonces: the child's next
// nonce differs from the parent's next nonce (and from everything the child
// could have inherited).
TEST(NonceSource, ForkChildDoesNotReuseParentBuffer) {
  NonceSource src;
  Nonce first;
  src.next(first.data());  // the buffer now holds kBatch - 1 unused nonces
  ASSERT_EQ(src.refills(), 1u);
  const std::uint64_t gen_before = NonceSource::fork_generation();

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0) << "fork failed";
  if (pid == 0) {
    ::close(fds[0]);
    Nonce c;
    src.next(c.data());
    std::uint8_t msg[12 + 8 + 4];
    std::memcpy(msg, c.data(), 12);
    std::uint64_t refills = src.refills();
    std::memcpy(msg + 12, &refills, 8);
    std::int32_t owner_is_self = src.owner() == ::getpid() ? 1 : 0;
    std::memcpy(msg + 20, &owner_is_self, 4);
    ssize_t w = ::write(fds[1], msg, sizeof msg);
    ::_exit(w == static_cast<ssize_t>(sizeof msg) ? 0 : 3);
  }
  ::close(fds[1]);
  Nonce parent_next;
  src.next(parent_next.data());
  std::uint8_t msg[24];
  bool got = read_full(fds[0], msg, sizeof msg);
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
  ASSERT_TRUE(got) << "no nonce from the child";

  Nonce child_next;
  std::memcpy(child_next.data(), msg, 12);
  std::uint64_t child_refills;
  std::memcpy(&child_refills, msg + 12, 8);
  std::int32_t owner_is_self;
  std::memcpy(&owner_is_self, msg + 20, 4);

  EXPECT_NE(child_next, parent_next) << "child reused the parent's buffered nonce";
  // Nor any other nonce the parent still had buffered.
  for (std::size_t i = 2; i < NonceSource::kBatch; i++) {
    Nonce n;
    src.next(n.data());
    EXPECT_NE(child_next, n) << "child nonce equals parent's buffered nonce " << i;
  }
  EXPECT_NE(child_next, first);
  EXPECT_EQ(child_refills, 2u) << "the child should have refilled its inherited buffer";
  EXPECT_EQ(owner_is_self, 1);
  // The parent keeps using its own buffer (no refill, generation unchanged).
  EXPECT_EQ(src.refills(), 1u);
  EXPECT_EQ(NonceSource::fork_generation(), gen_before);
}
