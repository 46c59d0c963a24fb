#include "runtime/log/embedded_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/wal_filter.h"
#include "rocksdb/write_batch.h"
#include "runtime/common/big_endian.h"
#include "runtime/common/rocksdb_status.h"
#include "runtime/common/rocksdb_wals.h"
#include "runtime/common/status_macros.h"

namespace reprise::log {
namespace {

constexpr char kRecordPrefix = 'r';
constexpr char kTrimPrefix = 't';
constexpr char kPartitionsKey[] = "meta/partitions";
// Per partition, what EmbeddedLog keeps of its latest records: the
// processor reads at most 1,024 records at a time, mostly far fewer.
constexpr size_t kRecentBytes = 1 << 20;
// Records are read back soon after they are written and trimmed a few
// seconds later, mostly before their memtable is flushed (a flush drops
// what a trim covers). The memtable's size also bounds the WAL that a
// restart replays.
constexpr size_t kWriteBufferBytes = 16 << 20;
// What a WAL grows to before its memtable is switched; RocksDB reserves the
// same for it.
constexpr off_t kWalBytes = kWriteBufferBytes + kWriteBufferBytes / 10;

// Each synced batch inserts its records into the memtable, a skiplist; the
// records of a partition go in Lsn order, so an insert can start from where
// the partition's last one ended instead of from the top (RocksDB's insert
// hints, by the 5-byte prefix 'r' | partition; docs/benchmarks.md). RocksDB
// 7.8 keeps one hint per prefix for both a memtable's rows and its range
// deletions, and a hint from one breaks an insert into the other; so only
// record keys (13 bytes) are in the hints' domain, and a trim's range
// deletion starts at a key one byte longer (TrimRangeStart).
constexpr size_t kRecordKeySize = 1 + 4 + 8;

class RecordPrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "reprise.LogRecordPrefix.1"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), 1 + 4);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return key.size() == kRecordKeySize && key[0] == kRecordPrefix;
  }
};

// RocksDB appends to its WAL, so each synced write of the log also writes
// the WAL's inode, whose size changed: about 0.20 ms a sync on our machine,
// against 0.13 ms for a write inside the file's size (docs/benchmarks.md).
// This file system gives each new WAL its full size at creation, as zeros
// (fallocate), so a sync writes the data alone. RocksDB reads zeros in a
// WAL as padding: after a crash, recovery reads through them to the file's
// end, or, point in time, stops at a torn last record (never acknowledged)
// as it did at the end of an appended file; a clean close truncates the
// WAL to what was written, as it does after reserving space itself. A WAL
// recovered after a crash keeps its size until its memtable is flushed and
// it is deleted. Should the space not be given (a file system without
// fallocate), the WAL is appended to as before.
class PresizedWalFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  PresizedWalFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "PresizedWalFileSystem"; }

  rocksdb::IOStatus NewWritableFile(
      const std::string& name, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* file,
      rocksdb::IODebugContext* debug) override {
    rocksdb::IOStatus s =
        FileSystemWrapper::NewWritableFile(name, options, file, debug);
    // WALs are named <number>.log; RocksDB's own files are not.
    if (s.ok() && absl::EndsWith(name, ".log")) {
      const int fd = ::open(name.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        // Best effort: RocksDB's writes report a full disk themselves.
        (void)::fallocate(fd, 0, 0, kWalBytes);
        ::close(fd);
      }
    }
    return s;
  }
};

std::string RecordKey(PartitionId partition, uint64_t lsn) {
  std::string key(1, kRecordPrefix);
  AppendBigEndian32(key, partition.value());
  AppendBigEndian64(key, lsn);
  return key;
}

// Where a trim to `trim_point` ends, and the next trim's range deletion
// starts: just after record trim_point - 1 (>= 0), so that the ranges of
// successive trims meet without overlapping (reads would pay for
// fragmenting nested ones), and outside the hints' domain (RecordPrefix).
std::string TrimRangeStart(PartitionId partition, uint64_t trim_point) {
  std::string key = RecordKey(partition, trim_point - 1);
  key.push_back('\0');
  return key;
}

