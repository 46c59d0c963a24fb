#include "runtime/kafka/subscription_consumer.h"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "reprise/v1/log.pb.h"
#include "runtime/common/clock.h"
#include "runtime/common/logging.h"
#include "runtime/common/status_macros.h"
#include "runtime/kafka/kafka_config.h"

namespace reprise::kafka {

struct SubscriptionConsumer::Tracker {
  // Records appended, by offset, and whether their command is durable.
  std::deque<std::pair<int64_t, bool>> pending;
  // The offset after the last record durable with all before it: what may
  // be committed. -1 until a record is durable.
  int64_t durable_next = -1;
  // The offset last committed (or found committed at assignment); -1 if
  // none.
  int64_t committed = -1;
  int64_t high_watermark = -1;
  // The lowest offset the next record may have: offsets only grow while
  // the partition is assigned, from where the group stands.
  int64_t floor = -1;
};

namespace {

constexpr int kPollMs = 100;
constexpr absl::Duration kCommitInterval = absl::Milliseconds(200);
constexpr int kCommittedQueryTimeoutMs = 5000;
// A revoked partition's appends get this long to become durable, so that
// their offsets are committed before another member takes the partition.
constexpr absl::Duration kRevokeDrainTimeout = absl::Seconds(2);
constexpr absl::Duration kMaxRestartBackoff = absl::Seconds(30);

// Deletes librdkafka TopicPartition lists.
struct PartitionList {
  std::vector<RdKafka::TopicPartition*> list;
  PartitionList() = default;
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;
  ~PartitionList() { RdKafka::TopicPartition::destroy(list); }
};

}  // namespace

// One consumer instance: creates it, joins the group, consumes until the
// consumer is stopped or meets an error it cannot get past, then commits
// what is durable and closes. Runs on the consumer's thread only.
class SubscriptionConsumer::Session final : public RdKafka::RebalanceCb,
                                            public RdKafka::EventCb,
                                            public RdKafka::OffsetCommitCb {
 public:
  explicit Session(SubscriptionConsumer& owner) : owner_(owner) {}

  // Returns why it ended: OK when stopped.
  absl::Status Run() {
    absl::StatusOr<std::unique_ptr<RdKafka::Conf>> conf =
        ConsumerConf(owner_.subscription_);
    if (!conf.ok()) return conf.status();
    std::string error;
    if ((*conf)->set("rebalance_cb", static_cast<RdKafka::RebalanceCb*>(this),
                     error) != RdKafka::Conf::CONF_OK ||
        (*conf)->set("event_cb", static_cast<RdKafka::EventCb*>(this), error) !=
            RdKafka::Conf::CONF_OK ||
        (*conf)->set("offset_commit_cb",
                     static_cast<RdKafka::OffsetCommitCb*>(this),
                     error) != RdKafka::Conf::CONF_OK) {
      return absl::InternalError(error);
    }
    consumer_.reset(RdKafka::KafkaConsumer::create(conf->get(), error));
    if (consumer_ == nullptr) {
      return absl::InvalidArgumentError("cannot create the consumer: " + error);
    }
    RdKafka::ErrorCode err =
        consumer_->subscribe({owner_.subscription_.topic()});
    absl::Status ended = absl::OkStatus();
    if (err != RdKafka::ERR_NO_ERROR) {
      ended = absl::UnavailableError("cannot subscribe to topic " +
                                     owner_.subscription_.topic() + ": " +
                                     RdKafka::err2str(err));
    }
    absl::Time next_commit = absl::Now() + kCommitInterval;
    while (ended.ok() && !Stopping()) {
      if (WaitForRoom()) {
        std::unique_ptr<RdKafka::Message> message(consumer_->consume(kPollMs));
        ended = Handle(*message);
      }
      if (ended.ok()) ended = fatal_;
      if (absl::Now() >= next_commit) {
        Commit(/*sync=*/false);
        UpdateWatermarks();
        next_commit = absl::Now() + kCommitInterval;
      }
    }
    // Leaving the group revokes the partitions, which commits what is
    // durable by then (rebalance_cb); the rest is read again next time.
    consumer_->close();
    absl::MutexLock lock(&owner_.mu_);
    owner_.partitions_.clear();
    return ended;
  }

  void rebalance_cb(
      RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
      std::vector<RdKafka::TopicPartition*>& partitions) override {
    const bool cooperative = consumer->rebalance_protocol() == "COOPERATIVE";
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      if (absl::Status checked = CheckAssignment(*consumer, partitions);
          !checked.ok()) {
        fatal_ = checked;  // ends the session before it reads anything
        return;
      }
      const auto& starts = owner_.subscription_.start_offsets();
      {
        absl::MutexLock lock(&owner_.mu_);
        for (RdKafka::TopicPartition* p : partitions) {
          auto tracker = std::make_shared<Tracker>();
          if (p->offset() >= 0) {
            tracker->committed = p->offset();
            tracker->floor = p->offset();
          } else if (auto start = starts.find(p->partition());
                     start != starts.end()) {
            // Nothing committed yet: a LATEST subscription starts where
            // the partition ended when it was created.
            p->set_offset(start->second);
            tracker->committed = start->second;  // nothing before it counts
            tracker->floor = start->second;
          }
          owner_.partitions_[p->partition()] = std::move(tracker);
        }
        owner_.state_ = "running";
        owner_.error_.clear();
        owner_.assigned_ = true;
      }
      if (cooperative) {
        delete consumer->incremental_assign(partitions);
      } else {
        consumer->assign(partitions);
      }
      return;
    }
    // Revoked or lost: the appends of these partitions get a moment to
    // become durable, then what is durable is committed.
    std::vector<int32_t> revoked;
    for (RdKafka::TopicPartition* p : partitions) {
      revoked.push_back(p->partition());
    }
    DrainAndCommit(revoked);
    {
      absl::MutexLock lock(&owner_.mu_);
      for (int32_t p : revoked) owner_.partitions_.erase(p);
    }
    if (cooperative) {
      delete consumer->incremental_unassign(partitions);
    } else {
      consumer->unassign();
    }
  }

