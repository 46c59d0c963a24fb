#include "runtime/ingress/ingress_service.h"

#include <memory>
#include <optional>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "reprise/v1/log.pb.h"
#include "runtime/common/clock.h"
#include "runtime/common/status_convert.h"
#include "runtime/common/status_macros.h"
#include "runtime/partition/invocation_commands.h"

namespace reprise::ingress {
namespace {

constexpr size_t kMaxIdempotencyKeyBytes = 1024;
constexpr uint64_t kMaxIdempotencyRetentionMs = 365ull * 24 * 3600 * 1000;
constexpr uint64_t kMaxDelayMs = kMaxIdempotencyRetentionMs;

uint64_t RandomUint64() {
  thread_local absl::BitGen gen;
  return absl::Uniform<uint64_t>(gen);
}

// The partition key of a new invocation with a random id: on its object's
// partition if `target` is keyed, on a random one otherwise; within the
// partition it sorts by creation time (microseconds, wrapping every 71
// minutes). A partition's new rows, keyed by id, are thus inserted next to
// each other in the store, not all over it: 10-30% less CPU per applied
// invocation (bench/apply_bench.cc). The id's other half is random.
uint64_t NewPartitionKey(const v1::Target& target, uint32_t partitions) {
  const PartitionId partition =
      target.key().empty()
          ? PartitionForKey(RandomUint64(), partitions)
          : PartitionForKey(KeyPartitionHash(target.service(), target.key()),
                            partitions);
  return PartitionKeyIn(
      partition, partitions,
      static_cast<uint32_t>(absl::GetCurrentTimeNanos() / 1000));
}

void FinishWithStatus(grpc::ServerUnaryReactor* reactor,
                      const absl::Status& status) {
  reactor->Finish(ToGrpcStatus(status));
}

absl::Status NotStored(const absl::Status& cause) {
  return absl::UnavailableError("the invocation was not stored: " +
                                cause.ToString());
}

// The reactor of Invoke and Attach, which may wait long for a completion.
// What other threads use lives in Shared, which outlives the reactor: once
// the call is answered (result, error, or the client gone), nothing touches
// the reactor again. A client that goes away (deadline, cancel) drops its
// waiter at once instead of when the invocation completes.
class WaitingCall final : public grpc::ServerUnaryReactor {
 public:
  class Shared {
   public:
    Shared(WaitingCall* reactor, v1::InvokeResponse* response,
           CompletionWaiters& waiters)
        : reactor_(reactor), response_(response), waiters_(waiters) {}

    // Answers the call unless it was answered already.
    void Answer(absl::StatusOr<v1::Result> result) {
      WaitingCall* reactor;
      std::optional<std::pair<InvocationId, CompletionWaiters::Token>> waiting;
      {
        absl::MutexLock lock(&mu_);
        if (reactor_ == nullptr) return;
        reactor = std::exchange(reactor_, nullptr);
        waiting = waiting_;
      }
      // Outside the lock: Finish may run the reactions inline, and
      // OnCancel answers too. Only this thread answers, and the reactor
      // lives until Finish (its OnDone comes after).
      if (result.ok()) {
        *response_->mutable_result() = *std::move(result);
        reactor->Finish(grpc::Status::OK);
      } else {
        reactor->Finish(ToGrpcStatus(result.status()));
      }
      if (waiting.has_value()) waiters_.Remove(waiting->first, waiting->second);
    }

    // Answers the call when `id` completes. REQUIRES: `self` owns this.
    void WaitFor(const InvocationId& id, const std::shared_ptr<Shared>& self) {
      auto token = waiters_.Add(id, [self](absl::StatusOr<v1::Result> result) {
        self->Answer(std::move(result));
      });
      if (!token.has_value()) {
        Answer(absl::UnavailableError("the runtime is stopping"));
        return;
      }
      bool answered;
      {
        absl::MutexLock lock(&mu_);
        waiting_.emplace(id, *token);
        answered = reactor_ == nullptr;
      }
      if (answered) waiters_.Remove(id, *token);  // the client left meanwhile
    }

   private:
    absl::Mutex mu_;
    WaitingCall* reactor_ ABSL_GUARDED_BY(mu_);  // null once answered
    v1::InvokeResponse* const response_;
    CompletionWaiters& waiters_;
    std::optional<std::pair<InvocationId, CompletionWaiters::Token>> waiting_
        ABSL_GUARDED_BY(mu_);
  };

  WaitingCall(v1::InvokeResponse* response, CompletionWaiters& waiters)
      : shared_(std::make_shared<Shared>(this, response, waiters)) {}

  const std::shared_ptr<Shared>& shared() const { return shared_; }