std::string TrimKey(PartitionId partition) {
  std::string key(1, kTrimPrefix);
  AppendBigEndian32(key, partition.value());
  return key;
}

absl::Status CheckPartition(PartitionId partition, uint32_t partitions) {
  if (partition.value() >= partitions) {
    return absl::InvalidArgumentError(
        absl::StrFormat("partition %d out of range: the log has %d partitions",
                        partition.value(), partitions));
  }
  return absl::OkStatus();
}

// WALs written before the hints began a trim's range deletion at a record
// key (the old trim point's), which a hinted replay would insert with a
// record's hint. Replay rewrites such a range deletion to start where a
// trim's starts now; it deletes the same records. A batch holding anything
// but puts and range deletions (the log writes nothing else) is replayed
// as it is.
class OldTrimRewriter final : public rocksdb::WalFilter {
 public:
  const char* Name() const override { return "reprise.OldTrimRewriter"; }

  WalProcessingOption LogRecordFound(unsigned long long /*log_number*/,
                                     const std::string& /*log_file_name*/,
                                     const rocksdb::WriteBatch& batch,
                                     rocksdb::WriteBatch* new_batch,
                                     bool* batch_changed) override {
    // Almost every batch holds no old trim: look before copying.
    Copy look(/*copying=*/false);
    if (!batch.Iterate(&look).ok() || !look.has_old_trim) {
      return WalProcessingOption::kContinueProcessing;
    }
    Copy copy(/*copying=*/true);
    if (batch.Iterate(&copy).ok() && copy.out.Count() == batch.Count()) {
      *new_batch = std::move(copy.out);
      *batch_changed = true;
    }
    return WalProcessingOption::kContinueProcessing;
  }

 private:
  // Copies (or, with copy false, only walks) puts and range deletions of
  // the default column family; fails on anything else.
  struct Copy final : rocksdb::WriteBatch::Handler {
    explicit Copy(bool copying) : copy(copying) {}
    rocksdb::Status PutCF(uint32_t cf, const rocksdb::Slice& key,
                          const rocksdb::Slice& value) override {
      if (cf != 0) return Unexpected();
      return copy ? out.Put(key, value) : rocksdb::Status::OK();
    }
    rocksdb::Status DeleteRangeCF(uint32_t cf, const rocksdb::Slice& begin,
                                  const rocksdb::Slice& end) override {
      if (cf != 0) return Unexpected();
      const bool old =
          begin.size() == kRecordKeySize && begin[0] == kRecordPrefix;
      has_old_trim |= old;
      if (!copy) return rocksdb::Status::OK();
      if (!old) return out.DeleteRange(begin, end);
      const PartitionId partition(DecodeBigEndian32(begin.data() + 1));
      const uint64_t lsn = DecodeBigEndian64(begin.data() + 1 + 4);
      // Before record 1 no record sorts: the partition's prefix will do.
      return out.DeleteRange(lsn > 0 ? TrimRangeStart(partition, lsn)
                                     : begin.ToString().substr(0, 1 + 4),
                             end);
    }
    rocksdb::Status DeleteCF(uint32_t, const rocksdb::Slice&) override {
      return Unexpected();
    }
    rocksdb::Status SingleDeleteCF(uint32_t, const rocksdb::Slice&) override {
      return Unexpected();
    }
    rocksdb::Status MergeCF(uint32_t, const rocksdb::Slice&,
                            const rocksdb::Slice&) override {
      return Unexpected();
    }
    static rocksdb::Status Unexpected() {
      return rocksdb::Status::NotSupported("not written by the log");
    }

    const bool copy;
    rocksdb::WriteBatch out;
    bool has_old_trim = false;
  };
};

}  // namespace