  void event_cb(RdKafka::Event& event) override {
    if (event.type() != RdKafka::Event::EVENT_ERROR) return;
    std::string what =
        absl::StrCat(RdKafka::err2str(event.err()), ": ", event.str());
    if (event.fatal()) {
      fatal_ = absl::UnavailableError("fatal consumer error: " + what);
      return;
    }
    // librdkafka retries on its own. A lost cluster or refused credentials
    // make the state "error" until it answers again; other errors (a
    // broker's idle connection closed, ...) are only noted.
    const bool serious = event.err() == RdKafka::ERR__ALL_BROKERS_DOWN ||
                         event.err() == RdKafka::ERR__AUTHENTICATION ||
                         event.err() == RdKafka::ERR__SSL ||
                         event.err() == RdKafka::ERR_SASL_AUTHENTICATION_FAILED;
    Log(serious ? LogLevel::kWarning : LogLevel::kDebug, "subscription %s: %s",
        owner_.subscription_.name(), what);
    absl::MutexLock lock(&owner_.mu_);
    if (serious) owner_.state_ = "error";
    owner_.error_ = std::move(what);
  }

  // The outcome of a commit: what the group now holds.
  void offset_commit_cb(
      RdKafka::ErrorCode err,
      std::vector<RdKafka::TopicPartition*>& offsets) override {
    if (err != RdKafka::ERR_NO_ERROR && err != RdKafka::ERR__NO_OFFSET) {
      // E.g. a rebalance in progress: the next commit carries it.
      Log(LogLevel::kWarning, "subscription %s: commit failed: %s",
          owner_.subscription_.name(), RdKafka::err2str(err));
      return;
    }
    Committed(offsets);
  }

 private:
  bool Stopping() {
    absl::MutexLock lock(&owner_.mu_);
    return owner_.stopping_;
  }

