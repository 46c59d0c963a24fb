#include "runtime/log/embedded_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "rocksdb/db.h"
#include "runtime/common/big_endian.h"
#include "runtime/log/log_conformance.h"
#include "tests/testing/process.h"
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

// Appends `payload` and waits until it is durable.
Lsn AppendDurably(Log& log, PartitionId partition, std::string payload) {
  absl::Notification done;
  absl::StatusOr<Lsn> lsn;
  log.Append(partition, std::move(payload), [&](absl::StatusOr<Lsn> result) {
    lsn = result;
    done.Notify();
  });
  done.WaitForNotification();
  EXPECT_TRUE(lsn.ok()) << lsn.status();
  return lsn.value_or(Lsn(0));
}

TEST(EmbeddedLogTest, ReadsTheSameWhetherRecordsAreStillInMemoryOrNot) {
  testing::TempDir dir;
  auto log = EmbeddedLog::Open(dir.path(), 2).value();
  // Large records: only the latest of them stay in memory (1 MiB), so
  // reads from the start come from RocksDB and the last from memory.
  std::vector<std::string> payloads;
  for (int i = 0; i < 5; ++i) {
    payloads.push_back(std::string(400 << 10, static_cast<char>('a' + i)));
    EXPECT_EQ(AppendDurably(*log, PartitionId(1), payloads.back()),
              Lsn(static_cast<uint64_t>(i) + 1));
  }
  AppendDurably(*log, PartitionId(0), "other partition");
  for (uint64_t from = 1; from <= 6; ++from) {
    auto records = log->Read(PartitionId(1), Lsn(from), 10);
    ASSERT_TRUE(records.ok()) << records.status();
    ASSERT_EQ(records->size(), 6 - from) << "from " << from;
    for (size_t i = 0; i < records->size(); ++i) {
      EXPECT_EQ((*records)[i].lsn, Lsn(from + i));
      EXPECT_EQ((*records)[i].payload, payloads[from - 1 + i]);
    }
  }
  // The bound on the number of records holds for memory reads too.
  auto one = log->Read(PartitionId(1), Lsn(4), 1);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].payload, payloads[3]);
  auto other = log->Read(PartitionId(0), Lsn(1), 10);
  ASSERT_TRUE(other.ok());
  ASSERT_EQ(other->size(), 1u);
  EXPECT_EQ((*other)[0].payload, "other partition");
  // Trimmed records are not returned, from memory either.
  ASSERT_TRUE(log->Trim(PartitionId(1), Lsn(5)).ok());
  auto trimmed = log->Read(PartitionId(1), Lsn(1), 10);
  ASSERT_TRUE(trimmed.ok());
  ASSERT_EQ(trimmed->size(), 1u);
  EXPECT_EQ((*trimmed)[0].lsn, Lsn(5));
}

// Appends `count` records to each of two partitions in another process,
// which ends without closing the log, as a crash would.
void AppendAndCrash(const std::string& dir, int round, int count) {
  testing::CommandResult crashed = testing::RunCommand(
      {testing::BuildDir() + "/runtime/log/append_and_crash", dir,
       std::to_string(round), std::to_string(count)},
      absl::Seconds(60));
  EXPECT_EQ(crashed.exit_code, 0) << crashed.output;
}

// Writes part of a record after the last byte written to the newest WAL in
// `dir`, before the zeros that presize it: what a crash in the middle of a
// write leaves.
void TearNewestWal(const std::string& dir) {
  std::filesystem::path newest;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".log" && entry.path() > newest) {
      newest = entry.path();
    }
  }
  ASSERT_FALSE(newest.empty());
  std::fstream file(newest, std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(file)),
                    std::istreambuf_iterator<char>());
  const size_t end = bytes.find_last_not_of('\0') + 1;
  ASSERT_GT(end, 0u);
  ASSERT_LT(end + 64, bytes.size());  // presized: zeros follow
  // A header (checksum, length 64, a full record) and 30 of its 64 bytes.
  file.seekp(static_cast<std::streamoff>(end));
  file.write("\x12\x34\x56\x78\x40\x00\x01", 7);
  file << std::string(30, 'x');
  ASSERT_TRUE(file.good());
}

