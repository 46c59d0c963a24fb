#include "runtime/invoker/invoker.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "runtime/common/clock.h"
#include "runtime/common/logging.h"

namespace reprise::invoker {
namespace {

std::string HandlerKey(const std::string& service, const std::string& handler) {
  return absl::StrCat(service, "/", handler);
}

v1::Command NewCommand() {
  v1::Command command;
  command.set_timestamp_ms(NowMillis());
  return command;
}

}  // namespace

v1::RetryPolicy InvokerOptions::DefaultRetryPolicy() {
  v1::RetryPolicy policy;
  policy.set_initial_interval_ms(100);
  policy.set_factor(2.0);
  policy.set_max_interval_ms(10000);
  policy.set_max_attempts(30);
  policy.set_on_max_attempts(v1::RetryPolicy::ON_MAX_ATTEMPTS_PAUSE);
  return policy;
}

Invoker::Invoker(log::Log& log, storage::ServiceRegistry& registry,
                 InvokerOptions options)
    : log_(log), registry_(registry), options_(std::move(options)) {
  tasks_.PostAt(absl::Now() + options_.inactivity_check_interval,
                [this] { CheckInactivity(); });
}

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
    AddWorker(std::move(connection), request, std::move(view));
  });
}

Invoker::HandlerOptions Invoker::ResolveOptions(
    const v1::ServiceDefinition& service,
    const v1::HandlerDefinition& handler) const {
  HandlerOptions resolved{options_.default_retry_policy,
                          options_.default_inactivity_timeout};
  for (const v1::HandlerOptions* declared :
       {&service.options(), &handler.options()}) {
    if (declared->has_retry_policy()) {
      resolved.retry_policy = declared->retry_policy();
    }
    if (declared->has_inactivity_timeout_ms()) {
      resolved.inactivity_timeout =
          absl::Milliseconds(declared->inactivity_timeout_ms());
    }
  }
  return resolved;
}

void Invoker::AddWorker(std::shared_ptr<WorkerConnection> connection,
                        const v1::RegisterRequest& request, WorkerView view) {
  auto worker = std::make_unique<Worker>();
  for (const auto& service : request.services()) {
    for (const auto& handler : service.handlers()) {
      worker->options[HandlerKey(service.name(), handler.name())] =
          ResolveOptions(service, handler);
    }
  }
  {
    absl::MutexLock lock(&mu_);
    // The stream may have ended while the registration was being written;
    // its disconnect was then a no-op, so it must not be added now. A
    // disconnect after this check waits for the lock and removes it.
    if (connection->closed()) return;
    Log(LogLevel::kInfo, "worker %s (version %s) connected: %d services",
        view.worker_id, view.version, view.services.size());
    const WorkerConnection* key = connection.get();
    worker->connection = std::move(connection);
    worker->view = std::move(view);
    Worker& w = *worker;
    workers_[key] = std::move(worker);
    for (const auto& service : w.view.services) {
      workers_by_service_[service].push_back(&w);
    }
    DrainWaiting(w);
  }
}

void Invoker::OnWorkerDisconnected(const WorkerConnection& connection) {
  Proposals proposals;
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
    const absl::flat_hash_set<InvocationId> running = worker->running;
    for (const InvocationId& id : running) {
      auto a = attempts_.find(id);
      if (a == attempts_.end()) continue;
      FailAttempt(a->second,
                  absl::StrFormat("worker %s disconnected during the attempt",
                                  worker->view.worker_id),
                  std::nullopt, proposals);
    }
  }
  Propose(proposals);
}

Invoker::Attempt* Invoker::RunningAttempt(const WorkerConnection& connection,
                                          const std::string& id_bytes,
                                          uint32_t number) {
  auto id = InvocationId::FromBytes(id_bytes);
  if (!id.ok()) return nullptr;
  auto it = attempts_.find(*id);
  // Messages of a superseded attempt, or from another worker, are ignored.
  if (it == attempts_.end() || it->second.state != Attempt::State::kRunning ||
      it->second.worker->connection.get() != &connection ||
      it->second.number != number) {
    return nullptr;
  }
  it->second.last_activity = absl::Now();
  return &it->second;
}

