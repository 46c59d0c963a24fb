#include "runtime/state_machine/control.h"

#include "absl/strings/str_format.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

std::string StateName(const v1::InvocationStatus& status, int64_t now_ms) {
  switch (status.state()) {
    case v1::INVOCATION_STATE_INVOKED:
      return status.next_retry_at_ms() > now_ms ? "backing-off" : "running";
    case v1::INVOCATION_STATE_COMPLETED:
      return status.result().has_failure() ? "failed" : "succeeded";
    case v1::INVOCATION_STATE_SUSPENDED:
      return "suspended";
    case v1::INVOCATION_STATE_PAUSED:
      return "paused";
    case v1::INVOCATION_STATE_QUEUED:
      return "queued";
    case v1::INVOCATION_STATE_SCHEDULED:
      return "scheduled";
    default:
      return "unknown";
  }
}

absl::Status CheckControl(const v1::Command& command, const InvocationId& id,
                          const v1::InvocationStatus& status, int64_t now_ms) {
  const v1::InvocationState state = status.state();
  const bool completed = state == v1::INVOCATION_STATE_COMPLETED;
  const char* verb = "";
  const char* applies_to = "";
  bool ok = false;
  switch (command.kind_case()) {
    case v1::Command::kCancel:
      if (status.cancelled() && !completed) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "invocation %s was cancelled already (its handler may be running "
            "its compensations); kill it to stop it at once",
            id.ToString()));
      }
      verb = "cancel";
      applies_to = "invocations that have not completed";
      ok = !completed;
      break;
    case v1::Command::kKill:
      verb = "kill";
      applies_to = "invocations that have not completed";
      ok = !completed;
      break;
    case v1::Command::kPause:
      verb = "pause";
      applies_to = "running, pending, backing-off or suspended invocations";
      ok = state == v1::INVOCATION_STATE_INVOKED ||
           state == v1::INVOCATION_STATE_SUSPENDED;
      break;
    case v1::Command::kResume:
      verb = "resume";
      applies_to = "paused invocations";
      ok = state == v1::INVOCATION_STATE_PAUSED;
      break;
    case v1::Command::kRetryNow:
      verb = "retry-now";
      applies_to = "backing-off invocations";
      ok = state == v1::INVOCATION_STATE_INVOKED &&
           status.next_retry_at_ms() > now_ms;
      break;
    case v1::Command::kPurge:
      verb = "purge";
      applies_to = "completed (succeeded or failed) invocations";
      ok = completed;
      break;
    case v1::Command::kRestart:
      if (status.handler_type() == v1::HANDLER_TYPE_WORKFLOW) {
        return absl::FailedPreconditionError(absl::StrFormat(
            "invocation %s is a workflow's run, which runs once per workflow "
            "id: submit the workflow again with a new id",
            id.ToString()));
      }
      verb = "restart";
      applies_to =
          "completed (succeeded or failed) invocations; cancel or kill it "
          "first";
      ok = completed;
      break;
    default:
      return absl::InvalidArgumentError("not an operator command");
  }
  if (ok) return absl::OkStatus();
  const std::string name = StateName(status, now_ms);
  return absl::FailedPreconditionError(
      absl::StrFormat("invocation %s %s: %s applies to %s", id.ToString(),
                      completed ? "has completed (" + name + ")" : "is " + name,
                      verb, applies_to));
}

absl::Status CheckRestartPrefix(const std::vector<v1::JournalEntry>& journal,
                                uint32_t from) {
  if (from == 0) {
    return absl::InvalidArgumentError("--from must be at least 1 (the input)");
  }
  for (uint32_t index = 0; index < from; ++index) {
    if (index >= journal.size() || journal[index].has_output()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "--from %d is past the last step: the journal has steps up to "
          "index %d",
          from,
          journal.empty()
              ? 0
              : journal.size() - 1 - (journal.back().has_output() ? 1 : 0)));
    }
    if (CompletesLater(journal[index]) &&
        journal[index].completed_at_ms() == 0) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "journal entry %d never completed: restart from %d at most", index,
          index));
    }
  }
  return absl::OkStatus();
}

}  // namespace reprise::state_machine
