#include "runtime/kafka/kafka_config.h"

#include <algorithm>
#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "runtime/common/status_macros.h"

namespace reprise::kafka {
namespace {

// Options a subscription may not pass: the runtime sets them, or they
// would let an admin API caller run code in the server.
constexpr std::array<std::pair<std::string_view, std::string_view>, 8>
    kReservedOptions = {{
        {"bootstrap.servers", "use the bootstrap servers field"},
        {"group.id",
         "the runtime names the group reprise-<name>-<id>, so that no two "
         "subscriptions share one"},
        {"enable.auto.commit",
         "the runtime commits offsets once records are durable invocations"},
        {"enable.auto.offset.store",
         "the runtime commits offsets once records are durable invocations"},
        {"auto.offset.reset", "use the start position"},
        {"group.instance.id", "not supported"},
        {"sasl.kerberos.kinit.cmd",
         "it runs a command on the runtime's machine; leave the default"},
        {"plugin.library.paths", "it loads code into the runtime"},
    }};

constexpr size_t kMaxTopicLength = 249;

absl::Status SetOption(RdKafka::Conf& conf, const std::string& name,
                       const std::string& value) {
  std::string error;
  if (conf.set(name, value, error) != RdKafka::Conf::CONF_OK) {
    return absl::InvalidArgumentError(
        absl::StrFormat("Kafka option %s: %s", name, error));
  }
  return absl::OkStatus();
}

bool ValidTopic(const std::string& topic) {
  if (topic.empty() || topic.size() > kMaxTopicLength || topic == "." ||
      topic == "..") {
    return false;
  }
  return std::all_of(topic.begin(), topic.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
           c == '_' || c == '-';
  });
}

bool IsKeyed(v1::ServiceType type) { return type != v1::SERVICE_TYPE_SERVICE; }

}  // namespace

std::string DefaultGroupId(const v1::Subscription& subscription) {
  return absl::StrCat("reprise-", subscription.name(), "-", subscription.id());
}

absl::StatusOr<std::unique_ptr<RdKafka::Conf>> ConsumerConf(
    const v1::Subscription& subscription) {
  std::unique_ptr<RdKafka::Conf> conf(
      RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  for (const auto& [name, value] : subscription.options()) {
    for (const auto& [reserved, why] : kReservedOptions) {
      if (name == reserved) {
        return absl::InvalidArgumentError(
            absl::StrFormat("Kafka option %s cannot be set: %s", name, why));
      }
    }
    REPRISE_RETURN_IF_ERROR(SetOption(*conf, name, value));
  }
  REPRISE_RETURN_IF_ERROR(
      SetOption(*conf, "bootstrap.servers", subscription.bootstrap_servers()));
  REPRISE_RETURN_IF_ERROR(
      SetOption(*conf, "group.id", DefaultGroupId(subscription)));
  if (!subscription.options().contains("client.id")) {
    REPRISE_RETURN_IF_ERROR(
        SetOption(*conf, "client.id", "reprise-" + subscription.name()));
  }
  REPRISE_RETURN_IF_ERROR(SetOption(*conf, "enable.auto.commit", "false"));
  REPRISE_RETURN_IF_ERROR(
      SetOption(*conf, "enable.auto.offset.store", "false"));
  // LATEST is carried out with the start offsets instead: "latest" would
  // skip what is produced before the group's first assignment.
  REPRISE_RETURN_IF_ERROR(SetOption(*conf, "auto.offset.reset", "earliest"));
  return conf;
}

absl::Status ValidateSubscription(const v1::Subscription& subscription,
                                  const storage::ServiceRegistry& registry) {
  REPRISE_RETURN_IF_ERROR(
      storage::ValidateName(subscription.name(), "subscription name"));
  if (!ValidTopic(subscription.topic())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "topic '%s' is not a valid Kafka topic name: 1 to %d characters of "
        "[A-Za-z0-9._-]",
        subscription.topic(), kMaxTopicLength));
  }
  if (subscription.bootstrap_servers().empty()) {
    return absl::InvalidArgumentError(
        "bootstrap_servers is required, e.g. \"broker1:9092,broker2:9092\"");
  }
  if (subscription.start_position() != v1::START_POSITION_LATEST &&
      subscription.start_position() != v1::START_POSITION_EARLIEST) {
    return absl::InvalidArgumentError(
        "start_position must be LATEST or EARLIEST");
  }
  const v1::Target& target = subscription.target();
  if (target.service().empty() || target.handler().empty()) {
    return absl::InvalidArgumentError(
        "target.service and target.handler are required");
  }
  if (!target.key().empty()) {
    return absl::InvalidArgumentError(
        "target.key must be empty: each record's key names the object");
  }
  std::optional<v1::RegisteredService> service =
      registry.Find(target.service());
  if (!service.has_value()) {
    return absl::NotFoundError(absl::StrFormat(
        "service %s is not registered: start a worker that serves it first",
        target.service()));
  }
  v1::Target probe = target;
  if (IsKeyed(service->definition().type())) probe.set_key("k");
  REPRISE_RETURN_IF_ERROR(registry.Resolve(probe).status());
  // The options must be ones librdkafka knows, with valid values.
  return ConsumerConf(subscription).status();
}

