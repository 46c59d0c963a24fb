// CompletePromiseCommand: the ingress resolved or rejected a workflow's
// durable promise. A promise completes once: the first completion is kept
// (whether the workflow reached the promise yet or not), and every
// journal entry waiting for it completes with it.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

absl::StatusOr<bool> CompletePromise(const v1::Target& workflow,
                                     const std::string& name,
                                     const v1::Result& completion,
                                     int64_t now_ms, storage::Transaction& txn,
                                     std::vector<Action>& actions) {
  REPRISE_ASSIGN_OR_RETURN(auto existing, txn.GetPromise(workflow, name));
  if (existing.has_value()) return false;
  txn.PutPromise(workflow, name, completion);
  REPRISE_ASSIGN_OR_RETURN(auto waiters, txn.GetPromiseWaiters(workflow, name));
  for (const auto& [id, index] : waiters) {
    txn.DeletePromiseWaiter(workflow, name, id, index);
    REPRISE_ASSIGN_OR_RETURN(auto pending,
                             FindPendingEntry(txn, id.ToBytes(), index,
                                              v1::JournalEntry::kGetPromise));
    if (!pending.has_value() || pending->entry.name() != name) continue;
    *pending->entry.mutable_get_promise()->mutable_result() = completion;
    REPRISE_RETURN_IF_ERROR(CompleteEntry(pending->id, pending->status, index,
                                          std::move(pending->entry), now_ms,
                                          txn, actions));
  }
  return true;
}

absl::Status ApplyCompletePromise(const v1::CompletePromiseCommand& command,
                                  int64_t now_ms, storage::Transaction& txn,
                                  std::vector<Action>& actions) {
  return CompletePromise(command.workflow(), command.name(),
                         command.completion(), now_ms, txn, actions)
      .status();
}

}  // namespace reprise::state_machine
