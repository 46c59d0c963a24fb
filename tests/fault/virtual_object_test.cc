// Fault: a virtual object's exclusive handler under concurrent callers and
// runtime crashes. 64 callers add 1 to one key, 10,000 times in all, while
// the runtime is killed twice. Every request carries an idempotency key,
// so a caller that lost its answer to a crash repeats the request and gets
// the first one's result instead of adding again. The count must come out
// exactly right, and each caller's adds must have run in its order
// (tests/fault/steps_worker.cc, Tally).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "reprise/v1/ingress.grpc.pb.h"
#include "tests/testing/runtime_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_threads.h"

namespace reprise {
namespace {

using testing::BuildPath;
using testing::ChildProcess;
using testing::Deadline;

constexpr int kCallers = 64;
constexpr int kAdds = 10'000;
constexpr int kKills = 2;

class VirtualObjectFaultTest : public ::testing::Test {
 protected:
  // Trims run between the kills, so recovery starts from a trimmed log.
  VirtualObjectFaultTest()
      : runtime_(dir_.path() + "/data", {"--log-trim-interval", "50ms"}) {}

  void SetUp() override {
    ASSERT_TRUE(runtime_.Start()) << testing::ReadFile(runtime_.log_path());
    const std::string log = dir_.path() + "/worker.log";
    worker_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{BuildPath("tests/fault/steps_worker"),
                                 "--address", runtime_.worker_address(),
                                 "--effects-file", dir_.path() + "/effects",
                                 "--concurrency", "64"},
        log);
    ASSERT_TRUE(worker_->WaitForLine("registered as", absl::Seconds(30)))
        << testing::ReadFile(log);
  }

  // Invokes Tally/<handler> on key "hot" until it answers, repeating the
  // request (same idempotency key) across crashes. Empty on giving up.
  std::optional<std::string> Call(const std::string& handler,
                                  const std::string& payload,
                                  const std::string& idempotency_key) {
    const absl::Time give_up = absl::Now() + absl::Minutes(5);
    while (absl::Now() < give_up && !callers_.stopping()) {
      auto ingress =
          v1::Ingress::NewStub(testing::NewChannel(runtime_.ingress_address()));
      v1::InvokeRequest request;
      request.mutable_target()->set_service("Tally");
      request.mutable_target()->set_handler(handler);
      request.mutable_target()->set_key("hot");
      request.set_payload(payload);
      request.set_idempotency_key(idempotency_key);
      v1::InvokeResponse response;
      grpc::Status status =
          ingress->Invoke(Deadline(60).get(), request, &response);
      if (status.ok() && response.result().has_value()) {
        return response.result().value();
      }
      ++retries_;
      absl::SleepFor(absl::Milliseconds(50));
    }
    return std::nullopt;
  }

  testing::TempDir dir_;
  testing::RuntimeProcess runtime_;
  std::unique_ptr<ChildProcess> worker_;
  std::atomic<int> done_{0};
  std::atomic<int> failed_{0};
  std::atomic<int> retries_{0};
  // Last: stopped and joined before the members they use are destroyed.
  testing::TestThreads callers_;
};

TEST_F(VirtualObjectFaultTest, HotKeyCountsExactlyOnceAcrossRuntimeKills) {
  for (int c = 0; c < kCallers; ++c) {
    callers_.Start([&, c] {
      const int adds = kAdds / kCallers + (c < kAdds % kCallers ? 1 : 0);
      for (int seq = 1; seq <= adds; ++seq) {
        const std::string payload = absl::StrFormat("c%d %d", c, seq);
        if (!Call("add", payload, payload).has_value()) {
          ++failed_;
          return;
        }
        ++done_;
      }
    });
  }
  // Kill the runtime while the adds run: at a third and two thirds.
  for (int k = 1; k <= kKills; ++k) {
    const absl::Time until = absl::Now() + absl::Minutes(5);
    while (done_ < kAdds * k / (kKills + 1) && failed_ == 0 &&
           absl::Now() < until) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    runtime_.Crash();
    ASSERT_TRUE(runtime_.Start()) << testing::ReadFile(runtime_.log_path());
  }
  callers_.Join();
  ASSERT_EQ(failed_, 0);
  ASSERT_EQ(done_, kAdds);
  EXPECT_GT(retries_, 0) << "the kills interrupted no call";

  auto totals = Call("get", "", "");
  ASSERT_TRUE(totals.has_value());
  EXPECT_EQ(*totals, absl::StrFormat("%d 0", kAdds))
      << "count and out-of-order adds";
}

}  // namespace
}  // namespace reprise
