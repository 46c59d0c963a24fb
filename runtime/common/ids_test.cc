#include "runtime/common/ids.h"

#include <gtest/gtest.h>

namespace reprise {
namespace {

TEST(InvocationIdTest, TextAndBytesRoundTrip) {
  InvocationId id(0x0123456789abcdefULL, 42);
  EXPECT_EQ(id.ToString(), "inv_0123456789abcdef000000000000002a");
  EXPECT_EQ(InvocationId::Parse(id.ToString()).value(), id);
  EXPECT_EQ(InvocationId::FromBytes(id.ToBytes()).value(), id);
}

TEST(InvocationIdTest, RejectsMalformedText) {
  EXPECT_FALSE(InvocationId::Parse("").ok());
  EXPECT_FALSE(InvocationId::Parse("inv_123").ok());
  EXPECT_FALSE(
      InvocationId::Parse("xyz_0123456789abcdef000000000000002a").ok());
  EXPECT_FALSE(
      InvocationId::Parse("inv_0123456789abcdef00000000000000zz").ok());
}

TEST(PartitionForKeyTest, CoversAllPartitionsInRangeOrder) {
  EXPECT_EQ(PartitionForKey(0, 4).value(), 0u);
  EXPECT_EQ(PartitionForKey(~0ULL, 4).value(), 3u);
  EXPECT_EQ(PartitionForKey(1ULL << 63, 4).value(), 2u);
  EXPECT_EQ(PartitionForKey(12345, 1).value(), 0u);
}

}  // namespace
}  // namespace reprise
