// Fault: 1,000 invocations are sent while the runtime is killed with SIGKILL
// midway and restarted. Every acknowledged invocation must complete with
// exactly one recorded output, and a handler body may have run more than
// once only for invocations whose output was not durable at the kill.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "reprise/v1/admin.grpc.pb.h"
#include "reprise/v1/ingress.grpc.pb.h"
#include "tests/testing/runtime_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_threads.h"

namespace reprise {
namespace {

using testing::BuildPath;
using testing::ChildProcess;
using testing::Deadline;

constexpr int kInvocations = 1000;
constexpr int kSenders = 16;
constexpr int kKillAfterAcks = kInvocations / 2;

TEST(CrashRecoveryTest, AcknowledgedInvocationsSurviveSigkillExactlyOnce) {
  testing::TempDir dir;
  // Trims run between the kills, so recovery starts from a trimmed log.
  testing::RuntimeProcess runtime(dir.path() + "/data",
                                  {"--log-trim-interval", "50ms"});
  ASSERT_TRUE(runtime.Start()) << testing::ReadFile(runtime.log_path());
  const std::string effects = dir.path() + "/effects";
  ChildProcess worker({BuildPath("tests/fault/recording_worker"), "--address",
                       runtime.worker_address(), "--effects-file", effects},
                      dir.path() + "/worker.log");
  ASSERT_TRUE(worker.WaitForLine("registered as", absl::Seconds(30)));

  auto ingress =
      v1::Ingress::NewStub(testing::NewChannel(runtime.ingress_address()));

  absl::Mutex mu;
  std::vector<std::pair<std::string, std::string>> acked;  // id, payload
  std::atomic<int> next{0};
  std::atomic<int> ack_count{0};
  std::atomic<int64_t> kill_ms{0};
  absl::Notification killed, restarted;

  testing::TestThreads senders;
  for (int t = 0; t < kSenders; ++t) {
    senders.Start([&] {
      for (int i = next++; i < kInvocations && !senders.stopping();
           i = next++) {
        v1::InvokeRequest request;
        request.mutable_target()->set_service("Recorder");
        request.mutable_target()->set_handler("record");
        request.set_payload("payload-" + std::to_string(i));
        v1::SendResponse response;
        grpc::Status status =
            ingress->Send(Deadline(10).get(), request, &response);
        if (!status.ok()) {
          // The runtime is down: wait for it and send the next one.
          restarted.WaitForNotificationWithTimeout(absl::Seconds(60));
          continue;
        }
        absl::MutexLock lock(&mu);
        acked.emplace_back(response.invocation_id(), request.payload());
        if (++ack_count == kKillAfterAcks) killed.Notify();
      }
    });
  }

  // Runs before `senders` is destroyed: after a failed ASSERT, senders
  // waiting for the restart stop waiting and soon see stopping().
  absl::Cleanup wake_senders = [&] {
    if (!restarted.HasBeenNotified()) restarted.Notify();
  };
  ASSERT_TRUE(killed.WaitForNotificationWithTimeout(absl::Seconds(60)));
  kill_ms = absl::ToUnixMillis(absl::Now());
  runtime.Crash();
  ASSERT_TRUE(runtime.Start()) << testing::ReadFile(runtime.log_path());
  restarted.Notify();
  senders.Join();

  absl::MutexLock lock(&mu);
  ASSERT_GE(acked.size(), static_cast<size_t>(kKillAfterAcks));
  // A client connecting after the restart.
  ingress =
      v1::Ingress::NewStub(testing::NewChannel(runtime.ingress_address()));

  // Every acknowledged invocation completes with its own output.
  for (const auto& [id, payload] : acked) {
    v1::AttachRequest attach;
    attach.set_invocation_id(id);
    v1::InvokeResponse response;
    grpc::Status status =
        ingress->Attach(Deadline(60).get(), attach, &response);
    ASSERT_TRUE(status.ok()) << id << ": " << status.error_message();
    EXPECT_EQ(response.result().value(), payload) << id;
  }

  // Exactly one recorded output each; re-runs only where the output was not
  // durable before the kill.
  absl::flat_hash_map<std::string, int> runs;
  for (absl::string_view line :
       absl::StrSplit(testing::ReadFile(effects), '\n', absl::SkipEmpty())) {
    ++runs[std::string(line.substr(0, line.find(' ')))];
  }
  auto admin = v1::Admin::NewStub(testing::NewChannel(runtime.admin_address()));
  int rerun = 0;
  for (const auto& [id, payload] : acked) {
    v1::DescribeInvocationRequest request;
    request.set_invocation_id(id);
    v1::InvocationDescription description;
    ASSERT_TRUE(
        admin->DescribeInvocation(Deadline(10).get(), request, &description)
            .ok());
    ASSERT_EQ(description.journal_size(), 2) << id;
    EXPECT_EQ(description.journal(1).kind(), "output") << id;
    EXPECT_GE(runs[id], 1) << id << " completed without running its handler";
    if (runs[id] > 1) {
      ++rerun;
      EXPECT_GT(description.journal(1).appended_at_ms(), kill_ms.load())
          << id << " ran " << runs[id]
          << " times although its output was durable before the kill";
    }
  }
  std::printf(
      "acknowledged %zu of %d; %d handler bodies re-ran after the kill\n",
      acked.size(), kInvocations, rerun);
}

}  // namespace
}  // namespace reprise