  void OnCancel() override {
    auto shared = shared_;  // Finish may end the call, and delete this
    shared->Answer(absl::CancelledError("the caller went away"));
  }
  void OnDone() override { delete this; }
  // Both reactions are short and never block (a delete; an Answer takes
  // only short locks), so gRPC may run them on the thread that ends the
  // call instead of handing each call's end to its executor thread, a
  // wake-up and a thread switch per call. gRPC's own DefaultReactor does
  // the same; the hook is virtual in gRPC 1.51's ServerReactor, so a
  // gRPC without it fails to compile here rather than silently.
  bool InternalInlineable() override { return true; }

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace

InvocationId IdempotentInvocationId(const v1::Target& target,
                                    const std::string& idempotency_key) {
  return DerivedInvocationId(LengthPrefixed({target.service(), target.handler(),
                                             target.key(), idempotency_key}),
                             target.service(), target.key());
}

IngressService::IngressService(
    log::Log& log, storage::ServiceRegistry& registry,
    std::vector<partition::PartitionProcessor*> processors,
    CompletionWaiters& waiters, IngressOptions options)
    : log_(log),
      registry_(registry),
      processors_(std::move(processors)),
      waiters_(waiters),
      options_(options) {}

absl::Status IngressService::CheckSize(const std::string& bytes,
                                       std::string_view what) const {
  if (bytes.size() <= options_.max_payload_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(
      absl::StrFormat("%s is %d bytes, over the limit of %d bytes "
                      "(server option --max-payload-bytes)",
                      what, bytes.size(), options_.max_payload_bytes));
}

PartitionId IngressService::PartitionOf(const InvocationId& id) const {
  return PartitionForKey(id.partition_key(),
                         static_cast<uint32_t>(processors_.size()));
}

absl::StatusOr<std::pair<InvocationId, v1::Command>>
IngressService::NewInvocation(const v1::InvokeRequest& request, bool send) {
  const v1::Target& target = request.target();
  if (!send && request.delay_ms() > 0) {
    return absl::InvalidArgumentError(
        "delay_ms applies to Send only: Invoke waits for the result");
  }
  if (request.delay_ms() > kMaxDelayMs) {
    return absl::InvalidArgumentError(
        absl::StrFormat("delay_ms is %d; at most %d (a year) is allowed",
                        request.delay_ms(), kMaxDelayMs));
  }
  REPRISE_RETURN_IF_ERROR(CheckSize(request.payload(), "payload"));
  REPRISE_ASSIGN_OR_RETURN(storage::ResolvedTarget resolved,
                           registry_.Resolve(target));
  if (request.idempotency_key().size() > kMaxIdempotencyKeyBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "idempotency_key is %d bytes; at most %d are allowed",
        request.idempotency_key().size(), kMaxIdempotencyKeyBytes));
  }
  if (request.idempotency_retention_ms() > kMaxIdempotencyRetentionMs) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "idempotency_retention_ms is %d; at most %d (a year) is allowed",
        request.idempotency_retention_ms(), kMaxIdempotencyRetentionMs));
  }
  // A workflow's run handler is idempotent by its key already.
  const bool workflow_run = resolved.handler_type == v1::HANDLER_TYPE_WORKFLOW;
  const bool idempotent = !request.idempotency_key().empty() && !workflow_run;
  InvocationId id =
      workflow_run ? WorkflowRunId(target.service(), target.key())
      : idempotent
          ? IdempotentInvocationId(target, request.idempotency_key())
          : InvocationId(NewPartitionKey(
                             target, static_cast<uint32_t>(processors_.size())),
                         RandomUint64());
  v1::Command command;
  command.set_timestamp_ms(NowMillis());
  auto* invoke = command.mutable_invoke();
  if (request.delay_ms() > 0) {
    invoke->set_invoke_at_ms(command.timestamp_ms() +
                             static_cast<int64_t>(request.delay_ms()));
  }
  invoke->set_invocation_id(id.ToBytes());
  *invoke->mutable_target() = target;
  invoke->set_input(request.payload());
  invoke->set_service_type(resolved.service_type);
  invoke->set_handler_type(resolved.handler_type);
  invoke->set_retention_ms(resolved.retention_ms);
  if (idempotent) {
    invoke->set_idempotency_key(request.idempotency_key());
    invoke->set_idempotency_retention_ms(
        request.idempotency_retention_ms() > 0
            ? request.idempotency_retention_ms()
            : options_.default_idempotency_retention_ms);
  }
  return std::make_pair(id, std::move(command));
}

