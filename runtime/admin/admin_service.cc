#include "runtime/admin/admin_service.h"

#include <algorithm>
#include <deque>

#include "absl/random/random.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "runtime/common/auth.h"
#include "runtime/common/clock.h"
#include "runtime/common/status_convert.h"
#include "runtime/common/status_macros.h"
#include "runtime/partition/invocation_commands.h"
#include "runtime/state_machine/control.h"

namespace reprise::admin {
namespace {

constexpr uint32_t kDefaultListLimit = 100;
constexpr uint32_t kMaxListLimit = 1000;

// The statuses of admin.proto's InvocationSummary.
constexpr std::string_view kStatusNames[] = {
    "scheduled",   "queued", "pending",   "running", "suspended",
    "backing-off", "paused", "succeeded", "failed"};
constexpr const char* kStatusNamesText =
    "scheduled, queued, pending, running, suspended, backing-off, paused, "
    "succeeded or failed";

bool IsStatusName(std::string_view name) {
  return std::find(std::begin(kStatusNames), std::end(kStatusNames), name) !=
         std::end(kStatusNames);
}

// "inv_..." for a 16-byte id; empty for anything else.
std::string InvocationIdText(const std::string& bytes) {
  auto id = InvocationId::FromBytes(bytes);
  return id.ok() ? id->ToString() : std::string();
}

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

AdminService::AdminService(
    storage::Store& store,
    std::vector<partition::PartitionProcessor*> processors,
    storage::ServiceRegistry& registry, invoker::Invoker& invoker,
    InvocationWatch& watch, std::string token)
    : store_(store),
      processors_(std::move(processors)),
      partitions_(static_cast<uint32_t>(processors_.size())),
      registry_(registry),
      invoker_(invoker),
      watch_(watch),
      token_(std::move(token)) {}

std::string AdminService::StatusName(const InvocationId& id,
                                     const v1::InvocationStatus& status) const {
  const int64_t now_ms = NowMillis();
  if (status.state() != v1::INVOCATION_STATE_INVOKED) {
    return state_machine::StateName(status, now_ms);
  }
  // The invoker tells running from waiting for a worker.
  auto attempt = invoker_.Describe(id);
  if (!attempt.has_value()) {
    // Not handed to the invoker yet: a retry back-off still counts.
    return status.next_retry_at_ms() > now_ms ? "backing-off" : "pending";
  }
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

grpc::ServerUnaryReactor* AdminService::Refuse(
    grpc::CallbackServerContext* context) {
  absl::Status denied = CheckBearerToken(*context, token_);
  if (denied.ok()) return nullptr;
  auto* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(denied));
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::ListInvocations(
    grpc::CallbackServerContext* context,
    const v1::ListInvocationsRequest* request,
    v1::ListInvocationsResponse* response) {
  if (auto* refused = Refuse(context)) return refused;
  return RunOn(tasks_, context, [this, request, response] {
    return DoList(*request, *response);
  });
}

namespace {

// Newest first, then by id: the order of the list and of its pages.
bool ListedBefore(int64_t a_created, const std::string& a_id, int64_t b_created,
                  const std::string& b_id) {
  return a_created != b_created ? a_created > b_created : a_id < b_id;
}

}  // namespace

absl::Status AdminService::DoList(const v1::ListInvocationsRequest& request,
                                  v1::ListInvocationsResponse& response) {
  if (!request.status().empty() && !IsStatusName(request.status())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "unknown status '%s': use %s", request.status(), kStatusNamesText));
  }
  if (request.limit() > kMaxListLimit) {
    return absl::InvalidArgumentError(
        absl::StrFormat("limit %d is over %d: page through the rest with "
                        "page_token",
                        request.limit(), kMaxListLimit));
  }
  // The page token is the last entry of the previous page.
  int64_t after_created = 0;
  std::string after_id;
  if (!request.page_token().empty()) {
    std::pair<std::string, std::string> parts =
        absl::StrSplit(request.page_token(), absl::MaxSplits('/', 1));
    if (!absl::SimpleAtoi(parts.first, &after_created) ||
        parts.second.empty()) {
      return absl::InvalidArgumentError(
          "malformed page_token: pass next_page_token of the previous page");
    }
    after_id = parts.second;
  }
  const uint32_t limit =
      request.limit() == 0 ? kDefaultListLimit : request.limit();
  // The first limit + 1 in list order, of what the scan found so far:
  // memory stays bounded by the page, not by the number of invocations.
  std::vector<v1::InvocationSummary> matches;
  auto order = [](const v1::InvocationSummary& a,
                  const v1::InvocationSummary& b) {
    return ListedBefore(a.created_at_ms(), a.invocation_id(), b.created_at_ms(),
                        b.invocation_id());
  };
  auto keep_first = [&](size_t n) {
    if (matches.size() <= n) return;
    std::nth_element(matches.begin(), matches.begin() + n, matches.end(),
                     order);
    matches.resize(n);
  };
  auto matches_filters = [&](const v1::InvocationStatus& status) {
    const v1::Target& t = status.target();
    return (request.service().empty() || t.service() == request.service()) &&
           (request.handler().empty() || t.handler() == request.handler()) &&
           (request.key().empty() || t.key() == request.key()) &&
           (request.idempotency_key().empty() ||
            status.idempotency_key() == request.idempotency_key()) &&
           (request.created_after_ms() == 0 ||
            status.created_at_ms() >= request.created_after_ms()) &&
           (request.created_before_ms() == 0 ||
            status.created_at_ms() < request.created_before_ms());
  };
  for (uint32_t p = 0; p < partitions_; ++p) {
    REPRISE_RETURN_IF_ERROR(
        store_.Reader(PartitionId(p))
            ->ForEachInvocation([&](const InvocationId& id,
                                    const v1::InvocationStatus& status) {
              if (!matches_filters(status)) return true;
              std::string id_text = id.ToString();
              if (!after_id.empty() &&
                  !ListedBefore(after_created, after_id, status.created_at_ms(),
                                id_text)) {
                return true;
              }
              std::string name = StatusName(id, status);
              if (!request.status().empty() && name != request.status())
                return true;
              v1::InvocationSummary summary;
              summary.set_invocation_id(std::move(id_text));
              *summary.mutable_target() = status.target();
              summary.set_status(std::move(name));
              summary.set_created_at_ms(status.created_at_ms());
              summary.set_modified_at_ms(status.modified_at_ms());
              summary.set_idempotency_key(status.idempotency_key());
              matches.push_back(std::move(summary));
              if (matches.size() > 2 * (limit + 1)) keep_first(limit + 1);
              return true;
            }));
  }
  keep_first(limit + 1);
  std::sort(matches.begin(), matches.end(), order);
  if (matches.size() > limit) {
    matches.resize(limit);
    response.set_truncated(true);
    response.set_next_page_token(absl::StrCat(
        matches.back().created_at_ms(), "/", matches.back().invocation_id()));
  }
  for (auto& m : matches) *response.add_invocations() = std::move(m);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* AdminService::DescribeInvocation(
    grpc::CallbackServerContext* context,
    const v1::DescribeInvocationRequest* request,
    v1::InvocationDescription* response) {
  if (auto* refused = Refuse(context)) return refused;
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
  summary->set_idempotency_key(status->idempotency_key());
  response.set_partition(partition.value());
  response.set_attempts(status->attempt());
  response.set_pinned_version(status->pinned_version());
  if (status->has_last_failure()) {
    const v1::AttemptFailure& failure = status->last_failure();
    auto* view = response.mutable_last_failure();
    view->set_attempt(failure.attempt());
    view->set_message(failure.message());
    if (failure.has_journal_index()) {
      view->set_journal_index(failure.journal_index());
    }
    view->set_failed_at_ms(failure.failed_at_ms());
  }
  response.set_status_reason(StatusReason(id, *status, journal));
  if (status->state() == v1::INVOCATION_STATE_QUEUED) {
    // Name the invocation ahead: a paused one holds up its key's queue.
    REPRISE_ASSIGN_OR_RETURN(auto lock, reader->GetKeyLock(status->target()));
    auto holder = lock.has_value() ? InvocationId::FromBytes(lock->holder())
                                   : absl::NotFoundError("no holder");
    if (holder.ok()) {
      REPRISE_ASSIGN_OR_RETURN(auto held, reader->GetInvocationStatus(*holder));
      if (held.has_value()) {
        response.set_status_reason(absl::StrFormat(
            "queued behind %s (%s), which holds %s key '%s'",
            holder->ToString(), StatusName(*holder, *held),
            status->target().service(), status->target().key()));
      }
    }
  }
  if (status->state() == v1::INVOCATION_STATE_COMPLETED) {
    response.set_completed_at_ms(status->completed_at_ms());
    *response.mutable_result() = status->result();
  }
  // Past retry times belong to attempts that have started.
  if (status->state() == v1::INVOCATION_STATE_INVOKED &&
      status->next_retry_at_ms() > NowMillis()) {
    response.set_next_retry_at_ms(status->next_retry_at_ms());
  }
  *response.mutable_waiting_on() = status->waiting_on();
  response.set_cancellation_pending(status->cancellation_pending());
  for (uint32_t i = 0; i < journal.size(); ++i) {
    const v1::JournalEntry& entry = journal[i];
    auto* view = response.add_journal();
    view->set_index(i);
    view->set_appended_at_ms(entry.appended_at_ms());
    view->set_name(entry.name());
    view->set_completed_at_ms(entry.completed_at_ms());
    switch (entry.kind_case()) {
      case v1::JournalEntry::kInput:
        view->set_kind("input");
        view->mutable_result()->set_value(entry.input().value());
        if (entry.input().has_kafka_record()) {
          *view->mutable_kafka_record() = entry.input().kafka_record();
        }
        break;
      case v1::JournalEntry::kOutput:
        view->set_kind("output");
        *view->mutable_result() = entry.output().result();
        break;
      case v1::JournalEntry::kRun:
        view->set_kind("run");
        *view->mutable_result() = entry.run().result();
        break;
      case v1::JournalEntry::kSleep:
        view->set_kind("sleep");
        view->set_time_ms(entry.sleep().wake_up_at_ms());
        if (entry.sleep().has_failure()) {
          *view->mutable_result()->mutable_failure() = entry.sleep().failure();
        }
        break;
      case v1::JournalEntry::kNow:
        view->set_kind("now");
        view->set_time_ms(entry.now().unix_ms());
        break;
      case v1::JournalEntry::kGetState:
        view->set_kind("get-state");
        if (entry.get_state().has_value()) {
          view->mutable_result()->set_value(entry.get_state().value());
        }
        break;
      case v1::JournalEntry::kSetState:
        view->set_kind("set-state");
        view->mutable_result()->set_value(entry.set_state().value());
        break;
      case v1::JournalEntry::kClearState:
        view->set_kind("clear-state");
        break;
      case v1::JournalEntry::kClearAllState:
        view->set_kind("clear-all-state");
        break;
      case v1::JournalEntry::kGetStateKeys:
        view->set_kind("get-state-keys");
        view->mutable_result()->set_value(
            absl::StrJoin(entry.get_state_keys().keys().keys(), ","));
        break;
      case v1::JournalEntry::kCall:
        view->set_kind("call");
        view->set_invocation_id(InvocationIdText(entry.call().invocation_id()));
        *view->mutable_result() = entry.call().result();
        break;
      case v1::JournalEntry::kAwakeable:
        view->set_kind("awakeable");
        view->set_invocation_id(AwakeableRef{id, i}.ToString());
        *view->mutable_result() = entry.awakeable().result();
        break;
      case v1::JournalEntry::kGetPromise:
        view->set_kind("get-promise");
        *view->mutable_result() = entry.get_promise().result();
        break;
      case v1::JournalEntry::kPeekPromise:
        view->set_kind("peek-promise");
        *view->mutable_result() = entry.peek_promise().completion();
        break;
      case v1::JournalEntry::kCompletePromise:
        view->set_kind("complete-promise");
        *view->mutable_result() =
            entry.complete_promise().result().has_failure()
                ? entry.complete_promise().result()
                : entry.complete_promise().completion();
        break;
      case v1::JournalEntry::kSelect:
        view->set_kind("select");
        view->mutable_result()->set_value(absl::StrCat(
            "entry ",
            entry.select().chosen() <
                    static_cast<uint32_t>(entry.select().candidates_size())
                ? entry.select().candidates(
                      static_cast<int>(entry.select().chosen()))
                : 0,
            " first of ", absl::StrJoin(entry.select().candidates(), ", ")));
        break;
      case v1::JournalEntry::kSend:
        view->set_kind("send");
        view->set_invocation_id(InvocationIdText(entry.send().invocation_id()));
        view->set_time_ms(entry.send().invoke_at_ms());
        if (entry.send().has_failure()) {
          *view->mutable_result()->mutable_failure() = entry.send().failure();
        }
        break;
      case v1::JournalEntry::KIND_NOT_SET:
        view->set_kind("unknown");
        break;
    }
    view->set_size_bytes(static_cast<uint32_t>(
        view->result().has_failure() ? view->result().failure().message().size()
                                     : view->result().value().size()));
  }
  return absl::OkStatus();
}

std::string AdminService::StatusReason(
    const InvocationId& id, const v1::InvocationStatus& status,
    const std::vector<v1::JournalEntry>& journal) const {
  switch (status.state()) {
    case v1::INVOCATION_STATE_COMPLETED:
      return "completed";
    case v1::INVOCATION_STATE_SCHEDULED:
      return absl::StrFormat(
          "scheduled; starts at %s",
          absl::FormatTime(absl::FromUnixMillis(status.next_retry_at_ms()),
                           absl::UTCTimeZone()));
    case v1::INVOCATION_STATE_QUEUED:
      return absl::StrFormat(
          "queued behind the invocation that holds %s key '%s'",
          status.target().service(), status.target().key());
    case v1::INVOCATION_STATE_PAUSED:
      if (status.paused_by_operator()) {
        return "paused by an operator: resume it to run it again";
      }
      return absl::StrFormat(
          "paused after attempt %d failed and the retry policy allows no "
          "more attempts; see the last failure, then resume it",
          status.attempt());
    case v1::INVOCATION_STATE_SUSPENDED: {
      std::vector<std::string> waits;
      for (uint32_t index : status.waiting_on()) {
        if (index < journal.size() && journal[index].has_get_promise()) {
          waits.push_back(absl::StrFormat("promise '%s' (entry %d)",
                                          journal[index].name(), index));
        } else if (index < journal.size() && journal[index].has_awakeable()) {
          waits.push_back(absl::StrFormat("awakeable %s (entry %d)",
                                          AwakeableRef{id, index}.ToString(),
                                          index));
        } else if (index < journal.size() && journal[index].has_call()) {
          waits.push_back(absl::StrFormat(
              "call '%s' (entry %d) to %s", journal[index].name(), index,
              InvocationIdText(journal[index].call().invocation_id())));
        } else if (index < journal.size() && journal[index].has_sleep()) {
          waits.push_back(absl::StrFormat(
              "timer '%s' (entry %d) due at %s", journal[index].name(), index,
              absl::FormatTime(
                  absl::FromUnixMillis(journal[index].sleep().wake_up_at_ms()),
                  absl::UTCTimeZone())));
        } else {
          waits.push_back(absl::StrFormat("entry %d", index));
        }
      }
      return "suspended; waiting for " + absl::StrJoin(waits, " or ");
    }
    default:
      break;
  }
  if (auto attempt = invoker_.Describe(id); attempt.has_value()) {
    return attempt->reason;
  }
  if (status.next_retry_at_ms() > NowMillis()) {
    return absl::StrFormat(
        "attempt %d starts at %s", status.attempt(),
        absl::FormatTime(absl::FromUnixMillis(status.next_retry_at_ms()),
                         absl::UTCTimeZone()));
  }
  return "accepted; waiting to be scheduled";
}

grpc::ServerUnaryReactor* AdminService::ListServices(
    grpc::CallbackServerContext* context,
    const v1::ListServicesRequest* /*request*/,
    v1::ListServicesResponse* response) {
  if (auto* refused = Refuse(context)) return refused;
  auto* reactor = context->DefaultReactor();
  DoListServices(*response);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

namespace {

void ToView(const invoker::WorkerView& worker, v1::WorkerView& view) {
  view.set_worker_id(worker.worker_id);
  view.set_name(worker.name);
  view.set_version(worker.version);
  for (const std::string& s : worker.services) view.add_services(s);
  view.set_capacity(worker.capacity);
  view.set_in_flight(worker.in_flight);
}

}  // namespace

grpc::ServerUnaryReactor* AdminService::DescribeService(
    grpc::CallbackServerContext* context,
    const v1::DescribeServiceRequest* request,
    v1::ServiceDescription* response) {
  if (auto* refused = Refuse(context)) return refused;
  return RunOn(tasks_, context, [this, request, response] {
    return DoDescribeService(*request, *response);
  });
}

absl::Status AdminService::DoDescribeService(
    const v1::DescribeServiceRequest& request,
    v1::ServiceDescription& response) {
  std::optional<v1::RegisteredService> service = registry_.Find(request.name());
  if (!service.has_value()) {
    return absl::NotFoundError(absl::StrFormat(
        "service %s is not registered: no worker serving it has connected",
        request.name()));
  }
  const v1::ServiceDefinition& definition = service->definition();
  response.set_name(definition.name());
  response.set_type(definition.type());
  response.set_version(service->version());
  response.set_registered_at_ms(service->registered_at_ms());
  for (const v1::HandlerDefinition& handler : definition.handlers()) {
    invoker::Invoker::HandlerOptions options =
        invoker_.ResolveOptions(definition, handler);
    auto* h = response.add_handlers();
    h->set_name(handler.name());
    h->set_type(handler.type());
    *h->mutable_retry_policy() = options.retry_policy;
    h->set_inactivity_timeout_ms(
        absl::ToInt64Milliseconds(options.inactivity_timeout));
    h->set_retention_ms(registry_.RetentionMs(definition, handler));
  }
  for (const invoker::WorkerView& worker : invoker_.Workers()) {
    if (std::find(worker.services.begin(), worker.services.end(),
                  definition.name()) != worker.services.end()) {
      ToView(worker, *response.add_workers());
    }
  }
  auto& counts = *response.mutable_invocations_by_status();
  for (uint32_t p = 0; p < partitions_; ++p) {
    REPRISE_RETURN_IF_ERROR(
        store_.Reader(PartitionId(p))
            ->ForEachInvocation([&](const InvocationId& id,
                                    const v1::InvocationStatus& status) {
              if (status.target().service() == definition.name()) {
                ++counts[StatusName(id, status)];
              }
              return true;
            }));
  }
  return absl::OkStatus();
}

namespace {

// A watch refused before it starts.
class RefusedWatch final
    : public grpc::ServerWriteReactor<v1::InvocationEvent> {
 public:
  explicit RefusedWatch(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

// One watch stream: events queue up and are written one at a time. A
// client that falls too far behind is cut off rather than letting the
// queue grow without bound.
class WatchReactor final : public grpc::ServerWriteReactor<v1::InvocationEvent>,
                           public InvocationWatch::Subscriber {
 public:
  WatchReactor(InvocationWatch& watch,
               const v1::WatchInvocationsRequest& filter)
      : watch_(watch) {
    watch_.Subscribe(this, filter);
    // Tells the client it is subscribed: changes from now on reach it.
    StartSendInitialMetadata();
  }

  void Push(const v1::InvocationEvent& event) override {
    absl::MutexLock lock(&mu_);
    if (ending_) return;
    if (queue_.size() >= kMaxQueued) {
      EndLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                             "the watch fell behind: read faster, or filter"));
      return;
    }
    queue_.push_back(event);
    if (!writing_) {
      writing_ = true;
      StartWrite(&queue_.front());
    }
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    writing_ = false;
    queue_.pop_front();
    if (!ok) ending_ = true;  // the client is gone
    if (ending_) {
      FinishLocked();
    } else if (!queue_.empty()) {
      writing_ = true;
      StartWrite(&queue_.front());
    }
  }

  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    EndLocked(grpc::Status::OK);
  }

  void OnDone() override {
    watch_.Unsubscribe(this);
    delete this;
  }

 private:
  static constexpr size_t kMaxQueued = 10000;

  // Finishes once no write is outstanding.
  void EndLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ending_) return;
    ending_ = true;
    status_ = std::move(status);
    if (!writing_) FinishLocked();
  }
  void FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(status_);
  }

