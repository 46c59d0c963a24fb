#include "runtime/timers/timer_service.h"

#include "reprise/v1/log.pb.h"
#include "runtime/common/clock.h"

namespace reprise::timers {

void TimerService::Schedule(PartitionId partition,
                            const InvocationId& invocation_id, uint32_t index,
                            int64_t wake_up_at_ms) {
  thread_.PostAt(
      absl::FromUnixMillis(wake_up_at_ms),
      [this, partition, invocation_id, index, wake_up_at_ms] {
        v1::Command command;
        // Never earlier than the timer, even if the clock stepped back.
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
