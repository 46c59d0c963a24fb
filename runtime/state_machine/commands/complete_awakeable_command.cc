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
  REPRISE_ASSIGN_OR_RETURN(
      auto pending,
      FindPendingEntry(txn, command.invocation_id(), command.index(),
                       v1::JournalEntry::kAwakeable));
  if (!pending.has_value()) return absl::OkStatus();
  *pending->entry.mutable_awakeable()->mutable_result() = command.result();
  return CompleteEntry(pending->id, pending->status, command.index(),
                       std::move(pending->entry), now_ms, txn, actions);
}

}  // namespace reprise::state_machine
