// AdminService: the operator API (admin.proto) behind the `reprise` CLI.
// Introspection reads the partition store and asks the invoker what it knows
// of live attempts; commands about an invocation (cancel) are appended to
// its partition's log after a check against its state. Store scans run on the
// admin's own task thread, never on a gRPC reaction.
//
// Thread-safety: gRPC calls it from its threads. Ownership: borrows the
// store, registry and invoker, which must outlive the server.
#pragma once

#include "reprise/v1/admin.grpc.pb.h"
#include "runtime/admin/invocation_watch.h"
#include "runtime/common/task_thread.h"
#include "runtime/invoker/invoker.h"
#include "runtime/partition/partition_processor.h"
#include "runtime/storage/partition_store.h"
#include "runtime/storage/service_registry.h"

namespace reprise::admin {

class AdminService final : public v1::Admin::CallbackService {
 public:
  // `processors`: one per partition, in partition order.
  AdminService(storage::Store& store,
               std::vector<partition::PartitionProcessor*> processors,
               storage::ServiceRegistry& registry, invoker::Invoker& invoker,
               InvocationWatch& watch, std::string token = "");

  grpc::ServerUnaryReactor* ListInvocations(
      grpc::CallbackServerContext* context,
      const v1::ListInvocationsRequest* request,
      v1::ListInvocationsResponse* response) override;
  grpc::ServerUnaryReactor* DescribeInvocation(
      grpc::CallbackServerContext* context,
      const v1::DescribeInvocationRequest* request,
      v1::InvocationDescription* response) override;
  grpc::ServerUnaryReactor* ListServices(
      grpc::CallbackServerContext* context,
      const v1::ListServicesRequest* request,
      v1::ListServicesResponse* response) override;
  grpc::ServerUnaryReactor* DescribeService(
      grpc::CallbackServerContext* context,
      const v1::DescribeServiceRequest* request,
      v1::ServiceDescription* response) override;
  grpc::ServerUnaryReactor* ListWorkers(
      grpc::CallbackServerContext* context,
      const v1::ListWorkersRequest* request,
      v1::ListWorkersResponse* response) override;
  grpc::ServerWriteReactor<v1::InvocationEvent>* WatchInvocations(
      grpc::CallbackServerContext* context,
      const v1::WatchInvocationsRequest* request) override;
  grpc::ServerUnaryReactor* GetState(grpc::CallbackServerContext* context,
                                     const v1::GetStateRequest* request,
                                     v1::GetStateResponse* response) override;
  grpc::ServerUnaryReactor* EditState(grpc::CallbackServerContext* context,
                                      const v1::EditStateRequest* request,
                                      v1::EditStateResponse* response) override;
  grpc::ServerUnaryReactor* CancelInvocation(
      grpc::CallbackServerContext* context,
      const v1::InvocationRequest* request,
      v1::ControlResponse* response) override;
  grpc::ServerUnaryReactor* PauseInvocation(
      grpc::CallbackServerContext* context,
      const v1::InvocationRequest* request,
      v1::ControlResponse* response) override;
  grpc::ServerUnaryReactor* ResumeInvocation(
      grpc::CallbackServerContext* context,
      const v1::ResumeInvocationRequest* request,
      v1::ControlResponse* response) override;
  grpc::ServerUnaryReactor* KillInvocation(
      grpc::CallbackServerContext* context,
      const v1::InvocationRequest* request,
      v1::ControlResponse* response) override;
  grpc::ServerUnaryReactor* RetryNowInvocation(
      grpc::CallbackServerContext* context,
      const v1::InvocationRequest* request,
      v1::ControlResponse* response) override;
  grpc::ServerUnaryReactor* PurgeInvocation(
      grpc::CallbackServerContext* context,
      const v1::InvocationRequest* request,
      v1::ControlResponse* response) override;
  grpc::ServerUnaryReactor* RestartInvocation(
      grpc::CallbackServerContext* context,
      const v1::RestartInvocationRequest* request,
      v1::ControlResponse* response) override;

 private:
  // A reactor finished with UNAUTHENTICATED if the call lacks the token;
  // nullptr if it may go on.
  grpc::ServerUnaryReactor* Refuse(grpc::CallbackServerContext* context);
  absl::Status DoList(const v1::ListInvocationsRequest& request,
                      v1::ListInvocationsResponse& response);
  absl::Status DoDescribe(const v1::DescribeInvocationRequest& request,
                          v1::InvocationDescription& response);
  void DoListServices(v1::ListServicesResponse& response);
  // The object (service and key) a state request names, if the service
  // has state: NOT_FOUND or INVALID_ARGUMENT otherwise.
  absl::StatusOr<v1::Target> StateObject(const std::string& service,
                                         const std::string& key) const;
  PartitionId PartitionOfKey(const v1::Target& object) const;
  absl::Status DoDescribeService(const v1::DescribeServiceRequest& request,
                                 v1::ServiceDescription& response);
  // Sets the id `invocation_id` names in `command` by `set_id`, appends it
  // (partition::AppendControl) and answers `response`, whose id is
  // `response_id` (the command's invocation if empty).
  using SetId = void (*)(v1::Command&, std::string);
  grpc::ServerUnaryReactor* Control(grpc::CallbackServerContext* context,
                                    const std::string& invocation_id,
                                    v1::Command command, SetId set_id,
                                    v1::ControlResponse* response);
  // One of the statuses of admin.proto's InvocationSummary.
  std::string StatusName(const InvocationId& id,
                         const v1::InvocationStatus& status) const;
  // Why the invocation is in its status, for operators.
  std::string StatusReason(const InvocationId& id,
                           const v1::InvocationStatus& status,
                           const std::vector<v1::JournalEntry>& journal) const;

  storage::Store& store_;
  const std::vector<partition::PartitionProcessor*> processors_;
  const uint32_t partitions_;
  storage::ServiceRegistry& registry_;
  invoker::Invoker& invoker_;
  InvocationWatch& watch_;
  // When set, every call must carry it (runtime/common/auth.h).
  const std::string token_;
  TaskThread tasks_;
};

}  // namespace reprise::admin
