#include "runtime/server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include <thread>

#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "runtime/admin/admin_service.h"
#include "runtime/admin/invocation_watch.h"
#include "runtime/common/logging.h"
#include "runtime/common/status_macros.h"
#include "runtime/ingress/completion_waiters.h"
#include "runtime/ingress/ingress_service.h"
#include "runtime/invoker/invoker.h"
#include "runtime/invoker/worker_service.h"
#include "runtime/kafka/kafka_ingress.h"
#include "runtime/log/embedded_log.h"
#include "runtime/partition/outbox_sender.h"
#include "runtime/server/data_dir.h"
#include "runtime/storage/partition_store.h"
#include "runtime/storage/service_registry.h"
#include "runtime/timers/timer_service.h"

namespace reprise::server {
namespace {

// Journals replayed to workers can be much larger than one payload.
constexpr int kMaxWorkerMessageBytes = 256 << 20;

// Starts a gRPC server for `services` on `address`; returns the bound
// address.
absl::StatusOr<std::string> Listen(
    const std::string& address, std::vector<grpc::Service*> services,
    int max_message,
    const std::shared_ptr<grpc::ServerCredentials>& credentials,
    std::vector<std::unique_ptr<grpc::Server>>& out) {
  std::vector<std::string> parts =
      absl::StrSplit(address, absl::MaxSplits(':', 1));
  if (parts.size() != 2 || parts[0].empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "invalid listen address '%s': expected host:port", address));
  }
  grpc::ServerBuilder builder;
  // gRPC enables SO_REUSEPORT by default, which would let a second process
  // bind the same port and silently take half of the connections.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  int port = 0;
  builder.AddListeningPort(address, credentials, &port);
  for (grpc::Service* service : services) builder.RegisterService(service);
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(kMaxWorkerMessageBytes);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return absl::UnavailableError(absl::StrFormat(
        "cannot listen on %s (is the port in use? with TLS: are the "
        "certificate and key valid PEM, and do they match?)",
        address));
  }
  out.push_back(std::move(server));
  return absl::StrFormat("%s:%d", parts[0], port);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options) {
  if (options.partitions == 0 || options.partitions > 1024) {
    return absl::InvalidArgumentError(
        "--partitions must be between 1 and 1024");
  }
  if (options.max_payload_bytes == 0 ||
      options.max_payload_bytes > (64u << 20)) {
    return absl::InvalidArgumentError(
        "--max-payload-bytes must be between 1 and 67108864");
  }
  std::unique_ptr<Server> server(new Server(std::move(options)));
  REPRISE_RETURN_IF_ERROR(server->Init());
  return server;
}

Server::Server(ServerOptions options) : options_(std::move(options)) {}

