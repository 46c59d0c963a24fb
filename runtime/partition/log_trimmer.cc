#include "runtime/partition/log_trimmer.h"

#include "absl/strings/str_format.h"
#include "runtime/common/logging.h"
#include "runtime/common/status_macros.h"

namespace reprise::partition {

LogTrimmer::LogTrimmer(log::Log& log, storage::Store& store,
                       absl::Duration interval, uint64_t min_records)
    : log_(log),
      store_(store),
      interval_(interval),
      min_records_(min_records),
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

bool LogTrimmer::Due(uint32_t partition, Lsn before) const {
  return before.value() >= trimmed_before_[partition].value() + min_records_;
}

absl::Status LogTrimmer::TrimOnce() {
  absl::MutexLock lock(&mu_);
  // Read before the sync: each of these Lsns was committed, so its batch
  // is in the WAL the sync makes durable.
  std::vector<Lsn> before(trimmed_before_.size());
  bool any = false;
  for (uint32_t p = 0; p < before.size(); ++p) {
    REPRISE_ASSIGN_OR_RETURN(Lsn applied,
                             store_.Reader(PartitionId(p))->GetAppliedLsn());
    before[p] = Lsn(applied.value() + 1);
    any |= Due(p, before[p]);
  }
  if (!any) return absl::OkStatus();
  REPRISE_RETURN_IF_ERROR(store_.SyncWal());
  for (uint32_t p = 0; p < before.size(); ++p) {
    if (!Due(p, before[p])) continue;
    REPRISE_RETURN_IF_ERROR(log_.Trim(PartitionId(p), before[p]));
    trimmed_before_[p] = before[p];
    Log(LogLevel::kDebug, "partition %d: log trimmed below Lsn %d", p,
        before[p].value());
  }
  return absl::OkStatus();
}

}  // namespace reprise::partition
