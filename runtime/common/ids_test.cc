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

TEST(PartitionKeyInTest, MapsBackToItsPartitionAndSortsBySequence) {
  for (uint32_t partitions : {1u, 2u, 3u, 4u, 7u, 256u, 1000u}) {
    for (uint32_t p = 0; p < partitions; ++p) {
      for (uint32_t sequence : {0u, 1u, 0x80000000u, ~0u}) {
        EXPECT_EQ(PartitionForKey(
                      PartitionKeyIn(PartitionId(p), partitions, sequence),
                      partitions)
                      .value(),
                  p)
            << p << " of " << partitions << ", sequence " << sequence;
      }
      EXPECT_LT(PartitionKeyIn(PartitionId(p), partitions, 5),
                PartitionKeyIn(PartitionId(p), partitions, 6));
    }
  }
}

TEST(CalleeInvocationIdTest, StatelessCalleesShareTheCallersPartition) {
  const InvocationId caller(0x1234567800000042ULL, 7);
  const InvocationId callee =
      CalleeInvocationId(caller, "seed", "Greeter", "", 99);
  EXPECT_EQ(callee.partition_key(), 0x1234567800000063ULL);
  // On disk in call entries: must never change.
  EXPECT_EQ(callee.ToString(), "inv_1234567800000063b50ed2d631fe160a");
  EXPECT_EQ(callee, CalleeInvocationId(caller, "seed", "Greeter", "", 99));
  EXPECT_NE(callee, CalleeInvocationId(caller, "seed2", "Greeter", "", 99));
  // A keyed callee lives on its key's partition.
  EXPECT_EQ(CalleeInvocationId(caller, "seed", "Counter", "k", 99),
            DerivedInvocationId("seed", "Counter", "k"));
}

// These values are on disk and in clients' retries: they must never change.
TEST(StableHashTest, DerivedIdsAreFixedForever) {
  EXPECT_EQ(KeyPartitionHash("Counter", "k"), 0x9152b906843e03f7ULL);
  EXPECT_EQ(DerivedInvocationId("seed", "Counter", "k").ToString(),
            "inv_9152b906843e03f7b50ed2d631fe160a");
  // A keyed id lives on its key's partition.
  EXPECT_EQ(DerivedInvocationId("other", "Counter", "k").partition_key(),
            KeyPartitionHash("Counter", "k"));
  EXPECT_NE(LengthPrefixed({"ab", "c"}), LengthPrefixed({"a", "bc"}));
  EXPECT_EQ(WorkflowRunId("Signup", "ada").ToString(),
            "inv_f9f131e4e078746c75442565430a9aff");
}

TEST(AwakeableRefTest, RoundTripsAndRejectsMalformedText) {
  AwakeableRef ref{InvocationId(0x0102, 0x0304), 7};
  auto parsed = AwakeableRef::Parse(ref.ToString());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->invocation_id, ref.invocation_id);
  EXPECT_EQ(parsed->index, 7u);
  EXPECT_EQ(ref.ToString(), "awk_0000000000000102000000000000030400000007");
  EXPECT_FALSE(AwakeableRef::Parse("awk_12").ok());
  EXPECT_FALSE(
      AwakeableRef::Parse("inv_0000000000000102000000000000030400000007").ok());
}

}  // namespace
}  // namespace reprise