  // Whether fewer than max_in_flight appends are pending (or the session
  // stops); waits up to a poll interval for it.
  bool WaitForRoom() {
    absl::MutexLock lock(&owner_.mu_);
    return owner_.mu_.AwaitWithTimeout(absl::Condition(this, &Session::HasRoom),
                                       absl::Milliseconds(kPollMs));
  }

  bool HasRoom() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(owner_.mu_) {
    return owner_.stopping_ ||
           owner_.appends_pending_ < owner_.options_.max_in_flight;
  }

  absl::Status Handle(RdKafka::Message& message) {
    switch (message.err()) {
      case RdKafka::ERR_NO_ERROR:
        return Append(message);
      case RdKafka::ERR__TIMED_OUT:
      case RdKafka::ERR__PARTITION_EOF:
        return absl::OkStatus();
      default:
        // E.g. the topic is gone: librdkafka keeps trying; shown meanwhile.
        owner_.SetState("error", message.errstr());
        return absl::OkStatus();
    }
  }

  // Turns `message` into its InvokeCommand and appends it.
  absl::Status Append(RdKafka::Message& message) {
    std::shared_ptr<Tracker> tracker;
    {
      absl::MutexLock lock(&owner_.mu_);
      auto it = owner_.partitions_.find(message.partition());
      if (it == owner_.partitions_.end()) return absl::OkStatus();  // revoked
      tracker = it->second;
      if (message.offset() < tracker->floor) {
        // Offsets went back: the topic was created again or truncated
        // while assigned (librdkafka then resets to the beginning).
        return RenumberedError(message.partition(), tracker->floor - 1);
      }
      tracker->floor = message.offset() + 1;
    }
    v1::KafkaRecord record;
    record.set_subscription(owner_.subscription_.name());
    record.set_topic(message.topic_name());
    record.set_partition(message.partition());
    record.set_offset(message.offset());
    RdKafka::MessageTimestamp ts = message.timestamp();
    record.set_timestamp_ms(
        ts.type == RdKafka::MessageTimestamp::MSG_TIMESTAMP_NOT_AVAILABLE
            ? -1
            : ts.timestamp);
    if (message.key_pointer() != nullptr) {
      record.set_key(static_cast<const char*>(message.key_pointer()),
                     message.key_len());
    }
    if (RdKafka::Headers* headers = message.headers()) {
      for (const RdKafka::Headers::Header& h : headers->get_all()) {
        v1::KafkaHeader* out = record.add_headers();
        out->set_key(h.key());
        if (h.value() != nullptr) {
          out->set_value(static_cast<const char*>(h.value()), h.value_size());
        }
      }
    }
    std::string value;
    if (message.payload() != nullptr) {
      value.assign(static_cast<const char*>(message.payload()), message.len());
    }
    absl::StatusOr<RecordInvocation> invocation =
        NewRecordInvocation(owner_.subscription_, owner_.registry_,
                            std::move(record), std::move(value), NowMillis());
    if (!invocation.ok()) return invocation.status();

    const int64_t offset = message.offset();
    {
      absl::MutexLock lock(&owner_.mu_);
      tracker->pending.emplace_back(offset, false);
      ++owner_.appends_pending_;
      owner_.state_ = "running";  // the cluster answers again
    }
    const PartitionId partition = PartitionForKey(
        invocation->id.partition_key(), owner_.log_.partitions());
    SubscriptionConsumer* owner = &owner_;
    owner_.log_.Append(
        partition, invocation->command.SerializeAsString(),
        [owner, tracker, offset](absl::StatusOr<Lsn> lsn) {
          absl::MutexLock lock(&owner->mu_);
          --owner->appends_pending_;
          auto it =
              std::lower_bound(tracker->pending.begin(), tracker->pending.end(),
                               std::make_pair(offset, false));
          if (!lsn.ok()) {
            // The log is fail-stop: nothing later becomes durable either.
            // The record stays pending, so its offset is never committed.
            owner->failed_append_ = lsn.status();
            return;
          }
          if (it != tracker->pending.end() && it->first == offset) {
            it->second = true;
          }
          ++owner->records_invoked_;
          while (!tracker->pending.empty() && tracker->pending.front().second) {
            tracker->durable_next = tracker->pending.front().first + 1;
            tracker->pending.pop_front();
          }
        });
    absl::MutexLock lock(&owner_.mu_);
    if (!owner_.failed_append_.ok()) {
      return absl::UnavailableError("the log failed: " +
                                    owner_.failed_append_.ToString());
    }
    return absl::OkStatus();
  }

