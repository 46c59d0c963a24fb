// The trimmer on a real embedded log and store: it discards exactly the
// records the store has applied, and a processor restarted after a trim
// recovers from the store.
#include "runtime/partition/log_trimmer.h"

#include <gtest/gtest.h>

#include "absl/synchronization/notification.h"
#include "runtime/log/embedded_log.h"
#include "runtime/partition/partition_processor.h"
#include "tests/testing/commands.h"
#include "tests/testing/temp_dir.h"

namespace reprise::partition {
namespace {

class NoActions : public LeaderActions {
 public:
  void Execute(PartitionId, state_machine::Action) override {}
};

class LogTrimmerTest : public ::testing::Test {
 protected:
  LogTrimmerTest()
      : log_(log::EmbeddedLog::Open(dir_.path() + "/log", 2).value()),
        store_(storage::Store::Open(dir_.path() + "/store").value()) {}

  void AppendAndWait(PartitionId partition, const std::string& payload) {
    absl::Notification done;
    log_->Append(partition, payload, [&](absl::StatusOr<Lsn> lsn) {
      EXPECT_TRUE(lsn.ok());
      done.Notify();
    });
    done.WaitForNotification();
  }
  std::vector<uint64_t> Lsns(PartitionId partition) {
    absl::StatusOr<std::vector<log::Record>> records =
        log_->Read(partition, Lsn(1), 100);
    EXPECT_TRUE(records.ok()) << records.status();
    std::vector<uint64_t> lsns;
    for (const log::Record& r : records.value()) lsns.push_back(r.lsn.value());
    return lsns;
  }
  // The state of `id` once the processor applied what is in the log.
  static v1::InvocationState StateAfterApplied(PartitionProcessor& processor,
                                               const InvocationId& id) {
    absl::Notification done;
    v1::InvocationState state = v1::INVOCATION_STATE_UNSPECIFIED;
    processor.RunAfterApplied([&](storage::PartitionReader& reader) {
      auto status = reader.GetInvocationStatus(id).value();
      if (status.has_value()) state = status->state();
      done.Notify();
    });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return state;
  }

  testing::TempDir dir_;
  std::unique_ptr<log::EmbeddedLog> log_;
  std::unique_ptr<storage::Store> store_;
};

TEST_F(LogTrimmerTest, DiscardsOnlyWhatTheStoreApplied) {
  for (int i = 0; i < 5; ++i) AppendAndWait(PartitionId(0), "a");
  for (int i = 0; i < 3; ++i) AppendAndWait(PartitionId(1), "b");
  storage::Transaction txn(*store_, PartitionId(0));
  txn.PutAppliedLsn(Lsn(3));
  ASSERT_TRUE(txn.Commit().ok());

  LogTrimmer trimmer(*log_, *store_, absl::Hours(1), /*min_records=*/1);
  ASSERT_TRUE(trimmer.TrimOnce().ok());
  EXPECT_EQ(Lsns(PartitionId(0)), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(Lsns(PartitionId(1)), (std::vector<uint64_t>{1, 2, 3}));
  // Nothing applied since: nothing more goes.
  ASSERT_TRUE(trimmer.TrimOnce().ok());
  EXPECT_EQ(Lsns(PartitionId(0)), (std::vector<uint64_t>{4, 5}));
}

TEST_F(LogTrimmerTest, WaitsUntilEnoughRecordsCanGo) {
  for (int i = 0; i < 5; ++i) AppendAndWait(PartitionId(0), "a");
  LogTrimmer trimmer(*log_, *store_, absl::Hours(1), /*min_records=*/3);
  auto apply = [&](uint64_t lsn) {
    storage::Transaction txn(*store_, PartitionId(0));
    txn.PutAppliedLsn(Lsn(lsn));
    ASSERT_TRUE(txn.Commit().ok());
  };
  apply(2);
  ASSERT_TRUE(trimmer.TrimOnce().ok());
  EXPECT_EQ(Lsns(PartitionId(0)), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  apply(3);
  ASSERT_TRUE(trimmer.TrimOnce().ok());
  EXPECT_EQ(Lsns(PartitionId(0)), (std::vector<uint64_t>{4, 5}));
}

TEST_F(LogTrimmerTest, PeriodicTrimKeepsRecoveryWhole) {
  NoActions actions;
  const InvocationId first(1, 1), second(1, 2);
  auto processor = std::make_unique<PartitionProcessor>(PartitionId(0), *log_,
                                                        *store_, actions);
  log_->SetTailListener([&](PartitionId p, Lsn tail) {
    if (p == PartitionId(0)) processor->OnTailAdvanced(tail);
  });
  ASSERT_TRUE(processor->Start().ok());
  AppendAndWait(PartitionId(0),
                testing::InvokeCommand(first).SerializeAsString());
  ASSERT_EQ(StateAfterApplied(*processor, first), v1::INVOCATION_STATE_INVOKED);
  {
    LogTrimmer trimmer(*log_, *store_, absl::Milliseconds(10),
                       /*min_records=*/1);
    for (int i = 0; i < 500 && !Lsns(PartitionId(0)).empty(); ++i) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  EXPECT_TRUE(Lsns(PartitionId(0)).empty());

  // A record after the trim point is applied after a restart, and the
  // state from before it is intact.
  processor->Stop();
  AppendAndWait(PartitionId(0),
                testing::InvokeCommand(second).SerializeAsString());
  processor = std::make_unique<PartitionProcessor>(PartitionId(0), *log_,
                                                   *store_, actions);
  ASSERT_TRUE(processor->Start().ok());
  EXPECT_EQ(StateAfterApplied(*processor, first), v1::INVOCATION_STATE_INVOKED);
  EXPECT_EQ(StateAfterApplied(*processor, second),
            v1::INVOCATION_STATE_INVOKED);
  processor->Stop();
}

TEST_F(LogTrimmerTest, AStoreOlderThanTheLogRefusesToStart) {
  auto expect_refused = [&](const std::string& starts_at) {
    NoActions actions;
    PartitionProcessor processor(PartitionId(0), *log_, *store_, actions);
    absl::Status started = processor.Start();
    EXPECT_EQ(started.code(), absl::StatusCode::kDataLoss);
    EXPECT_NE(started.message().find("log now starts at Lsn " + starts_at),
              std::string::npos)
        << started;
  };
  AppendAndWait(PartitionId(0),
                testing::InvokeCommand(InvocationId(1, 1)).SerializeAsString());
  AppendAndWait(PartitionId(0),
                testing::InvokeCommand(InvocationId(1, 2)).SerializeAsString());
  ASSERT_TRUE(log_->Trim(PartitionId(0), Lsn(2)).ok());
  expect_refused("2");  // the first record the store needs is gone
  ASSERT_TRUE(log_->Trim(PartitionId(0), Lsn(3)).ok());
  expect_refused("3");  // all of them are: the log holds none
}

}  // namespace
}  // namespace reprise::partition
