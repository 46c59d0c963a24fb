#include "runtime/partition/partition_processor.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_format.h"
#include "reprise/v1/log.pb.h"
#include "runtime/common/check.h"
#include "runtime/common/clock.h"
#include "runtime/common/logging.h"
#include "runtime/common/status_macros.h"

namespace reprise::partition {
namespace {

constexpr size_t kMaxBatchRecords = 1024;
// What the processor keeps of the rows it wrote last (counted with a
// per-row overhead; about twice that in memory): half a second or more of
// its writes at full load, so a proposal, a timer or a completion finds
// what the step before it wrote.
constexpr size_t kRecentRowsBytes = 2 << 20;
// How often the leader looks for completed invocations to remove. Short,
// so that each sweep is small (it runs on the partition's thread) and the
// sweeps still keep up with 10,000 completions a second.
constexpr absl::Duration kExpiryCheckInterval = absl::Milliseconds(100);
// The most records OnTailAdvanced applies on the caller's thread (the
// log's writer, which meanwhile syncs nothing): a batch or two of a busy
// moment. A longer backlog is left to the processor's thread.
constexpr uint64_t kMaxInlineRecords = 32;

// Whether `command` is a step of the invocation path, whose apply is short.
// Expiry sweeps and operator commands (a purge, a kill down a call tree)
// may write much, so OnTailAdvanced leaves them to the processor's thread.
bool InvocationStep(const v1::Command& command) {
  switch (command.kind_case()) {
    case v1::Command::kInvoke:
    case v1::Command::kProposeEntry:
    case v1::Command::kSuspend:
    case v1::Command::kAttemptFailed:
    case v1::Command::kFireTimer:
    case v1::Command::kCompleteCall:
    case v1::Command::kTruncateOutbox:
    case v1::Command::kCompleteAwakeable:
    case v1::Command::kCompletePromise:
      return true;
    default:
      return false;
  }
}

}  // namespace

PartitionProcessor::PartitionProcessor(PartitionId partition, log::Log& log,
                                       storage::Store& store,
                                       LeaderActions& actions,
                                       PartitionProcessorOptions options)
    : partition_(partition),
      log_(log),
      store_(store),
      actions_(actions),
      options_(options),
      reader_(store.Reader(partition)),
      recent_rows_(kRecentRowsBytes) {}

PartitionProcessor::~PartitionProcessor() { Stop(); }

absl::Status PartitionProcessor::Start() {
  REPRISE_ASSIGN_OR_RETURN(Lsn applied, reader_->GetAppliedLsn());
  next_lsn_ = Lsn(applied.value() + 1);
  REPRISE_ASSIGN_OR_RETURN(Lsn tail, log_.FindTail(partition_));
  std::vector<state_machine::Action> discarded;
  size_t replayed = 0;
  while (next_lsn_ < tail) {
    REPRISE_ASSIGN_OR_RETURN(size_t n,
                             ApplyBatch(discarded, kMaxBatchRecords,
                                        /*invocation_steps_only=*/false));
    if (n == 0) break;
    replayed += n;
    discarded.clear();
  }
  if (next_lsn_ < tail) return MissingRecords(tail);
  REPRISE_RETURN_IF_ERROR(ResumeLiveInvocations());
  if (replayed > 0) {
    Log(LogLevel::kInfo, "partition %d: re-applied %d log records",
        partition_.value(), replayed);
  }
  {
    absl::MutexLock lock(&mu_);
    known_tail_ = std::max(known_tail_, tail);
    applied_tail_ = next_lsn_;
    started_ = true;
  }
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void PartitionProcessor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    // An apply on another thread (OnTailAdvanced) finishes first.
    mu_.Await(absl::Condition(
        +[](PartitionProcessor* self)
             ABSL_NO_THREAD_SAFETY_ANALYSIS { return !self->applying_; },
        this));
  }
  if (thread_.joinable()) thread_.join();
}

