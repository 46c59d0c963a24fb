#include "runtime/kafka/kafka_ingress.h"

#include "absl/random/random.h"
#include "absl/strings/str_format.h"
#include "reprise/v1/storage.pb.h"
#include "runtime/common/auth.h"
#include "runtime/common/clock.h"
#include "runtime/common/status_convert.h"
#include "runtime/common/status_macros.h"
#include "runtime/kafka/kafka_config.h"

namespace reprise::kafka {
namespace {

constexpr std::string_view kMetadataName = "subscriptions";
constexpr int kMaxBlockedKeys = 20;

std::string NewSubscriptionId() {
  absl::BitGen gen;
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(gen));
}

}  // namespace

absl::StatusOr<std::unique_ptr<KafkaIngress>> KafkaIngress::Start(
    storage::Store& store, log::Log& log, storage::ServiceRegistry& registry,
    KafkaIngressOptions options, std::string token) {
  std::unique_ptr<KafkaIngress> ingress(new KafkaIngress(
      store, log, registry, std::move(options), std::move(token)));
  REPRISE_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                           store.GetMetadata(kMetadataName));
  if (!stored.has_value()) return ingress;
  v1::SubscriptionRegistryData data;
  if (!data.ParseFromString(*stored)) {
    return absl::DataLossError("the stored Kafka subscriptions are corrupt");
  }
  absl::MutexLock lock(&ingress->mu_);
  for (v1::Subscription& subscription : *data.mutable_subscriptions()) {
    std::string name = subscription.name();
    ingress->consumers_[name] = ingress->NewConsumer(std::move(subscription));
  }
  return ingress;
}

KafkaIngress::KafkaIngress(storage::Store& store, log::Log& log,
                           storage::ServiceRegistry& registry,
                           KafkaIngressOptions options, std::string token)
    : store_(store),
      log_(log),
      registry_(registry),
      options_(std::move(options)),
      token_(std::move(token)) {}

// The task thread stops first (members go in reverse order), then the
// consumers.
KafkaIngress::~KafkaIngress() = default;

std::shared_ptr<SubscriptionConsumer> KafkaIngress::NewConsumer(
    v1::Subscription subscription) {
  // The highest mark over the log partitions. Captures what outlives the
  // consumer, not `this`.
  auto applied_offset =
      [&store = store_, partitions = log_.partitions(), id = subscription.id()](
          const std::string& topic,
          int32_t partition) -> absl::StatusOr<std::optional<int64_t>> {
    std::optional<int64_t> highest;
    for (uint32_t p = 0; p < partitions; ++p) {
      REPRISE_ASSIGN_OR_RETURN(
          std::optional<int64_t> applied,
          store.Reader(PartitionId(p))->GetKafkaOffset(id, topic, partition));
      if (applied.has_value())
        highest = std::max(highest.value_or(-1), *applied);
    }
    return highest;
  };
  return std::make_shared<SubscriptionConsumer>(
      std::move(subscription), log_, registry_, std::move(applied_offset),
      options_.consumer);
}

std::vector<v1::Subscription> KafkaIngress::Definitions() {
  std::vector<v1::Subscription> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, consumer] : consumers_) {
    out.push_back(consumer->subscription());
  }
  return out;
}

absl::Status KafkaIngress::Persist(
    const std::vector<v1::Subscription>& subscriptions) {
  v1::SubscriptionRegistryData data;
  for (const v1::Subscription& subscription : subscriptions) {
    *data.add_subscriptions() = subscription;
  }
  return store_.PutMetadata(kMetadataName, data.SerializeAsString());
}

absl::StatusOr<v1::SubscriptionDescription> KafkaIngress::Create(
    v1::Subscription subscription) {
  REPRISE_RETURN_IF_ERROR(ValidateSubscription(subscription, registry_));
  absl::MutexLock write_lock(&write_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (consumers_.contains(subscription.name())) {
      return absl::AlreadyExistsError(absl::StrFormat(
          "subscription %s exists: delete it first, or pick another name",
          subscription.name()));
    }
  }
  using EndOffsets = std::map<int32_t, int64_t>;
  REPRISE_ASSIGN_OR_RETURN(EndOffsets end_offsets,
                           CheckTopic(subscription, options_.check_timeout));
  subscription.clear_start_offsets();  // the runtime's to set
  subscription.set_id(NewSubscriptionId());
  subscription.set_created_at_ms(NowMillis());
  if (subscription.start_position() == v1::START_POSITION_LATEST) {
    subscription.mutable_start_offsets()->insert(end_offsets.begin(),
                                                 end_offsets.end());
  }
  // Stored before it consumes anything.
  std::vector<v1::Subscription> all = Definitions();
  all.push_back(subscription);
  REPRISE_RETURN_IF_ERROR(Persist(all));
  std::shared_ptr<SubscriptionConsumer> consumer =
      NewConsumer(std::move(subscription));
  {
    absl::MutexLock lock(&mu_);
    consumers_[consumer->subscription().name()] = consumer;
  }
  return consumer->Describe();  // new: no invocation of it is paused
}