  InvocationWatch& watch_;
  absl::Mutex mu_;
  std::deque<v1::InvocationEvent> queue_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

grpc::ServerWriteReactor<v1::InvocationEvent>* AdminService::WatchInvocations(
    grpc::CallbackServerContext* context,
    const v1::WatchInvocationsRequest* request) {
  if (absl::Status denied = CheckBearerToken(*context, token_); !denied.ok()) {
    return new RefusedWatch(ToGrpcStatus(denied));
  }
  // The names the watch reports (a pending invocation is "running").
  if (!request->status().empty() &&
      (!IsStatusName(request->status()) || request->status() == "pending")) {
    return new RefusedWatch(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrFormat("unknown status '%s': watch reports %s, except "
                        "pending (a pending invocation is running there)",
                        request->status(), kStatusNamesText)));
  }
  // Sent when subscribed: tells the client its watch is live.
  context->AddInitialMetadata("reprise-watch", "subscribed");
  return new WatchReactor(watch_, *request);
}

grpc::ServerUnaryReactor* AdminService::ListWorkers(
    grpc::CallbackServerContext* context,
    const v1::ListWorkersRequest* /*request*/,
    v1::ListWorkersResponse* response) {
  if (auto* refused = Refuse(context)) return refused;
  auto* reactor = context->DefaultReactor();
  for (const invoker::WorkerView& worker : invoker_.Workers()) {
    ToView(worker, *response->add_workers());
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

absl::StatusOr<v1::Target> AdminService::StateObject(
    const std::string& service, const std::string& key) const {
  std::optional<v1::RegisteredService> found = registry_.Find(service);
  if (!found.has_value()) {
    return absl::NotFoundError(absl::StrFormat(
        "service %s is not registered: no worker serving it has connected",
        service));
  }
  if (found->definition().type() == v1::SERVICE_TYPE_SERVICE) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is a stateless service: only virtual objects and workflows have "
        "state",
        service));
  }
  if (key.empty()) {
    return absl::InvalidArgumentError(
        "key is required: the object's key or the workflow id");
  }
  v1::Target object;
  object.set_service(service);
  object.set_key(key);
  return object;
}

