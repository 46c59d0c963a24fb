// The worker protocol spoken by hand, as a worker written without the C++
// SDK would: batches go both ways once both sides said they accept them,
// and never to a worker that did not; acks only where the worker waits.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <deque>
#include <thread>

#include "reprise/v1/ingress.grpc.pb.h"
#include "reprise/v1/worker.grpc.pb.h"
#include "tests/testing/runtime_process.h"
#include "tests/testing/temp_dir.h"

namespace reprise {
namespace {

// A worker serving Raw/echo on one stream, driven by the test.
class RawWorker {
 public:
  RawWorker(const std::string& address, bool accepts_batches)
      : stub_(v1::WorkerService::NewStub(testing::NewChannel(address))) {
    context_.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(60));
    stream_ = stub_->Connect(&context_);
    v1::WorkerMessage hello;
    auto* registration = hello.mutable_registration();
    registration->set_worker_name("raw");
    registration->set_protocol_version(1);
    registration->set_max_concurrency(1000);  // every attempt at once
    registration->set_accepts_batches(accepts_batches);
    auto* service = registration->add_services();
    service->set_name("Raw");
    service->set_type(v1::SERVICE_TYPE_SERVICE);
    service->add_handlers()->set_name("echo");
    EXPECT_TRUE(stream_->Write(hello));
  }
  ~RawWorker() {
    context_.TryCancel();
    (void)stream_->Finish();
  }

  // The next message from the runtime that is not a batch; batches are
  // unpacked (and counted). False once the stream ends.
  bool Next(v1::RuntimeMessage& message) {
    while (pending_.empty()) {
      v1::RuntimeMessage read;
      if (!stream_->Read(&read)) return false;
      if (read.has_batch()) {
        ++batches_;
        for (auto& m : *read.mutable_batch()->mutable_messages()) {
          pending_.push_back(std::move(m));
        }
      } else {
        pending_.push_back(std::move(read));
      }
    }
    message = std::move(pending_.front());
    pending_.pop_front();
    return true;
  }
  // Reads until `n` attempts have started (others are skipped).
  std::vector<v1::StartAttempt> Starts(int n) {
    std::vector<v1::StartAttempt> starts;
    v1::RuntimeMessage message;
    while (static_cast<int>(starts.size()) < n && Next(message)) {
      if (message.has_start()) starts.push_back(message.start());
    }
    return starts;
  }
  bool Write(const v1::WorkerMessage& message) {
    return stream_->Write(message);
  }
  int batches() const { return batches_; }

