// LogTrimmer: keeps the log from growing without bound. A partition's log
// records are needed only until the state derived from them is durable:
// recovery re-applies the log from the store's applied Lsn, never from
// before it. So every `interval` the trimmer reads each partition's applied
// Lsn, makes the store's committed writes durable (one WAL sync covers every
// batch committed before it, those Lsns' batches included), and discards
// the records at or below them. A partition is trimmed only once at least
// `min_records` records can go: each trim leaves a range deletion that
// reads step over until compaction, so a slow partition does not pile up
// one per interval.
//
// Thread-safety: TrimOnce may be called from any thread; the periodic trim
// runs on the trimmer's own thread, so a processor never waits for its
// syncs. Ownership: borrows the log and the store, which must outlive it;
// the destructor stops the periodic trim.
#pragma once

#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/common/task_thread.h"
#include "runtime/log/log.h"
#include "runtime/storage/partition_store.h"

namespace reprise::partition {

class LogTrimmer {
 public:
  // Trims every `interval`, starting one interval from now.
  // REQUIRES: min_records >= 1.
  LogTrimmer(log::Log& log, storage::Store& store, absl::Duration interval,
             uint64_t min_records);
  LogTrimmer(const LogTrimmer&) = delete;
  LogTrimmer& operator=(const LogTrimmer&) = delete;

  // Trims each partition's log up to its durable applied Lsn now, if that
  // discards at least `min_records`. Skips the sync when none would.
  absl::Status TrimOnce();

 private:
  void Schedule();
  // Whether trimming `partition` below `before` discards enough.
  bool Due(uint32_t partition, Lsn before) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  log::Log& log_;
  storage::Store& store_;
  const absl::Duration interval_;
  const uint64_t min_records_;
  absl::Mutex mu_;
  // Per partition, the first Lsn kept by the last trim.
  std::vector<Lsn> trimmed_before_ ABSL_GUARDED_BY(mu_);
  // Last: destroyed first, so no trim runs on a half-destroyed trimmer.
  TaskThread thread_;
};

}  // namespace reprise::partition