void PartitionProcessor::OnTailAdvanced(Lsn tail) {
  {
    absl::MutexLock lock(&mu_);
    known_tail_ = std::max(known_tail_, tail);
    // Applied here if the processor's thread is idle: handing the batch to
    // it would cost a wake-up, as much as the apply itself on our machine
    // (docs/benchmarks.md). Not while queries wait: each runs right after
    // the batch it waits for, on the processor's thread.
    // Nor while appends wait for the log's writer (the caller): they are
    // synced first, and the processor's thread applies meanwhile.
    if (!started_ || stopping_ || applying_ || !queries_.empty() ||
        known_tail_ <= applied_tail_ ||
        known_tail_.value() - applied_tail_.value() > kMaxInlineRecords ||
        !log_.Idle()) {
      return;
    }
    applying_ = true;
  }
  ApplyAndExecute(actions_buffer_, kMaxInlineRecords,
                  /*invocation_steps_only=*/true);
  absl::MutexLock lock(&mu_);
  applying_ = false;
}

void PartitionProcessor::RunWhenApplied(Lsn lsn, Query query) {
  absl::MutexLock lock(&mu_);
  known_tail_ = std::max(known_tail_, Lsn(lsn.value() + 1));
  queries_.push_back({lsn, std::move(query)});
}

void PartitionProcessor::RunAfterApplied(Query query) {
  absl::StatusOr<Lsn> tail = log_.FindTail(partition_);
  absl::MutexLock lock(&mu_);
  Lsn after = tail.ok() ? Lsn(tail->value() - 1) : Lsn(0);
  if (tail.ok()) known_tail_ = std::max(known_tail_, *tail);
  queries_.push_back({after, std::move(query)});
}

void PartitionProcessor::AppendIfValid(v1::Command command, Check check,
                                       Done done, std::string exclusive_key,
                                       Check verify) {
  RunAfterApplied([this, command = std::move(command), check = std::move(check),
                   done = std::move(done), key = std::move(exclusive_key),
                   verify = std::move(verify)](
                      storage::PartitionReader& reader) mutable {
    if (!key.empty() && exclusive_in_flight_.contains(key)) {
      done(absl::FailedPreconditionError(
          "another request is completing it at this moment; only the first "
          "counts"));
      return;
    }
    if (absl::Status valid = check(reader); !valid.ok()) {
      done(std::move(valid));
      return;
    }
    if (!key.empty()) exclusive_in_flight_.insert(key);
    command.set_timestamp_ms(NowMillis());
    log_.Append(
        partition_, command.SerializeAsString(),
        [this, done = std::move(done), key = std::move(key),
         verify = std::move(verify)](absl::StatusOr<Lsn> lsn) mutable {
          Query answer = [this, done = std::move(done), key = std::move(key),
                          verify = std::move(verify), stored = lsn.status()](
                             storage::PartitionReader& applied) mutable {
            if (!key.empty()) exclusive_in_flight_.erase(key);
            if (!stored.ok()) {
              done(absl::UnavailableError("the command was not stored: " +
                                          stored.ToString()));
              return;
            }
            // Run after the batch that holds the command's Lsn: verify
            // reads the command's effect, not that of commands appended
            // later (only of those applied in the same batch).
            done(verify != nullptr ? verify(applied) : absl::OkStatus());
          };
          // Answered once applied, so that a read right after the answer
          // sees the command's effect.
          if (lsn.ok()) {
            RunWhenApplied(*lsn, std::move(answer));
          } else {
            RunAfterApplied(std::move(answer));
          }
        });
  });
}

absl::Status PartitionProcessor::MissingRecords(Lsn first_kept) const {
  // Only a store older than the log's trim point gets here (restored from
  // an old copy, or deleted): applying on would skip commands.
  return absl::DataLossError(absl::StrFormat(
      "partition %d: the state store has applied the log up to Lsn %d, but "
      "the log now starts at Lsn %d; the records between are gone, so the "
      "state cannot be rebuilt. Restore the data directory as a whole, "
      "never the state store alone",
      partition_.value(), next_lsn_.value() - 1, first_kept.value()));
}

