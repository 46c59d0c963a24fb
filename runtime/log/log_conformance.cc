#include "runtime/log/log_conformance.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"

namespace reprise::log {
namespace {

absl::StatusOr<Lsn> AppendAndWait(Log& log, PartitionId partition,
                                  std::string payload) {
  absl::Notification done;
  absl::StatusOr<Lsn> result;
  log.Append(partition, std::move(payload), [&](absl::StatusOr<Lsn> lsn) {
    result = std::move(lsn);
    done.Notify();
  });
  done.WaitForNotification();
  return result;
}

std::vector<std::string> Payloads(const std::vector<Record>& records) {
  std::vector<std::string> out;
  for (const Record& r : records) out.push_back(r.payload);
  return out;
}

TEST_P(LogConformanceTest, EmptyLogHasTailOne) {
  auto log = factory_->Open(2);
  EXPECT_EQ(log->FindTail(PartitionId(0)).value(), Lsn(1));
  EXPECT_EQ(log->FindTail(PartitionId(1)).value(), Lsn(1));
  EXPECT_TRUE(log->Read(PartitionId(0), Lsn(1), 10).value().empty());
}

TEST_P(LogConformanceTest, AppendsGetConsecutiveLsnsPerPartition) {
  auto log = factory_->Open(2);
  EXPECT_EQ(AppendAndWait(*log, PartitionId(0), "a").value(), Lsn(1));
  EXPECT_EQ(AppendAndWait(*log, PartitionId(0), "b").value(), Lsn(2));
  EXPECT_EQ(AppendAndWait(*log, PartitionId(1), "x").value(), Lsn(1));
  EXPECT_EQ(log->FindTail(PartitionId(0)).value(), Lsn(3));
  EXPECT_EQ(log->FindTail(PartitionId(1)).value(), Lsn(2));
  EXPECT_EQ(Payloads(log->Read(PartitionId(0), Lsn(1), 10).value()),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(Payloads(log->Read(PartitionId(1), Lsn(1), 10).value()),
            (std::vector<std::string>{"x"}));
}

TEST_P(LogConformanceTest, ReadHonoursFromAndMaxRecords) {
  auto log = factory_->Open(1);
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(AppendAndWait(*log, PartitionId(0), std::to_string(i)).ok());
  }
  auto records = log->Read(PartitionId(0), Lsn(2), 3).value();
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].lsn, Lsn(2));
  EXPECT_EQ(records[2].lsn, Lsn(4));
  EXPECT_EQ(Payloads(records), (std::vector<std::string>{"2", "3", "4"}));
  EXPECT_TRUE(log->Read(PartitionId(0), Lsn(6), 3).value().empty());
}

TEST_P(LogConformanceTest, RecordsSurviveReopen) {
  {
    auto log = factory_->Open(2);
    ASSERT_TRUE(AppendAndWait(*log, PartitionId(1), "kept").ok());
    ASSERT_TRUE(AppendAndWait(*log, PartitionId(1), "also kept").ok());
  }
  auto log = factory_->Open(2);
  EXPECT_EQ(log->FindTail(PartitionId(1)).value(), Lsn(3));
  EXPECT_EQ(Payloads(log->Read(PartitionId(1), Lsn(1), 10).value()),
            (std::vector<std::string>{"kept", "also kept"}));
  EXPECT_EQ(AppendAndWait(*log, PartitionId(1), "next").value(), Lsn(3));
}

TEST_P(LogConformanceTest, TrimHidesPrefixAndKeepsTail) {
  {
    auto log = factory_->Open(1);
    for (int i = 1; i <= 4; ++i) {
      ASSERT_TRUE(AppendAndWait(*log, PartitionId(0), std::to_string(i)).ok());
    }
    ASSERT_TRUE(log->Trim(PartitionId(0), Lsn(3)).ok());
    EXPECT_EQ(Payloads(log->Read(PartitionId(0), Lsn(1), 10).value()),
              (std::vector<std::string>{"3", "4"}));
  }
  auto log = factory_->Open(1);
  EXPECT_EQ(Payloads(log->Read(PartitionId(0), Lsn(1), 10).value()),
            (std::vector<std::string>{"3", "4"}));
  EXPECT_EQ(log->FindTail(PartitionId(0)).value(), Lsn(5));
}

TEST_P(LogConformanceTest, TrimEverythingThenAppendContinuesNumbering) {
  {
    auto log = factory_->Open(1);
    ASSERT_TRUE(AppendAndWait(*log, PartitionId(0), "1").ok());
    ASSERT_TRUE(AppendAndWait(*log, PartitionId(0), "2").ok());
    ASSERT_TRUE(log->Trim(PartitionId(0), Lsn(3)).ok());
  }
  auto log = factory_->Open(1);
  EXPECT_EQ(log->FindTail(PartitionId(0)).value(), Lsn(3));
  EXPECT_EQ(AppendAndWait(*log, PartitionId(0), "3").value(), Lsn(3));
}

TEST_P(LogConformanceTest, ConcurrentAppendsAreAllDurableAndContiguous) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 200;
  auto log = factory_->Open(1);
  absl::Mutex mu;
  std::vector<uint64_t> lsns;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto lsn = AppendAndWait(*log, PartitionId(0),
                                 std::to_string(t) + "/" + std::to_string(i));
        if (!lsn.ok()) {
          ++failures;
          continue;
        }
        absl::MutexLock lock(&mu);
        lsns.push_back(lsn->value());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::sort(lsns.begin(), lsns.end());
  ASSERT_EQ(lsns.size(), static_cast<size_t>(kThreads * kPerThread));
  for (size_t i = 0; i < lsns.size(); ++i) EXPECT_EQ(lsns[i], i + 1);
  EXPECT_EQ(log->Read(PartitionId(0), Lsn(1), 100000).value().size(),
            lsns.size());
}

TEST_P(LogConformanceTest, CallbacksOfOnePartitionRunInLsnOrder) {
  auto log = factory_->Open(1);
  absl::Mutex mu;
  std::vector<uint64_t> order;
  absl::Notification all_done;
  constexpr int kAppends = 300;
  for (int i = 0; i < kAppends; ++i) {
    log->Append(PartitionId(0), "p", [&](absl::StatusOr<Lsn> lsn) {
      absl::MutexLock lock(&mu);
      order.push_back(lsn.ok() ? lsn->value() : 0);
      if (order.size() == kAppends) all_done.Notify();
    });
  }
  all_done.WaitForNotification();
  absl::MutexLock lock(&mu);
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i + 1);
}

TEST_P(LogConformanceTest, TailListenerSeesDurableTail) {
  auto log = factory_->Open(2);
  absl::Mutex mu;
  uint64_t seen_tail = 0;
  log->SetTailListener([&](PartitionId p, Lsn tail) {
    absl::MutexLock lock(&mu);
    if (p == PartitionId(1)) seen_tail = std::max(seen_tail, tail.value());
  });
  ASSERT_TRUE(AppendAndWait(*log, PartitionId(1), "a").ok());
  ASSERT_TRUE(AppendAndWait(*log, PartitionId(1), "b").ok());
  absl::MutexLock lock(&mu);
  EXPECT_EQ(seen_tail, 3u);
}

TEST_P(LogConformanceTest, RejectsUnknownPartition) {
  auto log = factory_->Open(2);
  auto lsn = AppendAndWait(*log, PartitionId(2), "x");
  EXPECT_EQ(lsn.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(log->Read(PartitionId(7), Lsn(1), 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace reprise::log
