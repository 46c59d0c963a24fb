// Helpers shared by the commands that start, end or complete attempts.
#include <algorithm>
#include <limits>

#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"
#include "runtime/storage/service_registry.h"

namespace reprise::state_machine {
namespace {

// Hands `status`'s key to the invocation queued next for it, or frees it.
absl::Status ReleaseKey(const InvocationId& id,
                        const v1::InvocationStatus& status, int64_t now_ms,
                        storage::Transaction& txn,
                        std::vector<Action>& actions) {
  const v1::Target& object = status.target();
  REPRISE_ASSIGN_OR_RETURN(auto lock, txn.GetKeyLock(object));
  if (!lock.has_value() || lock->holder() != id.ToBytes()) {
    return absl::OkStatus();
  }
  // Rows of invocations cancelled while queued are passed over.
  while (lock->inbox_head() != lock->next_inbox_seq()) {
    const uint64_t seq = lock->inbox_head();
    REPRISE_ASSIGN_OR_RETURN(auto next, txn.GetQueued(object, seq));
    if (!next.has_value()) {
      return absl::DataLossError("a key's inbox misses its head entry");
    }
    txn.DeleteQueued(object, seq);
    lock->set_inbox_head(seq + 1);
    REPRISE_ASSIGN_OR_RETURN(auto queued, txn.GetInvocationStatus(*next));
    if (!queued.has_value() || queued->state() != v1::INVOCATION_STATE_QUEUED) {
      continue;
    }
    lock->set_holder(next->ToBytes());
    txn.PutKeyLock(object, *lock);
    return StartNextAttempt(*next, *queued, now_ms, 0, txn, actions);
  }
  txn.DeleteKeyLock(object);
  return absl::OkStatus();
}

}  // namespace

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

absl::StatusOr<std::optional<PendingEntry>> FindPendingEntry(
    storage::Transaction& txn, const std::string& invocation_id, uint32_t index,
    v1::JournalEntry::KindCase kind) {
  auto id = InvocationId::FromBytes(invocation_id);
  if (!id.ok()) return std::nullopt;
  REPRISE_ASSIGN_OR_RETURN(auto status, txn.GetInvocationStatus(*id));
  if (!status.has_value() ||
      status->state() == v1::INVOCATION_STATE_COMPLETED) {
    return std::nullopt;
  }
  REPRISE_ASSIGN_OR_RETURN(auto entry, txn.GetJournalEntry(*id, index));
  if (!entry.has_value() || entry->kind_case() != kind ||
      entry->completed_at_ms() != 0) {
    return std::nullopt;
  }
  return PendingEntry{*id, *std::move(status), *std::move(entry)};
}

void PinVersion(v1::InvocationStatus& status, const std::string& version) {
  if (status.pinned_version().empty()) status.set_pinned_version(version);
}

bool IsExclusive(const v1::InvocationStatus& status) {
  return storage::IsExclusiveHandler(status.handler_type());
}

absl::Status CompleteInvocation(const InvocationId& id,
                                v1::InvocationStatus& status, v1::Result result,
                                int64_t now_ms, storage::Transaction& txn,
                                std::vector<Action>& actions) {
  status.set_state(v1::INVOCATION_STATE_COMPLETED);
  status.set_completed_at_ms(now_ms);
  status.set_modified_at_ms(now_ms);
  status.set_next_retry_at_ms(0);
  *status.mutable_result() = std::move(result);
  txn.PutInvocationStatus(id, status);
  actions.push_back(InvocationParkedAction{id});
  actions.push_back(InvocationCompletedAction{id, status.result()});
  if (status.has_caller()) {
    REPRISE_RETURN_IF_ERROR(SendCallResult(id, status.caller(), status.result(),
                                           now_ms, txn, actions));
  }
  for (const v1::CallerRef& caller : status.attached_callers()) {
    REPRISE_RETURN_IF_ERROR(
        SendCallResult(id, caller, status.result(), now_ms, txn, actions));
  }
  if (std::optional<int64_t> expires_at_ms = ExpiresAt(status)) {
    txn.PutExpiry(*expires_at_ms, id);
  }
  if (!IsExclusive(status)) return absl::OkStatus();
  return ReleaseKey(id, status, now_ms, txn, actions);
}

std::optional<int64_t> ExpiresAt(const v1::InvocationStatus& status) {
  const uint64_t retention =
      std::max(status.retention_ms(), status.idempotency_key().empty()
                                          ? uint64_t{0}
                                          : status.idempotency_retention_ms());
  // 0 keeps it; so does a retention past the end of time (infinite).
  if (retention == 0 || status.state() != v1::INVOCATION_STATE_COMPLETED ||
      retention > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() -
                                        status.completed_at_ms())) {
    return std::nullopt;
  }
  return status.completed_at_ms() + static_cast<int64_t>(retention);
}

