#include "runtime/invoker/invoker.h"

#include <algorithm>
#include <deque>
#include <optional>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "reprise/v1/log.pb.h"
#include "runtime/common/clock.h"
#include "runtime/common/logging.h"

namespace reprise::invoker {

Invoker::Invoker(log::Log& log, storage::ServiceRegistry& registry,
                 InvokerOptions options)
    : log_(log), registry_(registry), options_(options) {}

Invoker::~Invoker() = default;

void Invoker::RegisterWorker(std::shared_ptr<WorkerConnection> connection,
                             v1::RegisterRequest request,
                             RegisterCallback done) {
  // The registry write is synced; do it off the gRPC thread.
  tasks_.Post([this, connection = std::move(connection),
               request = std::move(request), done = std::move(done)]() mutable {
    if (request.protocol_version() != 1) {
      done(absl::FailedPreconditionError(absl::StrFormat(
          "worker protocol version %d is not supported; this runtime speaks 1",
          request.protocol_version())));
      return;
    }
    std::vector<v1::ServiceDefinition> services(request.services().begin(),
                                                request.services().end());
    absl::Status status =
        registry_.Register(services, request.version(), NowMillis());
    if (!status.ok()) {
      done(status);
      return;
    }
    WorkerView view;
    view.name = request.worker_name();
    view.version = request.version();
    view.capacity = request.max_concurrency() > 0
                        ? request.max_concurrency()
                        : options_.default_worker_concurrency;
    for (const auto& s : services) view.services.push_back(s.name());
    {
      absl::MutexLock lock(&mu_);
      view.worker_id = absl::StrFormat("w%d-%s", next_worker_number_++,
                                       request.worker_name());
    }
    // Registered goes out before the first attempt.
    done(view.worker_id);
    AddWorker(std::move(connection), std::move(view));
  });
}

void Invoker::AddWorker(std::shared_ptr<WorkerConnection> connection,
                        WorkerView view) {
  Outbox outbox;
  {
    absl::MutexLock lock(&mu_);
    // The stream may have ended while the registration was being written;
    // its disconnect was then a no-op, so it must not be added now. A
    // disconnect after this check waits for the lock and removes it.
    if (connection->closed()) return;
    Log(LogLevel::kInfo, "worker %s (version %s) connected: %d services",
        view.worker_id, view.version, view.services.size());
    const WorkerConnection* key = connection.get();
    auto worker = std::make_unique<Worker>();
    worker->connection = std::move(connection);
    worker->view = std::move(view);
    Worker& w = *worker;
    workers_[key] = std::move(worker);
    for (const auto& service : w.view.services) {
      workers_by_service_[service].push_back(&w);
    }
    DrainWaiting(w, outbox);
  }
  Flush(outbox);
}

void Invoker::OnWorkerDisconnected(const WorkerConnection& connection) {
  Outbox outbox;
  {
    absl::MutexLock lock(&mu_);
    auto it = workers_.find(&connection);
    if (it == workers_.end()) return;
    std::unique_ptr<Worker> worker = std::move(it->second);
    workers_.erase(it);
    Log(LogLevel::kInfo, "worker %s disconnected with %d attempts running",
        worker->view.worker_id, worker->running.size());
    for (const auto& service : worker->view.services) {
      auto& list = workers_by_service_[service];
      list.erase(std::remove(list.begin(), list.end(), worker.get()),
                 list.end());
    }
    for (const InvocationId& id : worker->running) {
      auto a = attempts_.find(id);
      if (a == attempts_.end()) continue;
      a->second.worker = nullptr;
      a->second.last_failure =
          absl::StrFormat("worker %s disconnected during attempt %d",
                          worker->view.worker_id, a->second.attempts);
      Dispatch(a->second, outbox);
    }
  }
  Flush(outbox);
}

Invoker::Attempt* Invoker::CurrentAttempt(const WorkerConnection& connection,
                                          const std::string& id_bytes,
                                          uint32_t attempt_number) {
  auto id = InvocationId::FromBytes(id_bytes);
  if (!id.ok()) return nullptr;
  auto it = attempts_.find(*id);
  // Messages of a superseded attempt, or from another worker, are ignored.
  if (it == attempts_.end() || it->second.worker == nullptr ||
      it->second.worker->connection.get() != &connection ||
      it->second.attempts != attempt_number) {
    return nullptr;
  }
  return &it->second;
}

void Invoker::OnWorkerMessage(const WorkerConnection& connection,
                              const v1::WorkerMessage& message) {
  Outbox outbox;
  std::optional<PartitionId> propose_to;
  {
    absl::MutexLock lock(&mu_);
    if (message.has_propose()) {
      const v1::ProposeEntry& propose = message.propose();
      Attempt* attempt = CurrentAttempt(connection, propose.invocation_id(),
                                        propose.attempt());
      if (attempt == nullptr) return;
      propose_to = attempt->partition;
    } else if (message.has_attempt_failed()) {
      const v1::AttemptFailed& failed = message.attempt_failed();
      Attempt* attempt =
          CurrentAttempt(connection, failed.invocation_id(), failed.attempt());
      if (attempt == nullptr) return;
      Worker* worker = attempt->worker;
      attempt->last_failure = failed.message();
      ReleaseSlot(*attempt);
      ScheduleRetry(*attempt);
      DrainWaiting(*worker, outbox);
    }
  }
  if (propose_to.has_value()) {
    // Outside the lock: one stream's messages arrive one at a time, so its
    // proposals still reach the log in order.
    const v1::ProposeEntry& propose = message.propose();
    v1::Command command;
    command.set_timestamp_ms(NowMillis());
    auto* entry = command.mutable_propose_entry();
    entry->set_invocation_id(propose.invocation_id());
    entry->set_attempt(propose.attempt());
    entry->set_index(propose.index());
    *entry->mutable_entry() = propose.entry();
    log_.Append(*propose_to, command.SerializeAsString(),
                [](absl::StatusOr<Lsn> lsn) {
                  if (!lsn.ok()) {
                    Log(LogLevel::kError, "proposing a journal entry: %s",
                        lsn.status().ToString());
                  }
                });
  }
  Flush(outbox);
}

void Invoker::StartAttempt(PartitionId partition,
                           state_machine::StartAttemptAction action) {
  Outbox outbox;
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = attempts_.try_emplace(action.invocation_id);
    if (!inserted) return;  // already known to this leader
    Attempt& attempt = it->second;
    attempt.partition = partition;
    attempt.id = action.invocation_id;
    attempt.target = std::move(action.target);
    attempt.journal = std::move(action.journal);
    Dispatch(attempt, outbox);
  }
  Flush(outbox);
}

