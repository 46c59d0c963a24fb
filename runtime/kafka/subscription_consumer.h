// SubscriptionConsumer: the Kafka consumer of one subscription. Its thread
// reads the topic as a member of the subscription's consumer group and turns
// each record into an InvokeCommand appended to the partition of the
// record's invocation, in offset order. It commits a partition's offset
// only up to the records whose commands are durable, so a crash or a
// rebalance makes Kafka deliver again only records at or after the first
// one not yet durable; the state machine drops those it applied already
// (per subscription id, topic and partition: the highest offset applied).
//
// On an error it cannot get past (the target is no longer registered, the
// log failed, the consumer failed fatally, a partition that ends below the
// offsets it applied or whose offsets go back: the topic was created again)
// it closes the consumer, shows the error, and starts
// again from the committed offsets after a back-off (1 s, doubling up to
// 30 s while no session gets partitions).
//
// Thread-safety: Describe may be called from any thread. Ownership: borrows
// the log and registry, which must outlive it; the destructor stops the
// thread and closes the consumer (committing what is durable).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "reprise/v1/subscriptions.pb.h"
#include "runtime/log/log.h"
#include "runtime/storage/service_registry.h"

namespace reprise::kafka {

struct ConsumerOptions {
  // Records whose commands are appended but not yet durable, at most.
  size_t max_in_flight = 4096;
  // Wait before a consumer that failed is started again.
  int restart_backoff_ms = 1000;
};

class SubscriptionConsumer {
 public:
  // The highest offset of `partition` of `topic` that this subscription
  // turned into an invocation (the state machine's mark), if any.
  using AppliedOffsetFn = std::function<absl::StatusOr<std::optional<int64_t>>(
      const std::string& topic, int32_t partition)>;

  SubscriptionConsumer(v1::Subscription subscription, log::Log& log,
                       storage::ServiceRegistry& registry,
                       AppliedOffsetFn applied_offset, ConsumerOptions options);
  ~SubscriptionConsumer();
  SubscriptionConsumer(const SubscriptionConsumer&) = delete;
  SubscriptionConsumer& operator=(const SubscriptionConsumer&) = delete;

  const v1::Subscription& subscription() const { return subscription_; }
  // State, error and the partitions assigned to it, with their lag; the
  // subscription's secret options hidden (Redacted).
  v1::SubscriptionDescription Describe() const;

  struct Tracker;  // the records of one assigned partition (internal)

 private:
  class Session;  // one consumer instance, from creation to close

  void Run();
  void SetState(std::string state, std::string error);

  const v1::Subscription subscription_;
  log::Log& log_;
  storage::ServiceRegistry& registry_;
  const AppliedOffsetFn applied_offset_;
  const ConsumerOptions options_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::string state_ ABSL_GUARDED_BY(mu_) = "starting";
  std::string error_ ABSL_GUARDED_BY(mu_);
  // The assigned partitions, shared with the log callbacks of their
  // records. Replaced on every assignment.
  std::map<int32_t, std::shared_ptr<Tracker>> partitions_ ABSL_GUARDED_BY(mu_);
  uint64_t records_invoked_ ABSL_GUARDED_BY(mu_) = 0;
  // The current session got partitions.
  bool assigned_ ABSL_GUARDED_BY(mu_) = false;
  // Appends whose callback has not run yet.
  size_t appends_pending_ ABSL_GUARDED_BY(mu_) = 0;
  // Set when an append failed; the log then accepts nothing more.
  absl::Status failed_append_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace reprise::kafka
