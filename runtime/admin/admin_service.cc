#include "runtime/admin/admin_service.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "runtime/common/status_convert.h"
#include "runtime/common/status_macros.h"

namespace reprise::admin {
namespace {

constexpr uint32_t kDefaultListLimit = 100;

template <typename Fn>
grpc::ServerUnaryReactor* RunOn(TaskThread& tasks,
                                grpc::CallbackServerContext* context, Fn fn) {
  auto* reactor = context->DefaultReactor();
  tasks.Post([reactor, fn = std::move(fn)]() mutable {
    reactor->Finish(ToGrpcStatus(fn()));
  });
  return reactor;
}

}  // namespace

AdminService::AdminService(storage::Store& store, uint32_t partitions,
                           storage::ServiceRegistry& registry,
                           invoker::Invoker& invoker)
    : store_(store),
      partitions_(partitions),
      registry_(registry),
      invoker_(invoker) {}

std::string AdminService::StatusName(const InvocationId& id,
                                     const v1::InvocationStatus& status) const {
  if (status.state() == v1::INVOCATION_STATE_COMPLETED) {
    return status.result().has_failure() ? "failed" : "succeeded";
  }
  auto attempt = invoker_.Describe(id);
  if (!attempt.has_value()) return "pending";
  switch (attempt->state) {
    case invoker::AttemptView::State::kRunning:
      return "running";
    case invoker::AttemptView::State::kBackingOff:
      return "backing-off";
    case invoker::AttemptView::State::kPending:
      break;
  }
  return "pending";
}

grpc::ServerUnaryReactor* AdminService::ListInvocations(
    grpc::CallbackServerContext* context,
    const v1::ListInvocationsRequest* request,
    v1::ListInvocationsResponse* response) {
  return RunOn(tasks_, context, [this, request, response] {
    return DoList(*request, *response);
  });
}

absl::Status AdminService::DoList(const v1::ListInvocationsRequest& request,
                                  v1::ListInvocationsResponse& response) {
  static const char* kStatuses[] = {"pending", "running", "backing-off",
                                    "succeeded", "failed"};
  if (!request.status().empty() &&
      std::find(std::begin(kStatuses), std::end(kStatuses), request.status()) ==
          std::end(kStatuses)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "unknown status '%s': use pending, running, backing-off, succeeded or "
        "failed",
        request.status()));
  }
  const uint32_t limit =
      request.limit() == 0 ? kDefaultListLimit : request.limit();
  std::vector<v1::InvocationSummary> matches;
  for (uint32_t p = 0; p < partitions_; ++p) {
    REPRISE_RETURN_IF_ERROR(
        store_.Reader(PartitionId(p))
            ->ForEachInvocation([&](const InvocationId& id,
                                    const v1::InvocationStatus& status) {
              if (!request.service().empty() &&
                  status.target().service() != request.service()) {
                return true;
              }
              std::string name = StatusName(id, status);
              if (!request.status().empty() && name != request.status())
                return true;
              v1::InvocationSummary summary;
              summary.set_invocation_id(id.ToString());
              *summary.mutable_target() = status.target();
              summary.set_status(std::move(name));
              summary.set_created_at_ms(status.created_at_ms());
              summary.set_modified_at_ms(status.modified_at_ms());
              matches.push_back(std::move(summary));
              return true;
            }));
  }
  std::sort(matches.begin(), matches.end(), [](const auto& a, const auto& b) {
    return a.created_at_ms() != b.created_at_ms()
               ? a.created_at_ms() > b.created_at_ms()
               : a.invocation_id() < b.invocation_id();
  });
  response.set_truncated(matches.size() > limit);
  if (matches.size() > limit) matches.resize(limit);
  for (auto& m : matches) *response.add_invocations() = std::move(m);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* AdminService::DescribeInvocation(
    grpc::CallbackServerContext* context,
    const v1::DescribeInvocationRequest* request,
    v1::InvocationDescription* response) {
  return RunOn(tasks_, context, [this, request, response] {
    return DoDescribe(*request, *response);
  });
}

absl::Status AdminService::DoDescribe(
    const v1::DescribeInvocationRequest& request,
    v1::InvocationDescription& response) {
  REPRISE_ASSIGN_OR_RETURN(InvocationId id,
                           InvocationId::Parse(request.invocation_id()));
  PartitionId partition = PartitionForKey(id.partition_key(), partitions_);
  auto reader = store_.Reader(partition);
  REPRISE_ASSIGN_OR_RETURN(auto status, reader->GetInvocationStatus(id));
  if (!status.has_value()) {
    return absl::NotFoundError(
        absl::StrFormat("no invocation %s", request.invocation_id()));
  }
  REPRISE_ASSIGN_OR_RETURN(auto journal, reader->GetJournal(id));
  auto* summary = response.mutable_summary();
  summary->set_invocation_id(id.ToString());
  *summary->mutable_target() = status->target();
  summary->set_status(StatusName(id, *status));
  summary->set_created_at_ms(status->created_at_ms());
  summary->set_modified_at_ms(status->modified_at_ms());
  response.set_partition(partition.value());
  if (status->state() == v1::INVOCATION_STATE_COMPLETED) {
    response.set_completed_at_ms(status->completed_at_ms());
    *response.mutable_result() = status->result();
    response.set_status_reason("completed");
  } else if (auto attempt = invoker_.Describe(id); attempt.has_value()) {
    response.set_status_reason(attempt->reason);
    response.set_attempts(attempt->attempts);
  } else {
    response.set_status_reason("accepted; waiting to be scheduled");
  }
  for (uint32_t i = 0; i < journal.size(); ++i) {
    const v1::JournalEntry& entry = journal[i];
    auto* view = response.add_journal();
    view->set_index(i);
    view->set_appended_at_ms(entry.appended_at_ms());
    if (entry.has_input()) {
      view->set_kind("input");
      view->set_size_bytes(static_cast<uint32_t>(entry.input().value().size()));
      view->mutable_result()->set_value(entry.input().value());
    } else if (entry.has_output()) {
      view->set_kind("output");
      *view->mutable_result() = entry.output().result();
      view->set_size_bytes(
          static_cast<uint32_t>(entry.output().result().value().size()));
    } else {
      view->set_kind("unknown");
    }
  }
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* AdminService::ListServices(
    grpc::CallbackServerContext* context,
    const v1::ListServicesRequest* /*request*/,
    v1::ListServicesResponse* response) {
  auto* reactor = context->DefaultReactor();
  DoListServices(*response);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

void AdminService::DoListServices(v1::ListServicesResponse& response) {
  auto workers = invoker_.Workers();
  for (const auto& service : registry_.List()) {
    auto* view = response.add_services();
    view->set_name(service.definition().name());
    view->set_type(service.definition().type());
    view->set_version(service.version());
    for (const auto& handler : service.definition().handlers()) {
      auto* h = view->add_handlers();
      h->set_name(handler.name());
      h->set_type(handler.type());
    }
    uint32_t connected = 0;
    for (const auto& worker : workers) {
      if (std::find(worker.services.begin(), worker.services.end(),
                    service.definition().name()) != worker.services.end()) {
        ++connected;
      }
    }
    view->set_connected_workers(connected);
  }
}

}  // namespace reprise::admin
