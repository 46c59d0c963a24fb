// CompleteCallCommand: the callee of a call entry completed (delivered from
// its partition's outbox). Completes the entry like a fired timer; a
// repeated delivery finds the entry complete and changes nothing.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

absl::Status ApplyCompleteCall(const v1::CompleteCallCommand& command,
                               int64_t now_ms, storage::Transaction& txn,
                               std::vector<Action>& actions) {
  auto id = InvocationId::FromBytes(command.invocation_id());
  if (!id.ok()) return absl::OkStatus();
  REPRISE_ASSIGN_OR_RETURN(auto status, txn.GetInvocationStatus(*id));
  if (!status.has_value() ||
      status->state() == v1::INVOCATION_STATE_COMPLETED) {
    return absl::OkStatus();
  }
  REPRISE_ASSIGN_OR_RETURN(auto entry,
                           txn.GetJournalEntry(*id, command.index()));
  if (!entry.has_value() || !entry->has_call() ||
      entry->completed_at_ms() != 0 ||
      entry->call().invocation_id() != command.callee_invocation_id()) {
    return absl::OkStatus();
  }
  *entry->mutable_call()->mutable_result() = command.result();
  return CompleteEntry(*id, *status, command.index(), *std::move(entry), now_ms,
                       txn, actions);
}

}  // namespace reprise::state_machine
