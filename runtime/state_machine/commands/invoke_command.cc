// InvokeCommand: creates the invocation with its input as journal entry 0 and
// asks the leader to start the first attempt.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

absl::Status ApplyInvoke(const v1::InvokeCommand& command, int64_t now_ms,
                         storage::Transaction& txn,
                         std::vector<Action>& actions) {
  auto id = InvocationId::FromBytes(command.invocation_id());
  if (!id.ok()) return absl::OkStatus();  // not produced by this runtime
  REPRISE_ASSIGN_OR_RETURN(auto existing, txn.GetInvocationStatus(*id));
  if (existing.has_value()) return absl::OkStatus();  // duplicate append

  v1::JournalEntry input;
  input.set_appended_at_ms(now_ms);
  input.mutable_input()->set_value(command.input());
  txn.PutJournalEntry(*id, 0, input);

  v1::InvocationStatus status;
  *status.mutable_target() = command.target();
  status.set_service_type(command.service_type());
  status.set_state(v1::INVOCATION_STATE_INVOKED);
  status.set_created_at_ms(now_ms);
  status.set_modified_at_ms(now_ms);
  status.set_journal_length(1);
  status.set_attempt(1);
  txn.PutInvocationStatus(*id, status);

  actions.push_back(StartAttemptAction{*id, command.target(), 1, {input}});
  return absl::OkStatus();
}

}  // namespace reprise::state_machine