void Invoker::OnCompleted(const InvocationId& id) {
  Outbox outbox;
  {
    absl::MutexLock lock(&mu_);
    auto it = attempts_.find(id);
    if (it == attempts_.end()) return;
    Worker* worker = it->second.worker;
    ReleaseSlot(it->second);
    attempts_.erase(it);
    if (worker != nullptr) DrainWaiting(*worker, outbox);
  }
  Flush(outbox);
}

void Invoker::Dispatch(Attempt& attempt, Outbox& outbox) {
  Worker* best = nullptr;
  auto candidates = workers_by_service_.find(attempt.target.service());
  if (candidates != workers_by_service_.end()) {
    for (Worker* w : candidates->second) {
      if (w->running.size() >= w->view.capacity) continue;
      if (best == nullptr || w->running.size() < best->running.size()) best = w;
    }
  }
  if (best == nullptr) {
    waiting_[attempt.target.service()].push_back(attempt.id);
    return;
  }
  attempt.worker = best;
  attempt.backing_off = false;
  ++attempt.attempts;
  best->running.insert(attempt.id);
  v1::RuntimeMessage message;
  auto* start = message.mutable_start();
  start->set_invocation_id(attempt.id.ToBytes());
  start->set_attempt(attempt.attempts);
  *start->mutable_target() = attempt.target;
  for (const auto& entry : attempt.journal) *start->add_journal() = entry;
  outbox.emplace_back(best->connection, std::move(message));
}

void Invoker::DrainWaiting(Worker& worker, Outbox& outbox) {
  for (const auto& service : worker.view.services) {
    auto queue = waiting_.find(service);
    if (queue == waiting_.end()) continue;
    while (!queue->second.empty() &&
           worker.running.size() < worker.view.capacity) {
      InvocationId id = queue->second.front();
      queue->second.pop_front();
      auto it = attempts_.find(id);
      if (it == attempts_.end() || it->second.worker != nullptr ||
          it->second.backing_off) {
        continue;  // completed or re-dispatched meanwhile
      }
      Dispatch(it->second, outbox);
    }
    if (queue->second.empty()) waiting_.erase(queue);
  }
}

void Invoker::ReleaseSlot(Attempt& attempt) {
  if (attempt.worker == nullptr) return;
  attempt.worker->running.erase(attempt.id);
  attempt.worker = nullptr;
}

void Invoker::ScheduleRetry(Attempt& attempt) {
  attempt.backing_off = true;
  absl::Duration delay = options_.initial_retry_delay;
  for (uint32_t i = 1; i < attempt.attempts && delay < options_.max_retry_delay;
       ++i) {
    delay *= 2;
  }
  delay = std::min(delay, options_.max_retry_delay);
  tasks_.PostAt(absl::Now() + delay, [this, id = attempt.id] {
    Outbox outbox;
    {
      absl::MutexLock lock(&mu_);
      auto it = attempts_.find(id);
      if (it == attempts_.end() || !it->second.backing_off) return;
      it->second.backing_off = false;
      Dispatch(it->second, outbox);
    }
    Flush(outbox);
  });
}

void Invoker::Flush(Outbox& outbox) {
  for (auto& [connection, message] : outbox) {
    connection->Send(std::move(message));
  }
  outbox.clear();
}

std::optional<AttemptView> Invoker::Describe(const InvocationId& id) const {
  absl::MutexLock lock(&mu_);
  auto it = attempts_.find(id);
  if (it == attempts_.end()) return std::nullopt;
  const Attempt& attempt = it->second;
  AttemptView view;
  view.attempts = attempt.attempts;
  if (attempt.worker != nullptr) {
    view.state = AttemptView::State::kRunning;
    view.reason =
        absl::StrFormat("attempt %d running on worker %s", attempt.attempts,
                        attempt.worker->view.worker_id);
  } else if (attempt.backing_off) {
    view.state = AttemptView::State::kBackingOff;
    view.reason = absl::StrFormat("backing off after attempt %d failed: %s",
                                  attempt.attempts, attempt.last_failure);
  } else {
    auto workers = workers_by_service_.find(attempt.target.service());
    view.reason =
        workers == workers_by_service_.end() || workers->second.empty()
            ? absl::StrFormat("waiting for a worker of service %s to connect",
                              attempt.target.service())
            : absl::StrFormat("waiting for a free slot on a worker of %s",
                              attempt.target.service());
  }
  return view;
}

std::vector<WorkerView> Invoker::Workers() const {
  absl::MutexLock lock(&mu_);
  std::vector<WorkerView> out;
  for (const auto& [key, worker] : workers_) {
    WorkerView view = worker->view;
    view.in_flight = static_cast<uint32_t>(worker->running.size());
    out.push_back(std::move(view));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.worker_id < b.worker_id;
  });
  return out;
}

}  // namespace reprise::invoker
