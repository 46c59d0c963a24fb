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
#include "runtime/state_machine/action.h"

namespace reprise::timers {

class TimerService {
 public:
  // How early a sleep's timer fires by default. Firing takes time: on our
  // machine about 1.2 ms from the timer's wake-up to the worker, of which
  // an fsync after 100 ms of idle disk is 0.45-0.65 ms. Fired this early,
  // the completion is durable and at the worker when the sleep is due, and
  // the worker resumes the handler then (worker.proto, Completion).
  static constexpr absl::Duration kDefaultSleepLead = absl::Milliseconds(2);

  explicit TimerService(log::Log& log,
                        absl::Duration sleep_lead = kDefaultSleepLead);
  TimerService(const TimerService&) = delete;
  TimerService& operator=(const TimerService&) = delete;

  // Appends a FireTimerCommand for entry `index` of `invocation_id`,
  // stamped `wake_up_at_ms` (Unix epoch, milliseconds), once the clock
  // reaches that time; a sleep's `sleep_lead` earlier. A delayed
  // invocation's start timer (state_machine::kStartTimerIndex) has no
  // lead: it must not start early.
  void Schedule(PartitionId partition, const InvocationId& invocation_id,
                uint32_t index, int64_t wake_up_at_ms);

 private:
  log::Log& log_;
  const absl::Duration sleep_lead_;
  TaskThread thread_;
};

}  // namespace reprise::timers