bool Invoker::WaitsForItself(const v1::Target& caller, const v1::Target& callee,
                             const storage::ResolvedTarget& resolved) const {
  if (callee.key().empty() || caller.service() != callee.service() ||
      caller.key() != callee.key() ||
      !storage::IsExclusiveHandler(resolved.handler_type)) {
    return false;
  }
  absl::StatusOr<storage::ResolvedTarget> own = registry_.Resolve(caller);
  return own.ok() && storage::IsExclusiveHandler(own->handler_type);
}

void Invoker::ResolveCallTarget(v1::JournalEntry& entry,
                                const v1::Target& caller) const {
  // Completions come from the runtime, never from the worker.
  if (entry.has_awakeable()) {
    entry.mutable_awakeable()->clear_result();
    return;
  }
  if (entry.has_get_promise()) {
    entry.mutable_get_promise()->clear_result();
    return;
  }
  if (entry.has_peek_promise()) {
    entry.mutable_peek_promise()->clear_result();
    return;
  }
  if (entry.has_complete_promise()) {
    entry.mutable_complete_promise()->clear_result();
    return;
  }
  if (!entry.has_call() && !entry.has_send()) return;
  const bool call = entry.has_call();
  const v1::Target& target =
      call ? entry.call().target() : entry.send().target();
  // What the runtime fills in is never taken from the worker.
  absl::StatusOr<storage::ResolvedTarget> resolved = registry_.Resolve(target);
  if (call && resolved.ok() && WaitsForItself(caller, target, *resolved)) {
    resolved = absl::FailedPreconditionError(absl::StrFormat(
        "%s/%s/%s calls %s/%s of its own key, which runs only after the "
        "caller completes: it would wait for itself forever (use Send, or "
        "make the callee shared)",
        caller.service(), caller.key(), caller.handler(), target.service(),
        target.handler()));
  }
  v1::Failure failure;
  if (!resolved.ok()) {
    failure.set_code(static_cast<uint32_t>(resolved.status().code()));
    failure.set_message(std::string(resolved.status().message()));
  }
  if (call) {
    v1::CallEntry& c = *entry.mutable_call();
    c.clear_invocation_id();
    c.clear_result();
    if (resolved.ok()) {
      c.set_service_type(resolved->service_type);
      c.set_handler_type(resolved->handler_type);
      c.set_retention_ms(resolved->retention_ms);
    } else {
      *c.mutable_result()->mutable_failure() = std::move(failure);
    }
  } else {
    v1::SendEntry& s = *entry.mutable_send();
    s.clear_invocation_id();
    s.clear_failure();
    if (resolved.ok()) {
      s.set_service_type(resolved->service_type);
      s.set_handler_type(resolved->handler_type);
      s.set_retention_ms(resolved->retention_ms);
    } else {
      *s.mutable_failure() = std::move(failure);
    }
  }
}

