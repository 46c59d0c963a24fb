// CompleteAwakeableCommand: an outside system resolved or rejected an
// awakeable through the ingress. Completes the entry like a fired timer; a
// second completion (a race the ingress's check could not see) changes
// nothing.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

absl::Status ApplyCompleteAwakeable(const v1::CompleteAwakeableCommand& command,
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
  if (!entry.has_value() || !entry->has_awakeable() ||
      entry->completed_at_ms() != 0) {
    return absl::OkStatus();
  }
  *entry->mutable_awakeable()->mutable_result() = command.result();
  return CompleteEntry(*id, *status, command.index(), *std::move(entry), now_ms,
                       txn, actions);
}

}  // namespace reprise::state_machine
