// EmbeddedLog: the single-machine Log, stored in a RocksDB instance of its
// own. Appends from all threads are queued and written by one writer thread,
// which group-commits everything queued so far in one WriteBatch with a
// synced WAL, then acknowledges the batch. One sync thus covers many appends,
// and no caller ever blocks on disk. The most recent records of each
// partition stay in memory too (1 MiB, or the latest record if larger), for
// readers at the tail. Once an append fails, the log fails every append
// still queued, so no partition's Lsns ever have a gap.
//
// Storage format (docs/formats.md): key 'r' | partition (u32 BE) | lsn (u64
// BE) -> payload; 't' | partition -> trim point (u64 BE); "meta/partitions"
// -> partition count, fixed at creation.
//
// Thread-safety: as Log. Ownership: owns the RocksDB instance and the writer
// thread; the destructor stops the thread after writing what was queued.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runtime/log/log.h"

namespace rocksdb {
class DB;
class Env;
}  // namespace rocksdb

namespace reprise::log {

class EmbeddedLog final : public Log {
 public:
  // Opens the log in `dir`, creating it with `partitions` partitions if it
  // does not exist. Fails with FailedPrecondition if it exists with another
  // partition count, and DataLoss if RocksDB reports corruption. An open
  // that replays WALs (after any restart) also flushes what they held and
  // deletes them before it returns.
  static absl::StatusOr<std::unique_ptr<EmbeddedLog>> Open(
      const std::string& dir, uint32_t partitions);

  ~EmbeddedLog() override;
  EmbeddedLog(const EmbeddedLog&) = delete;
  EmbeddedLog& operator=(const EmbeddedLog&) = delete;

  uint32_t partitions() const override { return partitions_; }
  void Append(PartitionId partition, std::string payload,
              AppendCallback done) override;
  absl::StatusOr<std::vector<Record>> Read(PartitionId partition, Lsn from,
                                           size_t max_records) override;
  absl::StatusOr<Lsn> FindTail(PartitionId partition) override;
  absl::Status Trim(PartitionId partition, Lsn before) override;
  void SetTailListener(TailListener listener) override;
  bool Idle() const override { return queued_.load() == 0; }

  // Number of synced WAL writes so far (each covers one or more appends).
  uint64_t sync_count() const { return sync_count_.load(); }

 private:
  struct PendingAppend {
    PartitionId partition;
    Lsn lsn;
    std::string payload;
    AppendCallback done;
  };

  // A partition's most recent durable records, kept after their write so
  // that a reader following the tail (the partition processor, a batch or
  // two behind) copies them from here instead of opening a RocksDB
  // iterator for each read. Lsns are contiguous; the oldest go first once
  // the bound is reached.
  struct RecentRecords {
    absl::Mutex mu;
    std::deque<Record> records ABSL_GUARDED_BY(mu);
    size_t bytes ABSL_GUARDED_BY(mu) = 0;
  };

  EmbeddedLog(std::unique_ptr<rocksdb::Env> env,
              std::unique_ptr<rocksdb::DB> db, uint32_t partitions,
              std::vector<uint64_t> tails, std::vector<uint64_t> trim_points);
  void WriterLoop();
  // Appends the batch's records of each partition to `recent_`.
  void KeepRecent(std::vector<PendingAppend>& batch);
  // Records [from, tail) (at most `max_records`) if `recent_` still holds
  // `from`; nullopt otherwise.
  std::optional<std::vector<Record>> ReadRecent(PartitionId partition,
                                                uint64_t from, uint64_t tail,
                                                size_t max_records);

  // The file system that presizes WALs (embedded_log.cc); outlives db_.
  const std::unique_ptr<rocksdb::Env> env_;
  const std::unique_ptr<rocksdb::DB> db_;
  const uint32_t partitions_;
  TailListener tail_listener_;

  absl::Mutex mu_;
  std::vector<PendingAppend> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> next_lsn_ ABSL_GUARDED_BY(mu_);
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Per partition: first Lsn not yet durable, and first Lsn not trimmed.
  std::unique_ptr<std::atomic<uint64_t>[]> durable_tail_;
  std::unique_ptr<std::atomic<uint64_t>[]> trim_point_;
  std::unique_ptr<RecentRecords[]> recent_;
  std::atomic<uint64_t> sync_count_{0};
  // queue_.size(), for Idle.
  std::atomic<size_t> queued_{0};
  std::thread writer_;
};

}  // namespace reprise::log
