// OutboxSender: the leader's half of the outbox. A partition's state machine
// writes each message for another partition (an invocation to create, a
// call result to deliver) to its outbox in the same batch as the step that
// caused it; the sender appends the message to the destination partition's
// log and, once that is durable, truncates the outbox with a
// TruncateOutboxCommand. A crash in between sends the message again after
// recovery; each command carries its origin (source partition, sequence
// number, written with the outbox row), and the receiving state machine
// drops one at or below the highest it applied from that source, so
// delivery is exactly once, even when what the first delivery created is
// gone by then.
//
// Truncations are coalesced: at most one is in flight per partition, and it
// covers every message delivered so far in sequence order.
//
// Thread-safety: all methods may be called from any thread. Ownership:
// borrows the log, which must outlive it.
#pragma once

#include <set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "reprise/v1/log.pb.h"
#include "runtime/common/ids.h"
#include "runtime/log/log.h"

namespace reprise::partition {

class OutboxSender {
 public:
  explicit OutboxSender(log::Log& log);
  OutboxSender(const OutboxSender&) = delete;
  OutboxSender& operator=(const OutboxSender&) = delete;

  // Sends outbox message `seq` of `source`. REQUIRES: a partition's
  // messages are sent in sequence order (after a recovery, from its head).
  void Send(PartitionId source, uint64_t seq, const InvocationId& destination,
            const v1::Command& command);
  // Appends nothing more (the log is about to stop): what is not truncated
  // yet is sent again after the next start.
  void Stop();

 private:
  struct Partition {
    bool started = false;
    // The lowest sequence number not delivered yet, and those above it
    // that are.
    uint64_t next_undelivered = 0;
    std::set<uint64_t> delivered;
    // Messages below this are truncated, or being truncated when
    // `truncating`.
    uint64_t truncated = 0;
    bool truncating = false;
  };

  void OnDelivered(PartitionId source, uint64_t seq);
  // Appends a truncation up to what is delivered, unless one is in flight.
  void MaybeTruncate(PartitionId source, Partition& p)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  log::Log& log_;
  absl::Mutex mu_;
  std::vector<Partition> partitions_ ABSL_GUARDED_BY(mu_);
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace reprise::partition
