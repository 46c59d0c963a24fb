// The operator commands besides cancel (cancel_command.cc): pause, resume,
// kill, retry-now, purge and restart, which apply only where CheckControl
// allows it, the same check the admin API makes before appending them, so
// a command that raced with a state change is dropped, never half
// applied; and state edits and the retention sweep, which always apply.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"
#include "runtime/state_machine/control.h"

namespace reprise::state_machine {
namespace {

v1::Result KilledResult() {
  v1::Result result;
  result.mutable_failure()->set_code(
      static_cast<uint32_t>(absl::StatusCode::kAborted));
  result.mutable_failure()->set_message("the invocation was killed");
  return result;
}

}  // namespace

absl::StatusOr<std::optional<RunningInvocation>> FindControlled(
    const v1::Command& command, const std::string& invocation_id,
    int64_t now_ms, storage::Transaction& txn) {
  auto id = InvocationId::FromBytes(invocation_id);
  if (!id.ok()) return std::nullopt;
  REPRISE_ASSIGN_OR_RETURN(auto status, txn.GetInvocationStatus(*id));
  if (!status.has_value() ||
      !CheckControl(command, *id, *status, now_ms).ok()) {
    return std::nullopt;
  }
  return RunningInvocation{*id, *std::move(status)};
}

// Running or backing off: the attempt stops at once (its later proposals
// find the invocation paused and are dropped). Suspended: completions
// that arrive meanwhile are journaled and wait for the resume.
absl::Status ApplyPause(const v1::Command& command, int64_t now_ms,
                        storage::Transaction& txn,
                        std::vector<Action>& actions) {
  REPRISE_ASSIGN_OR_RETURN(
      auto found,
      FindControlled(command, command.pause().invocation_id(), now_ms, txn));
  if (!found.has_value()) return absl::OkStatus();
  v1::InvocationStatus& status = found->status;
  if (status.state() == v1::INVOCATION_STATE_INVOKED) {
    actions.push_back(AbortAttemptAction{found->id, status.attempt(),
                                         "the invocation was paused"});
  }
  status.set_state(v1::INVOCATION_STATE_PAUSED);
  status.set_paused_by_operator(true);
  status.set_next_retry_at_ms(0);
  status.clear_waiting_on();
  status.set_modified_at_ms(now_ms);
  txn.PutInvocationStatus(found->id, status);
  return absl::OkStatus();
}

// A new attempt now, with a fresh retry budget (a paused invocation has
// usually spent its own).
absl::Status ApplyResume(const v1::Command& command, int64_t now_ms,
                         storage::Transaction& txn,
                         std::vector<Action>& actions) {
  REPRISE_ASSIGN_OR_RETURN(
      auto found,
      FindControlled(command, command.resume().invocation_id(), now_ms, txn));
  if (!found.has_value()) return absl::OkStatus();
  v1::InvocationStatus& status = found->status;
  if (!command.resume().version().empty()) {
    status.set_pinned_version(command.resume().version());
  }
  status.set_failures(0);
  status.set_paused_by_operator(false);
  return StartNextAttempt(found->id, status, now_ms, 0, txn, actions);
}

// Completes it as ABORTED at once: a running attempt is stopped, its waits
// are dropped and its callees killed in turn; no handler code runs again.
absl::Status ApplyKill(const v1::Command& command, int64_t now_ms,
                       storage::Transaction& txn,
                       std::vector<Action>& actions) {
  REPRISE_ASSIGN_OR_RETURN(
      auto found,
      FindControlled(command, command.kill().invocation_id(), now_ms, txn));
  if (!found.has_value()) return absl::OkStatus();
  const InvocationId& id = found->id;
  v1::InvocationStatus& status = found->status;
  switch (status.state()) {
    case v1::INVOCATION_STATE_SCHEDULED:
      txn.DeleteTimer({status.next_retry_at_ms(), id, kStartTimerIndex});
      break;
    case v1::INVOCATION_STATE_QUEUED:
      break;  // the key's next release skips its inbox row
    default: {
      if (status.state() == v1::INVOCATION_STATE_INVOKED) {
        actions.push_back(AbortAttemptAction{id, status.attempt(),
                                             "the invocation was killed"});
      }
      REPRISE_ASSIGN_OR_RETURN(auto journal, txn.GetJournal(id));
      v1::Command propagate;
      propagate.set_timestamp_ms(now_ms);
      propagate.mutable_kill();
      REPRISE_RETURN_IF_ERROR(
          StopWaiting(id, status, journal, propagate, txn, actions).status());
      break;
    }
  }
  status.clear_waiting_on();
  return CompleteInvocation(id, status, KilledResult(), now_ms, txn, actions);
}

// The next attempt, which waits for its back-off, starts now instead: a
// newer attempt number supersedes the delayed one.
absl::Status ApplyRetryNow(const v1::Command& command, int64_t now_ms,
                           storage::Transaction& txn,
                           std::vector<Action>& actions) {
  REPRISE_ASSIGN_OR_RETURN(
      auto found, FindControlled(command, command.retry_now().invocation_id(),
                                 now_ms, txn));
  if (!found.has_value()) return absl::OkStatus();
  return StartNextAttempt(found->id, found->status, now_ms, 0, txn, actions);
}

absl::Status ApplyPurge(const v1::Command& command, int64_t now_ms,
                        storage::Transaction& txn) {
  REPRISE_ASSIGN_OR_RETURN(
      auto found,
      FindControlled(command, command.purge().invocation_id(), now_ms, txn));
  if (!found.has_value()) return absl::OkStatus();
  if (std::optional<int64_t> expires_at_ms = ExpiresAt(found->status)) {
    txn.DeleteExpiry(*expires_at_ms, found->id);
  }
  return txn.DeleteInvocation(found->id);
}

// A new invocation of the same target and partition, with the journal
// prefix [0, from): its replay returns the recorded results of those steps
// and runs the rest again. State the old one wrote stays as it is.
absl::Status ApplyRestart(const v1::Command& command, int64_t now_ms,
                          storage::Transaction& txn,
                          std::vector<Action>& actions) {
  const v1::RestartCommand& restart = command.restart();
  REPRISE_ASSIGN_OR_RETURN(
      auto found,
      FindControlled(command, restart.invocation_id(), now_ms, txn));
  if (!found.has_value()) return absl::OkStatus();
  auto new_id = InvocationId::FromBytes(restart.new_invocation_id());
  // The new invocation must live on this partition.
  if (!new_id.ok() || new_id->partition_key() != found->id.partition_key()) {
    return absl::OkStatus();
  }
  REPRISE_ASSIGN_OR_RETURN(auto existing, txn.GetInvocationStatus(*new_id));
  if (existing.has_value()) return absl::OkStatus();  // a repeat
  REPRISE_ASSIGN_OR_RETURN(auto journal, txn.GetJournal(found->id));
  if (!CheckRestartPrefix(journal, restart.from()).ok()) {
    return absl::OkStatus();
  }
  journal.resize(restart.from());
  const v1::InvocationStatus& old = found->status;
  v1::InvocationStatus status;
  *status.mutable_target() = old.target();
  status.set_service_type(old.service_type());
  status.set_handler_type(old.handler_type());
  status.set_created_at_ms(now_ms);
  status.set_retention_ms(old.retention_ms());
  status.set_subscription(old.subscription());
  status.set_journal_length(restart.from());
  // Replaying recorded steps needs the code that recorded them.
  if (restart.from() > 1) status.set_pinned_version(old.pinned_version());
  for (uint32_t index = 0; index < journal.size(); ++index) {
    txn.PutJournalEntry(*new_id, index, journal[index]);
  }
  return StartInvocation(*new_id, status, std::move(journal), now_ms, txn,
                         actions);
}

// The admin API checked the key's lock before appending; here the edit
// applies as it comes, so it is never lost to a race with a handler.
absl::Status ApplyEditState(const v1::EditStateCommand& command,
                            storage::Transaction& txn) {
  const v1::Target& object = command.object();
  if (!command.clear()) {
    txn.PutState(object, command.name(), command.value());
  } else if (!command.name().empty()) {
    txn.DeleteState(object, command.name());
  } else {
    REPRISE_RETURN_IF_ERROR(txn.DeleteAllState(object));
  }
  return absl::OkStatus();
}

// Removes the completed invocations due by `now_ms`, soonest first. A
// workflow's run takes its workflow's state and promises with it: the
// workflow id may then run again from scratch.
absl::Status ApplyExpire(int64_t now_ms, storage::Transaction& txn) {
  std::vector<std::pair<int64_t, InvocationId>> due;
  REPRISE_RETURN_IF_ERROR(
      txn.ForEachExpiry(now_ms, [&](int64_t at, const InvocationId& id) {
        due.emplace_back(at, id);
        return due.size() < kMaxExpiredPerCommand;
      }));
  for (const auto& [at, id] : due) {
    txn.DeleteExpiry(at, id);
    REPRISE_ASSIGN_OR_RETURN(auto status, txn.GetInvocationStatus(id));
    // A row of an invocation purged (and maybe created again) since.
    if (!status.has_value() || ExpiresAt(*status) != at) continue;
    if (status->handler_type() == v1::HANDLER_TYPE_WORKFLOW) {
      REPRISE_RETURN_IF_ERROR(txn.DeleteAllState(status->target()));
      REPRISE_RETURN_IF_ERROR(txn.DeleteAllPromises(status->target()));
    }
    REPRISE_RETURN_IF_ERROR(txn.DeleteInvocation(id));
  }
  return absl::OkStatus();
}

}  // namespace reprise::state_machine