// The WAL files in `dir`, and how many of them were given their full size
// at creation (so that a sync does not also write the file's new size).
struct Wals {
  int count = 0;
  int presized = 0;
};
Wals CountWals(const std::string& dir) {
  Wals wals;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".log") {
      ++wals.count;
      if (entry.file_size() >= (16u << 20)) ++wals.presized;
    }
  }
  return wals;
}

TEST(EmbeddedLogTest, KeepsAcknowledgedRecordsAcrossCrashes) {
  testing::TempDir dir;
  constexpr int kCount = 100;
  // Two crashes, each leaving a torn record, then zeros: the second open
  // replays the first crash's WAL, the last open the second's.
  for (int round = 0; round < 2; ++round) {
    AppendAndCrash(dir.path(), round, kCount);
    TearNewestWal(dir.path());
  }
  // The second open flushed what it replayed: the first crash's WAL is
  // gone.
  Wals wals = CountWals(dir.path());
  EXPECT_EQ(wals.count, 1);
  EXPECT_EQ(wals.presized, 1);

  auto log = EmbeddedLog::Open(dir.path(), 2).value();
  for (uint32_t p = 0; p < 2; ++p) {
    EXPECT_EQ(log->FindTail(PartitionId(p)).value(), Lsn(2 * kCount + 1));
    auto records = log->Read(PartitionId(p), Lsn(1), 1000);
    ASSERT_TRUE(records.ok()) << records.status();
    ASSERT_EQ(records->size(), 2u * kCount);
    for (int i = 0; i < 2 * kCount; ++i) {
      EXPECT_EQ((*records)[i].payload,
                absl::StrCat(i / kCount, "/", i % kCount));
    }
  }
  EXPECT_EQ(AppendDurably(*log, PartitionId(0), "after"), Lsn(2 * kCount + 1));
}

TEST(EmbeddedLogTest, ACrashLoopLeavesOneWal) {
  testing::TempDir dir;
  // Crashes with nothing appended between them, as in a runtime that dies
  // at every start: each open creates a presized WAL, and the next one
  // must retire it although it holds no record.
  for (int round = 0; round < 5; ++round) {
    AppendAndCrash(dir.path(), round, 0);
  }
  EXPECT_EQ(CountWals(dir.path()).count, 1);
  auto log = EmbeddedLog::Open(dir.path(), 2).value();
  EXPECT_EQ(AppendDurably(*log, PartitionId(0), "after"), Lsn(1));
  EXPECT_EQ(CountWals(dir.path()).count, 1);
}

// Raw RocksDB access to a log's directory, for the layout an older build
// (or a corruption) left there (docs/formats.md).
std::unique_ptr<rocksdb::DB> OpenRocksDb(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  if (!s.ok()) ADD_FAILURE() << s.ToString();
  return std::unique_ptr<rocksdb::DB>(s.ok() ? raw : nullptr);
}
std::string TrimKeyOfPartition0() { return std::string("t\0\0\0\0", 5); }