grpc::ServerUnaryReactor* IngressService::Invoke(
    grpc::CallbackServerContext* /*context*/, const v1::InvokeRequest* request,
    v1::InvokeResponse* response) {
  auto* call = new WaitingCall(response, waiters_);
  std::shared_ptr<WaitingCall::Shared> shared = call->shared();
  auto invocation = NewInvocation(*request, /*send=*/false);
  if (!invocation.ok()) {
    shared->Answer(invocation.status());
    return call;
  }
  auto& [id, command] = *invocation;
  response->set_invocation_id(id.ToString());
  // Waiting before the append, so the completion cannot be missed.
  shared->WaitFor(id, shared);
  log_.Append(PartitionOf(id), command.SerializeAsString(),
              [shared](absl::StatusOr<Lsn> lsn) {
                if (!lsn.ok()) shared->Answer(NotStored(lsn.status()));
              });
  return call;
}

grpc::ServerUnaryReactor* IngressService::Send(
    grpc::CallbackServerContext* context, const v1::InvokeRequest* request,
    v1::SendResponse* response) {
  auto* reactor = context->DefaultReactor();
  auto invocation = NewInvocation(*request, /*send=*/true);
  if (!invocation.ok()) {
    FinishWithStatus(reactor, invocation.status());
    return reactor;
  }
  auto& [id, command] = *invocation;
  response->set_invocation_id(id.ToString());
  log_.Append(PartitionOf(id), command.SerializeAsString(),
              [reactor](absl::StatusOr<Lsn> lsn) {
                if (lsn.ok()) {
                  reactor->Finish(grpc::Status::OK);
                } else {
                  FinishWithStatus(reactor, NotStored(lsn.status()));
                }
              });
  return reactor;
}

absl::StatusOr<InvocationId> IngressService::AttachedId(
    const v1::AttachRequest& request) const {
  if (!request.invocation_id().empty()) {
    return InvocationId::Parse(request.invocation_id());
  }
  if (request.target().service().empty() ||
      request.target().handler().empty()) {
    return absl::InvalidArgumentError(
        "set invocation_id, or target and idempotency_key (the key alone "
        "for a workflow's run handler)");
  }
  absl::StatusOr<storage::ResolvedTarget> resolved =
      registry_.Resolve(request.target());
  if (absl::IsInvalidArgument(resolved.status())) return resolved.status();
  if (resolved.ok() && resolved->handler_type == v1::HANDLER_TYPE_WORKFLOW) {
    return WorkflowRunId(request.target().service(), request.target().key());
  }
  if (request.idempotency_key().empty()) {
    return absl::InvalidArgumentError(
        "idempotency_key is required to attach by target");
  }
  return IdempotentInvocationId(request.target(), request.idempotency_key());
}

void IngressService::WithStatus(const v1::AttachRequest& request,
                                std::string* id_text, FailFn fail,
                                StatusFn fn) {
  auto id = AttachedId(request);
  if (!id.ok()) {
    fail(id.status());
    return;
  }
  *id_text = id->ToString();
  processors_[PartitionOf(*id).value()]->RunAfterApplied(
      [id = *id, fail = std::move(fail),
       fn = std::move(fn)](storage::PartitionReader& reader) mutable {
        auto status = reader.GetInvocationStatus(id);
        if (!status.ok()) {
          fail(status.status());
        } else if (!status->has_value()) {
          fail(absl::NotFoundError(
              absl::StrFormat("no invocation %s", id.ToString())));
        } else {
          fn(id, **status);
        }
      });
}

grpc::ServerUnaryReactor* IngressService::Attach(
    grpc::CallbackServerContext* /*context*/, const v1::AttachRequest* request,
    v1::InvokeResponse* response) {
  auto* call = new WaitingCall(response, waiters_);
  std::shared_ptr<WaitingCall::Shared> shared = call->shared();
  // Runs on the processor thread, which also runs completion actions: the
  // waiter is either added before the completion or sees it in the store.
  WithStatus(
      *request, response->mutable_invocation_id(),
      [shared](absl::Status error) { shared->Answer(std::move(error)); },
      [shared](const InvocationId& id, const v1::InvocationStatus& status) {
        if (status.state() == v1::INVOCATION_STATE_COMPLETED) {
          shared->Answer(status.result());
        } else {
          shared->WaitFor(id, shared);
        }
      });
  return call;
}

