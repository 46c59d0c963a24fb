// TimerService: fires durable timers. The timers themselves live in each
// partition's timer table (written by the state machine in the same batch
// as the sleep entry they belong to); the leader schedules them here, and a
// due timer appends a FireTimerCommand to its partition's log. Firing is a
// command, so it is ordered with everything else the partition does and a
// crash between the append and its application cannot lose or repeat it:
// the command is applied once, and a timer whose command was not durable is
// still in the table and is scheduled again on recovery.
//
// Thread-safety: Schedule may be called from any thread. Ownership: borrows
// the log, which must outlive the service; the destructor drops timers that
// are not due (they stay in their tables).
#pragma once

#include "absl/time/time.h"
#include "runtime/common/ids.h"
#include "runtime/common/task_thread.h"
#include "runtime/log/log.h"

namespace reprise::timers {

class TimerService {
 public:
  explicit TimerService(log::Log& log);
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;

  // How early a sleep's timer fires. Firing takes time: on our machine
  // about 1.2 ms from the timer's wake-up to the worker, of which an fsync
  // after 100 ms of idle disk is 0.45-0.65 ms. Fired this early, the
  // completion is durable and at the worker when the sleep is due, and the
  // worker resumes the handler then (worker.proto, Completion). The command
  // is stamped with the due time all the same.
  static constexpr absl::Duration kSleepLead = absl::Milliseconds(2);

  // Appends a FireTimerCommand for entry `index` of `invocation_id`,
  // stamped `wake_up_at_ms` (Unix epoch, milliseconds), once the clock
  // reaches `lead` before that time.
  void Schedule(PartitionId partition, const InvocationId& invocation_id,
                uint32_t index, int64_t wake_up_at_ms,
                absl::Duration lead = absl::ZeroDuration());

 private:
  log::Log& log_;
  TaskThread thread_;
};

}  // namespace reprise::timers