absl::StatusOr<std::unique_ptr<EmbeddedLog>> EmbeddedLog::Open(
    const std::string& dir, uint32_t partitions) {
  if (partitions == 0) {
    return absl::InvalidArgumentError("the log needs at least one partition");
  }
  std::unique_ptr<rocksdb::Env> env =
      rocksdb::NewCompositeEnv(std::make_shared<PresizedWalFileSystem>());
  rocksdb::Options options;
  options.env = env.get();
  options.create_if_missing = true;
  options.paranoid_checks = true;
  options.write_buffer_size = kWriteBufferBytes;
  // RocksDB starts its diagnostic LOG afresh at every open and keeps the
  // old ones, 1,000 by default: a crash loop would pile them up.
  options.keep_log_file_num = 5;
  // A restart replays the WAL into the memtable; RetireReplayedWals then
  // writes it out.
  options.avoid_flush_during_recovery = true;
  // Concurrent memtable writes ignore hints; the writer thread is the only
  // frequent writer anyway.
  options.allow_concurrent_memtable_write = false;
  options.memtable_insert_with_hint_prefix_extractor =
      std::make_shared<RecordPrefix>();
  // Runs at replay only; stateless, and static so that it outlives the DB.
  static OldTrimRewriter old_trims;
  options.wal_filter = &old_trims;
  rocksdb::DB* raw = nullptr;
  REPRISE_RETURN_IF_ERROR(FromRocksStatus(rocksdb::DB::Open(options, dir, &raw),
                                          "opening the log at " + dir));
  std::unique_ptr<rocksdb::DB> db(raw);

  std::string stored;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kPartitionsKey, &stored);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions sync;
    sync.sync = true;
    REPRISE_RETURN_IF_ERROR(FromRocksStatus(
        db->Put(sync, kPartitionsKey, std::to_string(partitions)),
        "initializing the log"));
  } else {
    REPRISE_RETURN_IF_ERROR(FromRocksStatus(s, "reading the log's metadata"));
    if (stored != std::to_string(partitions)) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "the log at %s was created with %s partitions, not %d; start with "
          "the partition count it was created with",
          dir, stored, partitions));
    }
  }
  // Each WAL is presized (kWalBytes): one left by every crash of a crash
  // loop would add that much to the disk and to every later open.
  REPRISE_RETURN_IF_ERROR(
      RetireReplayedWals(*db, dir, /*max_wals=*/1, kPartitionsKey,
                         std::to_string(partitions), "the log"));

  std::vector<uint64_t> tails(partitions, 1);
  std::vector<uint64_t> trims(partitions, 1);
  std::unique_ptr<rocksdb::Iterator> it(
      db->NewIterator(rocksdb::ReadOptions()));
  for (uint32_t p = 0; p < partitions; ++p) {
    std::string value;
    s = db->Get(rocksdb::ReadOptions(), TrimKey(PartitionId(p)), &value);
    if (s.ok() && value.size() == 8 && DecodeBigEndian64(value.data()) > 0) {
      trims[p] = DecodeBigEndian64(value.data());
    } else if (!s.IsNotFound()) {
      return absl::DataLossError(absl::StrFormat(
          "the log's trim point of partition %d is corrupt", p));
    }
    // The last record of partition p sorts just before partition p+1's first.
    it->SeekForPrev(RecordKey(PartitionId(p), ~0ULL));
    REPRISE_RETURN_IF_ERROR(FromRocksStatus(it->status(), "scanning the log"));
    std::string prefix(1, kRecordPrefix);
    AppendBigEndian32(prefix, p);
    if (it->Valid() && it->key().starts_with(prefix)) {
      tails[p] = DecodeBigEndian64(it->key().data() + 5) + 1;
    }
    tails[p] = std::max(tails[p], trims[p]);
  }
  it.reset();
  return std::unique_ptr<EmbeddedLog>(
      new EmbeddedLog(std::move(env), std::move(db), partitions,
                      std::move(tails), std::move(trims)));
}