grpc::ServerUnaryReactor* IngressService::GetOutput(
    grpc::CallbackServerContext* context, const v1::AttachRequest* request,
    v1::GetOutputResponse* response) {
  auto* reactor = context->DefaultReactor();
  WithStatus(
      *request, response->mutable_invocation_id(),
      [reactor](absl::Status error) { FinishWithStatus(reactor, error); },
      [reactor, response](const InvocationId&,
                          const v1::InvocationStatus& status) {
        if (status.state() == v1::INVOCATION_STATE_COMPLETED) {
          response->set_completed(true);
          *response->mutable_result() = status.result();
        }
        reactor->Finish(grpc::Status::OK);
      });
  return reactor;
}

grpc::ServerUnaryReactor* IngressService::ResolveAwakeable(
    grpc::CallbackServerContext* context,
    const v1::ResolveAwakeableRequest* request,
    v1::ResolveAwakeableResponse* /*response*/) {
  if (absl::Status size = CheckSize(request->payload(), "payload");
      !size.ok()) {
    auto* reactor = context->DefaultReactor();
    FinishWithStatus(reactor, size);
    return reactor;
  }
  v1::Result result;
  result.set_value(request->payload());
  return CompleteAwakeable(context, request->awakeable_id(), std::move(result));
}

grpc::ServerUnaryReactor* IngressService::RejectAwakeable(
    grpc::CallbackServerContext* context,
    const v1::RejectAwakeableRequest* request,
    v1::ResolveAwakeableResponse* /*response*/) {
  if (absl::Status size = CheckSize(request->reason(), "reason"); !size.ok()) {
    auto* reactor = context->DefaultReactor();
    FinishWithStatus(reactor, size);
    return reactor;
  }
  v1::Result result;
  auto* failure = result.mutable_failure();
  failure->set_code(static_cast<uint32_t>(absl::StatusCode::kAborted));
  failure->set_message(request->reason().empty() ? "rejected"
                                                 : request->reason());
  return CompleteAwakeable(context, request->awakeable_id(), std::move(result));
}

void IngressService::AppendIfValid(
    PartitionId partition, v1::Command command,
    grpc::ServerUnaryReactor* reactor,
    partition::PartitionProcessor::Check check, std::string exclusive_key,
    partition::PartitionProcessor::Check verify) {
  processors_[partition.value()]->AppendIfValid(
      std::move(command), std::move(check),
      [reactor](absl::Status status) { FinishWithStatus(reactor, status); },
      std::move(exclusive_key), std::move(verify));
}

grpc::ServerUnaryReactor* IngressService::CompleteAwakeable(
    grpc::CallbackServerContext* context, const std::string& awakeable_id,
    v1::Result result) {
  auto* reactor = context->DefaultReactor();
  auto ref = AwakeableRef::Parse(awakeable_id);
  if (!ref.ok()) {
    FinishWithStatus(reactor, ref.status());
    return reactor;
  }
  v1::Command command;
  auto* complete = command.mutable_complete_awakeable();
  complete->set_invocation_id(ref->invocation_id.ToBytes());
  complete->set_index(ref->index);
  // Compared after the apply: a cancellation or the invocation's end may
  // have completed the entry first, and then this completion did nothing.
  std::string ours = result.SerializeAsString();
  *complete->mutable_result() = std::move(result);
  AppendIfValid(
      PartitionOf(ref->invocation_id), std::move(command), reactor,
      [ref = *ref,
       awakeable_id](storage::PartitionReader& reader) -> absl::Status {
        REPRISE_ASSIGN_OR_RETURN(auto status,
                                 reader.GetInvocationStatus(ref.invocation_id));
        REPRISE_ASSIGN_OR_RETURN(
            auto entry, reader.GetJournalEntry(ref.invocation_id, ref.index));
        if (!status.has_value() || !entry.has_value() ||
            !entry->has_awakeable()) {
          return absl::NotFoundError(
              absl::StrFormat("no awakeable %s", awakeable_id));
        }
        if (entry->completed_at_ms() != 0) {
          return absl::FailedPreconditionError(absl::StrFormat(
              "awakeable %s was already %s", awakeable_id,
              entry->awakeable().result().has_failure() ? "rejected"
                                                        : "resolved"));
        }
        if (status->state() == v1::INVOCATION_STATE_COMPLETED) {
          return absl::FailedPreconditionError(absl::StrFormat(
              "the invocation of awakeable %s has completed", awakeable_id));
        }
        return absl::OkStatus();
      },
      "awakeable " + ref->ToString(),
      [ref = *ref, awakeable_id, ours = std::move(ours)](
          storage::PartitionReader& reader) -> absl::Status {
        REPRISE_ASSIGN_OR_RETURN(
            auto entry, reader.GetJournalEntry(ref.invocation_id, ref.index));
        if (entry.has_value() && entry->has_awakeable() &&
            entry->awakeable().result().SerializeAsString() == ours) {
          return absl::OkStatus();
        }
        return absl::FailedPreconditionError(absl::StrFormat(
            "awakeable %s was completed otherwise first (its invocation was "
            "cancelled, killed or ended meanwhile); this completion did "
            "nothing",
            awakeable_id));
      });
  return reactor;
}

