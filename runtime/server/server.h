// Server: the composition root. Owns every component of one runtime node,
// starts them in dependency order (data dir, log, store, registry, invoker,
// partition processors, Kafka subscriptions, then the gRPC listeners) and stops
// them in reverse.
//
// Thread-safety: Start and the destructor from one thread; accessors from any.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/common/auth.h"
#include "runtime/partition/log_trimmer.h"
#include "runtime/partition/partition_processor.h"

namespace grpc {
class Server;
}

namespace reprise {
namespace admin {
class AdminService;
class InvocationWatch;
}  // namespace admin
namespace ingress {
class CompletionWaiters;
class IngressService;
}  // namespace ingress
namespace invoker {
class Invoker;
class WorkerServiceImpl;
}  // namespace invoker
namespace kafka {
class KafkaIngress;
}
namespace log {
class EmbeddedLog;
}
namespace storage {
class ServiceRegistry;
class Store;
}  // namespace storage
namespace partition {
class OutboxSender;
}
namespace timers {
class TimerService;
}
}  // namespace reprise

namespace reprise::server {

struct ServerOptions {
  std::string data_dir = ".reprise/data";
  std::string ingress_address = "127.0.0.1:9080";
  std::string worker_address = "127.0.0.1:9090";
  std::string admin_address = "127.0.0.1:9070";
  uint32_t partitions = 4;
  size_t max_payload_bytes = 4 << 20;
  size_t eager_state_limit_bytes = 64 << 10;
  // How long a completed invocation is kept when its handler and service
  // declare no retention.
  absl::Duration default_retention = absl::Hours(24);
  // How often the log is trimmed up to what the partition store has made
  // durable (each trim costs two syncs; between trims the log grows).
  absl::Duration log_trim_interval = absl::Seconds(10);
  // A partition's log is trimmed once at least this many records can go.
  uint64_t log_trim_min_records = 1000;
  // When set, calls to the admin and worker ports must carry it.
  std::string token;
  // TLS for every listener when `tls.cert` is set; mutual TLS with
  // `tls.client_ca`.
  TlsFiles tls;
};

class Server final : public partition::LeaderActions {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options);
  ~Server() override;

  // Addresses actually bound (the port is filled in when 0 was asked for).
  const std::string& ingress_address() const { return ingress_address_; }
  const std::string& worker_address() const { return worker_address_; }
  const std::string& admin_address() const { return admin_address_; }

  void Execute(PartitionId partition, state_machine::Action action) override;

 private:
  explicit Server(ServerOptions options);
  absl::Status Init();

  const ServerOptions options_;
  std::unique_ptr<log::EmbeddedLog> log_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::ServiceRegistry> registry_;
  std::unique_ptr<ingress::CompletionWaiters> waiters_;
  std::unique_ptr<admin::InvocationWatch> watch_;
  std::unique_ptr<invoker::Invoker> invoker_;
  std::unique_ptr<timers::TimerService> timers_;
  std::unique_ptr<partition::OutboxSender> outbox_;
  std::vector<std::unique_ptr<partition::PartitionProcessor>> processors_;
  std::unique_ptr<partition::LogTrimmer> trimmer_;
  std::unique_ptr<invoker::WorkerServiceImpl> worker_service_;
  std::unique_ptr<ingress::IngressService> ingress_service_;
  std::unique_ptr<kafka::KafkaIngress> kafka_;
  std::unique_ptr<admin::AdminService> admin_service_;
  std::vector<std::unique_ptr<grpc::Server>> grpc_servers_;
  std::string ingress_address_, worker_address_, admin_address_;
};

}  // namespace reprise::server
