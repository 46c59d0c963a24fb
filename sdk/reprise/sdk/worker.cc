#include "reprise/sdk/worker.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "reprise/sdk/internal/attempt.h"
#include "reprise/v1/worker.grpc.pb.h"

namespace reprise::sdk {
namespace {

v1::ServiceType ToProto(ServiceType type) {
  switch (type) {
    case ServiceType::kService:
      return v1::SERVICE_TYPE_SERVICE;
    case ServiceType::kVirtualObject:
      return v1::SERVICE_TYPE_VIRTUAL_OBJECT;
    case ServiceType::kWorkflow:
      return v1::SERVICE_TYPE_WORKFLOW;
  }
  return v1::SERVICE_TYPE_UNSPECIFIED;
}

v1::HandlerType ToProto(HandlerType type) {
  switch (type) {
    case HandlerType::kExclusive:
      return v1::HANDLER_TYPE_EXCLUSIVE;
    case HandlerType::kShared:
      return v1::HANDLER_TYPE_SHARED;
    case HandlerType::kWorkflow:
      return v1::HANDLER_TYPE_WORKFLOW;
    case HandlerType::kDefault:
      break;
  }
  return v1::HANDLER_TYPE_UNSPECIFIED;
}

v1::HandlerOptions ToProto(const HandlerOptions& options) {
  v1::HandlerOptions out;
  if (options.retry_policy.has_value()) {
    const RetryPolicy& policy = *options.retry_policy;
    auto* p = out.mutable_retry_policy();
    p->set_initial_interval_ms(static_cast<uint32_t>(
        absl::ToInt64Milliseconds(policy.initial_interval)));
    p->set_factor(policy.factor);
    p->set_max_interval_ms(
        static_cast<uint32_t>(absl::ToInt64Milliseconds(policy.max_interval)));
    p->set_max_attempts(policy.max_attempts);
    p->set_on_max_attempts(policy.on_max_attempts ==
                                   RetryPolicy::OnMaxAttempts::kFail
                               ? v1::RetryPolicy::ON_MAX_ATTEMPTS_FAIL
                               : v1::RetryPolicy::ON_MAX_ATTEMPTS_PAUSE);
  }
  if (options.retention.has_value()) {
    out.set_retention_ms(static_cast<uint64_t>(
        std::max<int64_t>(1, absl::ToInt64Milliseconds(*options.retention))));
  }
  if (options.inactivity_timeout.has_value()) {
    out.set_inactivity_timeout_ms(static_cast<uint32_t>(
        absl::ToInt64Milliseconds(*options.inactivity_timeout)));
  }
  return out;
}

// One stream to the runtime, and the attempts it carries. gRPC's callback
// threads read the stream and hand each message to `on_message`, one at a
// time, in order; handler threads write through Write, which never blocks.
// Once the stream is broken writes are dropped (the runtime retries those
// attempts).
class Connection
    : public grpc::ClientBidiReactor<v1::WorkerMessage, v1::RuntimeMessage>,
      public std::enable_shared_from_this<Connection> {
 public:
  using OnMessage = std::function<void(Connection&, v1::RuntimeMessage&)>;

  Connection(const std::string& token, OnMessage on_message)
      : on_message_(std::move(on_message)) {
    if (!token.empty()) {
      context_.AddMetadata("authorization", "Bearer " + token);
    }
  }

  // Opens the stream and sends `hello` first.
  void Start(v1::WorkerService::Stub& stub, v1::WorkerMessage hello) {
    stub.async()->Connect(&context_, this);
    // Handler threads write from outside the reactions: the hold keeps the
    // stream (and OnDone) until Finish knows no such write can start.
    AddHold();
    Write(std::move(hello));
    StartRead(&incoming_);
    StartCall();
  }

  // Waits until the runtime's side ends, ends the attempts and returns the
  // runtime's status (e.g. why it refused the registration).
  grpc::Status Finish() {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Connection* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return c->reads_done_ && !c->dispatching_;
          },
          this));
    }
    absl::flat_hash_map<std::string, std::shared_ptr<internal::Attempt>>
        attempts;
    {
      absl::MutexLock lock(&attempts_mu_);
      attempts.swap(attempts_);
    }
    for (auto& [id, attempt] : attempts) attempt->Abort();
    {
      absl::MutexLock lock(&mu_);
      // The reads ended, which set `broken_`: a write in flight ends
      // (usually failed) and starts no other, and none starts afresh.
      mu_.Await(absl::Condition(
          +[](bool* writing) { return !*writing; }, &writing_));
    }
    RemoveHold();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    return status_;
  }

  // Sends `message` after those queued before it. If a write is in flight,
  // only queues it: the write's completion sends everything queued
  // meanwhile, as one batch message once the runtime accepts batches.
  void Write(v1::WorkerMessage message) {
    {
      absl::MutexLock lock(&mu_);
      if (broken_) return;
      queued_.push_back(std::move(message));
      if (writing_) return;
      writing_ = true;
      outgoing_ = TakeNext();
    }
    StartWrite(&outgoing_);
  }

  void Cancel() { context_.TryCancel(); }
  // The runtime accepted the registration (and said whether it
  // understands batches).
  void OnRegistered(bool accepts_batches) {
    registered_.store(true);
    batches_.store(accepts_batches);
  }
  bool registered() const { return registered_.load(); }

  // The attempt table: messages about an attempt reach it from the moment
  // it is received, even while it waits for a handler thread.
  void AddAttempt(std::shared_ptr<internal::Attempt> attempt) {
    std::shared_ptr<internal::Attempt> replaced;
    {
      absl::MutexLock lock(&attempts_mu_);
      auto& slot = attempts_[attempt->invocation_id_bytes()];
      replaced = std::exchange(slot, std::move(attempt));
    }
    if (replaced != nullptr) replaced->Abort();
  }
  void RemoveAttempt(const internal::Attempt& attempt) {
    absl::MutexLock lock(&attempts_mu_);
    auto it = attempts_.find(attempt.invocation_id_bytes());
    if (it != attempts_.end() && it->second.get() == &attempt) {
      attempts_.erase(it);
    }
  }
  // The attempt `number` of `invocation_id`, if this connection runs it.
  std::shared_ptr<internal::Attempt> FindAttempt(
      const std::string& invocation_id, uint32_t number) {
    absl::MutexLock lock(&attempts_mu_);
    auto it = attempts_.find(invocation_id);
    if (it == attempts_.end() || it->second->number() != number) return nullptr;
    return it->second;
  }

 private:
  void OnReadDone(bool ok) override {
    bool dispatch = false;
    {
      absl::MutexLock lock(&mu_);
      if (!ok) {
        // The call is over: a write would only fail, so none starts any
        // more.
        reads_done_ = true;
        broken_ = true;
        return;
      }
      inbox_.push_back(std::move(incoming_));
      dispatch = !dispatching_;
      dispatching_ = true;
    }
    // The next read goes before the dispatch: posting it writes the
    // stream's flow-control update, which would otherwise contend with the
    // handler threads' writes (gRPC then hands the loser's write to an
    // executor thread). Its completion may run meanwhile, on another
    // thread: the inbox keeps the messages in order. The inbox stays short:
    // the runtime sends at most `concurrency` attempts, and acks and
    // completions only for what they propose.
    incoming_.Clear();
    StartRead(&incoming_);
    if (dispatch) Dispatch();
  }

  // Hands the inbox's messages to `on_message_` until it is empty.
  void Dispatch() {
    std::deque<v1::RuntimeMessage> messages;
    for (;;) {
      {
        absl::MutexLock lock(&mu_);
        if (inbox_.empty()) {
          dispatching_ = false;
          return;
        }
        messages.swap(inbox_);
      }
      for (v1::RuntimeMessage& message : messages) {
        if (message.has_batch()) {
          for (v1::RuntimeMessage& m :
               *message.mutable_batch()->mutable_messages()) {
            on_message_(*this, m);
          }
        } else {
          on_message_(*this, message);
        }
      }
      messages.clear();
    }
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      if (!ok) broken_ = true;
      if (broken_ || queued_.empty()) {
        queued_.clear();
        outgoing_ = v1::WorkerMessage();  // frees a large batch (Clear keeps)
        writing_ = false;
        return;
      }
      outgoing_ = TakeNext();
    }
    StartWrite(&outgoing_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  // The next message to write from `queued_`: its front, or as many as fit
  // in a batch.
  v1::WorkerMessage TakeNext() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // A bound, so that many large proposals do not become one huge
    // message; a single message is never split.
    constexpr size_t kMaxBatchBytes = 1 << 20;
    v1::WorkerMessage next;
    if (queued_.size() == 1 || !batches_.load()) {
      next = std::move(queued_.front());
      queued_.pop_front();
      return next;
    }
    v1::WorkerBatch* batch = next.mutable_batch();
    size_t bytes = 0;
    while (!queued_.empty()) {
      const size_t size = queued_.front().ByteSizeLong();
      if (batch->messages_size() > 0 && bytes + size > kMaxBatchBytes) break;
      bytes += size;
      *batch->add_messages() = std::move(queued_.front());
      queued_.pop_front();
    }
    return next;
  }

  grpc::ClientContext context_;
  const OnMessage on_message_;
  // The read in flight's message.
  v1::RuntimeMessage incoming_;
  // Messages read, not yet handed to `on_message_`, in order.
  std::deque<v1::RuntimeMessage> inbox_ ABSL_GUARDED_BY(mu_);
  // A thread is handing the inbox's messages over.
  bool dispatching_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> registered_{false};
  std::atomic<bool> batches_{false};

  absl::Mutex mu_;
  bool broken_ ABSL_GUARDED_BY(mu_) = false;
  // A write is in flight; only its owner touches `outgoing_`.
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  v1::WorkerMessage outgoing_;
  std::deque<v1::WorkerMessage> queued_ ABSL_GUARDED_BY(mu_);
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);

  absl::Mutex attempts_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<internal::Attempt>> attempts_
      ABSL_GUARDED_BY(attempts_mu_);
};

}  // namespace

