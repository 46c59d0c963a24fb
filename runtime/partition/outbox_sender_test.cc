// The outbox sender on a real embedded log: messages reach their
// destination partitions, and the source gets one truncation that covers
// every delivered message, in sequence order.
#include "runtime/partition/outbox_sender.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "runtime/log/embedded_log.h"
#include "tests/testing/temp_dir.h"

namespace reprise::partition {
namespace {

std::vector<v1::Command> ReadAll(log::Log& log, PartitionId partition) {
  std::vector<v1::Command> out;
  absl::StatusOr<std::vector<log::Record>> records =
      log.Read(partition, Lsn(1), 1000);
  EXPECT_TRUE(records.ok());
  if (!records.ok()) return out;
  for (const log::Record& r : *records) {
    v1::Command command;
    EXPECT_TRUE(command.ParseFromString(r.payload));
    out.push_back(std::move(command));
  }
  return out;
}

TEST(OutboxSenderTest, DeliversThenTruncatesUpToTheLastDelivered) {
  testing::TempDir dir;
  auto log = log::EmbeddedLog::Open(dir.path() + "/log", 2).value();
  OutboxSender sender(*log);
  // Partition keys at both ends of the range: partitions 0 and 1.
  const InvocationId to0(0, 1), to1(~0ull, 2);
  for (uint64_t seq = 5; seq < 8; ++seq) {
    v1::Command command;
    command.mutable_invoke()->set_invocation_id(
        (seq % 2 ? to1 : to0).ToBytes());
    sender.Send(PartitionId(0), seq, seq % 2 ? to1 : to0, command);
  }
  // Bounded wait for the (coalesced) truncations to reach seq 7.
  uint64_t truncated = 0;
  int truncations = 0;
  for (int i = 0; i < 200 && truncated < 7; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
    truncated = 0;
    truncations = 0;
    for (const auto& c : ReadAll(*log, PartitionId(0))) {
      if (!c.has_truncate_outbox()) continue;
      EXPECT_GT(c.truncate_outbox().seq() + 1, truncated) << "not in order";
      truncated = c.truncate_outbox().seq() + 1;
      ++truncations;
    }
  }
  EXPECT_EQ(truncated, 8u);
  EXPECT_GE(truncations, 1);
  EXPECT_LE(truncations, 3);
  int invokes0 = 0, invokes1 = 0;
  for (const auto& c : ReadAll(*log, PartitionId(0)))
    invokes0 += c.has_invoke();
  for (const auto& c : ReadAll(*log, PartitionId(1)))
    invokes1 += c.has_invoke();
  EXPECT_EQ(invokes0, 1);  // seq 6
  EXPECT_EQ(invokes1, 2);  // seq 5 and 7
  sender.Stop();
}

}  // namespace
}  // namespace reprise::partition
