#include "runtime/timers/timer_service.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "reprise/v1/log.pb.h"
#include "runtime/common/clock.h"
#include "runtime/log/embedded_log.h"
#include "tests/testing/temp_dir.h"

namespace reprise::timers {
namespace {

// Waits (bounded) until `partition` holds `count` records and returns them.
std::vector<v1::Command> WaitForCommands(log::Log& log, PartitionId partition,
                                         size_t count) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  std::vector<log::Record> records;
  while (absl::Now() < deadline) {
    records = log.Read(partition, Lsn(1), 100).value();
    if (records.size() >= count) break;
    absl::SleepFor(absl::Milliseconds(5));
  }
  std::vector<v1::Command> commands;
  for (const auto& record : records) {
    commands.emplace_back().ParseFromString(record.payload);
  }
  return commands;
}

TEST(TimerServiceTest, AppendsFireCommandsInDueOrderNeverEarly) {
  testing::TempDir dir;
  auto log = log::EmbeddedLog::Open(dir.path(), 2).value();
  TimerService timers(*log);
  const InvocationId a(1, 1), b(2, 2);
  const int64_t now = NowMillis();
  timers.Schedule(PartitionId(1), a, 3, now + 120);
  timers.Schedule(PartitionId(1), b, 5, now + 40);

  std::vector<v1::Command> commands = WaitForCommands(*log, PartitionId(1), 2);
  ASSERT_EQ(commands.size(), 2u);
  EXPECT_EQ(commands[0].fire_timer().invocation_id(), b.ToBytes());
  EXPECT_EQ(commands[0].fire_timer().index(), 5u);
  EXPECT_GE(commands[0].timestamp_ms(), now + 40);
  EXPECT_EQ(commands[1].fire_timer().invocation_id(), a.ToBytes());
  EXPECT_EQ(commands[1].fire_timer().index(), 3u);
  EXPECT_GE(commands[1].timestamp_ms(), now + 120);
  EXPECT_TRUE(log->Read(PartitionId(0), Lsn(1), 10).value().empty());
}

// A sleep's timer fires its lead early, stamped with its due time (here a
// minute early, so at once); a delayed invocation's start timer does not.
TEST(TimerServiceTest, ASleepsTimerFiresItsLeadEarlyStampedWhenDue) {
  testing::TempDir dir;
  auto log = log::EmbeddedLog::Open(dir.path(), 1).value();
  TimerService timers(*log, /*sleep_lead=*/absl::Minutes(1));
  const int64_t due = NowMillis() + 60'000;
  // Scheduled first: with the lead it would fire first.
  timers.Schedule(PartitionId(0), InvocationId(2, 2),
                  state_machine::kStartTimerIndex, due);
  timers.Schedule(PartitionId(0), InvocationId(1, 1), 1, due);
  std::vector<v1::Command> commands = WaitForCommands(*log, PartitionId(0), 1);
  ASSERT_EQ(commands.size(), 1u);
  EXPECT_LT(NowMillis(), due);
  EXPECT_EQ(commands[0].fire_timer().index(), 1u);
  EXPECT_EQ(commands[0].timestamp_ms(), due);
  EXPECT_EQ(commands[0].fire_timer().wake_up_at_ms(), due);
}

TEST(TimerServiceTest, PastTimersFireAtOnce) {
  testing::TempDir dir;
  auto log = log::EmbeddedLog::Open(dir.path(), 1).value();
  TimerService timers(*log);
  timers.Schedule(PartitionId(0), InvocationId(1, 1), 1, NowMillis() - 60000);
  EXPECT_EQ(WaitForCommands(*log, PartitionId(0), 1).size(), 1u);
}

}  // namespace
}  // namespace reprise::timers