class Worker::Impl {
 public:
  explicit Impl(WorkerOptions options) : options_(std::move(options)) {
    auto from_env = [](std::string& value, const char* name,
                       const char* fallback) {
      if (!value.empty()) return;
      const char* env = std::getenv(name);
      value = env != nullptr ? env : fallback;
    };
    from_env(options_.address, "REPRISE_WORKER_ADDRESS", "127.0.0.1:9090");
    from_env(options_.token, "REPRISE_TOKEN", "");
    from_env(options_.tls_ca_file, "REPRISE_TLS_CA", "");
    from_env(options_.tls_cert_file, "REPRISE_TLS_CERT", "");
    from_env(options_.tls_key_file, "REPRISE_TLS_KEY", "");
    if (options_.concurrency == 0) options_.concurrency = 1;
  }

  ~Impl() {
    Shutdown();
    StopThreads();
  }

  // Plain TCP, or TLS when a CA is given (with a client certificate for
  // mutual TLS).
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> Credentials()
      const {
    if (options_.tls_cert_file.empty() != options_.tls_key_file.empty() ||
        (!options_.tls_cert_file.empty() && options_.tls_ca_file.empty())) {
      return absl::InvalidArgumentError(
          "a TLS client certificate needs its key and the runtime's CA "
          "(tls_cert_file, tls_key_file, tls_ca_file)");
    }
    if (options_.tls_ca_file.empty()) return grpc::InsecureChannelCredentials();
    grpc::SslCredentialsOptions tls;
    auto read = [](const std::string& path, std::string& out) -> absl::Status {
      std::ifstream in(path);
      if (!in) {
        return absl::InvalidArgumentError("cannot read the TLS file '" + path +
                                          "'");
      }
      std::stringstream text;
      text << in.rdbuf();
      out = text.str();
      return absl::OkStatus();
    };
    if (absl::Status s = read(options_.tls_ca_file, tls.pem_root_certs);
        !s.ok()) {
      return s;
    }
    if (!options_.tls_cert_file.empty()) {
      if (absl::Status s = read(options_.tls_cert_file, tls.pem_cert_chain);
          !s.ok()) {
        return s;
      }
      if (absl::Status s = read(options_.tls_key_file, tls.pem_private_key);
          !s.ok()) {
        return s;
      }
    }
    return grpc::SslCredentials(tls);
  }

