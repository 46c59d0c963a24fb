// LogTrimmer: keeps the log from growing without bound. A partition's log
// records are needed only until the state derived from them is durable:
// recovery re-applies the log from the store's applied Lsn, never from
// before it. So every `interval` the trimmer reads each partition's applied
// Lsn, makes the store's committed writes durable (one WAL sync covers every
// batch committed before it, those Lsns' batches included), and discards
// the records at or below them.
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
  LogTrimmer(log::Log& log, storage::Store& store, absl::Duration interval);
  LogTrimmer(const LogTrimmer&) = delete;
  LogTrimmer& operator=(const LogTrimmer&) = delete;

  // Trims each partition's log up to its durable applied Lsn now. Skips
  // the sync when nothing was applied since the last trim.
  absl::Status TrimOnce();

 private:
  void Schedule();

  log::Log& log_;
  storage::Store& store_;
  const absl::Duration interval_;
  absl::Mutex mu_;
  // Per partition, the first Lsn kept by the last trim.
  std::vector<Lsn> trimmed_before_ ABSL_GUARDED_BY(mu_);
  // Last: destroyed first, so no trim runs on a half-destroyed trimmer.
  TaskThread thread_;
};

}  // namespace reprise::partition
