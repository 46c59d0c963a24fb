#include "runtime/timers/timer_service.h"

#include <sys/prctl.h>

#include "reprise/v1/log.pb.h"
#include "runtime/common/clock.h"

namespace reprise::timers {

TimerService::TimerService(log::Log& log, absl::Duration sleep_lead)
    : log_(log), sleep_lead_(sleep_lead) {
  // The kernel may defer a thread's timed wake-up by its timer slack (50 us
  // by default) to coalesce it with others; a timer should fire on time.
  // Measured on the 2-core VM, a 100 ms wait overran by 188 us (p50) with
  // the default slack and by 149 us with none (1 ns: 0 would restore the
  // default).
  thread_.Post([] { prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); });
}

void TimerService::Schedule(PartitionId partition,
                            const InvocationId& invocation_id, uint32_t index,
                            int64_t wake_up_at_ms) {
  const absl::Duration lead = index == state_machine::kStartTimerIndex
                                  ? absl::ZeroDuration()
                                  : sleep_lead_;
  thread_.PostAt(
      absl::FromUnixMillis(wake_up_at_ms) - lead,
      [this, partition, invocation_id, index, wake_up_at_ms] {
        v1::Command command;
        // Never earlier than the timer, whether it fires early or the clock
        // stepped back.
        command.set_timestamp_ms(std::max(NowMillis(), wake_up_at_ms));
        auto* fire = command.mutable_fire_timer();
        fire->set_invocation_id(invocation_id.ToBytes());
        fire->set_index(index);
        fire->set_wake_up_at_ms(wake_up_at_ms);
        log_.Append(partition, command.SerializeAsString(),
                    log::StopProcessOnFailure("firing a timer"));
      });
}

}  // namespace reprise::timers
