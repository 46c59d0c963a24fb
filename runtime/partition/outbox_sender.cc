#include "runtime/partition/outbox_sender.h"

#include "runtime/common/clock.h"

namespace reprise::partition {

OutboxSender::OutboxSender(log::Log& log)
    : log_(log), partitions_(log.partitions()) {}

void OutboxSender::Send(PartitionId source, uint64_t seq,
                        const InvocationId& destination,
                        const v1::Command& command) {
  {
    absl::MutexLock lock(&mu_);
    if (stopped_) return;
    Partition& p = partitions_[source.value()];
    if (!p.started) {
      p.started = true;
      p.next_undelivered = seq;
      p.truncated = seq;  // nothing below was ever sent by this leader
    }
  }
  log_.Append(PartitionForKey(destination.partition_key(), log_.partitions()),
              command.SerializeAsString(),
              [this, source, seq](absl::StatusOr<Lsn> lsn) {
                if (!lsn.ok()) {
                  // The log is fail-stop; the outbox keeps the message.
                  log::StopProcessOnFailure("sending an outbox message")(lsn);
                  return;
                }
                OnDelivered(source, seq);
              });
}

void OutboxSender::Stop() {
  absl::MutexLock lock(&mu_);
  stopped_ = true;
}

void OutboxSender::OnDelivered(PartitionId source, uint64_t seq) {
  absl::MutexLock lock(&mu_);
  Partition& p = partitions_[source.value()];
  p.delivered.insert(seq);
  while (!p.delivered.empty() && *p.delivered.begin() == p.next_undelivered) {
    p.delivered.erase(p.delivered.begin());
    ++p.next_undelivered;
  }
  MaybeTruncate(source, p);
}

void OutboxSender::MaybeTruncate(PartitionId source, Partition& p) {
  if (stopped_ || p.truncating || p.next_undelivered <= p.truncated) return;
  const uint64_t up_to = p.next_undelivered - 1;
  p.truncating = true;
  v1::Command command;
  command.set_timestamp_ms(NowMillis());
  command.mutable_truncate_outbox()->set_seq(up_to);
  log_.Append(source, command.SerializeAsString(),
              [this, source, up_to](absl::StatusOr<Lsn> lsn) {
                if (!lsn.ok()) {
                  log::StopProcessOnFailure("truncating the outbox")(lsn);
                  return;
                }
                absl::MutexLock lock(&mu_);
                Partition& state = partitions_[source.value()];
                state.truncating = false;
                state.truncated = up_to + 1;
                MaybeTruncate(source, state);
              });
}

}  // namespace reprise::partition
