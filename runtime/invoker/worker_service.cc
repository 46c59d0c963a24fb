#include "runtime/invoker/worker_service.h"

#include <deque>
#include <memory>

#include "absl/synchronization/mutex.h"
#include "runtime/common/auth.h"
#include "runtime/common/logging.h"
#include "runtime/common/status_convert.h"

namespace reprise::invoker {
namespace {

class WorkerStream;

// The invoker's handle on a stream. Outlives the stream if the invoker still
// holds it; after the stream is done, Send drops messages.
class StreamConnection final : public WorkerConnection {
 public:
  explicit StreamConnection(WorkerStream* stream) : stream_(stream) {}
  void Send(v1::RuntimeMessage message) override;
  bool closed() override {
    absl::MutexLock lock(&mu_);
    return stream_ == nullptr || finishing_;
  }
  // Ends the stream with `status` once queued writes are out.
  void Finish(grpc::Status status);
  void OnWriteDone(bool ok);
  void Detach() {
    absl::MutexLock lock(&mu_);
    stream_ = nullptr;
  }
  // The worker said it understands batches: from now on, what is queued
  // behind a write leaves in one message.
  void AcceptBatches() {
    absl::MutexLock lock(&mu_);
    batches_ = true;
  }

 private:
  void FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes what is queued: one message, or a batch of them.
  void StartNextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  WorkerStream* stream_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::RuntimeMessage> queue_ ABSL_GUARDED_BY(mu_);
  v1::RuntimeMessage in_flight_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finishing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool batches_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

class WorkerStream final
    : public grpc::ServerBidiReactor<v1::WorkerMessage, v1::RuntimeMessage> {
 public:
  explicit WorkerStream(Invoker& invoker)
      : invoker_(invoker),
        connection_(std::make_shared<StreamConnection>(this)) {
    StartRead(&incoming_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the worker went away or half-closed
      invoker_.OnWorkerDisconnected(*connection_);
      connection_->Finish(grpc::Status::OK);
      return;
    }
    if (!registered_) {
      if (!incoming_.has_registration()) {
        connection_->Finish(grpc::Status(
            grpc::StatusCode::INVALID_ARGUMENT,
            "the first message on a worker stream must be a registration"));
        return;
      }
      registered_ = true;
      if (incoming_.registration().accepts_batches()) {
        connection_->AcceptBatches();
      }
      invoker_.RegisterWorker(
          connection_, incoming_.registration(),
          [connection = connection_](absl::StatusOr<std::string> worker_id) {
            if (!worker_id.ok()) {
              Log(LogLevel::kWarning, "worker registration refused: %s",
                  worker_id.status().ToString());
              connection->Finish(ToGrpcStatus(worker_id.status()));
              return;
            }
            v1::RuntimeMessage registered;
            registered.mutable_registered()->set_worker_id(*worker_id);
            registered.mutable_registered()->set_accepts_batches(true);
            connection->Send(std::move(registered));
          });
    } else if (incoming_.has_batch()) {
      for (const v1::WorkerMessage& message : incoming_.batch().messages()) {
        invoker_.OnWorkerMessage(*connection_, message);
      }
    } else {
      invoker_.OnWorkerMessage(*connection_, incoming_);
    }
    StartRead(&incoming_);
  }

  void OnWriteDone(bool ok) override { connection_->OnWriteDone(ok); }

  void OnDone() override {
    connection_->Detach();
    invoker_.OnWorkerDisconnected(*connection_);
    delete this;
  }

 private:
  Invoker& invoker_;
  std::shared_ptr<StreamConnection> connection_;
  v1::WorkerMessage incoming_;
  bool registered_ = false;
};

void StreamConnection::Send(v1::RuntimeMessage message) {
  absl::MutexLock lock(&mu_);
  if (stream_ == nullptr || finishing_) return;
  queue_.push_back(std::move(message));
  if (!writing_) StartNextWriteLocked();
}

void StreamConnection::StartNextWriteLocked() {
  // A bound, so that a burst of large journals does not become one huge
  // message; a single message is never split.
  constexpr size_t kMaxBatchBytes = 1 << 20;
  writing_ = true;
  if (!batches_ || queue_.size() == 1) {
    in_flight_ = std::move(queue_.front());
    queue_.pop_front();
  } else {
    in_flight_.Clear();
    v1::RuntimeBatch* batch = in_flight_.mutable_batch();
    size_t bytes = 0;
    while (!queue_.empty()) {
      const size_t size = queue_.front().ByteSizeLong();
      if (batch->messages_size() > 0 && bytes + size > kMaxBatchBytes) break;
      bytes += size;
      *batch->add_messages() = std::move(queue_.front());
      queue_.pop_front();
    }
  }
  stream_->StartWrite(&in_flight_);
}

void StreamConnection::OnWriteDone(bool ok) {
  absl::MutexLock lock(&mu_);
  writing_ = false;
  if (stream_ == nullptr) return;
  if (!ok) {
    // The stream is broken; gRPC reports the read side too. Queued messages
    // are lost with it, and the invoker re-dispatches their attempts.
    queue_.clear();
    finishing_ = true;
  }
  if (!queue_.empty()) {
    StartNextWriteLocked();
    return;
  }
  if (finishing_) FinishLocked();
}

void StreamConnection::Finish(grpc::Status status) {
  absl::MutexLock lock(&mu_);
  if (finishing_ && finished_) return;
  if (!finishing_) finish_status_ = std::move(status);
  finishing_ = true;
  if (!writing_) FinishLocked();
}

void StreamConnection::FinishLocked() {
  if (finished_ || stream_ == nullptr) return;
  finished_ = true;
  stream_->Finish(finish_status_);
}

}  // namespace

grpc::ServerBidiReactor<v1::WorkerMessage, v1::RuntimeMessage>*
WorkerServiceImpl::Connect(grpc::CallbackServerContext* context) {
  if (absl::Status denied = CheckBearerToken(*context, token_); !denied.ok()) {
    class Refused final : public grpc::ServerBidiReactor<v1::WorkerMessage,
                                                         v1::RuntimeMessage> {
     public:
      explicit Refused(const absl::Status& status) {
        Finish(ToGrpcStatus(status));
      }
      void OnDone() override { delete this; }
    };
    return new Refused(denied);
  }
  return new WorkerStream(invoker_);
}

}  // namespace reprise::invoker