void Invoker::OnWorkerMessage(const WorkerConnection& connection,
                              const v1::WorkerMessage& message) {
  if (message.has_propose()) {
    // The hot path: only the check runs under the lock, not the copy of
    // the entry's payload.
    const v1::ProposeEntry& propose = message.propose();
    const bool has_call =
        std::any_of(propose.entries().begin(), propose.entries().end(),
                    [](const v1::JournalEntry& e) { return e.has_call(); });
    v1::Target caller;  // copied only for calls
    PartitionId partition;
    v1::Command command = NewCommand();
    auto* entry = command.mutable_propose_entry();
    {
      absl::MutexLock lock(&mu_);
      Attempt* attempt = RunningAttempt(connection, propose.invocation_id(),
                                        propose.attempt());
      if (attempt == nullptr) return;
      partition = attempt->partition;
      entry->set_worker_version(attempt->worker->view.version);
      if (has_call) caller = attempt->target;
    }
    entry->set_invocation_id(propose.invocation_id());
    entry->set_attempt(propose.attempt());
    entry->set_index(propose.index());
    entry->set_skip_ack(propose.skip_ack());
    *entry->mutable_entries() = propose.entries();
    for (auto& e : *entry->mutable_entries()) ResolveCallTarget(e, caller);
    // Outside the lock: one stream's messages arrive one at a time, so its
    // commands still reach the log in order.
    log_.Append(partition, command.SerializeAsString(),
                log::StopProcessOnFailure("proposing to the log"));
    return;
  }
  Proposals proposals;
  {
    absl::MutexLock lock(&mu_);
    switch (message.kind_case()) {
      case v1::WorkerMessage::kSuspend: {
        const v1::Suspend& suspend = message.suspend();
        Attempt* attempt = RunningAttempt(connection, suspend.invocation_id(),
                                          suspend.attempt());
        if (attempt == nullptr) return;
        v1::Command command = NewCommand();
        auto* out = command.mutable_suspend();
        out->set_invocation_id(suspend.invocation_id());
        out->set_attempt(suspend.attempt());
        *out->mutable_waiting_on() = suspend.waiting_on();
        proposals.emplace_back(attempt->partition, std::move(command));
        Worker* worker = attempt->worker;
        EndAttempt(*attempt);
        DrainWaiting(*worker);
        break;
      }
      case v1::WorkerMessage::kAttemptFailed: {
        const v1::AttemptFailed& failed = message.attempt_failed();
        Attempt* attempt = RunningAttempt(connection, failed.invocation_id(),
                                          failed.attempt());
        if (attempt == nullptr) return;
        Worker* worker = attempt->worker;
        FailAttempt(*attempt, failed.message(),
                    failed.has_journal_index()
                        ? std::optional<uint32_t>(failed.journal_index())
                        : std::nullopt,
                    proposals);
        DrainWaiting(*worker);
        break;
      }
      default:
        return;  // a second registration, or a kind from a newer protocol
    }
  }
  Propose(proposals);
}

void Invoker::FailAttempt(Attempt& attempt, std::string message,
                          std::optional<uint32_t> journal_index,
                          Proposals& proposals) {
  const Worker& worker = *attempt.worker;
  v1::Command command = NewCommand();
  auto* failed = command.mutable_attempt_failed();
  failed->set_invocation_id(attempt.id.ToBytes());
  failed->set_attempt(attempt.number);
  failed->set_message(std::move(message));
  if (journal_index.has_value()) failed->set_journal_index(*journal_index);
  auto options = worker.options.find(
      HandlerKey(attempt.target.service(), attempt.target.handler()));
  *failed->mutable_retry_policy() = options != worker.options.end()
                                        ? options->second.retry_policy
                                        : options_.default_retry_policy;
  proposals.emplace_back(attempt.partition, std::move(command));
  EndAttempt(attempt);
}

void Invoker::StartAttempt(PartitionId partition,
                           state_machine::StartAttemptAction action) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = attempts_.try_emplace(action.invocation_id);
  Attempt& attempt = it->second;
  if (!inserted) {
    if (attempt.number >= action.attempt) return;  // already known
    // The state machine moved on from the attempt this leader knew (it
    // ended, or a crash reset the numbering): its worker must stop it.
    if (attempt.state == Attempt::State::kRunning) {
      Worker* worker = attempt.worker;
      SendAbort(attempt, "superseded by a newer attempt");
      ReleaseSlot(attempt);
      DrainWaiting(*worker);
    }
  }
  attempt.partition = partition;
  attempt.id = action.invocation_id;
  attempt.target = std::move(action.target);
  attempt.number = action.attempt;
  attempt.journal = std::move(action.journal);
  attempt.state_entries = std::move(action.state);
  attempt.partial_state = action.partial_state;
  attempt.pinned_version = std::move(action.pinned_version);
  attempt.not_before = absl::FromUnixMillis(action.not_before_ms);
  if (attempt.not_before > absl::Now()) {
    attempt.state = Attempt::State::kDelayed;
    tasks_.PostAt(attempt.not_before,
                  [this, id = attempt.id, number = attempt.number] {
                    DispatchDelayed(id, number);
                  });
  } else {
    Dispatch(attempt);
  }
}

void Invoker::DispatchDelayed(const InvocationId& id, uint32_t number) {
  absl::MutexLock lock(&mu_);
  auto it = attempts_.find(id);
  if (it == attempts_.end() || it->second.number != number ||
      it->second.state != Attempt::State::kDelayed) {
    return;
  }
  Dispatch(it->second);
}

