#include "runtime/log/embedded_log.h"

#include <gtest/gtest.h>

#include <atomic>

#include "absl/synchronization/notification.h"
#include "runtime/log/log_conformance.h"
#include "tests/testing/temp_dir.h"

namespace reprise::log {
namespace {

class EmbeddedLogFactory : public LogFactory {
 public:
  std::unique_ptr<Log> Open(uint32_t partitions) override {
    auto log = EmbeddedLog::Open(dir_.path() + "/log", partitions);
    EXPECT_TRUE(log.ok()) << log.status();
    return std::move(log).value();
  }

 private:
  testing::TempDir dir_;
};

std::unique_ptr<LogFactory> MakeEmbeddedLogFactory() {
  return std::make_unique<EmbeddedLogFactory>();
}

INSTANTIATE_TEST_SUITE_P(Embedded, LogConformanceTest,
                         ::testing::Values(&MakeEmbeddedLogFactory));

TEST(EmbeddedLogTest, RefusesAnotherPartitionCount) {
  testing::TempDir dir;
  { ASSERT_TRUE(EmbeddedLog::Open(dir.path(), 4).ok()); }
  auto reopened = EmbeddedLog::Open(dir.path(), 2);
  EXPECT_EQ(reopened.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(reopened.status().message().find("4 partitions"),
            std::string::npos);
}

TEST(EmbeddedLogTest, ConcurrentAppendsShareSyncs) {
  testing::TempDir dir;
  auto log = EmbeddedLog::Open(dir.path(), 1).value();
  constexpr int kAppends = 2000;
  std::atomic<int> done{0};
  absl::Notification all;
  for (int i = 0; i < kAppends; ++i) {
    log->Append(PartitionId(0), "x", [&](absl::StatusOr<Lsn>) {
      if (++done == kAppends) all.Notify();
    });
  }
  all.WaitForNotification();
  // Appends queued while a sync is in progress go into the next one.
  EXPECT_LT(log->sync_count(), static_cast<uint64_t>(kAppends));
}

TEST(StopProcessOnFailureTest, StopsOnlyOnAFailedAppend) {
  StopProcessOnFailure("proposing")(Lsn(7));  // success: nothing happens
  EXPECT_DEATH(StopProcessOnFailure("proposing")(absl::DataLossError("disk")),
               "proposing: DATA_LOSS: disk");
}

}  // namespace
}  // namespace reprise::log