  // Commits the durable offsets of the assigned partitions that moved on.
  // An asynchronous commit's outcome arrives in offset_commit_cb.
  void Commit(bool sync) {
    PartitionList offsets;
    {
      absl::MutexLock lock(&owner_.mu_);
      for (const auto& [p, tracker] : owner_.partitions_) {
        if (tracker->durable_next > tracker->committed) {
          offsets.list.push_back(RdKafka::TopicPartition::create(
              owner_.subscription_.topic(), p, tracker->durable_next));
        }
      }
    }
    if (offsets.list.empty()) return;
    RdKafka::ErrorCode err = sync ? consumer_->commitSync(offsets.list)
                                  : consumer_->commitAsync(offsets.list);
    if (err != RdKafka::ERR_NO_ERROR) {
      Log(LogLevel::kWarning, "subscription %s: commit failed: %s",
          owner_.subscription_.name(), RdKafka::err2str(err));
    } else if (sync) {
      Committed(offsets.list);
    }
  }

  // Notes `offsets` as committed to the group.
  void Committed(const std::vector<RdKafka::TopicPartition*>& offsets) {
    absl::MutexLock lock(&owner_.mu_);
    for (const RdKafka::TopicPartition* p : offsets) {
      auto it = owner_.partitions_.find(p->partition());
      if (p->err() != RdKafka::ERR_NO_ERROR || it == owner_.partitions_.end()) {
        continue;
      }
      it->second->committed = std::max(it->second->committed, p->offset());
    }
    owner_.state_ = "running";  // the cluster answers again
  }

  // Before a partition is read: the group's committed offsets, which it
  // resumes from (into `partitions`), must be known, and the partition
  // must not end below the offsets this subscription applied already:
  // a topic deleted and created again, or truncated, numbers its records
  // anew, and they would be taken for records already handled.
  absl::Status CheckAssignment(
      RdKafka::KafkaConsumer& consumer,
      std::vector<RdKafka::TopicPartition*>& partitions) {
    RdKafka::ErrorCode err =
        consumer.committed(partitions, kCommittedQueryTimeoutMs);
    if (err != RdKafka::ERR_NO_ERROR) {
      return absl::UnavailableError(
          absl::StrFormat("cannot read the group's committed offsets: %s",
                          RdKafka::err2str(err)));
    }
    const std::string& topic = owner_.subscription_.topic();
    for (const RdKafka::TopicPartition* p : partitions) {
      REPRISE_ASSIGN_OR_RETURN(std::optional<int64_t> applied,
                               owner_.applied_offset_(topic, p->partition()));
      if (!applied.has_value()) continue;
      int64_t low = -1, high = -1;
      err = consumer.query_watermark_offsets(topic, p->partition(), &low, &high,
                                             kCommittedQueryTimeoutMs);
      if (err != RdKafka::ERR_NO_ERROR) {
        return absl::UnavailableError(
            absl::StrFormat("cannot read the end offset of %s[%d]: %s", topic,
                            p->partition(), RdKafka::err2str(err)));
      }
      if (high <= *applied) return RenumberedError(p->partition(), *applied);
    }
    return absl::OkStatus();
  }

  // Kafka numbers the records of `partition` anew, below `applied`, an
  // offset the subscription handled already.
  absl::Status RenumberedError(int32_t partition, int64_t applied) const {
    return absl::FailedPreconditionError(absl::StrFormat(
        "partition %d of topic %s now numbers its records below offset %d, "
        "which this subscription handled already: the topic was deleted "
        "and created again, or truncated, and its records would be taken "
        "for ones handled before. Nothing more is read: delete the "
        "subscription and create it again to read the topic afresh",
        partition, owner_.subscription_.topic(), applied));
  }

