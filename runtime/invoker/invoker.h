// Invoker: runs attempts of invocations on connected workers. The partition
// processors (as leaders) hand it the attempts to run and the acks and
// completions for running ones; what workers send back (journal entries,
// suspensions, failures) becomes commands on the partition's log. The
// invoker keeps no durable state: attempt numbers, retries and back-offs are
// decided by the state machine, so a crash loses nothing.
//
// Scheduling: each worker announces its capacity; an attempt goes to the
// least loaded worker that serves its service (and runs the invocation's
// pinned version, once it has one) and has room, otherwise it waits in a
// per-service FIFO, so a backlog drains at the workers' pace instead of
// timing out. An attempt that sends nothing for its handler's inactivity
// timeout is aborted and reported as failed.
//
// Thread-safety: all methods may be called from any thread; a short mutex
// guards the state and nothing blocks under it. Messages to workers are
// queued under the mutex (WorkerConnection::Send never blocks), so a
// worker receives an attempt's Start before anything about that attempt;
// appends to the log happen after the mutex is released. Ownership: borrows
// the log and the registry, which must outlive it; shares WorkerConnections
// with their gRPC streams.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "reprise/v1/log.pb.h"
#include "reprise/v1/worker.pb.h"
#include "runtime/common/ids.h"
#include "runtime/common/task_thread.h"
#include "runtime/log/log.h"
#include "runtime/state_machine/action.h"
#include "runtime/storage/service_registry.h"

namespace reprise::invoker {

// The runtime's end of one worker connection.
class WorkerConnection {
 public:
  virtual ~WorkerConnection() = default;
  // Queues `message` for the worker; never blocks. Dropped once closed.
  virtual void Send(v1::RuntimeMessage message) = 0;
  // True once the stream has ended or is ending; never false again after.
  virtual bool closed() = 0;
};

// The defaults for handlers that declare no options (docs/sdk.md).
struct InvokerOptions {
  // Capacity of a worker that announces none.
  uint32_t default_worker_concurrency = 256;
  v1::RetryPolicy default_retry_policy = DefaultRetryPolicy();
  absl::Duration default_inactivity_timeout = absl::Minutes(5);
  // How often running attempts are checked for inactivity.
  absl::Duration inactivity_check_interval = absl::Seconds(1);

  // 100 ms, doubling, at most 10 s apart, 30 attempts, then pause.
  static v1::RetryPolicy DefaultRetryPolicy();
};

// What the invoker knows about one invocation, for operators.
struct AttemptView {
  enum class State { kPending, kRunning, kBackingOff };
  State state = State::kPending;
  std::string reason;
};

struct WorkerView {
  std::string worker_id;
  std::string name;
  std::string version;
  std::vector<std::string> services;
  uint32_t capacity = 0;
  uint32_t in_flight = 0;
};

class Invoker {
 public:
  using RegisterCallback =
      absl::AnyInvocable<void(absl::StatusOr<std::string> worker_id)>;

  Invoker(log::Log& log, storage::ServiceRegistry& registry,
          InvokerOptions options);
  ~Invoker();
  Invoker(const Invoker&) = delete;
  Invoker& operator=(const Invoker&) = delete;

  // Worker side, called from the worker streams.
  // Records the worker's services durably (off the caller's thread), then
  // calls `done` and starts sending it attempts.
  void RegisterWorker(std::shared_ptr<WorkerConnection> connection,
                      v1::RegisterRequest request, RegisterCallback done);
  // REQUIRES: one connection's messages are passed in the order received.
  void OnWorkerMessage(const WorkerConnection& connection,
                       const v1::WorkerMessage& message);
  // Reports the worker's running attempts as failed. Idempotent.
  void OnWorkerDisconnected(const WorkerConnection& connection);

  // Leader side: the actions of applied commands, from partition processors.
  void StartAttempt(PartitionId partition,
                    state_machine::StartAttemptAction action);
  void OnEntryAck(const state_machine::EntryAckAction& action);
  void OnEntryCompleted(const state_machine::EntryCompletedAction& action);
  // The invocation runs no attempt any more: parked or completed.
  void OnFinished(const InvocationId& id);
  // An operator stopped the invocation: attempt `number` ends at once; its
  // worker, if it runs it, is told `reason`.
  void AbortAttempt(const InvocationId& id, uint32_t number,
                    std::string reason);

