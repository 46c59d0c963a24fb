// AttemptFailedCommand: records the current attempt's failure and, by the
// handler's retry policy, starts the next attempt after a back-off, or, when
// the attempts are exhausted, pauses the invocation or fails it. Nothing is
// ever dropped: the journal and the last failure stay for operators.
#include <algorithm>
#include <cmath>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {
namespace {

// The back-off after the `failures`-th failed attempt.
int64_t RetryDelayMs(const v1::RetryPolicy& policy, uint32_t failures) {
  // An hour caps a policy without a maximum interval (and keeps the value
  // far from overflow).
  constexpr double kCeilingMs = 3600.0 * 1000;
  const double factor = std::max(1.0, policy.factor());
  double delay = policy.initial_interval_ms() *
                 std::pow(factor, static_cast<double>(failures - 1));
  double ceiling = policy.max_interval_ms() > 0
                       ? static_cast<double>(policy.max_interval_ms())
                       : kCeilingMs;
  return static_cast<int64_t>(std::min({delay, ceiling, kCeilingMs}));
}

}  // namespace

absl::Status ApplyAttemptFailed(const v1::AttemptFailedCommand& command,
                                int64_t now_ms, storage::Transaction& txn,
                                std::vector<Action>& actions) {
  REPRISE_ASSIGN_OR_RETURN(
      auto running,
      FindRunningAttempt(txn, command.invocation_id(), command.attempt()));
  if (!running.has_value()) return absl::OkStatus();
  const InvocationId& id = running->id;
  v1::InvocationStatus& status = running->status;
  status.set_failures(status.failures() + 1);

  v1::AttemptFailure& failure = *status.mutable_last_failure();
  failure.set_attempt(command.attempt());
  failure.set_message(command.message());
  if (command.has_journal_index()) {
    failure.set_journal_index(command.journal_index());
  } else {
    failure.clear_journal_index();
  }
  failure.set_failed_at_ms(now_ms);

  const v1::RetryPolicy& policy = command.retry_policy();
  if (policy.max_attempts() == 0 || status.failures() < policy.max_attempts()) {
    return StartNextAttempt(id, status, now_ms,
                            now_ms + RetryDelayMs(policy, status.failures()),
                            txn, actions);
  }
  status.set_modified_at_ms(now_ms);
  status.set_next_retry_at_ms(0);
  if (policy.on_max_attempts() == v1::RetryPolicy::ON_MAX_ATTEMPTS_FAIL) {
    v1::Result result;
    result.mutable_failure()->set_code(
        static_cast<uint32_t>(absl::StatusCode::kUnknown));
    result.mutable_failure()->set_message(
        absl::StrFormat("gave up after %d failed attempts: %s",
                        status.failures(), command.message()));
    return CompleteInvocation(id, status, std::move(result), now_ms, txn,
                              actions);
  }
  status.set_state(v1::INVOCATION_STATE_PAUSED);
  txn.PutInvocationStatus(id, status);
  actions.push_back(InvocationParkedAction{id});
  return absl::OkStatus();
}

}  // namespace reprise::state_machine
