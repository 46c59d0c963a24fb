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

#include "runtime/common/ids.h"
#include "runtime/common/task_thread.h"
#include "runtime/log/log.h"

namespace reprise::timers {

class TimerService {
 public:
  explicit TimerService(log::Log& log);
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;

  // Appends a FireTimerCommand for entry `index` of `invocation_id` once the
  // clock reaches `wake_up_at_ms` (Unix epoch, milliseconds).
  void Schedule(PartitionId partition, const InvocationId& invocation_id,
                uint32_t index, int64_t wake_up_at_ms);

 private:
  log::Log& log_;
  TaskThread thread_;
};

}  // namespace reprise::timers