  void Add(ServiceDefinition service) {
    for (const auto& h : service.handlers()) {
      handlers_[service.name() + "/" + h.name] = {
          h.handler, AccessOf(service, h),
          service.type() == ServiceType::kWorkflow};
    }
    services_.push_back(std::move(service));
  }

  absl::Status Run() {
    StartThreads();
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(256 << 20);
    // The channel's own reconnection back-off (by default from 1 s up to
    // 120 s) would otherwise decide when a restarted runtime is seen again,
    // whatever the delays below.
    const int initial_ms = static_cast<int>(
        absl::ToInt64Milliseconds(options_.initial_reconnect_delay));
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, initial_ms);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, initial_ms);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                static_cast<int>(
                    absl::ToInt64Milliseconds(options_.max_reconnect_delay)));
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        Credentials();
    if (!credentials.ok()) {
      StopThreads();
      return credentials.status();
    }
    auto channel =
        grpc::CreateCustomChannel(options_.address, *credentials, args);
    auto stub = v1::WorkerService::NewStub(channel);
    absl::Duration delay = options_.initial_reconnect_delay;
    while (!stopping()) {
      auto connection = std::make_shared<Connection>(
          options_.token, [this](Connection& c, v1::RuntimeMessage& message) {
            Handle(c, message);
          });
      {
        absl::MutexLock lock(&mu_);
        current_ = connection;
        // A Shutdown between the loop check and here found no connection.
        if (stopping_) connection->Cancel();
      }
      grpc::Status status = Serve(*stub, *connection);
      {
        absl::MutexLock lock(&mu_);
        current_.reset();
      }
      if (stopping()) break;
      if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
          status.error_code() == grpc::StatusCode::FAILED_PRECONDITION ||
          status.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
        // The runtime refused our definitions or our token: retrying
        // cannot help.
        return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                            status.error_message());
      }
      if (connection->registered()) delay = options_.initial_reconnect_delay;
      std::fprintf(stderr,
                   "reprise worker %s: connection to %s lost (%s); retrying in "
                   "%s\n",
                   options_.name.c_str(), options_.address.c_str(),
                   status.error_message().c_str(),
                   absl::FormatDuration(delay).c_str());
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), delay);
      delay = std::min(delay * 2, options_.max_reconnect_delay);
    }
    return absl::OkStatus();
  }

  void Shutdown() {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (current_ != nullptr) current_->Cancel();
  }

 private:
  bool stopping() {
    absl::MutexLock lock(&mu_);
    return stopping_;
  }

  // Registers over `connection` and serves until its stream ends.
  grpc::Status Serve(v1::WorkerService::Stub& stub, Connection& connection) {
    v1::WorkerMessage hello;
    auto* registration = hello.mutable_registration();
    registration->set_worker_name(options_.name);
    registration->set_version(options_.version);
    registration->set_max_concurrency(options_.concurrency);
    registration->set_protocol_version(1);
    registration->set_accepts_batches(true);
    for (const auto& service : services_) {
      auto* s = registration->add_services();
      s->set_name(service.name());
      s->set_type(ToProto(service.type()));
      *s->mutable_options() = ToProto(service.options());
      for (const auto& h : service.handlers()) {
        auto* handler = s->add_handlers();
        handler->set_name(h.name);
        handler->set_type(ToProto(h.type));
        *handler->mutable_options() = ToProto(h.options);
      }
    }
    connection.Start(stub, std::move(hello));
    return connection.Finish();
  }

  // Acts on one message from the runtime (not a batch), on a gRPC thread:
  // never blocks.
  void Handle(Connection& connection, v1::RuntimeMessage& message) {
    if (message.has_registered()) {
      connection.OnRegistered(message.registered().accepts_batches());
      std::fprintf(stderr, "reprise worker %s: registered as %s at %s\n",
                   options_.name.c_str(),
                   message.registered().worker_id().c_str(),
                   options_.address.c_str());
    } else if (message.has_start()) {
      std::shared_ptr<Connection> owner = connection.shared_from_this();
      auto attempt = std::make_shared<internal::Attempt>(
          std::move(*message.mutable_start()),
          [owner](v1::WorkerMessage out) { owner->Write(std::move(out)); },
          internal::AttemptOptions{options_.suspend_after});
      connection.AddAttempt(attempt);
      Enqueue(std::move(owner), std::move(attempt));
    } else if (message.has_ack()) {
      const v1::EntryAck& ack = message.ack();
      if (auto a = connection.FindAttempt(ack.invocation_id(), ack.attempt())) {
        a->OnAck(ack.index());
      }
    } else if (message.has_completion()) {
      const v1::Completion& completion = message.completion();
      if (auto a = connection.FindAttempt(completion.invocation_id(),
                                          completion.attempt())) {
        a->OnCompletion(completion.index(), completion.entry());
      }
    } else if (message.has_abort()) {
      const v1::AbortAttempt& abort = message.abort();
      if (auto a =
              connection.FindAttempt(abort.invocation_id(), abort.attempt())) {
        a->Abort();
        connection.RemoveAttempt(*a);
      }
    }
  }

  void Enqueue(std::shared_ptr<Connection> connection,
               std::shared_ptr<internal::Attempt> attempt) {
    absl::MutexLock lock(&queue_mu_);
    queue_.push_back({std::move(connection), std::move(attempt)});
    queue_cv_.Signal();
  }

  void StartThreads() {
    for (uint32_t i = 0; i < options_.concurrency; ++i) {
      threads_.emplace_back([this] { HandlerLoop(); });
    }
  }

  void StopThreads() {
    {
      absl::MutexLock lock(&queue_mu_);
      threads_stopping_ = true;
      queue_cv_.SignalAll();
    }
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  void HandlerLoop() {
    for (;;) {
      Task task;
      {
        absl::MutexLock lock(&queue_mu_);
        // A condition variable, not Mutex::Await: with many idle handler
        // threads, Await would evaluate every waiter's condition on each
        // unlock.
        while (!threads_stopping_ && queue_.empty()) queue_cv_.Wait(&queue_mu_);
        if (threads_stopping_) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      internal::Attempt& attempt = *task.attempt;
      if (!attempt.ended()) {
        const std::string key =
            attempt.target().service() + "/" + attempt.target().handler();
        auto it = handlers_.find(key);
        if (it != handlers_.end()) {
          attempt.Run(it->second.fn, it->second.access, it->second.workflow);
        } else {
          v1::WorkerMessage failed;
          failed.mutable_attempt_failed()->set_invocation_id(
              attempt.invocation_id_bytes());
          failed.mutable_attempt_failed()->set_attempt(attempt.number());
          failed.mutable_attempt_failed()->set_message(
              "this worker has no handler " + key);
          task.connection->Write(std::move(failed));
        }
      }
      task.connection->RemoveAttempt(attempt);
    }
  }

  struct Task {
    std::shared_ptr<Connection> connection;
    std::shared_ptr<internal::Attempt> attempt;
  };

  struct HandlerEntry {
    Handler fn;
    internal::StateAccess access;
    bool workflow;
  };
  static internal::StateAccess AccessOf(
      const ServiceDefinition& service,
      const ServiceDefinition::HandlerEntry& handler) {
    switch (service.type()) {
      case ServiceType::kService:
        return internal::StateAccess::kNone;
      case ServiceType::kVirtualObject:
        return handler.type == HandlerType::kShared
                   ? internal::StateAccess::kRead
                   : internal::StateAccess::kReadWrite;
      case ServiceType::kWorkflow:
        return handler.type == HandlerType::kWorkflow
                   ? internal::StateAccess::kReadWrite
                   : internal::StateAccess::kRead;
    }
    return internal::StateAccess::kNone;
  }

  WorkerOptions options_;
  std::vector<ServiceDefinition> services_;
  absl::flat_hash_map<std::string, HandlerEntry> handlers_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<Connection> current_ ABSL_GUARDED_BY(mu_);

  absl::Mutex queue_mu_;
  absl::CondVar queue_cv_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool threads_stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::vector<std::thread> threads_;
};

Worker::Worker(WorkerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
Worker::~Worker() = default;

Worker& Worker::Add(ServiceDefinition service) {
  impl_->Add(std::move(service));
  return *this;
}

absl::Status Worker::Run() { return impl_->Run(); }

absl::Status Worker::RunUntilSignal() {
  sigset_t stop;
  sigset_t previous;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, &previous);
  std::atomic<bool> returned{false};
  std::thread watcher([this, &stop, &returned] {
    int signal = 0;
    sigwait(&stop, &signal);
    if (!returned.load()) Shutdown();
  });
  absl::Status status = Run();
  // Run returned for another reason than a signal: the watcher, woken by a
  // signal of its own, must not outlive this call (it uses the Worker), and
  // the caller gets its signals back.
  returned.store(true);
  pthread_kill(watcher.native_handle(), SIGTERM);
  watcher.join();
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return status;
}
void Worker::Shutdown() { impl_->Shutdown(); }

}  // namespace reprise::sdk
