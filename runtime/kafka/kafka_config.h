// How a subscription becomes librdkafka configuration, how it is checked,
// and how its records become InvokeCommands. Internal to runtime/kafka.
//
// Thread-safety: pure functions, except that CheckTopic blocks on the
// network for up to its timeout.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "reprise/v1/common.pb.h"
#include "reprise/v1/log.pb.h"
#include "runtime/common/ids.h"
#include "runtime/storage/service_registry.h"

namespace reprise::kafka {

// The consumer group, "reprise-<name>-<id>": unique per creation of the
// subscription, so no two subscriptions share one.
std::string DefaultGroupId(const v1::Subscription& subscription);

// The consumer configuration: the subscription's options, then the
// runtime's own (bootstrap servers, group, manual offset commits; a
// partition with no committed offset and no start offset starts at its
// beginning). InvalidArgument names an option librdkafka refuses, or one
// the runtime keeps to itself.
absl::StatusOr<std::unique_ptr<RdKafka::Conf>> ConsumerConf(
    const v1::Subscription& subscription);

// Checks the fields of a subscription to create and that its target is a
// registered handler; InvalidArgument or NotFound say what to fix.
absl::Status ValidateSubscription(const v1::Subscription& subscription,
                                  const storage::ServiceRegistry& registry);

// Asks the cluster for its topics, then for the end offset of each
// partition of the subscription's topic, which it returns by partition.
// FailedPrecondition if the cluster does not answer within `timeout`,
// NotFound if it lacks the topic.
absl::StatusOr<std::map<int32_t, int64_t>> CheckTopic(
    const v1::Subscription& subscription, absl::Duration timeout);

// The subscription with the values of options that look secret (their
// name contains "password", "secret" or "key") replaced by "***".
v1::Subscription Redacted(v1::Subscription subscription);

// A record's invocation: its id, decided by the record, and the command
// that creates it. The id is derived from the subscription id, topic,
// partition and offset: on the partition of the record's key for a keyed
// target (so a key's records are handled in order), spread over the
// partitions otherwise; a workflow's run handler gets the workflow's run
// id. A keyed target and a record without a key make a rejected command.
// NotFound if the target is no longer registered.
struct RecordInvocation {
  InvocationId id;
  v1::Command command;
};
absl::StatusOr<RecordInvocation> NewRecordInvocation(
    const v1::Subscription& subscription,
    const storage::ServiceRegistry& registry, v1::KafkaRecord record,
    std::string value, int64_t now_ms);

}  // namespace reprise::kafka