  void DrainAndCommit(std::vector<int32_t> revoked) {
    {
      absl::MutexLock lock(&owner_.mu_);
      revoking_ = std::move(revoked);
      owner_.mu_.AwaitWithTimeout(absl::Condition(this, &Session::Drained),
                                  kRevokeDrainTimeout);
    }
    Commit(/*sync=*/true);
  }

  // Whether the partitions being revoked have no append pending.
  bool Drained() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(owner_.mu_) {
    for (int32_t p : revoking_) {
      auto it = owner_.partitions_.find(p);
      if (it != owner_.partitions_.end() && !it->second->pending.empty()) {
        return false;
      }
    }
    return true;
  }

  void UpdateWatermarks() {
    std::vector<int32_t> assigned;
    {
      absl::MutexLock lock(&owner_.mu_);
      for (const auto& [p, tracker] : owner_.partitions_) assigned.push_back(p);
    }
    for (int32_t p : assigned) {
      int64_t low = -1, high = -1;
      if (consumer_->get_watermark_offsets(owner_.subscription_.topic(), p,
                                           &low,
                                           &high) != RdKafka::ERR_NO_ERROR ||
          high < 0) {
        continue;
      }
      absl::MutexLock lock(&owner_.mu_);
      auto it = owner_.partitions_.find(p);
      if (it != owner_.partitions_.end()) it->second->high_watermark = high;
    }
  }

  SubscriptionConsumer& owner_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  absl::Status fatal_;
  std::vector<int32_t> revoking_;  // guarded by owner_.mu_
};

SubscriptionConsumer::SubscriptionConsumer(v1::Subscription subscription,
                                           log::Log& log,
                                           storage::ServiceRegistry& registry,
                                           AppliedOffsetFn applied_offset,
                                           ConsumerOptions options)
    : subscription_(std::move(subscription)),
      log_(log),
      registry_(registry),
      applied_offset_(std::move(applied_offset)),
      options_(options) {
  thread_ = std::thread([this] { Run(); });
}

SubscriptionConsumer::~SubscriptionConsumer() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
  // The log calls back every append, failed or not; wait for those still
  // pending, since they name this consumer.
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](SubscriptionConsumer* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
        return c->appends_pending_ == 0;
      },
      this));
}

void SubscriptionConsumer::Run() {
  absl::Duration backoff = absl::Milliseconds(options_.restart_backoff_ms);
  for (;;) {
    absl::Status ended = Session(*this).Run();
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    // A session that got partitions worked for a while: back off from
    // the start again. One that never did doubles its wait, up to 30 s.
    if (assigned_) backoff = absl::Milliseconds(options_.restart_backoff_ms);
    assigned_ = false;
    Log(LogLevel::kWarning,
        "subscription %s stopped consuming: %s; starting again in %s",
        subscription_.name(), ended.ToString(), absl::FormatDuration(backoff));
    state_ = "error";
    error_ = std::string(ended.message());
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
    if (stopping_) return;
    backoff = std::min(backoff * 2, kMaxRestartBackoff);
  }
}

void SubscriptionConsumer::SetState(std::string state, std::string error) {
  absl::MutexLock lock(&mu_);
  state_ = std::move(state);
  error_ = std::move(error);
}

v1::SubscriptionDescription SubscriptionConsumer::Describe() const {
  v1::SubscriptionDescription out;
  *out.mutable_subscription() = Redacted(subscription_);
  absl::MutexLock lock(&mu_);
  out.set_state(state_);
  out.set_error(error_);
  out.set_records_invoked(records_invoked_);
  for (const auto& [p, tracker] : partitions_) {
    v1::SubscriptionPartition* view = out.add_partitions();
    view->set_partition(p);
    const int64_t committed =
        std::max(tracker->committed, tracker->durable_next);
    view->set_committed_offset(committed);
    view->set_high_watermark(tracker->high_watermark);
    view->set_lag(
        committed >= 0 && tracker->high_watermark >= 0
            ? std::max<int64_t>(0, tracker->high_watermark - committed)
            : -1);
  }
  return out;
}

}  // namespace reprise::kafka