absl::Status StartInvocation(const InvocationId& id,
                             v1::InvocationStatus& status,
                             std::vector<v1::JournalEntry> journal,
                             int64_t now_ms, storage::Transaction& txn,
                             std::vector<Action>& actions) {
  status.set_modified_at_ms(now_ms);
  status.set_next_retry_at_ms(0);
  if (IsExclusive(status)) {
    REPRISE_ASSIGN_OR_RETURN(auto lock, txn.GetKeyLock(status.target()));
    if (lock.has_value()) {
      txn.PutQueued(status.target(), lock->next_inbox_seq(), id);
      lock->set_next_inbox_seq(lock->next_inbox_seq() + 1);
      txn.PutKeyLock(status.target(), *lock);
      status.set_state(v1::INVOCATION_STATE_QUEUED);
      txn.PutInvocationStatus(id, status);
      return absl::OkStatus();
    }
    v1::KeyLock held;
    held.set_holder(id.ToBytes());
    txn.PutKeyLock(status.target(), held);
  }
  status.set_state(v1::INVOCATION_STATE_INVOKED);
  status.set_attempt(1);
  txn.PutInvocationStatus(id, status);
  actions.push_back(StartAttemptAction{
      id, status.target(), 1, std::move(journal), status.pinned_version()});
  return absl::OkStatus();
}

bool CompletesLater(const v1::JournalEntry& entry) {
  return entry.has_sleep() || entry.has_call() || entry.has_awakeable() ||
         entry.has_get_promise();
}

v1::Result CancelledResult() {
  v1::Result result;
  result.mutable_failure()->set_code(
      static_cast<uint32_t>(absl::StatusCode::kCancelled));
  result.mutable_failure()->set_message("the invocation was cancelled");
  return result;
}

void SetCancelled(v1::JournalEntry& entry) {
  v1::Result cancelled = CancelledResult();
  switch (entry.kind_case()) {
    case v1::JournalEntry::kSleep:
      *entry.mutable_sleep()->mutable_failure() = cancelled.failure();
      break;
    case v1::JournalEntry::kCall:
      *entry.mutable_call()->mutable_result() = std::move(cancelled);
      break;
    case v1::JournalEntry::kAwakeable:
      *entry.mutable_awakeable()->mutable_result() = std::move(cancelled);
      break;
    case v1::JournalEntry::kGetPromise:
      *entry.mutable_get_promise()->mutable_result() = std::move(cancelled);
      break;
    default:
      break;
  }
}