absl::StatusOr<size_t> PartitionProcessor::ApplyBatch(
    std::vector<state_machine::Action>& actions, size_t max_records,
    bool invocation_steps_only) {
  REPRISE_ASSIGN_OR_RETURN(auto records,
                           log_.Read(partition_, next_lsn_, max_records));
  if (records.empty()) return 0;
  if (records.front().lsn != next_lsn_) {
    return MissingRecords(records.front().lsn);
  }
  storage::Transaction txn(store_, partition_, &recent_rows_);
  std::vector<std::pair<InvocationId, v1::InvocationStatus>> status_writes;
  StatusListener* listener = options_.status_listener;
  if (listener != nullptr && listener->Watching()) {
    txn.RecordStatusWrites(&status_writes);
  }
  v1::Command command;
  size_t applied = 0;
  for (const log::Record& record : records) {
    if (!command.ParseFromString(record.payload)) {
      return absl::DataLossError(
          absl::StrFormat("partition %d: log record %d is not a command",
                          partition_.value(), record.lsn.value()));
    }
    if (invocation_steps_only && !InvocationStep(command)) break;
    REPRISE_RETURN_IF_ERROR(
        state_machine_.Apply(command, record.lsn, txn, actions));
    ++applied;
  }
  if (applied == 0) return 0;
  REPRISE_RETURN_IF_ERROR(txn.Commit());
  next_lsn_ = Lsn(records[applied - 1].lsn.value() + 1);
  if (!status_writes.empty()) {
    listener->OnStatusWrites(partition_, std::move(status_writes));
  }
  return applied;
}

absl::Status PartitionProcessor::ResumeLiveInvocations() {
  std::vector<std::pair<InvocationId, v1::InvocationStatus>> live;
  REPRISE_RETURN_IF_ERROR(reader_->ForEachInvocation(
      [&](const InvocationId& id, const v1::InvocationStatus& status) {
        // Suspended invocations wait for their timers; paused ones for an
        // operator.
        if (status.state() == v1::INVOCATION_STATE_INVOKED) {
          live.emplace_back(id, status);
        }
        return true;
      }));
  for (auto& [id, status] : live) {
    REPRISE_ASSIGN_OR_RETURN(auto journal, reader_->GetJournal(id));
    Execute(state_machine::StartAttemptAction{
        id, status.target(), status.attempt(), std::move(journal),
        status.pinned_version(), status.next_retry_at_ms()});
  }
  size_t sent = 0;
  REPRISE_RETURN_IF_ERROR(reader_->ForEachOutbox(
      [&](uint64_t seq, const v1::OutboxMessage& message) {
        ++sent;
        auto id = InvocationId::FromBytes(message.destination());
        if (id.ok()) {
          Execute(state_machine::OutboxAction{seq, *id, message.command()});
        }
      }));
  size_t timers = 0;
  REPRISE_RETURN_IF_ERROR(reader_->ForEachTimer([&](const storage::Timer& t) {
    ++timers;
    actions_.Execute(
        partition_, state_machine::RegisterTimerAction{t.invocation_id, t.index,
                                                       t.wake_up_at_ms});
  }));
  if (!live.empty() || timers > 0 || sent > 0) {
    Log(LogLevel::kInfo,
        "partition %d: resumed %d live invocations and %d timers, sent %d "
        "outbox messages again",
        partition_.value(), live.size(), timers, sent);
  }
  return absl::OkStatus();
}

void PartitionProcessor::Execute(state_machine::Action action) {
  auto* start = std::get_if<state_machine::StartAttemptAction>(&action);
  if (start != nullptr && !start->target.key().empty()) {
    // The state is read after the batch committed. For an exclusive
    // invocation that is the state its attempt starts from: nothing else
    // writes the key while it holds it. A shared one may see a later state.
    size_t bytes = 0;
    absl::Status read = reader_->ForEachState(
        start->target, [&](std::string_view key, std::string_view value) {
          bytes += key.size() + value.size();
          if (bytes > options_.eager_state_limit_bytes) {
            start->partial_state = true;
            return false;
          }
          start->state.emplace_back(key, value);
          return true;
        });
    if (!read.ok() || start->partial_state) {
      // The attempt reads what it needs through the log instead.
      start->state.clear();
      start->partial_state = true;
    }
  }
  actions_.Execute(partition_, std::move(action));
}