PartitionId AdminService::PartitionOfKey(const v1::Target& object) const {
  return PartitionForKey(KeyPartitionHash(object.service(), object.key()),
                         partitions_);
}

grpc::ServerUnaryReactor* AdminService::GetState(
    grpc::CallbackServerContext* context, const v1::GetStateRequest* request,
    v1::GetStateResponse* response) {
  if (auto* refused = Refuse(context)) return refused;
  return RunOn(tasks_, context, [this, request, response]() -> absl::Status {
    REPRISE_ASSIGN_OR_RETURN(v1::Target object,
                             StateObject(request->service(), request->key()));
    auto reader = store_.Reader(PartitionOfKey(object));
    if (!request->name().empty()) {
      REPRISE_ASSIGN_OR_RETURN(auto value,
                               reader->GetState(object, request->name()));
      if (!value.has_value()) {
        return absl::NotFoundError(
            absl::StrFormat("%s/%s has no state key '%s'", object.service(),
                            object.key(), request->name()));
      }
      auto* entry = response->add_entries();
      entry->set_name(request->name());
      entry->set_value(*std::move(value));
      return absl::OkStatus();
    }
    return reader->ForEachState(
        object, [&](std::string_view name, std::string_view value) {
          auto* entry = response->add_entries();
          entry->set_name(std::string(name));
          entry->set_value(std::string(value));
          return true;
        });
  });
}