grpc::ServerUnaryReactor* IngressService::ResolvePromise(
    grpc::CallbackServerContext* context,
    const v1::ResolvePromiseRequest* request,
    v1::ResolvePromiseResponse* /*response*/) {
  auto* reactor = context->DefaultReactor();
  auto service = registry_.Find(request->service());
  absl::Status invalid;
  if (!service.has_value()) {
    invalid = absl::NotFoundError(absl::StrFormat(
        "service %s is not registered: start a worker that serves it",
        request->service()));
  } else if (service->definition().type() != v1::SERVICE_TYPE_WORKFLOW) {
    invalid = absl::InvalidArgumentError(
        absl::StrFormat("%s is not a workflow: only workflows have promises",
                        request->service()));
  } else if (request->key().empty() || request->name().empty()) {
    invalid = absl::InvalidArgumentError(
        "key (the workflow id) and name (the promise) are required");
  } else if (request->completion_case() ==
             v1::ResolvePromiseRequest::COMPLETION_NOT_SET) {
    invalid = absl::InvalidArgumentError(
        "set payload to resolve the promise, or reject_reason to reject it");
  } else {
    invalid = CheckSize(request->payload(), "payload");
    if (invalid.ok()) invalid = CheckSize(request->reject_reason(), "reason");
  }
  if (!invalid.ok()) {
    FinishWithStatus(reactor, invalid);
    return reactor;
  }
  v1::Command command;
  auto* complete = command.mutable_complete_promise();
  complete->mutable_workflow()->set_service(request->service());
  complete->mutable_workflow()->set_key(request->key());
  complete->set_name(request->name());
  if (request->has_payload()) {
    complete->mutable_completion()->set_value(request->payload());
  } else {
    auto* failure = complete->mutable_completion()->mutable_failure();
    failure->set_code(static_cast<uint32_t>(absl::StatusCode::kAborted));
    failure->set_message(request->reject_reason().empty()
                             ? "rejected"
                             : request->reject_reason());
  }
  const PartitionId partition =
      PartitionForKey(KeyPartitionHash(request->service(), request->key()),
                      static_cast<uint32_t>(processors_.size()));
  // Copied first: the command is moved into the call. The completion is
  // compared after the apply: the workflow itself may have completed the
  // promise first, and then this completion did nothing.
  v1::Target workflow = complete->workflow();
  std::string ours = complete->completion().SerializeAsString();
  std::string exclusive_key =
      "promise " +
      LengthPrefixed({workflow.service(), workflow.key(), request->name()});
  AppendIfValid(
      partition, std::move(command), reactor,
      [workflow, name = request->name()](
          storage::PartitionReader& reader) -> absl::Status {
        REPRISE_ASSIGN_OR_RETURN(auto existing,
                                 reader.GetPromise(workflow, name));
        if (existing.has_value()) {
          return absl::FailedPreconditionError(absl::StrFormat(
              "promise '%s' of workflow %s/%s was completed already", name,
              workflow.service(), workflow.key()));
        }
        return absl::OkStatus();
      },
      std::move(exclusive_key),
      [workflow, name = request->name(), ours = std::move(ours)](
          storage::PartitionReader& reader) -> absl::Status {
        REPRISE_ASSIGN_OR_RETURN(auto stored,
                                 reader.GetPromise(workflow, name));
        if (stored.has_value() && stored->SerializeAsString() == ours) {
          return absl::OkStatus();
        }
        return absl::FailedPreconditionError(absl::StrFormat(
            "promise '%s' of workflow %s/%s was completed otherwise first (by "
            "the workflow itself); this completion did nothing",
            name, workflow.service(), workflow.key()));
      });
  return reactor;
}

grpc::ServerUnaryReactor* IngressService::Cancel(
    grpc::CallbackServerContext* context, const v1::AttachRequest* request,
    v1::CancelResponse* /*response*/) {
  auto* reactor = context->DefaultReactor();
  auto id = AttachedId(*request);
  if (!id.ok()) {
    FinishWithStatus(reactor, id.status());
    return reactor;
  }
  v1::Command command;
  command.mutable_cancel()->set_invocation_id(id->ToBytes());
  partition::AppendControl(
      *processors_[PartitionOf(*id).value()], *id, std::move(command),
      [reactor](absl::Status status) { FinishWithStatus(reactor, status); });
  return reactor;
}

}  // namespace reprise::ingress