absl::Status KafkaIngress::Delete(const std::string& name) {
  std::shared_ptr<SubscriptionConsumer> consumer;
  {
    absl::MutexLock write_lock(&write_mu_);
    std::vector<v1::Subscription> rest = Definitions();
    std::erase_if(rest,
                  [&](const v1::Subscription& s) { return s.name() == name; });
    absl::MutexLock lock(&mu_);
    auto it = consumers_.find(name);
    if (it == consumers_.end()) {
      return absl::NotFoundError(
          absl::StrFormat("no subscription named %s", name));
    }
    REPRISE_RETURN_IF_ERROR(Persist(rest));
    consumer = std::move(it->second);
    consumers_.erase(it);
  }
  consumer.reset();  // stops consuming, commits what is durable
  return absl::OkStatus();
}

absl::StatusOr<v1::SubscriptionDescription> KafkaIngress::Describe(
    const std::string& name) {
  std::shared_ptr<SubscriptionConsumer> consumer;
  {
    absl::MutexLock lock(&mu_);
    auto it = consumers_.find(name);
    if (it == consumers_.end()) {
      return absl::NotFoundError(
          absl::StrFormat("no subscription named %s", name));
    }
    consumer = it->second;
  }
  return Full(*consumer);
}

std::vector<v1::SubscriptionDescription> KafkaIngress::List() {
  std::vector<v1::SubscriptionDescription> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, consumer] : consumers_) {
    out.push_back(consumer->Describe());
  }
  return out;
}

v1::SubscriptionDescription KafkaIngress::Full(
    const SubscriptionConsumer& consumer) {
  v1::SubscriptionDescription out = consumer.Describe();
  const std::string& name = out.subscription().name();
  for (uint32_t p = 0; p < log_.partitions(); ++p) {
    absl::Status scanned =
        store_.Reader(PartitionId(p))
            ->ForEachInvocation([&](const InvocationId& id,
                                    const v1::InvocationStatus& status) {
              if (status.subscription() == name &&
                  status.state() == v1::INVOCATION_STATE_PAUSED) {
                v1::BlockedKey* blocked = out.add_blocked_keys();
                blocked->set_key(status.target().key());
                blocked->set_invocation_id(id.ToString());
                blocked->set_status("paused");
              }
              return out.blocked_keys_size() < kMaxBlockedKeys;
            });
    if (!scanned.ok() || out.blocked_keys_size() >= kMaxBlockedKeys) break;
  }
  return out;
}

template <typename Fn>
grpc::ServerUnaryReactor* KafkaIngress::RunTask(
    grpc::CallbackServerContext* context, Fn fn) {
  auto* reactor = context->DefaultReactor();
  if (absl::Status denied = CheckBearerToken(*context, token_); !denied.ok()) {
    reactor->Finish(ToGrpcStatus(denied));
    return reactor;
  }
  tasks_.Post([reactor, fn = std::move(fn)]() mutable {
    reactor->Finish(ToGrpcStatus(fn()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* KafkaIngress::CreateSubscription(
    grpc::CallbackServerContext* context,
    const v1::CreateSubscriptionRequest* request,
    v1::SubscriptionDescription* response) {
  return RunTask(context, [this, request, response]() -> absl::Status {
    REPRISE_ASSIGN_OR_RETURN(*response, Create(request->subscription()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* KafkaIngress::ListSubscriptions(
    grpc::CallbackServerContext* context, const v1::ListSubscriptionsRequest*,
    v1::ListSubscriptionsResponse* response) {
  return RunTask(context, [this, response] {
    for (auto& description : List()) {
      *response->add_subscriptions() = std::move(description);
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* KafkaIngress::DescribeSubscription(
    grpc::CallbackServerContext* context,
    const v1::SubscriptionRequest* request,
    v1::SubscriptionDescription* response) {
  return RunTask(context, [this, request, response]() -> absl::Status {
    REPRISE_ASSIGN_OR_RETURN(*response, Describe(request->name()));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* KafkaIngress::DeleteSubscription(
    grpc::CallbackServerContext* context,
    const v1::SubscriptionRequest* request, v1::DeleteSubscriptionResponse*) {
  return RunTask(context, [this, request] { return Delete(request->name()); });
}

}  // namespace reprise::kafka
