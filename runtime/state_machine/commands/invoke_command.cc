// InvokeCommand: creates the invocation with its input as journal entry 0.
// It runs at once, unless it is exclusive and another invocation holds its
// key: then it waits in the key's inbox, in order of arrival. A repeated
// command for an existing invocation (an idempotent request, a redelivery)
// creates nothing; if that invocation completed, its callers get the
// result again.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

absl::Status ApplyInvoke(const v1::InvokeCommand& command, int64_t now_ms,
                         storage::Transaction& txn,
                         std::vector<Action>& actions) {
  auto id = InvocationId::FromBytes(command.invocation_id());
  if (!id.ok()) return absl::OkStatus();  // not produced by this runtime
  REPRISE_ASSIGN_OR_RETURN(auto existing, txn.GetInvocationStatus(*id));
  if (existing.has_value()) {
    if (existing->state() == v1::INVOCATION_STATE_COMPLETED) {
      actions.push_back(InvocationCompletedAction{*id, existing->result()});
    }
    return absl::OkStatus();
  }

  v1::JournalEntry input;
  input.set_appended_at_ms(now_ms);
  input.mutable_input()->set_value(command.input());
  txn.PutJournalEntry(*id, 0, input);

  v1::InvocationStatus status;
  *status.mutable_target() = command.target();
  status.set_service_type(command.service_type());
  status.set_handler_type(command.handler_type());
  status.set_idempotency_key(command.idempotency_key());
  status.set_idempotency_retention_ms(command.idempotency_retention_ms());
  status.set_created_at_ms(now_ms);
  status.set_modified_at_ms(now_ms);
  status.set_journal_length(1);

  if (IsExclusive(status)) {
    REPRISE_ASSIGN_OR_RETURN(auto lock, txn.GetKeyLock(command.target()));
    if (lock.has_value()) {
      txn.PutQueued(command.target(), lock->next_inbox_seq(), *id);
      lock->set_next_inbox_seq(lock->next_inbox_seq() + 1);
      txn.PutKeyLock(command.target(), *lock);
      status.set_state(v1::INVOCATION_STATE_QUEUED);
      txn.PutInvocationStatus(*id, status);
      return absl::OkStatus();
    }
    v1::KeyLock held;
    held.set_holder(id->ToBytes());
    txn.PutKeyLock(command.target(), held);
  }
  status.set_state(v1::INVOCATION_STATE_INVOKED);
  status.set_attempt(1);
  txn.PutInvocationStatus(*id, status);
  actions.push_back(StartAttemptAction{*id, command.target(), 1, {input}});
  return absl::OkStatus();
}

}  // namespace reprise::state_machine