grpc::ServerUnaryReactor* AdminService::EditState(
    grpc::CallbackServerContext* context, const v1::EditStateRequest* request,
    v1::EditStateResponse* /*response*/) {
  if (auto* refused = Refuse(context)) return refused;
  auto* reactor = context->DefaultReactor();
  absl::StatusOr<v1::Target> object =
      StateObject(request->service(), request->key());
  if (object.ok() && !request->clear() && request->name().empty()) {
    object = absl::InvalidArgumentError("name the state key to set");
  }
  if (!object.ok()) {
    reactor->Finish(ToGrpcStatus(object.status()));
    return reactor;
  }
  v1::Command command;
  auto* edit = command.mutable_edit_state();
  *edit->mutable_object() = *object;
  edit->set_name(request->name());
  edit->set_value(request->value());
  edit->set_clear(request->clear());
  processors_[PartitionOfKey(*object).value()]->AppendIfValid(
      std::move(command),
      [object = *object, force = request->force()](
          storage::PartitionReader& reader) -> absl::Status {
        if (force) return absl::OkStatus();
        REPRISE_ASSIGN_OR_RETURN(auto lock, reader.GetKeyLock(object));
        if (!lock.has_value()) return absl::OkStatus();
        auto holder = InvocationId::FromBytes(lock->holder());
        return absl::FailedPreconditionError(absl::StrFormat(
            "invocation %s holds %s/%s: an exclusive handler may be using "
            "its state; wait for it, or --force",
            holder.ok() ? holder->ToString() : "?", object.service(),
            object.key()));
      },
      [reactor](absl::Status status) {
        reactor->Finish(ToGrpcStatus(status));
      });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::Control(
    grpc::CallbackServerContext* context, const std::string& invocation_id,
    v1::Command command, SetId set_id, v1::ControlResponse* response) {
  if (auto* refused = Refuse(context)) return refused;
  auto* reactor = context->DefaultReactor();
  auto id = InvocationId::Parse(invocation_id);
  if (!id.ok()) {
    reactor->Finish(ToGrpcStatus(id.status()));
    return reactor;
  }
  set_id(command, id->ToBytes());
  if (response->invocation_id().empty()) {
    response->set_invocation_id(id->ToString());
  }
  PartitionId partition = PartitionForKey(id->partition_key(), partitions_);
  partition::AppendControl(*processors_[partition.value()], *id,
                           std::move(command), [reactor](absl::Status status) {
                             reactor->Finish(ToGrpcStatus(status));
                           });
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::CancelInvocation(
    grpc::CallbackServerContext* context, const v1::InvocationRequest* request,
    v1::ControlResponse* response) {
  return Control(
      context, request->invocation_id(), v1::Command(),
      [](v1::Command& c, std::string id) {
        c.mutable_cancel()->set_invocation_id(std::move(id));
      },
      response);
}

grpc::ServerUnaryReactor* AdminService::PauseInvocation(
    grpc::CallbackServerContext* context, const v1::InvocationRequest* request,
    v1::ControlResponse* response) {
  return Control(
      context, request->invocation_id(), v1::Command(),
      [](v1::Command& c, std::string id) {
        c.mutable_pause()->set_invocation_id(std::move(id));
      },
      response);
}

grpc::ServerUnaryReactor* AdminService::ResumeInvocation(
    grpc::CallbackServerContext* context,
    const v1::ResumeInvocationRequest* request, v1::ControlResponse* response) {
  v1::Command command;
  command.mutable_resume()->set_version(request->version());
  return Control(
      context, request->invocation_id(), std::move(command),
      [](v1::Command& c, std::string id) {
        c.mutable_resume()->set_invocation_id(std::move(id));
      },
      response);
}

grpc::ServerUnaryReactor* AdminService::KillInvocation(
    grpc::CallbackServerContext* context, const v1::InvocationRequest* request,
    v1::ControlResponse* response) {
  return Control(
      context, request->invocation_id(), v1::Command(),
      [](v1::Command& c, std::string id) {
        c.mutable_kill()->set_invocation_id(std::move(id));
      },
      response);
}

grpc::ServerUnaryReactor* AdminService::RetryNowInvocation(
    grpc::CallbackServerContext* context, const v1::InvocationRequest* request,
    v1::ControlResponse* response) {
  return Control(
      context, request->invocation_id(), v1::Command(),
      [](v1::Command& c, std::string id) {
        c.mutable_retry_now()->set_invocation_id(std::move(id));
      },
      response);
}

grpc::ServerUnaryReactor* AdminService::PurgeInvocation(
    grpc::CallbackServerContext* context, const v1::InvocationRequest* request,
    v1::ControlResponse* response) {
  return Control(
      context, request->invocation_id(), v1::Command(),
      [](v1::Command& c, std::string id) {
        c.mutable_purge()->set_invocation_id(std::move(id));
      },
      response);
}

grpc::ServerUnaryReactor* AdminService::RestartInvocation(
    grpc::CallbackServerContext* context,
    const v1::RestartInvocationRequest* request,
    v1::ControlResponse* response) {
  auto old = InvocationId::Parse(request->invocation_id());
  v1::Command command;
  if (old.ok()) {
    // On the old one's partition, so one command creates it atomically.
    absl::BitGen random;
    const InvocationId fresh(old->partition_key(),
                             absl::Uniform<uint64_t>(random));
    command.mutable_restart()->set_new_invocation_id(fresh.ToBytes());
    response->set_invocation_id(fresh.ToString());
  }
  command.mutable_restart()->set_from(std::max(request->from(), 1u));
  return Control(
      context, request->invocation_id(), std::move(command),
      [](v1::Command& c, std::string id) {
        c.mutable_restart()->set_invocation_id(std::move(id));
      },
      response);
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
