// ProposeEntryCommand: appends an attempt's journal entry. An entry is taken
// only at the invocation's next index, which fences out proposals of older
// attempts and duplicates. An output entry completes the invocation.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

absl::Status ApplyProposeEntry(const v1::ProposeEntryCommand& command,
                               int64_t now_ms, storage::Transaction& txn,
                               std::vector<Action>& actions) {
  auto id = InvocationId::FromBytes(command.invocation_id());
  if (!id.ok()) return absl::OkStatus();
  REPRISE_ASSIGN_OR_RETURN(auto status, txn.GetInvocationStatus(*id));
  if (!status.has_value() || status->state() != v1::INVOCATION_STATE_INVOKED ||
      command.index() != status->journal_length() ||
      command.entry().kind_case() != v1::JournalEntry::kOutput) {
    // Unknown, finished, stale, or not an entry a worker may propose (only
    // the output, in this protocol version).
    return absl::OkStatus();
  }

  v1::JournalEntry entry = command.entry();
  entry.set_appended_at_ms(now_ms);
  txn.PutJournalEntry(*id, command.index(), entry);

  status->set_journal_length(command.index() + 1);
  status->set_modified_at_ms(now_ms);
  status->set_state(v1::INVOCATION_STATE_COMPLETED);
  status->set_completed_at_ms(now_ms);
  *status->mutable_result() = entry.output().result();
  txn.PutInvocationStatus(*id, *status);

  actions.push_back(InvocationCompletedAction{*id, status->result()});
  return absl::OkStatus();
}

}  // namespace reprise::state_machine