// A log written by a build before insert hints: its WAL holds a trim whose
// range deletion starts at a record key, between records of the same
// partition (replayed as it is into a hinted memtable, it trips RocksDB's
// skiplist assertion). Records, tail and trim point read back as written,
// the log goes on taking appends and trims across reopens, and exactly the
// records below the last trim point are gone from RocksDB.
TEST(EmbeddedLogTest, OpensALogWrittenWithoutInsertHints) {
  testing::TempDir dir;
  auto record_key = [](uint64_t lsn) {
    std::string key = "r";
    AppendBigEndian32(key, 0);
    AppendBigEndian64(key, lsn);
    return key;
  };
  {
    auto db = OpenRocksDb(dir.path());
    ASSERT_NE(db, nullptr);
    rocksdb::WriteOptions sync;
    sync.sync = true;
    ASSERT_TRUE(db->Put(sync, "meta/partitions", "1").ok());
    for (uint64_t lsn = 1; lsn <= 30; ++lsn) {
      ASSERT_TRUE(db->Put(sync, record_key(lsn), absl::StrCat(lsn)).ok());
      if (lsn == 20) {
        rocksdb::WriteBatch trim;
        std::string point;
        AppendBigEndian64(point, 11);
        ASSERT_TRUE(trim.Put(TrimKeyOfPartition0(), point).ok());
        ASSERT_TRUE(trim.DeleteRange(record_key(1), record_key(11)).ok());
        ASSERT_TRUE(db->Write(sync, &trim).ok());
      }
    }
    // With a WAL, RocksDB writes no table file at close: all of it stays
    // in the WAL for the next open to replay.
    ASSERT_TRUE(db->Close().ok());
  }
  auto expect_records = [](Log& log, uint64_t from, uint64_t tail) {
    EXPECT_EQ(log.FindTail(PartitionId(0)).value(), Lsn(tail));
    auto records = log.Read(PartitionId(0), Lsn(from), 100);
    ASSERT_TRUE(records.ok()) << records.status();
    ASSERT_EQ(records->size(), tail - from);
    for (uint64_t lsn = from; lsn < tail; ++lsn) {
      EXPECT_EQ((*records)[lsn - from].lsn, Lsn(lsn));
      EXPECT_EQ((*records)[lsn - from].payload, absl::StrCat(lsn));
    }
  };
  for (uint64_t reopen = 0; reopen < 3; ++reopen) {
    auto log = EmbeddedLog::Open(dir.path(), 1).value();
    const uint64_t tail = 31 + 10 * reopen;
    expect_records(*log, 11 + 5 * reopen, tail);
    // Reads start at the trim point.
    EXPECT_EQ(log->Read(PartitionId(0), Lsn(1), 1).value().at(0).lsn,
              Lsn(11 + 5 * reopen));
    for (uint64_t lsn = tail; lsn < tail + 10; ++lsn) {
      EXPECT_EQ(AppendDurably(*log, PartitionId(0), absl::StrCat(lsn)),
                Lsn(lsn));
      if (lsn == tail + 4) {
        ASSERT_TRUE(log->Trim(PartitionId(0), Lsn(16 + 5 * reopen)).ok());
      }
    }
    expect_records(*log, 16 + 5 * reopen, tail + 10);
  }
  rocksdb::DB* raw = nullptr;
  ASSERT_TRUE(
      rocksdb::DB::OpenForReadOnly(rocksdb::Options(), dir.path(), &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  for (uint64_t lsn = 1; lsn <= 60; ++lsn) {
    std::string value;
    EXPECT_EQ(db->Get(rocksdb::ReadOptions(), record_key(lsn), &value).ok(),
              lsn >= 26)
        << lsn;
  }
}

TEST(EmbeddedLogTest, RefusesATrimPointOfZero) {
  testing::TempDir dir;
  {
    auto db = OpenRocksDb(dir.path());
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "meta/partitions", "1").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), TrimKeyOfPartition0(),
                        std::string(8, '\0'))
                    .ok());
  }
  EXPECT_EQ(EmbeddedLog::Open(dir.path(), 1).status().code(),
            absl::StatusCode::kDataLoss);
}

// RocksDB starts a diagnostic LOG at every open; a restart loop keeps
// only the latest few.
TEST(EmbeddedLogTest, ReopeningKeepsFewDiagnosticLogs) {
  testing::TempDir dir;
  for (int open = 0; open < 8; ++open) {
    ASSERT_TRUE(EmbeddedLog::Open(dir.path(), 1).ok());
  }
  int logs = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    if (entry.path().filename().string().rfind("LOG", 0) == 0) ++logs;
  }
  EXPECT_GE(logs, 1);
  EXPECT_LE(logs, 5);
}

TEST(StopProcessOnFailureTest, StopsOnlyOnAFailedAppend) {
  StopProcessOnFailure("proposing")(Lsn(7));  // success: nothing happens
  EXPECT_DEATH(StopProcessOnFailure("proposing")(absl::DataLossError("disk")),
               "proposing: DATA_LOSS: disk");
}

}  // namespace
}  // namespace reprise::log
