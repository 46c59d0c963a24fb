// SuspendCommand: the current attempt gave up its worker slot to wait for
// entries that are not complete. If one completed meanwhile (its completion
// was applied before this command), the next attempt starts at once;
// otherwise the invocation is suspended until one does (fire_timer_command,
// complete_call_command, complete_awakeable_command).
#include <algorithm>

#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

absl::Status ApplySuspend(const v1::SuspendCommand& command, int64_t now_ms,
                          storage::Transaction& txn,
                          std::vector<Action>& actions) {
  REPRISE_ASSIGN_OR_RETURN(
      auto running,
      FindRunningAttempt(txn, command.invocation_id(), command.attempt()));
  if (!running.has_value()) return absl::OkStatus();
  const InvocationId& id = running->id;
  v1::InvocationStatus& status = running->status;

  std::vector<uint32_t> pending;
  bool any_complete = false;
  for (uint32_t index : command.waiting_on()) {
    REPRISE_ASSIGN_OR_RETURN(auto entry, txn.GetJournalEntry(id, index));
    if (!entry.has_value() || !CompletesLater(*entry)) continue;
    if (entry->completed_at_ms() != 0) {
      any_complete = true;
    } else {
      pending.push_back(index);
    }
  }
  // With nothing left to wait for, a new attempt is the only way forward.
  if (any_complete || pending.empty()) {
    return StartNextAttempt(id, status, now_ms, 0, txn, actions);
  }
  std::sort(pending.begin(), pending.end());
  pending.erase(std::unique(pending.begin(), pending.end()), pending.end());
  status.set_state(v1::INVOCATION_STATE_SUSPENDED);
  status.clear_waiting_on();
  for (uint32_t index : pending) status.add_waiting_on(index);
  status.set_modified_at_ms(now_ms);
  txn.PutInvocationStatus(id, status);
  actions.push_back(InvocationParkedAction{id});
  return absl::OkStatus();
}

}  // namespace reprise::state_machine
