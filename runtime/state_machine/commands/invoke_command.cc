// InvokeCommand: creates the invocation with its input as journal entry 0.
// It runs at once, unless it is exclusive and another invocation holds its
// key: then it waits in the key's inbox, in order of arrival; a delayed one
// is scheduled on a timer first. A repeated
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
  if (command.has_caller()) *status.mutable_caller() = command.caller();
  status.set_created_at_ms(now_ms);
  status.set_modified_at_ms(now_ms);
  status.set_journal_length(1);

  if (command.invoke_at_ms() > now_ms) {
    status.set_state(v1::INVOCATION_STATE_SCHEDULED);
    status.set_next_retry_at_ms(command.invoke_at_ms());
    txn.PutInvocationStatus(*id, status);
    txn.PutTimer({command.invoke_at_ms(), *id, kStartTimerIndex});
    actions.push_back(
        RegisterTimerAction{*id, kStartTimerIndex, command.invoke_at_ms()});
    return absl::OkStatus();
  }
  return StartInvocation(*id, status, {std::move(input)}, now_ms, txn, actions);
}

}  // namespace reprise::state_machine
