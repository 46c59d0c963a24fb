// Helpers shared by the commands that end or start attempts.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

absl::StatusOr<std::optional<RunningInvocation>> FindRunningAttempt(
    storage::Transaction& txn, const std::string& invocation_id,
    uint32_t attempt) {
  auto id = InvocationId::FromBytes(invocation_id);
  if (!id.ok()) return std::nullopt;  // not produced by this runtime
  REPRISE_ASSIGN_OR_RETURN(auto status, txn.GetInvocationStatus(*id));
  if (!status.has_value() || status->state() != v1::INVOCATION_STATE_INVOKED ||
      status->attempt() != attempt) {
    return std::nullopt;
  }
  return RunningInvocation{*id, *std::move(status)};
}

void PinVersion(v1::InvocationStatus& status, const std::string& version) {
  if (status.pinned_version().empty()) status.set_pinned_version(version);
}

absl::Status StartNextAttempt(const InvocationId& id,
                              v1::InvocationStatus& status, int64_t now_ms,
                              int64_t not_before_ms, storage::Transaction& txn,
                              std::vector<Action>& actions) {
  status.set_state(v1::INVOCATION_STATE_INVOKED);
  status.set_attempt(status.attempt() + 1);
  status.clear_waiting_on();
  status.set_next_retry_at_ms(not_before_ms);
  status.set_modified_at_ms(now_ms);
  txn.PutInvocationStatus(id, status);
  REPRISE_ASSIGN_OR_RETURN(auto journal, txn.GetJournal(id));
  actions.push_back(StartAttemptAction{id, status.target(), status.attempt(),
                                       std::move(journal),
                                       status.pinned_version(), not_before_ms});
  return absl::OkStatus();
}

}  // namespace reprise::state_machine