EmbeddedLog::EmbeddedLog(std::unique_ptr<rocksdb::Env> env,
                         std::unique_ptr<rocksdb::DB> db, uint32_t partitions,
                         std::vector<uint64_t> tails,
                         std::vector<uint64_t> trim_points)
    : env_(std::move(env)),
      db_(std::move(db)),
      partitions_(partitions),
      next_lsn_(tails),
      durable_tail_(new std::atomic<uint64_t>[partitions]),
      trim_point_(new std::atomic<uint64_t>[partitions]),
      recent_(new RecentRecords[partitions]) {
  for (uint32_t p = 0; p < partitions; ++p) {
    durable_tail_[p].store(tails[p]);
    trim_point_[p].store(trim_points[p]);
  }
  writer_ = std::thread([this] { WriterLoop(); });
}

EmbeddedLog::~EmbeddedLog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  writer_.join();
  db_->Close().PermitUncheckedError();
}

void EmbeddedLog::SetTailListener(TailListener listener) {
  absl::MutexLock lock(&mu_);
  tail_listener_ = std::move(listener);
}

void EmbeddedLog::Append(PartitionId partition, std::string payload,
                         AppendCallback done) {
  absl::Status bad = CheckPartition(partition, partitions_);
  if (!bad.ok()) {
    done(bad);
    return;
  }
  absl::Status rejected;
  {
    absl::MutexLock lock(&mu_);
    if (failure_.ok() && !stopping_) {
      Lsn lsn(next_lsn_[partition.value()]++);
      queue_.push_back({partition, lsn, std::move(payload), std::move(done)});
      queued_.store(queue_.size(), std::memory_order_relaxed);
      return;
    }
    rejected = failure_.ok() ? absl::UnavailableError("the log is shut down")
                             : failure_;
  }
  done(rejected);
}

void EmbeddedLog::WriterLoop() {
  std::vector<PendingAppend> batch;
  rocksdb::WriteOptions sync;
  sync.sync = true;
  std::vector<uint64_t> new_tails(partitions_, 0);
  absl::Status failed;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](EmbeddedLog* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return !self->queue_.empty() || self->stopping_;
          },
          this));
      if (queue_.empty()) return;  // stopping, nothing left to write
      batch.swap(queue_);
      queued_.store(0, std::memory_order_relaxed);
      failed = failure_;
    }
    if (!failed.ok()) {
      // Queued before the failure, after the records that failed: writing
      // them would leave a gap in their partitions' Lsns.
      for (PendingAppend& a : batch) a.done(failed);
      batch.clear();
      continue;
    }
    rocksdb::WriteBatch wb;
    for (const PendingAppend& a : batch) {
      wb.Put(RecordKey(a.partition, a.lsn.value()), a.payload);
    }
    absl::Status status = FromRocksStatus(db_->Write(sync, &wb), "log append");
    sync_count_.fetch_add(1, std::memory_order_relaxed);
    if (!status.ok()) {
      // Lsns were handed out for these records; a gap is not allowed, so the
      // log stops accepting appends.
      absl::MutexLock lock(&mu_);
      failure_ = status;
    } else {
      std::fill(new_tails.begin(), new_tails.end(), 0);
      for (const PendingAppend& a : batch) {
        new_tails[a.partition.value()] = a.lsn.value() + 1;
      }
      // Before the tails move: a reader that sees a new tail finds its
      // records here (unless they were evicted already).
      KeepRecent(batch);
      for (uint32_t p = 0; p < partitions_; ++p) {
        if (new_tails[p] == 0) continue;
        durable_tail_[p].store(new_tails[p], std::memory_order_release);
        if (tail_listener_) tail_listener_(PartitionId(p), Lsn(new_tails[p]));
      }
    }
    for (PendingAppend& a : batch) {
      if (status.ok()) {
        a.done(a.lsn);
      } else {
        a.done(status);
      }
    }
    batch.clear();
  }
}

