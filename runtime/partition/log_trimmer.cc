#include "runtime/partition/log_trimmer.h"

#include "absl/strings/str_format.h"
#include "runtime/common/logging.h"
#include "runtime/common/status_macros.h"

namespace reprise::partition {

LogTrimmer::LogTrimmer(log::Log& log, storage::Store& store,
                       absl::Duration interval)
    : log_(log),
      store_(store),
      interval_(interval),
      trimmed_before_(log.partitions(), Lsn(1)) {
  Schedule();
}

void LogTrimmer::Schedule() {
  thread_.PostAt(absl::Now() + interval_, [this] {
    if (absl::Status trimmed = TrimOnce(); !trimmed.ok()) {
      // The log only grows until the next attempt; nothing is lost.
      Log(LogLevel::kWarning, "trimming the log: %s", trimmed.ToString());
    }
    Schedule();
  });
}

absl::Status LogTrimmer::TrimOnce() {
  absl::MutexLock lock(&mu_);
  // Read before the sync: each of these Lsns was committed, so its batch
  // is in the WAL the sync makes durable.
  std::vector<Lsn> applied(trimmed_before_.size());
  bool advanced = false;
  for (uint32_t p = 0; p < applied.size(); ++p) {
    REPRISE_ASSIGN_OR_RETURN(applied[p],
                             store_.Reader(PartitionId(p))->GetAppliedLsn());
    advanced |= applied[p].value() + 1 > trimmed_before_[p].value();
  }
  if (!advanced) return absl::OkStatus();
  REPRISE_RETURN_IF_ERROR(store_.SyncWal());
  for (uint32_t p = 0; p < applied.size(); ++p) {
    const Lsn before(applied[p].value() + 1);
    if (before <= trimmed_before_[p]) continue;
    REPRISE_RETURN_IF_ERROR(log_.Trim(PartitionId(p), before));
    trimmed_before_[p] = before;
    Log(LogLevel::kDebug, "partition %d: log trimmed below Lsn %d", p,
        before.value());
  }
  return absl::OkStatus();
}

}  // namespace reprise::partition
