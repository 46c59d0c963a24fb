// CompleteCallCommand: the callee of a call entry completed (from its
// partition's outbox, or applied right after the callee's completion when
// on this partition). Completes the entry like a fired timer; a
// repeated delivery finds the entry complete, and a stale one (another
// callee) finds another callee named in it: neither changes anything.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

absl::Status ApplyCompleteCall(const v1::CompleteCallCommand& command,
                               int64_t now_ms, storage::Transaction& txn,
                               std::vector<Action>& actions) {
  REPRISE_ASSIGN_OR_RETURN(
      auto pending, FindPendingEntry(txn, command.invocation_id(),
                                     command.index(), v1::JournalEntry::kCall));
  if (!pending.has_value() ||
      pending->entry.call().invocation_id() != command.callee_invocation_id()) {
    return absl::OkStatus();
  }
  *pending->entry.mutable_call()->mutable_result() = command.result();
  return CompleteEntry(pending->id, pending->status, command.index(),
                       std::move(pending->entry), now_ms, txn, actions);
}

}  // namespace reprise::state_machine
