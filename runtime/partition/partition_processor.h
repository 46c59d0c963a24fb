// PartitionProcessor: owns a partition, with a thread of its own. It reads the
// partition's log from the store's applied Lsn on, applies each batch of
// records to the store in one transaction, and, as the partition's leader,
// executes the actions only after that commit, i.e. after the commands are
// durable in the log and their effects visible in the store.
//
// An attempt of a virtual object or workflow is sent with its key's state
// when that is at most `eager_state_limit_bytes`; larger state is read by
// the attempt entry by entry.
//
// Recovery (Start): re-apply the log tail without executing actions, then,
// as a new leader would, resume every invocation that has an attempt to run,
// schedule every durable timer, and send the outbox's undelivered messages
// again.
//
// Thread-safety: OnTailAdvanced and RunAfterApplied may be called from any
// thread; Start and Stop from the owner. One thread at a time applies and
// executes actions: the processor's own, or, while that one is idle, the
// caller of OnTailAdvanced (the log's writer, so a durable record is
// applied without waking another thread). Queries run on the processor's
// thread only. Ownership: borrows the log, store and LeaderActions, which
// must outlive it.
#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "reprise/v1/log.pb.h"
#include "runtime/log/log.h"
#include "runtime/state_machine/state_machine.h"
#include "runtime/storage/partition_store.h"

namespace reprise::partition {

// Executes the actions of applied commands; implemented by the server.
// Called by the thread applying (the processor's, or the log's writer in
// OnTailAdvanced), one at a time; must not block.
class LeaderActions {
 public:
  virtual ~LeaderActions() = default;
  virtual void Execute(PartitionId partition, state_machine::Action action) = 0;
};

// Told the invocation statuses each applied batch wrote, after its commit,
// while it is watching; implemented by the admin API's watch.
class StatusListener {
 public:
  virtual ~StatusListener() = default;
  // Cheap; checked once per batch.
  virtual bool Watching() const = 0;
  // Called by the thread applying, as LeaderActions; must not block.
  virtual void OnStatusWrites(
      PartitionId partition,
      std::vector<std::pair<InvocationId, v1::InvocationStatus>> writes) = 0;
};

struct PartitionProcessorOptions {
  size_t eager_state_limit_bytes = 64 << 10;
  // Borrowed; may be null.
  StatusListener* status_listener = nullptr;
};

class PartitionProcessor {
 public:
  // Runs on the processor thread with a reader of the committed state.
  using Query = absl::AnyInvocable<void(storage::PartitionReader&)>;

  PartitionProcessor(PartitionId partition, log::Log& log,
                     storage::Store& store, LeaderActions& actions,
                     PartitionProcessorOptions options = {});
  ~PartitionProcessor();
  PartitionProcessor(const PartitionProcessor&) = delete;
  PartitionProcessor& operator=(const PartitionProcessor&) = delete;

  // Catches up with the log, resumes live invocations, starts the thread.
  absl::Status Start();
  // Stops the thread; queries not yet run are dropped. Idempotent.
  void Stop();

  // Tells the processor the log's durable tail moved. If its thread is
  // idle, no query waits, the log is Idle() and at most a few records are
  // new, applies those that are invocation steps and executes their actions
  // on the caller's thread before returning (not blocking, as LeaderActions
  // do not block); its thread does the rest.
  void OnTailAdvanced(Lsn tail);

  // Runs `query` on the processor thread once every record that is durable
  // now has been applied: a read that sees all acknowledged writes.
  void RunAfterApplied(Query query);

  // Appends `command` to the partition's log, stamped with the time then,
  // if `check`, run like a query, passes. `done` gets the check's error,
  // or OK once the command is durable and applied (a read after it sees
  // its effect), or UNAVAILABLE if it could not be stored. Commands from
  // outside (completions, cancellations) are checked against the state this way
  // so that bad requests get a clear error. With an `exclusive_key`, a
  // command whose check runs while another one with that key is appended
  // but not applied yet gets FAILED_PRECONDITION instead: of two racing
  // completions of one awakeable or promise, which the check alone would
  // both let through, only the first is answered OK. With a `verify`, run
  // once the command is applied, `done` gets its error instead of OK: it
  // tells whether the command took effect, when a command from elsewhere
  // (a handler completing the promise, a cancellation) that neither the
  // check nor the key can see may have come first.
  using Check = absl::AnyInvocable<absl::Status(storage::PartitionReader&)>;
  using Done = absl::AnyInvocable<void(absl::Status)>;
  void AppendIfValid(v1::Command command, Check check, Done done,
                     std::string exclusive_key = "", Check verify = nullptr);

  PartitionId partition() const { return partition_; }

 private:
  struct PendingQuery {
    Lsn after;
    Query query;
  };

  // Runs `query` on the processor thread once `lsn` is applied.
  void RunWhenApplied(Lsn lsn, Query query);

  // The error for a log whose records from `next_lsn_` on are trimmed;
  // `first_kept` is the first it still has (its tail when it has none).
  absl::Status MissingRecords(Lsn first_kept) const;
  // Applies up to `max_records` from `next_lsn_` in one transaction, adding
  // their actions to `actions`; with `invocation_steps_only`, stops before
  // the first command that is not one (InvocationStep). Returns the number
  // of records applied (0: caught up, or stopped at once).
  absl::StatusOr<size_t> ApplyBatch(std::vector<state_machine::Action>& actions,
                                    size_t max_records,
                                    bool invocation_steps_only);
  absl::Status ResumeLiveInvocations();
  // As the leader: appends an ExpireCommand when completed invocations are
  // due for removal (checked at most every 100 ms).
  void MaybeExpire();
  // Executes `action` as the leader, adding what it needs from the store.
  void Execute(state_machine::Action action);
  // ApplyBatch, then executes the actions (clearing `actions`) and
  // publishes the new applied tail. REQUIRES: applying_ set by the caller.
  void ApplyAndExecute(std::vector<state_machine::Action>& actions,
                       size_t max_records, bool invocation_steps_only);
  // Runs the queries whose records are applied. REQUIRES: applying_ set by
  // the processor's thread.
  void RunReadyQueries(std::vector<PendingQuery>& ready);
  void Loop();
  bool HasWorkLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const PartitionId partition_;
  log::Log& log_;
  storage::Store& store_;
  LeaderActions& actions_;
  const PartitionProcessorOptions options_;
  // Used only by the thread that set applying_ (or by Start, before the
  // processor's thread starts): the processor's thread, or OnTailAdvanced's
  // caller.
  state_machine::StateMachine state_machine_;
  std::unique_ptr<storage::PartitionReader> reader_;
  // The rows this processor's transactions wrote last.
  storage::RecentRows recent_rows_;
  Lsn next_lsn_{1};
  absl::Time next_expiry_check_;
  // Exclusive keys of AppendIfValid commands appended and not yet applied.
  absl::flat_hash_set<std::string> exclusive_in_flight_;
  // The actions of the batch being applied, kept for their capacity.
  std::vector<state_machine::Action> actions_buffer_;

  absl::Mutex mu_;
  Lsn known_tail_ ABSL_GUARDED_BY(mu_){1};
  // next_lsn_ as of the last committed batch, for other threads.
  Lsn applied_tail_ ABSL_GUARDED_BY(mu_){1};
  std::vector<PendingQuery> queries_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  // A thread is applying a batch and executing its actions.
  bool applying_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace reprise::partition