absl::Status Server::Init() {
  // First: a TLS file that cannot be read fails the start before recovery.
  REPRISE_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials,
                           ServerCredentials(options_.tls));
  REPRISE_RETURN_IF_ERROR(
      PrepareDataDir(options_.data_dir, options_.partitions));
  REPRISE_ASSIGN_OR_RETURN(
      log_,
      log::EmbeddedLog::Open(options_.data_dir + "/log", options_.partitions));
  REPRISE_ASSIGN_OR_RETURN(store_,
                           storage::Store::Open(options_.data_dir + "/state"));
  REPRISE_ASSIGN_OR_RETURN(
      registry_, storage::ServiceRegistry::Load(
                     *store_, static_cast<uint64_t>(absl::ToInt64Milliseconds(
                                  options_.default_retention))));
  waiters_ = std::make_unique<ingress::CompletionWaiters>();
  invoker_ = std::make_unique<invoker::Invoker>(*log_, *registry_,
                                                invoker::InvokerOptions());
  timers_ = std::make_unique<timers::TimerService>(*log_);
  outbox_ = std::make_unique<partition::OutboxSender>(*log_);
  watch_ = std::make_unique<admin::InvocationWatch>();
  std::vector<partition::PartitionProcessor*> processors;
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    processors_.push_back(std::make_unique<partition::PartitionProcessor>(
        PartitionId(p), *log_, *store_, *this,
        partition::PartitionProcessorOptions{options_.eager_state_limit_bytes,
                                             watch_.get()}));
    processors.push_back(processors_.back().get());
  }
  log_->SetTailListener([this](PartitionId p, Lsn tail) {
    processors_[p.value()]->OnTailAdvanced(tail);
  });
  // Recovery scans each partition's tables; the partitions do it at once.
  std::vector<absl::Status> started(processors_.size());
  {
    std::vector<std::thread> threads;
    for (size_t p = 0; p < processors_.size(); ++p) {
      threads.emplace_back([&, p] { started[p] = processors_[p]->Start(); });
    }
    for (std::thread& t : threads) t.join();
  }
  for (const absl::Status& status : started) REPRISE_RETURN_IF_ERROR(status);
  trimmer_ = std::make_unique<partition::LogTrimmer>(
      *log_, *store_, options_.log_trim_interval,
      options_.log_trim_min_records);

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  worker_service_ =
      std::make_unique<invoker::WorkerServiceImpl>(*invoker_, options_.token);
  ingress_service_ = std::make_unique<ingress::IngressService>(
      *log_, *registry_, processors, *waiters_,
      ingress::IngressOptions{options_.max_payload_bytes});
  REPRISE_ASSIGN_OR_RETURN(
      kafka_,
      kafka::KafkaIngress::Start(*store_, *log_, *registry_,
                                 kafka::KafkaIngressOptions(), options_.token));
  admin_service_ = std::make_unique<admin::AdminService>(
      *store_, processors, *registry_, *invoker_, *watch_, options_.token);
  // The transport limit leaves room for the request's other fields; the
  // payload limit itself is checked by the ingress with a clear message.
  REPRISE_ASSIGN_OR_RETURN(
      ingress_address_,
      Listen(options_.ingress_address, {ingress_service_.get()},
             static_cast<int>(options_.max_payload_bytes) + (64 << 10),
             credentials, grpc_servers_));
  REPRISE_ASSIGN_OR_RETURN(
      worker_address_,
      Listen(options_.worker_address, {worker_service_.get()},
             kMaxWorkerMessageBytes, credentials, grpc_servers_));
  REPRISE_ASSIGN_OR_RETURN(
      admin_address_,
      Listen(options_.admin_address, {admin_service_.get(), kafka_.get()},
             4 << 20, credentials, grpc_servers_));
  return absl::OkStatus();
}

Server::~Server() {
  // Order matters: each step may still call into what is stopped after it.
  // 1. Callers waiting for a completion are answered, so that the ingress
  //    shutdown does not wait for invocations that will not finish now.
  if (waiters_ != nullptr) {
    waiters_->CloseAll(absl::UnavailableError(
        "the runtime is stopping; attach to the invocation again later"));
  }
  // 2. Listeners: ingress first, then workers and admin. The processors
  //    still run, so pending attach queries are answered.
  auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(2);
  for (auto& server : grpc_servers_) server->Shutdown(deadline);
  grpc_servers_.clear();
  // 3. Kafka consumers stop appending and commit what is durable.
  kafka_.reset();
  // 4. Processors stop applying; the invoker and the timers stop proposing;
  //    the log then drains its queue (its tail listener still finds the
  //    stopped processors) and stops its thread.
  for (auto& processor : processors_) processor->Stop();
  trimmer_.reset();
  invoker_.reset();
  timers_.reset();
  // The log's destructor runs the callbacks of pending appends, some the
  // outbox sender's: it stops appending first and is destroyed last.
  if (outbox_ != nullptr) outbox_->Stop();
  log_.reset();
  outbox_.reset();
}

void Server::Execute(PartitionId partition, state_machine::Action action) {
  using namespace state_machine;  // NOLINT(google-build-using-namespace)
  if (auto* start = std::get_if<StartAttemptAction>(&action)) {
    invoker_->StartAttempt(partition, std::move(*start));
  } else if (auto* ack = std::get_if<EntryAckAction>(&action)) {
    invoker_->OnEntryAck(*ack);
  } else if (auto* completed = std::get_if<EntryCompletedAction>(&action)) {
    invoker_->OnEntryCompleted(*completed);
  } else if (auto* timer = std::get_if<RegisterTimerAction>(&action)) {
    timers_->Schedule(partition, timer->invocation_id, timer->index,
                      timer->wake_up_at_ms);
  } else if (auto* parked = std::get_if<InvocationParkedAction>(&action)) {
    invoker_->OnFinished(parked->invocation_id);
  } else if (auto* abort = std::get_if<AbortAttemptAction>(&action)) {
    invoker_->AbortAttempt(abort->invocation_id, abort->attempt,
                           std::move(abort->reason));
  } else if (auto* done = std::get_if<InvocationCompletedAction>(&action)) {
    waiters_->Complete(done->invocation_id, done->result);
  } else if (auto* out = std::get_if<OutboxAction>(&action)) {
    outbox_->Send(partition, out->seq, out->destination, out->command);
  }
}

}  // namespace reprise::server