bool PartitionProcessor::HasWorkLocked() const {
  if (known_tail_ > applied_tail_) return true;
  return std::any_of(
      queries_.begin(), queries_.end(),
      [&](const PendingQuery& q) { return q.after < applied_tail_; });
}

void PartitionProcessor::MaybeExpire() {
  const absl::Time now = absl::Now();
  if (now < next_expiry_check_) return;
  next_expiry_check_ = now + kExpiryCheckInterval;
  absl::StatusOr<std::optional<int64_t>> first = reader_->FirstExpiry();
  if (!first.ok()) {
    Log(LogLevel::kWarning, "partition %d: cannot read the expiry index: %s",
        partition_.value(), first.status().ToString());
    return;
  }
  if (!first->has_value() || **first > absl::ToUnixMillis(now)) return;
  // Applied like any command; at most one per interval, since each removes
  // everything due (up to a bound) at its own time.
  v1::Command command;
  command.set_timestamp_ms(absl::ToUnixMillis(now));
  command.mutable_expire();
  log_.Append(partition_, command.SerializeAsString(),
              log::StopProcessOnFailure("appending an expiry"));
}

void PartitionProcessor::ApplyAndExecute(
    std::vector<state_machine::Action>& actions, size_t max_records,
    bool invocation_steps_only) {
  // Any failure here means the log or the store is broken: continuing
  // could apply commands out of order, so the process stops loudly.
  absl::StatusOr<size_t> applied =
      ApplyBatch(actions, max_records, invocation_steps_only);
  if (!applied.ok()) {
    Log(LogLevel::kError, "partition %d stopped: %s", partition_.value(),
        applied.status().ToString());
    REPRISE_CHECK(false, "partition processor cannot continue");
  }
  // Answers to ingress callers go last: each is a gRPC send, and the
  // batch's attempts, acks and completions for workers should not wait
  // behind them. A hot key's next attempt left 91 us (p50) after the
  // commit, behind its predecessor's answer; now 18 us. (An action moved
  // from keeps its kind, so the second pass finds the answers.)
  auto answer = [](const state_machine::Action& action) {
    return std::holds_alternative<state_machine::InvocationCompletedAction>(
        action);
  };
  for (auto& action : actions) {
    if (!answer(action)) Execute(std::move(action));
  }
  for (auto& action : actions) {
    if (answer(action)) Execute(std::move(action));
  }
  actions.clear();
  absl::MutexLock lock(&mu_);
  applied_tail_ = next_lsn_;
}

void PartitionProcessor::RunReadyQueries(std::vector<PendingQuery>& ready) {
  {
    absl::MutexLock lock(&mu_);
    auto it = std::partition(
        queries_.begin(), queries_.end(),
        [&](const PendingQuery& q) { return q.after >= applied_tail_; });
    std::move(it, queries_.end(), std::back_inserter(ready));
    queries_.erase(it, queries_.end());
  }
  // Queries run on this thread only, never in OnTailAdvanced (one may read
  // much: an admin listing), and while it holds applying_, so that no batch
  // is applied under a query's reads.
  for (auto& q : ready) q.query(*reader_);
  ready.clear();
}

void PartitionProcessor::Loop() {
  std::vector<PendingQuery> ready;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(
          absl::Condition(
              +[](PartitionProcessor* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                return self->stopping_ ||
                       (!self->applying_ && self->HasWorkLocked());
              },
              this),
          kExpiryCheckInterval);
      if (stopping_) return;
      // Timed out while OnTailAdvanced applies: the next round.
      if (applying_) continue;
      applying_ = true;
    }
    // Queries that batches applied by OnTailAdvanced satisfied run
    // before the next batch, so each still sees the state right after the
    // batch it waited for.
    RunReadyQueries(ready);
    MaybeExpire();
    ApplyAndExecute(actions_buffer_, kMaxBatchRecords,
                    /*invocation_steps_only=*/false);
    RunReadyQueries(ready);
    absl::MutexLock lock(&mu_);
    applying_ = false;
  }
}

}  // namespace reprise::partition