absl::StatusOr<std::map<int32_t, int64_t>> CheckTopic(
    const v1::Subscription& subscription, absl::Duration timeout) {
  REPRISE_ASSIGN_OR_RETURN(std::unique_ptr<RdKafka::Conf> conf,
                           ConsumerConf(subscription));
  std::string error;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer(
      RdKafka::KafkaConsumer::create(conf.get(), error));
  if (consumer == nullptr) {
    return absl::InvalidArgumentError("cannot create a Kafka client: " + error);
  }
  // One deadline for all the requests.
  const absl::Time deadline = absl::Now() + timeout;
  auto timeout_ms = [&] {
    return static_cast<int>(std::max<int64_t>(
        1, absl::ToInt64Milliseconds(deadline - absl::Now())));
  };
  auto unanswered = [&](RdKafka::ErrorCode err) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "the Kafka cluster at %s did not answer within %s (%s): check "
        "bootstrap_servers and the security options",
        subscription.bootstrap_servers(), absl::FormatDuration(timeout),
        RdKafka::err2str(err)));
  };
  // All topics, not the one: asking for one could create it on a cluster
  // that creates topics on demand.
  RdKafka::Metadata* raw = nullptr;
  RdKafka::ErrorCode err =
      consumer->metadata(/*all_topics=*/true, nullptr, &raw, timeout_ms());
  std::unique_ptr<RdKafka::Metadata> metadata(raw);
  if (err != RdKafka::ERR_NO_ERROR) return unanswered(err);
  const RdKafka::TopicMetadata* found = nullptr;
  for (const RdKafka::TopicMetadata* topic : *metadata->topics()) {
    if (topic->topic() == subscription.topic()) found = topic;
  }
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrFormat(
        "topic %s does not exist on the Kafka cluster at %s: create it first",
        subscription.topic(), subscription.bootstrap_servers()));
  }
  if (found->err() != RdKafka::ERR_NO_ERROR) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "topic %s on %s: %s", subscription.topic(),
        subscription.bootstrap_servers(), RdKafka::err2str(found->err())));
  }
  std::map<int32_t, int64_t> end_offsets;
  for (const RdKafka::PartitionMetadata* partition : *found->partitions()) {
    int64_t low = 0, high = 0;
    err = consumer->query_watermark_offsets(
        subscription.topic(), partition->id(), &low, &high, timeout_ms());
    if (err != RdKafka::ERR_NO_ERROR) return unanswered(err);
    end_offsets[partition->id()] = high;
  }
  consumer->close();
  return end_offsets;
}

v1::Subscription Redacted(v1::Subscription subscription) {
  for (auto& [name, value] : *subscription.mutable_options()) {
    const std::string lower = absl::AsciiStrToLower(name);
    if (absl::StrContains(lower, "password") ||
        absl::StrContains(lower, "secret") || absl::StrContains(lower, "key")) {
      value = "***";
    }
  }
  return subscription;
}

absl::StatusOr<RecordInvocation> NewRecordInvocation(
    const v1::Subscription& subscription,
    const storage::ServiceRegistry& registry, v1::KafkaRecord record,
    std::string value, int64_t now_ms) {
  v1::Target target = subscription.target();
  std::optional<v1::RegisteredService> service =
      registry.Find(target.service());
  if (!service.has_value()) {
    return absl::NotFoundError(absl::StrFormat(
        "the target service %s is no longer registered", target.service()));
  }
  const bool keyed = IsKeyed(service->definition().type());
  std::string rejected;
  if (keyed && record.key().empty()) {
    rejected = absl::StrFormat(
        "the record (topic %s, partition %d, offset %d) has no key (or an "
        "empty one), and %s is keyed: each record needs a key to name its "
        "object",
        record.topic(), record.partition(), record.offset(), target.service());
  } else if (keyed) {
    target.set_key(record.key());
  }
  v1::Target probe = target;
  if (!rejected.empty()) probe.set_key("k");
  absl::StatusOr<storage::ResolvedTarget> resolved = registry.Resolve(probe);
  if (!resolved.ok()) {
    return absl::NotFoundError(absl::StrCat("the subscription's target: ",
                                            resolved.status().message()));
  }
  const std::string seed = LengthPrefixed({subscription.id(), record.topic(),
                                           std::to_string(record.partition()),
                                           std::to_string(record.offset())});
  const InvocationId id =
      resolved->handler_type == v1::HANDLER_TYPE_WORKFLOW && rejected.empty()
          ? WorkflowRunId(target.service(), target.key())
          : DerivedInvocationId(seed, target.service(), target.key());

  RecordInvocation out{id, {}};
  out.command.set_timestamp_ms(now_ms);
  v1::InvokeCommand* invoke = out.command.mutable_invoke();
  invoke->set_invocation_id(id.ToBytes());
  *invoke->mutable_target() = target;
  invoke->set_input(std::move(value));
  invoke->set_service_type(resolved->service_type);
  invoke->set_handler_type(resolved->handler_type);
  invoke->set_retention_ms(resolved->retention_ms);
  invoke->set_subscription_id(subscription.id());
  invoke->set_rejected(std::move(rejected));
  *invoke->mutable_kafka_record() = std::move(record);
  return out;
}

}  // namespace reprise::kafka
