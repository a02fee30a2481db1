#include <gtest/gtest.h>
#include "envelope.hpp"
TEST(Smoke, Overhead) { EXPECT_EQ(orgcrypt::kOverhead, 37u); }