  // Introspection.
  std::optional<AttemptView> Describe(const InvocationId& id) const;
  std::vector<WorkerView> Workers() const;

  // A handler's options, resolved against its service's and the defaults.
  struct HandlerOptions {
    v1::RetryPolicy retry_policy;
    absl::Duration inactivity_timeout;
  };
  HandlerOptions ResolveOptions(const v1::ServiceDefinition& service,
                                const v1::HandlerDefinition& handler) const;

 private:
  struct Worker {
    std::shared_ptr<WorkerConnection> connection;
    WorkerView view;
    // "service/handler" -> options.
    absl::flat_hash_map<std::string, HandlerOptions> options;
    absl::flat_hash_set<InvocationId> running;
  };
  struct Attempt {
    enum class State {
      kWaiting,  // for a worker with room
      kDelayed,  // until not_before (a retry back-off)
      kRunning,  // on `worker`
      kEnded,    // reported to the log; the state machine decides next
    };
    PartitionId partition;
    InvocationId id;
    v1::Target target;
    uint32_t number = 0;
    // The journal to replay and the key's state; dropped once the attempt
    // is sent.
    std::vector<v1::JournalEntry> journal;
    std::vector<std::pair<std::string, std::string>> state_entries;
    bool partial_state = false;
    std::string pinned_version;
    absl::Time not_before;
    State state = State::kWaiting;
    Worker* worker = nullptr;
    absl::Time last_activity;
  };
  // Commands to append once the mutex is released, in order.
  using Proposals = std::vector<std::pair<PartitionId, v1::Command>>;

  void AddWorker(std::shared_ptr<WorkerConnection> connection,
                 const v1::RegisterRequest& request, WorkerView view);
  Attempt* RunningAttempt(const WorkerConnection& connection,
                          const std::string& id_bytes, uint32_t number)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Dispatch(Attempt& attempt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Dispatches attempt `number` if it still waits for its back-off.
  void DispatchDelayed(const InvocationId& id, uint32_t number);
  bool CanRun(const Worker& worker, const Attempt& attempt) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DrainWaiting(Worker& worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends a running attempt and reports `message` as its failure.
  void FailAttempt(Attempt& attempt, std::string message,
                   std::optional<uint32_t> journal_index, Proposals& proposals)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells the worker running `attempt` to stop it.
  void SendAbort(const Attempt& attempt, std::string reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Frees the attempt's slot; the state machine decides what comes next.
  void EndAttempt(Attempt& attempt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseSlot(Attempt& attempt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Fills in what the runtime owns in a proposed entry: a call or send
  // entry's target types (or why it cannot be invoked, a call that would
  // wait for its own caller included); the completion of
  // an awakeable or promise entry is cleared, only the runtime sets it.
  // `caller` is the proposing attempt's target (set when the entries hold
  // a call).
  void ResolveCallTarget(v1::JournalEntry& entry,
                         const v1::Target& caller) const;
  // Whether a call from `caller` to `callee` could only start after the
  // caller completes: both exclusive on the same key.
  bool WaitsForItself(const v1::Target& caller, const v1::Target& callee,
                      const storage::ResolvedTarget& resolved) const;
  void CheckInactivity();
  void Propose(Proposals& proposals);

  log::Log& log_;
  storage::ServiceRegistry& registry_;
  const InvokerOptions options_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<InvocationId, Attempt> attempts_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<const WorkerConnection*, std::unique_ptr<Worker>> workers_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::vector<Worker*>> workers_by_service_
      ABSL_GUARDED_BY(mu_);
  // Per service: invocations waiting for a worker with room, oldest first.
  absl::flat_hash_map<std::string, std::deque<InvocationId>> waiting_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_worker_number_ ABSL_GUARDED_BY(mu_) = 1;

  // Declared last: destroyed first, so no task outlives the state it uses.
  TaskThread tasks_;
};

}  // namespace reprise::invoker