 private:
  std::unique_ptr<v1::WorkerService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<
      grpc::ClientReaderWriter<v1::WorkerMessage, v1::RuntimeMessage>>
      stream_;
  std::deque<v1::RuntimeMessage> pending_;
  int batches_ = 0;
};

v1::WorkerMessage Output(const v1::StartAttempt& start) {
  v1::WorkerMessage message;
  auto* propose = message.mutable_propose();
  propose->set_invocation_id(start.invocation_id());
  propose->set_attempt(start.attempt());
  propose->set_index(1);
  propose->add_entries()->mutable_output()->mutable_result()->set_value(
      "echo " + start.journal(0).input().value());
  return message;
}

class WorkerProtocolE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(runtime_.Start()) << testing::ReadFile(runtime_.log_path());
    ingress_ =
        v1::Ingress::NewStub(testing::NewChannel(runtime_.ingress_address()));
  }
  std::string Send(const std::string& input) {
    v1::InvokeRequest request;
    request.mutable_target()->set_service("Raw");
    request.mutable_target()->set_handler("echo");
    request.set_payload(input);
    v1::SendResponse response;
    grpc::Status status =
        ingress_->Send(testing::Deadline(30).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.invocation_id();
  }
  // Sends Raw/echo of "0", "1", ... from 16 threads at once: their
  // invocations are applied in the same batches, so their attempts are
  // dispatched back to back, and what queues behind a write in progress
  // would leave as one batch.
  std::vector<std::string> SendConcurrently(int invocations) {
    constexpr int kThreads = 16;
    std::vector<std::string> ids(invocations);
    std::vector<std::thread> senders;
    for (int t = 0; t < kThreads; ++t) {
      senders.emplace_back([&, t] {
        for (int i = t; i < invocations; i += kThreads) {
          ids[i] = Send(std::to_string(i));
        }
      });
    }
    for (auto& sender : senders) sender.join();
    return ids;
  }
  v1::Result Attach(const std::string& id) {
    v1::AttachRequest request;
    request.set_invocation_id(id);
    v1::InvokeResponse response;
    grpc::Status status =
        ingress_->Attach(testing::Deadline(30).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.result();
  }

  testing::TempDir dir_;
  testing::RuntimeProcess runtime_{dir_.path() + "/data"};
  std::unique_ptr<v1::Ingress::Stub> ingress_;
};

TEST_F(WorkerProtocolE2eTest, BatchesGoBothWaysWhenBothSidesAcceptThem) {
  RawWorker worker(runtime_.worker_address(), /*accepts_batches=*/true);
  v1::RuntimeMessage registered;
  ASSERT_TRUE(worker.Next(registered));
  ASSERT_TRUE(registered.has_registered());
  EXPECT_TRUE(registered.registered().accepts_batches());

  constexpr int kInvocations = 320;
  std::vector<std::string> ids = SendConcurrently(kInvocations);
  std::vector<v1::StartAttempt> starts = worker.Starts(kInvocations);
  ASSERT_EQ(starts.size(), static_cast<size_t>(kInvocations));
  EXPECT_GT(worker.batches(), 0);

  // All outputs in one message.
  v1::WorkerMessage batch;
  for (const auto& start : starts) {
    *batch.mutable_batch()->add_messages() = Output(start);
  }
  ASSERT_TRUE(worker.Write(batch));
  for (int i = 0; i < kInvocations; ++i) {
    EXPECT_EQ(Attach(ids[i]).value(), "echo " + std::to_string(i));
  }
}

TEST_F(WorkerProtocolE2eTest, AWorkerThatDoesNotAcceptBatchesGetsNone) {
  RawWorker worker(runtime_.worker_address(), /*accepts_batches=*/false);
  v1::RuntimeMessage registered;
  ASSERT_TRUE(worker.Next(registered));
  ASSERT_TRUE(registered.has_registered());

  constexpr int kInvocations = 320;
  std::vector<std::string> ids = SendConcurrently(kInvocations);
  std::vector<v1::StartAttempt> starts = worker.Starts(kInvocations);
  ASSERT_EQ(starts.size(), static_cast<size_t>(kInvocations));
  EXPECT_EQ(worker.batches(), 0);
  for (const auto& start : starts) ASSERT_TRUE(worker.Write(Output(start)));
  for (int i = 0; i < kInvocations; ++i) {
    EXPECT_EQ(Attach(ids[i]).value(), "echo " + std::to_string(i));
  }
}

// An EntryAck comes only for a proposal whose worker waits for it: one
// marked skip_ack gets none, and the acks that come stay in order.
TEST_F(WorkerProtocolE2eTest, AnAckComesOnlyForAProposalThatWaitsForIt) {
  RawWorker worker(runtime_.worker_address(), /*accepts_batches=*/true);
  v1::RuntimeMessage registered;
  ASSERT_TRUE(worker.Next(registered));
  const std::string id = Send("x");
  std::vector<v1::StartAttempt> starts = worker.Starts(1);
  ASSERT_EQ(starts.size(), 1u);
  auto run = [&](uint32_t index, bool skip_ack) {
    v1::WorkerMessage message;
    auto* propose = message.mutable_propose();
    propose->set_invocation_id(starts[0].invocation_id());
    propose->set_attempt(starts[0].attempt());
    propose->set_index(index);
    propose->set_skip_ack(skip_ack);
    v1::JournalEntry* entry = propose->add_entries();
    entry->set_name("step " + std::to_string(index));
    entry->mutable_run()->mutable_result()->set_value("done");
    return message;
  };
  ASSERT_TRUE(worker.Write(run(1, /*skip_ack=*/true)));
  ASSERT_TRUE(worker.Write(run(2, /*skip_ack=*/false)));
  v1::RuntimeMessage ack;
  ASSERT_TRUE(worker.Next(ack));
  ASSERT_TRUE(ack.has_ack()) << ack.DebugString();
  EXPECT_EQ(ack.ack().index(), 2u);
  v1::WorkerMessage output = Output(starts[0]);
  output.mutable_propose()->set_index(3);
  ASSERT_TRUE(worker.Write(output));
  EXPECT_EQ(Attach(id).value(), "echo x");
}

}  // namespace
}  // namespace reprise
