// CancelCommand: cancels an invocation. One that has not started (queued
// behind its key, or scheduled) completes as CANCELLED. A started one
// (running, backing off, suspended, paused) gets the cancellation as the
// failure of every step it waits for; the callees of its pending calls are
// cancelled in turn, through the outbox. When it waits for nothing, the
// cancellation waits in its status for the next step that would wait
// (propose_entry_command). A suspended or paused invocation resumes, so
// its handler sees the failure and compensates. Cancelling a completed or
// unknown invocation, or one cancelled before, changes nothing.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

absl::Status ApplyCancel(const v1::CancelCommand& command, int64_t now_ms,
                         storage::Transaction& txn,
                         std::vector<Action>& actions) {
  auto id = InvocationId::FromBytes(command.invocation_id());
  if (!id.ok()) return absl::OkStatus();
  REPRISE_ASSIGN_OR_RETURN(auto status, txn.GetInvocationStatus(*id));
  if (!status.has_value() || status->cancelled()) return absl::OkStatus();
  status->set_cancelled(true);
  switch (status->state()) {
    case v1::INVOCATION_STATE_COMPLETED:
      return absl::OkStatus();
    case v1::INVOCATION_STATE_SCHEDULED:
      txn.DeleteTimer({status->next_retry_at_ms(), *id, kStartTimerIndex});
      [[fallthrough]];
    case v1::INVOCATION_STATE_QUEUED:
      // Its inbox row stays; the key's next release skips it.
      return CompleteInvocation(*id, *status, CancelledResult(), now_ms, txn,
                                actions);
    default:
      break;
  }
  REPRISE_ASSIGN_OR_RETURN(auto journal, txn.GetJournal(*id));
  std::vector<uint32_t> cancelled;
  for (uint32_t index = 0; index < journal.size(); ++index) {
    v1::JournalEntry& entry = journal[index];
    if (!CompletesLater(entry) || entry.completed_at_ms() != 0) continue;
    if (entry.has_sleep()) {
      txn.DeleteTimer({entry.sleep().wake_up_at_ms(), *id, index});
    } else if (entry.has_get_promise()) {
      txn.DeletePromiseWaiter(status->target(), entry.name(), *id, index);
    } else if (entry.has_call()) {
      // A workflow outlives its callers (others may have attached to it):
      // only the call is cancelled, not the workflow.
      auto callee = InvocationId::FromBytes(entry.call().invocation_id());
      if (callee.ok() &&
          entry.call().handler_type() != v1::HANDLER_TYPE_WORKFLOW) {
        v1::Command cancel;
        cancel.set_timestamp_ms(now_ms);
        cancel.mutable_cancel()->set_invocation_id(callee->ToBytes());
        REPRISE_RETURN_IF_ERROR(
            SendCommand(*callee, std::move(cancel), txn, actions));
      }
    }
    SetCancelled(entry);
    entry.set_completed_at_ms(now_ms);
    txn.PutJournalEntry(*id, index, entry);
    cancelled.push_back(index);
  }
  status->set_modified_at_ms(now_ms);
  status->set_cancellation_pending(cancelled.empty());
  if (status->state() == v1::INVOCATION_STATE_INVOKED) {
    txn.PutInvocationStatus(*id, *status);
    for (uint32_t index : cancelled) {
      actions.push_back(EntryCompletedAction{*id, std::move(journal[index]),
                                             status->attempt(), index});
    }
    return absl::OkStatus();
  }
  // Suspended or paused: a new attempt delivers the cancellation.
  return StartNextAttempt(*id, *status, now_ms, 0, txn, actions);
}

}  // namespace reprise::state_machine
