// Invoker: runs attempts of invocations on connected workers. The partition
// processors (as leaders) hand it invocations to start and tell it when they
// complete; workers' journal entries come back through it and are proposed
// to the partition's log as commands.
//
// Scheduling: each worker announces its capacity; an attempt goes to the
// least loaded worker that serves its service and has room, otherwise it
// waits in a per-service FIFO, so a backlog drains at the workers' pace
// instead of timing out. A failed attempt (worker error or lost connection)
// is retried with exponential back-off.
//
// Thread-safety: all methods may be called from any thread; a short mutex
// guards the state and nothing blocks under it. Messages to workers are sent
// after the mutex is released. Ownership: borrows the log and the registry,
// which must outlive it; shares WorkerConnections with their gRPC streams.
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

struct InvokerOptions {
  // Capacity of a worker that announces none.
  uint32_t default_worker_concurrency = 256;
  absl::Duration initial_retry_delay = absl::Milliseconds(100);
  absl::Duration max_retry_delay = absl::Seconds(10);
};

// What the invoker knows about one live invocation, for operators.
struct AttemptView {
  enum class State { kPending, kRunning, kBackingOff };
  State state = State::kPending;
  std::string reason;
  uint32_t attempts = 0;
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
  void OnWorkerMessage(const WorkerConnection& connection,
                       const v1::WorkerMessage& message);
  // Re-dispatches the worker's running attempts elsewhere. Idempotent.
  void OnWorkerDisconnected(const WorkerConnection& connection);

  // Leader side, called from partition processors.
  void StartAttempt(PartitionId partition,
                    state_machine::StartAttemptAction action);
  void OnCompleted(const InvocationId& id);

  // Introspection.
  std::optional<AttemptView> Describe(const InvocationId& id) const;
  std::vector<WorkerView> Workers() const;

 private:
  struct Worker;
  struct Attempt {
    PartitionId partition;
    InvocationId id;
    v1::Target target;
    std::vector<v1::JournalEntry> journal;
    uint32_t attempts = 0;  // started so far; the current one's number
    Worker* worker = nullptr;
    bool backing_off = false;
    std::string last_failure;
  };
  struct Worker {
    std::shared_ptr<WorkerConnection> connection;
    WorkerView view;
    absl::flat_hash_set<InvocationId> running;
  };
  using Outbox = std::vector<
      std::pair<std::shared_ptr<WorkerConnection>, v1::RuntimeMessage>>;

  void AddWorker(std::shared_ptr<WorkerConnection> connection, WorkerView view);
  Attempt* CurrentAttempt(const WorkerConnection& connection,
                          const std::string& id_bytes, uint32_t attempt_number)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Dispatch(Attempt& attempt, Outbox& outbox)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DrainWaiting(Worker& worker, Outbox& outbox)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReleaseSlot(Attempt& attempt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleRetry(Attempt& attempt) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void Flush(Outbox& outbox);

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