void Invoker::OnEntryAck(const state_machine::EntryAckAction& action) {
  v1::RuntimeMessage message;
  auto* ack = message.mutable_ack();
  ack->set_invocation_id(action.invocation_id.ToBytes());
  ack->set_attempt(action.attempt);
  ack->set_index(action.index);
  absl::MutexLock lock(&mu_);
  auto it = attempts_.find(action.invocation_id);
  if (it == attempts_.end() || it->second.number != action.attempt ||
      it->second.state != Attempt::State::kRunning) {
    return;
  }
  it->second.worker->connection->Send(std::move(message));
}

void Invoker::OnEntryCompleted(
    const state_machine::EntryCompletedAction& action) {
  absl::MutexLock lock(&mu_);
  auto it = attempts_.find(action.invocation_id);
  if (it == attempts_.end() || it->second.number != action.attempt) return;
  Attempt& attempt = it->second;
  if (attempt.state != Attempt::State::kRunning) {
    // Not sent yet: the attempt replays the completed entry.
    if (action.index < attempt.journal.size()) {
      attempt.journal[action.index] = action.entry;
    }
    return;
  }
  v1::RuntimeMessage message;
  auto* completion = message.mutable_completion();
  completion->set_invocation_id(action.invocation_id.ToBytes());
  completion->set_attempt(action.attempt);
  completion->set_index(action.index);
  *completion->mutable_entry() = action.entry;
  attempt.worker->connection->Send(std::move(message));
}

void Invoker::OnFinished(const InvocationId& id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = attempts_.find(id);
    if (it == attempts_.end()) return;
    Worker* worker = it->second.worker;
    ReleaseSlot(it->second);
    attempts_.erase(it);
    if (worker != nullptr) DrainWaiting(*worker);
  }
}

void Invoker::AbortAttempt(const InvocationId& id, uint32_t number,
                           std::string reason) {
  absl::MutexLock lock(&mu_);
  auto it = attempts_.find(id);
  if (it == attempts_.end() || it->second.number != number) return;
  Worker* worker = it->second.worker;
  if (it->second.state == Attempt::State::kRunning) {
    SendAbort(it->second, std::move(reason));
  }
  ReleaseSlot(it->second);
  attempts_.erase(it);
  if (worker != nullptr) DrainWaiting(*worker);
}

bool Invoker::CanRun(const Worker& worker, const Attempt& attempt) const {
  return worker.running.size() < worker.view.capacity &&
         worker.options.contains(
             HandlerKey(attempt.target.service(), attempt.target.handler())) &&
         (attempt.pinned_version.empty() ||
          worker.view.version == attempt.pinned_version);
}

void Invoker::Dispatch(Attempt& attempt) {
  Worker* best = nullptr;
  auto candidates = workers_by_service_.find(attempt.target.service());
  if (candidates != workers_by_service_.end()) {
    for (Worker* w : candidates->second) {
      if (!CanRun(*w, attempt)) continue;
      if (best == nullptr || w->running.size() < best->running.size()) best = w;
    }
  }
  if (best == nullptr) {
    attempt.state = Attempt::State::kWaiting;
    waiting_[attempt.target.service()].push_back(attempt.id);
    return;
  }
  attempt.state = Attempt::State::kRunning;
  attempt.worker = best;
  attempt.last_activity = absl::Now();
  best->running.insert(attempt.id);
  v1::RuntimeMessage message;
  auto* start = message.mutable_start();
  start->set_invocation_id(attempt.id.ToBytes());
  start->set_attempt(attempt.number);
  *start->mutable_target() = attempt.target;
  for (auto& entry : attempt.journal) *start->add_journal() = std::move(entry);
  attempt.journal.clear();
  attempt.journal.shrink_to_fit();
  for (auto& [key, value] : attempt.state_entries) {
    auto* entry = start->add_state();
    entry->set_key(std::move(key));
    entry->set_value(std::move(value));
  }
  attempt.state_entries.clear();
  attempt.state_entries.shrink_to_fit();
  start->set_partial_state(attempt.partial_state);
  best->connection->Send(std::move(message));
}

