// FireTimerCommand: completes the sleep entry the timer belongs to, or, for
// the retention timer of a completed idempotent invocation, removes it. A
// running attempt is told; a suspended invocation waiting on the entry resumes
// with a new attempt; a paused one only records the completion. Firing twice,
// or for a completed invocation, changes nothing but removing the timer.
#include <algorithm>

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
  if (command.index() == kRetentionTimerIndex) {
    if (status->state() != v1::INVOCATION_STATE_COMPLETED) {
      return absl::OkStatus();
    }
    return txn.DeleteInvocation(*id);
  }
  REPRISE_ASSIGN_OR_RETURN(auto found,
                           txn.GetJournalEntry(*id, command.index()));
  if (!found.has_value() || !found->has_sleep() ||
      found->completed_at_ms() != 0 ||
      found->sleep().wake_up_at_ms() != command.wake_up_at_ms()) {
    return absl::OkStatus();
  }
  v1::JournalEntry& entry = *found;
  if (status->state() == v1::INVOCATION_STATE_COMPLETED) {
    return absl::OkStatus();
  }
  entry.set_completed_at_ms(now_ms);
  txn.PutJournalEntry(*id, command.index(), entry);
  status->set_modified_at_ms(now_ms);

  switch (status->state()) {
    case v1::INVOCATION_STATE_INVOKED:
      txn.PutInvocationStatus(*id, *status);
      actions.push_back(
          EntryCompletedAction{*id, entry, status->attempt(), command.index()});
      break;
    case v1::INVOCATION_STATE_SUSPENDED:
      if (std::find(status->waiting_on().begin(), status->waiting_on().end(),
                    command.index()) != status->waiting_on().end()) {
        return StartNextAttempt(*id, *status, now_ms, 0, txn, actions);
      }
      txn.PutInvocationStatus(*id, *status);
      break;
    default:  // paused: the completion waits in the journal for a resume
      txn.PutInvocationStatus(*id, *status);
      break;
  }
  return absl::OkStatus();
}

}  // namespace reprise::state_machine
