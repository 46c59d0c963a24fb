// ProposeEntryCommand: appends a journal entry of the current attempt. An
// entry is taken only at the invocation's next index, which fences out
// duplicates. A sleep entry registers its durable timer; an output entry
// completes the invocation; every other entry is acknowledged to the worker.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {
namespace {

// What a worker may propose. The input is written by the invoke command;
// completions are written by the runtime.
bool Proposable(const v1::JournalEntry& entry) {
  switch (entry.kind_case()) {
    case v1::JournalEntry::kOutput:
    case v1::JournalEntry::kRun:
    case v1::JournalEntry::kSleep:
    case v1::JournalEntry::kNow:
      return entry.completed_at_ms() == 0;
    case v1::JournalEntry::kInput:
    case v1::JournalEntry::KIND_NOT_SET:
      break;
  }
  return false;
}

}  // namespace

absl::Status ApplyProposeEntry(const v1::ProposeEntryCommand& command,
                               int64_t now_ms, storage::Transaction& txn,
                               std::vector<Action>& actions) {
  REPRISE_ASSIGN_OR_RETURN(
      auto running,
      FindRunningAttempt(txn, command.invocation_id(), command.attempt()));
  if (!running.has_value() ||
      command.index() != running->status.journal_length() ||
      !Proposable(command.entry())) {
    return absl::OkStatus();  // stale, duplicate, or not a worker's to write
  }
  const InvocationId& id = running->id;
  v1::InvocationStatus& status = running->status;

  v1::JournalEntry entry = command.entry();
  entry.set_appended_at_ms(now_ms);
  txn.PutJournalEntry(id, command.index(), entry);

  PinVersion(status, command.worker_version());
  status.set_journal_length(command.index() + 1);
  status.set_modified_at_ms(now_ms);
  if (entry.has_output()) {
    status.set_state(v1::INVOCATION_STATE_COMPLETED);
    status.set_completed_at_ms(now_ms);
    *status.mutable_result() = entry.output().result();
    txn.PutInvocationStatus(id, status);
    actions.push_back(InvocationCompletedAction{id, status.result()});
    return absl::OkStatus();
  }
  txn.PutInvocationStatus(id, status);
  if (entry.has_sleep()) {
    storage::Timer timer{entry.sleep().wake_up_at_ms(), id, command.index()};
    txn.PutTimer(timer);
    actions.push_back(
        RegisterTimerAction{id, command.index(), timer.wake_up_at_ms});
  }
  actions.push_back(EntryAckAction{id, command.attempt(), command.index()});
  return absl::OkStatus();
}

}  // namespace reprise::state_machine