void Invoker::DrainWaiting(Worker& worker) {
  for (const auto& service : worker.view.services) {
    auto queue = waiting_.find(service);
    if (queue == waiting_.end()) continue;
    std::deque<InvocationId>& ids = queue->second;
    // Invocations pinned to another version stay queued, in order.
    for (auto pos = ids.begin();
         pos != ids.end() && worker.running.size() < worker.view.capacity;) {
      auto it = attempts_.find(*pos);
      if (it == attempts_.end() ||
          it->second.state != Attempt::State::kWaiting) {
        pos = ids.erase(pos);  // finished or dispatched meanwhile
        continue;
      }
      if (!CanRun(worker, it->second)) {
        ++pos;
        continue;
      }
      pos = ids.erase(pos);
      Dispatch(it->second);
    }
    if (ids.empty()) waiting_.erase(queue);
  }
}

void Invoker::SendAbort(const Attempt& attempt, std::string reason) {
  v1::RuntimeMessage message;
  auto* abort = message.mutable_abort();
  abort->set_invocation_id(attempt.id.ToBytes());
  abort->set_attempt(attempt.number);
  abort->set_reason(std::move(reason));
  attempt.worker->connection->Send(std::move(message));
}

void Invoker::EndAttempt(Attempt& attempt) {
  ReleaseSlot(attempt);
  attempt.state = Attempt::State::kEnded;
}

void Invoker::ReleaseSlot(Attempt& attempt) {
  if (attempt.worker == nullptr) return;
  attempt.worker->running.erase(attempt.id);
  attempt.worker = nullptr;
}

void Invoker::CheckInactivity() {
  Proposals proposals;
  absl::flat_hash_set<Worker*> freed;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    for (auto& [id, attempt] : attempts_) {
      if (attempt.state != Attempt::State::kRunning) continue;
      Worker* worker = attempt.worker;
      auto options = worker->options.find(
          HandlerKey(attempt.target.service(), attempt.target.handler()));
      const absl::Duration timeout = options != worker->options.end()
                                         ? options->second.inactivity_timeout
                                         : options_.default_inactivity_timeout;
      if (now - attempt.last_activity < timeout) continue;
      SendAbort(attempt, "inactivity timeout");
      FailAttempt(attempt,
                  absl::StrCat("the attempt sent nothing for ",
                               absl::FormatDuration(timeout),
                               " (the handler's inactivity timeout)"),
                  std::nullopt, proposals);
      freed.insert(worker);
    }
    for (Worker* worker : freed) DrainWaiting(*worker);
  }
  Propose(proposals);
  tasks_.PostAt(absl::Now() + options_.inactivity_check_interval,
                [this] { CheckInactivity(); });
}

void Invoker::Propose(Proposals& proposals) {
  for (auto& [partition, command] : proposals) {
    log_.Append(partition, command.SerializeAsString(),
                log::StopProcessOnFailure("proposing to the log"));
  }
  proposals.clear();
}

std::optional<AttemptView> Invoker::Describe(const InvocationId& id) const {
  absl::MutexLock lock(&mu_);
  auto it = attempts_.find(id);
  if (it == attempts_.end()) return std::nullopt;
  const Attempt& attempt = it->second;
  AttemptView view;
  switch (attempt.state) {
    case Attempt::State::kRunning:
      view.state = AttemptView::State::kRunning;
      view.reason =
          absl::StrFormat("attempt %d running on worker %s", attempt.number,
                          attempt.worker->view.worker_id);
      break;
    case Attempt::State::kEnded:
      view.state = AttemptView::State::kRunning;
      view.reason = absl::StrFormat("attempt %d ending", attempt.number);
      break;
    case Attempt::State::kDelayed:
      view.state = AttemptView::State::kBackingOff;
      view.reason = absl::StrFormat("attempt %d starts at %s", attempt.number,
                                    absl::FormatTime(attempt.not_before));
      break;
    case Attempt::State::kWaiting: {
      auto workers = workers_by_service_.find(attempt.target.service());
      const bool any =
          workers != workers_by_service_.end() && !workers->second.empty();
      if (!attempt.pinned_version.empty()) {
        view.reason = absl::StrFormat(
            "waiting for a free slot on a worker of %s version %s (the "
            "version it is pinned to)",
            attempt.target.service(), attempt.pinned_version);
      } else if (!any) {
        view.reason =
            absl::StrFormat("waiting for a worker of service %s to connect",
                            attempt.target.service());
      } else {
        view.reason =
            absl::StrFormat("waiting for a free slot on a worker of %s",
                            attempt.target.service());
      }
      break;
    }
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
