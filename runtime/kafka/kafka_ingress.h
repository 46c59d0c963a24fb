// KafkaIngress: the Kafka subscriptions of this runtime. It keeps their
// definitions in the metadata table (durable across restarts), runs one
// SubscriptionConsumer per subscription, and answers the Subscriptions API
// (subscriptions.proto) on the admin port.
//
// Thread-safety: all methods may be called from any thread; Create blocks
// up to the cluster check's timeout, so gRPC reactions hand it to a task
// thread. Ownership: borrows the store, log and registry, which must
// outlive it; the destructor stops every consumer.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "reprise/v1/subscriptions.grpc.pb.h"
#include "runtime/common/task_thread.h"
#include "runtime/kafka/subscription_consumer.h"
#include "runtime/log/log.h"
#include "runtime/storage/partition_store.h"
#include "runtime/storage/service_registry.h"

namespace reprise::kafka {

struct KafkaIngressOptions {
  // How long Create waits for the cluster to list its topics.
  absl::Duration check_timeout = absl::Seconds(5);
  ConsumerOptions consumer;
};

class KafkaIngress final : public v1::Subscriptions::CallbackService {
 public:
  // Starts the consumers of the stored subscriptions. `token`: as the
  // admin API's.
  static absl::StatusOr<std::unique_ptr<KafkaIngress>> Start(
      storage::Store& store, log::Log& log, storage::ServiceRegistry& registry,
      KafkaIngressOptions options, std::string token);
  ~KafkaIngress() override;

  // Validates, checks the cluster, stores and starts `subscription`.
  absl::StatusOr<v1::SubscriptionDescription> Create(
      v1::Subscription subscription);
  absl::Status Delete(const std::string& name);
  absl::StatusOr<v1::SubscriptionDescription> Describe(const std::string& name);
  std::vector<v1::SubscriptionDescription> List();

  grpc::ServerUnaryReactor* CreateSubscription(
      grpc::CallbackServerContext* context,
      const v1::CreateSubscriptionRequest* request,
      v1::SubscriptionDescription* response) override;
  grpc::ServerUnaryReactor* ListSubscriptions(
      grpc::CallbackServerContext* context,
      const v1::ListSubscriptionsRequest* request,
      v1::ListSubscriptionsResponse* response) override;
  grpc::ServerUnaryReactor* DescribeSubscription(
      grpc::CallbackServerContext* context,
      const v1::SubscriptionRequest* request,
      v1::SubscriptionDescription* response) override;
  grpc::ServerUnaryReactor* DeleteSubscription(
      grpc::CallbackServerContext* context,
      const v1::SubscriptionRequest* request,
      v1::DeleteSubscriptionResponse* response) override;

 private:
  KafkaIngress(storage::Store& store, log::Log& log,
               storage::ServiceRegistry& registry, KafkaIngressOptions options,
               std::string token);
  std::shared_ptr<SubscriptionConsumer> NewConsumer(
      v1::Subscription subscription);
  // The definitions of the running subscriptions.
  std::vector<v1::Subscription> Definitions() ABSL_LOCKS_EXCLUDED(mu_);
  // Writes `subscriptions` to the metadata table (a synced write).
  absl::Status Persist(const std::vector<v1::Subscription>& subscriptions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The consumer's description with the keys that paused invocations of
  // its records hold up (a store scan).
  v1::SubscriptionDescription Full(const SubscriptionConsumer& consumer);
  // Runs `fn` on the task thread and answers `context`'s call with it.
  template <typename Fn>
  grpc::ServerUnaryReactor* RunTask(grpc::CallbackServerContext* context,
                                    Fn fn);

  storage::Store& store_;
  log::Log& log_;
  storage::ServiceRegistry& registry_;
  const KafkaIngressOptions options_;
  const std::string token_;
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);  // serializes Create, Delete
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<SubscriptionConsumer>> consumers_
      ABSL_GUARDED_BY(mu_);
  TaskThread tasks_;  // last: stopped first
};

}  // namespace reprise::kafka
