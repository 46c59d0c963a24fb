// FireTimerCommand: completes the sleep entry the timer belongs to, or
// starts a delayed invocation. A
// running attempt is told; a suspended invocation waiting on the entry resumes
// with a new attempt; a paused one only records the completion. Firing twice,
// or for a completed invocation, changes nothing but removing the timer.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

absl::Status ApplyFireTimer(const v1::FireTimerCommand& command, int64_t now_ms,
                            storage::Transaction& txn,
                            std::vector<Action>& actions) {
  auto id = InvocationId::FromBytes(command.invocation_id());
  if (!id.ok()) return absl::OkStatus();
  // The timer has fired, whatever it finds.
  txn.DeleteTimer({command.wake_up_at_ms(), *id, command.index()});
  REPRISE_ASSIGN_OR_RETURN(auto status, txn.GetInvocationStatus(*id));
  if (!status.has_value()) return absl::OkStatus();
  if (command.index() == kStartTimerIndex) {
    if (status->state() != v1::INVOCATION_STATE_SCHEDULED) {
      return absl::OkStatus();
    }
    REPRISE_ASSIGN_OR_RETURN(auto journal, txn.GetJournal(*id));
    return StartInvocation(*id, *status, std::move(journal), now_ms, txn,
                           actions);
  }
  REPRISE_ASSIGN_OR_RETURN(auto found,
                           txn.GetJournalEntry(*id, command.index()));
  if (!found.has_value() || !found->has_sleep() ||
      found->completed_at_ms() != 0 ||
      found->sleep().wake_up_at_ms() != command.wake_up_at_ms()) {
    return absl::OkStatus();
  }
  if (status->state() == v1::INVOCATION_STATE_COMPLETED) {
    return absl::OkStatus();
  }
  return CompleteEntry(*id, *status, command.index(), *std::move(found), now_ms,
                       txn, actions);
}

}  // namespace reprise::state_machine
