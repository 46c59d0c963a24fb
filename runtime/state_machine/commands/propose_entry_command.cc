// ProposeEntryCommand: appends journal entries of the current attempt. A
// batch is taken only at the invocation's next index, which fences out
// duplicates. A sleep entry registers its durable timer; a state write
// changes the state table in the same batch, so exactly once; a state read
// the worker could not answer is answered here; a call or send sends the
// callee's invoke (SendCommand); a promise entry reads or completes the
// workflow's promise; an output entry completes the invocation. A
// cancellation waiting for a step that completes later fails that step at
// once. The worker gets one ack for the batch, unless it said it does not
// wait for it (skip_ack).
#include <optional>

#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {
namespace {

// What a worker may propose for an invocation in `status`. The input is
// written by the invoke command; completions are written by the runtime;
// state belongs to keyed services, and only exclusive handlers write it.
bool Proposable(const v1::JournalEntry& entry,
                const v1::InvocationStatus& status) {
  if (entry.completed_at_ms() != 0) return false;
  const bool keyed = status.service_type() != v1::SERVICE_TYPE_SERVICE;
  switch (entry.kind_case()) {
    case v1::JournalEntry::kOutput:
    case v1::JournalEntry::kRun:
    case v1::JournalEntry::kSleep:
    case v1::JournalEntry::kNow:
    case v1::JournalEntry::kCall:
    case v1::JournalEntry::kSend:
    case v1::JournalEntry::kSelect:
      return true;
    case v1::JournalEntry::kAwakeable:
      return !entry.awakeable().has_result();
    case v1::JournalEntry::kGetPromise:
    case v1::JournalEntry::kPeekPromise:
    case v1::JournalEntry::kCompletePromise:
      return status.service_type() == v1::SERVICE_TYPE_WORKFLOW;
    case v1::JournalEntry::kGetState:
    case v1::JournalEntry::kGetStateKeys:
      return keyed;
    case v1::JournalEntry::kSetState:
    case v1::JournalEntry::kClearState:
    case v1::JournalEntry::kClearAllState:
      return keyed && IsExclusive(status);
    case v1::JournalEntry::kInput:
    case v1::JournalEntry::KIND_NOT_SET:
      break;
  }
  return false;
}

// Applies a state entry to the state table, or resolves a read the worker
// left open. Returns true when it resolved the entry.
absl::StatusOr<bool> ApplyState(const v1::Target& object,
                                v1::JournalEntry& entry,
                                storage::Transaction& txn) {
  switch (entry.kind_case()) {
    case v1::JournalEntry::kSetState:
      txn.PutState(object, entry.name(), entry.set_state().value());
      return false;
    case v1::JournalEntry::kClearState:
      txn.DeleteState(object, entry.name());
      return false;
    case v1::JournalEntry::kClearAllState:
      REPRISE_RETURN_IF_ERROR(txn.DeleteAllState(object));
      return false;
    case v1::JournalEntry::kGetState: {
      if (entry.get_state().result_case() !=
          v1::GetStateEntry::RESULT_NOT_SET) {
        return false;
      }
      REPRISE_ASSIGN_OR_RETURN(auto value, txn.GetState(object, entry.name()));
      if (value.has_value()) {
        entry.mutable_get_state()->set_value(*std::move(value));
      } else {
        entry.mutable_get_state()->mutable_empty();
      }
      return true;
    }
    case v1::JournalEntry::kGetStateKeys: {
      if (entry.get_state_keys().has_keys()) return false;
      auto* keys = entry.mutable_get_state_keys()->mutable_keys();
      REPRISE_RETURN_IF_ERROR(
          txn.ForEachState(object, [&](std::string_view key, std::string_view) {
            keys->add_keys(std::string(key));
            return true;
          }));
      return true;
    }
    default:
      return false;
  }
}

// Applies a promise entry; returns true when it resolved it (all but a Get
// of a promise not completed yet, which waits for it).
absl::StatusOr<bool> ApplyPromise(const InvocationId& id, uint32_t index,
                                  const v1::Target& workflow,
                                  v1::JournalEntry& entry, int64_t now_ms,
                                  storage::Transaction& txn,
                                  std::vector<Action>& actions) {
  const std::string& name = entry.name();
  switch (entry.kind_case()) {
    case v1::JournalEntry::kGetPromise: {
      REPRISE_ASSIGN_OR_RETURN(auto completion, txn.GetPromise(workflow, name));
      if (!completion.has_value()) {
        txn.PutPromiseWaiter(workflow, name, id, index);
        return false;
      }
      *entry.mutable_get_promise()->mutable_result() = *completion;
      return true;
    }
    case v1::JournalEntry::kPeekPromise: {
      REPRISE_ASSIGN_OR_RETURN(auto completion, txn.GetPromise(workflow, name));
      if (completion.has_value()) {
        *entry.mutable_peek_promise()->mutable_completion() = *completion;
      } else {
        entry.mutable_peek_promise()->mutable_empty();
      }
      return true;
    }
    case v1::JournalEntry::kCompletePromise: {
      REPRISE_ASSIGN_OR_RETURN(
          bool completed,
          CompletePromise(workflow, name, entry.complete_promise().completion(),
                          now_ms, txn, actions));
      v1::Result& result = *entry.mutable_complete_promise()->mutable_result();
      if (completed) {
        result.set_value("");
      } else {
        result.mutable_failure()->set_code(
            static_cast<uint32_t>(absl::StatusCode::kFailedPrecondition));
        result.mutable_failure()->set_message("promise '" + name +
                                              "' was completed already");
      }
      return true;
    }
    default:
      return false;
  }
}

// Sends the invocation a call or send entry asks for; a call whose target
// the runtime could not resolve completes at once with that failure.
// Returns true when it completed the entry.
absl::StatusOr<bool> ApplyCallOrSend(const InvocationId& id,
                                     int64_t created_at_ms, uint32_t index,
                                     v1::JournalEntry& entry, int64_t now_ms,
                                     storage::Transaction& txn,
                                     std::vector<Action>& actions) {
  const bool call = entry.has_call();
  if (!call && !entry.has_send()) return false;
  if (call ? entry.call().has_result() : entry.send().has_failure()) {
    return call;  // nothing to send
  }
  const v1::Target& target =
      call ? entry.call().target() : entry.send().target();
  // Derived from the caller (its creation time tells apart a caller
  // re-created with the same id after its retention) and the entry, so a
  // repeated delivery names the same invocation and is dropped.
  const v1::HandlerType handler_type =
      call ? entry.call().handler_type() : entry.send().handler_type();
  const InvocationId callee =
      handler_type == v1::HANDLER_TYPE_WORKFLOW
          ? WorkflowRunId(target.service(), target.key())
          : CalleeInvocationId(
                id,
                LengthPrefixed({id.ToBytes(), std::to_string(created_at_ms),
                                std::to_string(index)}),
                target.service(), target.key(),
                // Microseconds, as the ingress's ids: a partition's
                // invocations sort by creation time.
                static_cast<uint32_t>(now_ms * 1000));
  v1::Command command;
  command.set_timestamp_ms(now_ms);
  auto* invoke = command.mutable_invoke();
  invoke->set_invocation_id(callee.ToBytes());
  *invoke->mutable_target() = target;
  if (call) {
    const v1::CallEntry& c = entry.call();
    invoke->set_input(c.parameter());
    invoke->set_service_type(c.service_type());
    invoke->set_handler_type(c.handler_type());
    invoke->set_retention_ms(c.retention_ms());
    invoke->mutable_caller()->set_invocation_id(id.ToBytes());
    invoke->mutable_caller()->set_index(index);
    entry.mutable_call()->set_invocation_id(callee.ToBytes());
  } else {
    const v1::SendEntry& s = entry.send();
    invoke->set_input(s.parameter());
    invoke->set_service_type(s.service_type());
    invoke->set_handler_type(s.handler_type());
    invoke->set_retention_ms(s.retention_ms());
    invoke->set_invoke_at_ms(s.invoke_at_ms());
    entry.mutable_send()->set_invocation_id(callee.ToBytes());
  }
  REPRISE_RETURN_IF_ERROR(
      SendCommand(id, callee, std::move(command), txn, actions));
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
      command.entries().empty() ||
      !Proposable(command.entries(0), running->status)) {
    return absl::OkStatus();  // stale, duplicate, or not a worker's to write
  }
  const InvocationId& id = running->id;
  v1::InvocationStatus& status = running->status;
  PinVersion(status, command.worker_version());
  status.set_modified_at_ms(now_ms);
  // One ack, for the last entry, covers the whole batch: its entries became
  // durable together.
  std::optional<uint32_t> acked;
  for (const v1::JournalEntry& proposed : command.entries()) {
    const uint32_t index = status.journal_length();
    if (!Proposable(proposed, status)) break;
    v1::JournalEntry entry = proposed;
    entry.set_appended_at_ms(now_ms);
    status.set_journal_length(index + 1);
    if (entry.has_output()) {
      txn.PutJournalEntry(id, index, entry);
      // Nothing follows the output.
      return CompleteInvocation(id, status, entry.output().result(), now_ms,
                                txn, actions);
    }
    bool resolved = false;
    // (A call the invoker already failed waits for nothing.)
    if (status.cancellation_pending() && CompletesLater(entry) &&
        !(entry.has_call() && entry.call().has_result())) {
      // The cancellation is delivered: this step fails without effect.
      SetCancelled(entry);
      status.set_cancellation_pending(false);
      resolved = true;
    } else {
      REPRISE_ASSIGN_OR_RETURN(bool state,
                               ApplyState(status.target(), entry, txn));
      REPRISE_ASSIGN_OR_RETURN(
          bool failed_call, ApplyCallOrSend(id, status.created_at_ms(), index,
                                            entry, now_ms, txn, actions));
      REPRISE_ASSIGN_OR_RETURN(
          bool promise, ApplyPromise(id, index, status.target(), entry, now_ms,
                                     txn, actions));
      resolved = state || failed_call || promise;
    }
    if (resolved) entry.set_completed_at_ms(now_ms);
    txn.PutJournalEntry(id, index, entry);
    if (entry.has_sleep() && !resolved) {
      storage::Timer timer{entry.sleep().wake_up_at_ms(), id, index};
      txn.PutTimer(timer);
      actions.push_back(RegisterTimerAction{id, index, timer.wake_up_at_ms});
    }
    if (resolved) {
      actions.push_back(
          EntryCompletedAction{id, std::move(entry), command.attempt(), index});
    }
    acked = index;
  }
  txn.PutInvocationStatus(id, status);
  if (acked.has_value() && !command.skip_ack()) {
    actions.push_back(EntryAckAction{id, command.attempt(), *acked});
  }
  return absl::OkStatus();
}

}  // namespace reprise::state_machine