absl::StatusOr<std::vector<uint32_t>> StopWaiting(
    const InvocationId& id, const v1::InvocationStatus& status,
    const std::vector<v1::JournalEntry>& journal, const v1::Command& propagate,
    storage::Transaction& txn, std::vector<Action>& actions) {
  std::vector<uint32_t> pending;
  for (uint32_t index = 0; index < journal.size(); ++index) {
    const v1::JournalEntry& entry = journal[index];
    if (!CompletesLater(entry) || entry.completed_at_ms() != 0) continue;
    pending.push_back(index);
    if (entry.has_sleep()) {
      txn.DeleteTimer({entry.sleep().wake_up_at_ms(), id, index});
    } else if (entry.has_get_promise()) {
      txn.DeletePromiseWaiter(status.target(), entry.name(), id, index);
    } else if (entry.has_call() &&
               entry.call().handler_type() != v1::HANDLER_TYPE_WORKFLOW) {
      auto callee = InvocationId::FromBytes(entry.call().invocation_id());
      if (!callee.ok()) continue;
      v1::Command command = propagate;
      if (command.has_cancel()) {
        command.mutable_cancel()->set_invocation_id(callee->ToBytes());
      } else {
        command.mutable_kill()->set_invocation_id(callee->ToBytes());
      }
      REPRISE_RETURN_IF_ERROR(
          SendCommand(id, *callee, std::move(command), txn, actions));
    }
  }
  return pending;
}

absl::Status CompleteEntry(const InvocationId& id, v1::InvocationStatus& status,
                           uint32_t index, v1::JournalEntry entry,
                           int64_t now_ms, storage::Transaction& txn,
                           std::vector<Action>& actions) {
  entry.set_completed_at_ms(now_ms);
  txn.PutJournalEntry(id, index, entry);
  status.set_modified_at_ms(now_ms);
  switch (status.state()) {
    case v1::INVOCATION_STATE_INVOKED:
      txn.PutInvocationStatus(id, status);
      actions.push_back(
          EntryCompletedAction{id, std::move(entry), status.attempt(), index});
      return absl::OkStatus();
    case v1::INVOCATION_STATE_SUSPENDED:
      if (std::find(status.waiting_on().begin(), status.waiting_on().end(),
                    index) != status.waiting_on().end()) {
        return StartNextAttempt(id, status, now_ms, 0, txn, actions);
      }
      break;
    default:  // paused: the completion waits in the journal for a resume
      break;
  }
  txn.PutInvocationStatus(id, status);
  return absl::OkStatus();
}

absl::Status SendCommand(const InvocationId& source,
                         const InvocationId& destination, v1::Command command,
                         storage::Transaction& txn,
                         std::vector<Action>& actions) {
  if (source.partition_key() >> 32 == destination.partition_key() >> 32) {
    // Applied once, with the command that sends it: nothing to dedup.
    command.clear_outbox_origin();
    actions.push_back(LocalCommandAction{std::move(command)});
    return absl::OkStatus();
  }
  REPRISE_ASSIGN_OR_RETURN(v1::OutboxCursor cursor, txn.GetOutboxCursor());
  const uint64_t seq = cursor.next();
  cursor.set_next(seq + 1);
  txn.PutOutboxCursor(cursor);
  // Replaces the origin of a command passed on (a propagated cancel).
  command.mutable_outbox_origin()->set_partition(txn.partition().value());
  command.mutable_outbox_origin()->set_seq(seq);
  v1::OutboxMessage message;
  *message.mutable_command() = command;
  message.set_destination(destination.ToBytes());
  txn.PutOutbox(seq, message);
  actions.push_back(OutboxAction{seq, destination, std::move(command)});
  return absl::OkStatus();
}

absl::Status SendCallResult(const InvocationId& callee,
                            const v1::CallerRef& caller,
                            const v1::Result& result, int64_t now_ms,
                            storage::Transaction& txn,
                            std::vector<Action>& actions) {
  auto caller_id = InvocationId::FromBytes(caller.invocation_id());
  if (!caller_id.ok()) return absl::OkStatus();
  v1::Command command;
  command.set_timestamp_ms(now_ms);
  auto* complete = command.mutable_complete_call();
  complete->set_invocation_id(caller.invocation_id());
  complete->set_index(caller.index());
  complete->set_callee_invocation_id(callee.ToBytes());
  *complete->mutable_result() = result;
  return SendCommand(callee, *caller_id, std::move(command), txn, actions);
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
