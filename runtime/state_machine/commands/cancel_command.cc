// CancelCommand: cancels an invocation. One that has not started (queued
// behind its key, or scheduled) completes as CANCELLED. A started one
// (running, backing off, suspended, paused) gets the cancellation as the
// failure of every step it waits for; the callees of its pending calls are
// cancelled in turn (SendCommand: at once on this partition, else through
// the outbox). When it waits for nothing, the
// cancellation waits in its status for the next step that would wait
// (propose_entry_command). A suspended or paused invocation resumes, so
// its handler sees the failure and compensates. Cancelling a completed or
// unknown invocation, or one cancelled before, changes nothing.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

absl::Status ApplyCancel(const v1::Command& command, int64_t now_ms,
                         storage::Transaction& txn,
                         std::vector<Action>& actions) {
  REPRISE_ASSIGN_OR_RETURN(
      auto found,
      FindControlled(command, command.cancel().invocation_id(), now_ms, txn));
  if (!found.has_value()) return absl::OkStatus();
  const InvocationId& id = found->id;
  v1::InvocationStatus& status = found->status;
  status.set_cancelled(true);
  switch (status.state()) {
    case v1::INVOCATION_STATE_SCHEDULED:
      txn.DeleteTimer({status.next_retry_at_ms(), id, kStartTimerIndex});
      [[fallthrough]];
    case v1::INVOCATION_STATE_QUEUED:
      // Its inbox row stays; the key's next release skips it.
      return CompleteInvocation(id, status, CancelledResult(), now_ms, txn,
                                actions);
    default:
      break;
  }
  REPRISE_ASSIGN_OR_RETURN(auto journal, txn.GetJournal(id));
  v1::Command propagate;
  propagate.set_timestamp_ms(now_ms);
  propagate.mutable_cancel();
  REPRISE_ASSIGN_OR_RETURN(
      std::vector<uint32_t> cancelled,
      StopWaiting(id, status, journal, propagate, txn, actions));
  for (uint32_t index : cancelled) {
    SetCancelled(journal[index]);
    journal[index].set_completed_at_ms(now_ms);
    txn.PutJournalEntry(id, index, journal[index]);
  }
  status.set_modified_at_ms(now_ms);
  status.set_cancellation_pending(cancelled.empty());
  if (status.state() == v1::INVOCATION_STATE_INVOKED) {
    txn.PutInvocationStatus(id, status);
    for (uint32_t index : cancelled) {
      actions.push_back(EntryCompletedAction{id, std::move(journal[index]),
                                             status.attempt(), index});
    }
    return absl::OkStatus();
  }
  // Suspended or paused: a new attempt delivers the cancellation.
  return StartNextAttempt(id, status, now_ms, 0, txn, actions);
}

}  // namespace reprise::state_machine
