#include "runtime/state_machine/state_machine.h"

#include <algorithm>

#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {
namespace {

// Whether `command` is new here: not a redelivery of an outbox message
// applied before. Records it if so.
absl::StatusOr<bool> CheckOutboxOrigin(const v1::Command& command,
                                       storage::Transaction& txn) {
  if (!command.has_outbox_origin()) return true;
  const PartitionId source(command.outbox_origin().partition());
  const uint64_t seq = command.outbox_origin().seq();
  REPRISE_ASSIGN_OR_RETURN(std::optional<uint64_t> applied,
                           txn.GetOutboxDedup(source));
  if (applied.has_value() && seq <= *applied) return false;
  txn.PutOutboxDedup(source, seq);
  return true;
}

// Applies `command` by its kind.
absl::Status ApplyKind(const v1::Command& command, storage::Transaction& txn,
                       std::vector<Action>& actions) {
  const int64_t now = command.timestamp_ms();
  switch (command.kind_case()) {
    case v1::Command::kInvoke:
      REPRISE_RETURN_IF_ERROR(ApplyInvoke(command.invoke(), now, txn, actions));
      break;
    case v1::Command::kProposeEntry:
      REPRISE_RETURN_IF_ERROR(
          ApplyProposeEntry(command.propose_entry(), now, txn, actions));
      break;
    case v1::Command::kSuspend:
      REPRISE_RETURN_IF_ERROR(
          ApplySuspend(command.suspend(), now, txn, actions));
      break;
    case v1::Command::kAttemptFailed:
      REPRISE_RETURN_IF_ERROR(
          ApplyAttemptFailed(command.attempt_failed(), now, txn, actions));
      break;
    case v1::Command::kFireTimer:
      REPRISE_RETURN_IF_ERROR(
          ApplyFireTimer(command.fire_timer(), now, txn, actions));
      break;
    case v1::Command::kCompleteCall:
      REPRISE_RETURN_IF_ERROR(
          ApplyCompleteCall(command.complete_call(), now, txn, actions));
      break;
    case v1::Command::kTruncateOutbox:
      REPRISE_RETURN_IF_ERROR(
          ApplyTruncateOutbox(command.truncate_outbox(), txn));
      break;
    case v1::Command::kCompleteAwakeable:
      REPRISE_RETURN_IF_ERROR(ApplyCompleteAwakeable(
          command.complete_awakeable(), now, txn, actions));
      break;
    case v1::Command::kCompletePromise:
      REPRISE_RETURN_IF_ERROR(
          ApplyCompletePromise(command.complete_promise(), now, txn, actions));
      break;
    case v1::Command::kCancel:
      REPRISE_RETURN_IF_ERROR(ApplyCancel(command, now, txn, actions));
      break;
    case v1::Command::kPause:
      REPRISE_RETURN_IF_ERROR(ApplyPause(command, now, txn, actions));
      break;
    case v1::Command::kResume:
      REPRISE_RETURN_IF_ERROR(ApplyResume(command, now, txn, actions));
      break;
    case v1::Command::kKill:
      REPRISE_RETURN_IF_ERROR(ApplyKill(command, now, txn, actions));
      break;
    case v1::Command::kRetryNow:
      REPRISE_RETURN_IF_ERROR(ApplyRetryNow(command, now, txn, actions));
      break;
    case v1::Command::kPurge:
      REPRISE_RETURN_IF_ERROR(ApplyPurge(command, now, txn));
      break;
    case v1::Command::kExpire:
      REPRISE_RETURN_IF_ERROR(ApplyExpire(now, txn));
      break;
    case v1::Command::kEditState:
      REPRISE_RETURN_IF_ERROR(ApplyEditState(command.edit_state(), txn));
      break;
    case v1::Command::kRestart:
      REPRISE_RETURN_IF_ERROR(ApplyRestart(command, now, txn, actions));
      break;
    case v1::Command::KIND_NOT_SET:
      // A command kind from a newer version would be a compatibility bug;
      // this version has nothing to apply.
      break;
  }
  return absl::OkStatus();
}

// Applies `command`, then the commands it sends to invocations of this
// partition (LocalCommandActions, taken out of `actions`), in the order
// sent, and those they send in turn: as if each were delivered the moment
// it is sent. This ends: a command sends only to a new callee, to a
// caller about a completed callee, or down the finite call tree of a
// cancellation or kill.
absl::Status ApplyWithLocal(const v1::Command& command,
                            storage::Transaction& txn,
                            std::vector<Action>& actions) {
  // Commands sent locally, applied in order from `applied_local` on; most
  // commands send none, and an empty vector allocates nothing.
  std::vector<v1::Command> local;
  size_t applied_local = 0;
  const v1::Command* next = &command;
  for (;;) {
    const size_t first = actions.size();
    REPRISE_RETURN_IF_ERROR(ApplyKind(*next, txn, actions));
    auto kept = std::stable_partition(
        actions.begin() + static_cast<std::ptrdiff_t>(first), actions.end(),
        [](const Action& a) {
          return !std::holds_alternative<LocalCommandAction>(a);
        });
    for (auto it = kept; it != actions.end(); ++it) {
      local.push_back(std::move(std::get<LocalCommandAction>(*it).command));
    }
    actions.erase(kept, actions.end());
    if (applied_local == local.size()) return absl::OkStatus();
    // By index: pushing more may move the vector, never before this apply.
    next = &local[applied_local++];
  }
}

}  // namespace

absl::Status StateMachine::Apply(const v1::Command& command, Lsn lsn,
                                 storage::Transaction& txn,
                                 std::vector<Action>& actions) {
  if (!applied_.has_value()) {
    REPRISE_ASSIGN_OR_RETURN(applied_, txn.GetAppliedLsn());
  }
  // Already applied before a crash: recovery re-reads from an older Lsn.
  if (lsn <= *applied_) return absl::OkStatus();
  REPRISE_ASSIGN_OR_RETURN(bool fresh, CheckOutboxOrigin(command, txn));
  if (fresh) REPRISE_RETURN_IF_ERROR(ApplyWithLocal(command, txn, actions));
  txn.PutAppliedLsn(lsn);
  applied_ = lsn;
  return absl::OkStatus();
}

}  // namespace reprise::state_machine
