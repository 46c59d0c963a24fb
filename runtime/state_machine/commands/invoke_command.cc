// InvokeCommand: creates the invocation with its input as journal entry 0.
// It runs at once, unless it is exclusive and another invocation holds its
// key: then it waits in the key's inbox, in order of arrival; a delayed one
// is scheduled on a timer first. A repeated command for an existing
// invocation (an idempotent request, a workflow submitted again, a
// redelivery) creates nothing: a new calling invocation is added to those
// that get the result, and gets it at once if it completed already.
// A command from a Kafka subscription is dropped when its record, or a
// later one of the same subscription, topic and partition, was applied
// before: the subscription appends its records in offset order and
// commits an offset only once its invocation is durable, so a record read
// again after a crash or a rebalance is at or below that mark.
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {
namespace {

// Adds `caller` to those waiting for `status`'s result, unless it is
// there already (a redelivery). Returns whether it added it.
bool AttachCaller(v1::InvocationStatus& status, const v1::CallerRef& caller) {
  auto same = [&](const v1::CallerRef& c) {
    return c.invocation_id() == caller.invocation_id() &&
           c.index() == caller.index();
  };
  if (status.has_caller() && same(status.caller())) return false;
  for (const auto& c : status.attached_callers()) {
    if (same(c)) return false;
  }
  if (!status.has_caller()) {
    *status.mutable_caller() = caller;
  } else {
    *status.add_attached_callers() = caller;
  }
  return true;
}

}  // namespace

absl::Status ApplyInvoke(const v1::InvokeCommand& command, int64_t now_ms,
                         storage::Transaction& txn,
                         std::vector<Action>& actions) {
  auto id = InvocationId::FromBytes(command.invocation_id());
  if (!id.ok()) return absl::OkStatus();  // not produced by this runtime
  if (command.has_kafka_record()) {
    const v1::KafkaRecord& record = command.kafka_record();
    REPRISE_ASSIGN_OR_RETURN(
        std::optional<int64_t> applied,
        txn.GetKafkaOffset(command.subscription_id(), record.topic(),
                           record.partition()));
    if (applied.has_value() && record.offset() <= *applied) {
      return absl::OkStatus();
    }
    txn.PutKafkaOffset(command.subscription_id(), record.topic(),
                       record.partition(), record.offset());
  }
  REPRISE_ASSIGN_OR_RETURN(auto existing, txn.GetInvocationStatus(*id));
  if (existing.has_value()) {
    if (existing->state() != v1::INVOCATION_STATE_COMPLETED) {
      if (command.has_caller() && AttachCaller(*existing, command.caller())) {
        txn.PutInvocationStatus(*id, *existing);
      }
      return absl::OkStatus();
    }
    actions.push_back(InvocationCompletedAction{*id, existing->result()});
    // A caller it answered before (a redelivery) is not answered twice.
    if (command.has_caller() && AttachCaller(*existing, command.caller())) {
      txn.PutInvocationStatus(*id, *existing);
      return SendCallResult(*id, command.caller(), existing->result(), now_ms,
                            txn, actions);
    }
    return absl::OkStatus();
  }

  v1::JournalEntry input;
  input.set_appended_at_ms(now_ms);
  input.mutable_input()->set_value(command.input());
  if (command.has_kafka_record()) {
    *input.mutable_input()->mutable_kafka_record() = command.kafka_record();
  }
  txn.PutJournalEntry(*id, 0, input);

  v1::InvocationStatus status;
  *status.mutable_target() = command.target();
  status.set_service_type(command.service_type());
  status.set_handler_type(command.handler_type());
  status.set_idempotency_key(command.idempotency_key());
  status.set_idempotency_retention_ms(command.idempotency_retention_ms());
  status.set_retention_ms(command.retention_ms());
  if (command.has_caller()) *status.mutable_caller() = command.caller();
  status.set_created_at_ms(now_ms);
  status.set_modified_at_ms(now_ms);
  status.set_journal_length(1);
  status.set_subscription(command.kafka_record().subscription());

  if (!command.rejected().empty()) {
    v1::Result failure;
    failure.mutable_failure()->set_code(
        static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));
    failure.mutable_failure()->set_message(command.rejected());
    return CompleteInvocation(*id, status, std::move(failure), now_ms, txn,
                              actions);
  }

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