void EmbeddedLog::KeepRecent(std::vector<PendingAppend>& batch) {
  // The batch holds each partition's records in Lsn order (Append queues
  // them as it numbers them), right after those kept before.
  for (size_t i = 0; i < batch.size();) {
    RecentRecords& recent = recent_[batch[i].partition.value()];
    absl::MutexLock lock(&recent.mu);
    // This record and those of the same partition right after it.
    for (; i < batch.size() && &recent_[batch[i].partition.value()] == &recent;
         ++i) {
      recent.bytes += batch[i].payload.size();
      recent.records.push_back({batch[i].lsn, std::move(batch[i].payload)});
    }
    while (recent.bytes > kRecentBytes && recent.records.size() > 1) {
      recent.bytes -= recent.records.front().payload.size();
      recent.records.pop_front();
    }
  }
}

std::optional<std::vector<Record>> EmbeddedLog::ReadRecent(
    PartitionId partition, uint64_t from, uint64_t tail, size_t max_records) {
  RecentRecords& recent = recent_[partition.value()];
  absl::MutexLock lock(&recent.mu);
  if (recent.records.empty() || from < recent.records.front().lsn.value() ||
      from > recent.records.back().lsn.value()) {
    return std::nullopt;
  }
  const size_t first = from - recent.records.front().lsn.value();
  if (recent.records[first].lsn.value() != from) return std::nullopt;
  std::vector<Record> records;
  for (size_t i = first;
       i < recent.records.size() && records.size() < max_records &&
       recent.records[i].lsn.value() < tail;
       ++i) {
    records.push_back(recent.records[i]);
  }
  return records;
}

absl::StatusOr<std::vector<Record>> EmbeddedLog::Read(PartitionId partition,
                                                      Lsn from,
                                                      size_t max_records) {
  REPRISE_RETURN_IF_ERROR(CheckPartition(partition, partitions_));
  const uint64_t tail =
      durable_tail_[partition.value()].load(std::memory_order_acquire);
  uint64_t start =
      std::max(from.value(), trim_point_[partition.value()].load());
  std::vector<Record> records;
  if (start >= tail || max_records == 0) return records;
  if (auto recent = ReadRecent(partition, start, tail, max_records)) {
    return *std::move(recent);
  }
  rocksdb::ReadOptions options;
  std::string upper = RecordKey(partition, tail);
  rocksdb::Slice upper_slice(upper);
  options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(options));
  for (it->Seek(RecordKey(partition, start));
       it->Valid() && records.size() < max_records; it->Next()) {
    records.push_back(
        {Lsn(DecodeBigEndian64(it->key().data() + 5)), it->value().ToString()});
  }
  REPRISE_RETURN_IF_ERROR(FromRocksStatus(it->status(), "log read"));
  return records;
}

absl::StatusOr<Lsn> EmbeddedLog::FindTail(PartitionId partition) {
  REPRISE_RETURN_IF_ERROR(CheckPartition(partition, partitions_));
  return Lsn(durable_tail_[partition.value()].load(std::memory_order_acquire));
}

absl::Status EmbeddedLog::Trim(PartitionId partition, Lsn before) {
  REPRISE_RETURN_IF_ERROR(CheckPartition(partition, partitions_));
  const uint64_t tail = durable_tail_[partition.value()].load();
  const uint64_t target = std::min(before.value(), tail);
  if (target <= trim_point_[partition.value()].load()) return absl::OkStatus();
  rocksdb::WriteBatch wb;
  std::string value;
  AppendBigEndian64(value, target);
  wb.Put(TrimKey(partition), value);
  wb.DeleteRange(
      TrimRangeStart(partition, trim_point_[partition.value()].load()),
      TrimRangeStart(partition, target));
  rocksdb::WriteOptions sync;
  sync.sync = true;
  REPRISE_RETURN_IF_ERROR(FromRocksStatus(db_->Write(sync, &wb), "log trim"));
  trim_point_[partition.value()].store(target);
  return absl::OkStatus();
}

}  // namespace reprise::log
