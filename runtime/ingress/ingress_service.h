// IngressService: the gRPC API through which services invoke handlers
// (ingress.proto). An invocation is acknowledged only once its InvokeCommand
// is durable in the log; results are delivered by the partition processor's
// completion actions through CompletionWaiters.
//
// Awakeables: an unknown one -> NOT_FOUND; one already resolved or
// rejected, or whose invocation completed -> FAILED_PRECONDITION; of
// completions racing through the ingress, only the first gets OK, the
// others FAILED_PRECONDITION.
//
// Promises: a service that is not a workflow -> NOT_FOUND or
// INVALID_ARGUMENT; a promise completed already, or being completed by
// another ingress request -> FAILED_PRECONDITION. A handler completing
// the same promise at the same moment can still race an ingress request
// that was answered OK: only the first to reach the log counts.
//
// Cancel: an unknown invocation -> NOT_FOUND; a completed one ->
// FAILED_PRECONDITION.
//
// Bad input: unknown service or handler -> NOT_FOUND; a missing or
// malformed field -> INVALID_ARGUMENT naming it; a payload over the limit ->
// RESOURCE_EXHAUSTED. A known service with no worker connected is accepted;
// the invocation waits for a worker.
//
// Thread-safety: gRPC calls it from its threads; no reaction blocks.
// Ownership: borrows everything it is given, which must outlive the server.
#pragma once

#include <cstddef>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "reprise/v1/ingress.grpc.pb.h"
#include "runtime/ingress/completion_waiters.h"
#include "runtime/log/log.h"
#include "runtime/partition/partition_processor.h"
#include "runtime/storage/service_registry.h"

namespace reprise::ingress {

struct IngressOptions {
  size_t max_payload_bytes = 4 << 20;
  // How long a completed idempotent invocation is kept when the request
  // does not say.
  uint64_t default_idempotency_retention_ms = 24ull * 3600 * 1000;
};

class IngressService final : public v1::Ingress::CallbackService {
 public:
  IngressService(log::Log& log, storage::ServiceRegistry& registry,
                 std::vector<partition::PartitionProcessor*> processors,
                 CompletionWaiters& waiters, IngressOptions options);

  grpc::ServerUnaryReactor* Invoke(grpc::CallbackServerContext* context,
                                   const v1::InvokeRequest* request,
                                   v1::InvokeResponse* response) override;
  grpc::ServerUnaryReactor* Send(grpc::CallbackServerContext* context,
                                 const v1::InvokeRequest* request,
                                 v1::SendResponse* response) override;
  grpc::ServerUnaryReactor* Attach(grpc::CallbackServerContext* context,
                                   const v1::AttachRequest* request,
                                   v1::InvokeResponse* response) override;
  grpc::ServerUnaryReactor* GetOutput(grpc::CallbackServerContext* context,
                                      const v1::AttachRequest* request,
                                      v1::GetOutputResponse* response) override;
  grpc::ServerUnaryReactor* ResolveAwakeable(
      grpc::CallbackServerContext* context,
      const v1::ResolveAwakeableRequest* request,
      v1::ResolveAwakeableResponse* response) override;
  grpc::ServerUnaryReactor* RejectAwakeable(
      grpc::CallbackServerContext* context,
      const v1::RejectAwakeableRequest* request,
      v1::ResolveAwakeableResponse* response) override;
  grpc::ServerUnaryReactor* ResolvePromise(
      grpc::CallbackServerContext* context,
      const v1::ResolvePromiseRequest* request,
      v1::ResolvePromiseResponse* response) override;
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context,
                                   const v1::AttachRequest* request,
                                   v1::CancelResponse* response) override;

 private:
  // Validates `request` (of Send when `send`) and builds the command for a
  // new invocation.
  absl::StatusOr<std::pair<InvocationId, v1::Command>> NewInvocation(
      const v1::InvokeRequest& request, bool send);
  PartitionId PartitionOf(const InvocationId& id) const;
  // RESOURCE_EXHAUSTED naming `what` if `bytes` is over the payload limit.
  absl::Status CheckSize(const std::string& bytes, std::string_view what) const;
  // PartitionProcessor::AppendIfValid, answering `reactor`.
  void AppendIfValid(PartitionId partition, v1::Command command,
                     grpc::ServerUnaryReactor* reactor,
                     partition::PartitionProcessor::Check check,
                     std::string exclusive_key,
                     partition::PartitionProcessor::Check verify);
  // Completes awakeable `awakeable_id` with `result`, after checking on its
  // partition that it exists and is not completed yet (NOT_FOUND,
  // FAILED_PRECONDITION otherwise). Answers once the completion is durable.
  grpc::ServerUnaryReactor* CompleteAwakeable(
      grpc::CallbackServerContext* context, const std::string& awakeable_id,
      v1::Result result);
  // Reads the status of the invocation on its partition thread after all
  // that is durable is applied, then calls `fn`; calls `fail` instead for a
  // malformed id (INVALID_ARGUMENT) or an unknown one (NOT_FOUND).
  using FailFn = absl::AnyInvocable<void(absl::Status)>;
  using StatusFn = absl::AnyInvocable<void(const InvocationId&,
                                           const v1::InvocationStatus&)>;
  // `request` names the invocation; its id text goes to `*id_text` (set
  // before `fn` or `fail` can run).
  void WithStatus(const v1::AttachRequest& request, std::string* id_text,
                  FailFn fail, StatusFn fn);
  // The invocation an attach request names (id, idempotency key, or the
  // workflow id of a run handler).
  absl::StatusOr<InvocationId> AttachedId(
      const v1::AttachRequest& request) const;

  log::Log& log_;
  storage::ServiceRegistry& registry_;
  const std::vector<partition::PartitionProcessor*> processors_;
  CompletionWaiters& waiters_;
  const IngressOptions options_;
};

// The id of the invocation that requests with `idempotency_key` for
// `target` name: a hash of both, on the key's partition for keyed targets.
InvocationId IdempotentInvocationId(const v1::Target& target,
                                    const std::string& idempotency_key);

}  // namespace reprise::ingress
