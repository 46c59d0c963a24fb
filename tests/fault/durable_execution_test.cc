// Fault: durable execution under SIGKILL. Multi-step workflows run while the
// worker, the runtime, or both are killed at random points and restarted;
// sleeping invocations live through a runtime restart. The worker records
// every side effect (tests/fault/steps_worker.cc), so the test can check the
// central promise: a step acknowledged as durable never runs again.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "reprise/v1/admin.grpc.pb.h"
#include "reprise/v1/ingress.grpc.pb.h"
#include "tests/testing/runtime_process.h"
#include "tests/testing/temp_dir.h"

namespace reprise {
namespace {

using testing::BuildPath;
using testing::ChildProcess;
using testing::Deadline;

constexpr int kWorkflows = 200;
constexpr int kSteps = 5;
constexpr int kKills = 4;

class DurableExecutionTest : public ::testing::Test {
 protected:
  DurableExecutionTest()
      // Trims run between the kills, so recovery starts from a trimmed log.
      : runtime_(dir_.path() + "/data", {"--log-trim-interval", "50ms"}),
        effects_(dir_.path() + "/effects") {}

  void SetUp() override {
    ASSERT_TRUE(runtime_.Start()) << testing::ReadFile(runtime_.log_path());
    StartWorker();
  }

  void StartWorker() {
    // A fresh log per start, so the readiness line is this start's.
    const std::string log =
        dir_.path() + "/worker-" + std::to_string(++worker_starts_) + ".log";
    worker_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{BuildPath("tests/fault/steps_worker"),
                                 "--address", runtime_.worker_address(),
                                 "--effects-file", effects_, "--concurrency",
                                 "8", "--step-ms", "40"},
        log);
    ASSERT_TRUE(worker_->WaitForLine("registered as", absl::Seconds(30)))
        << testing::ReadFile(log);
  }

  void RestartRuntime() {
    runtime_.Crash();
    ASSERT_TRUE(runtime_.Start()) << testing::ReadFile(runtime_.log_path());
  }

  std::string Send(const std::string& service, const std::string& handler,
                   const std::string& payload) {
    auto ingress =
        v1::Ingress::NewStub(testing::NewChannel(runtime_.ingress_address()));
    v1::InvokeRequest request;
    request.mutable_target()->set_service(service);
    request.mutable_target()->set_handler(handler);
    request.set_payload(payload);
    v1::SendResponse response;
    grpc::Status status = ingress->Send(Deadline(10).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.invocation_id();
  }

  // Waits for every invocation's result.
  absl::flat_hash_map<std::string, v1::Result> AttachAll(
      const std::vector<std::string>& ids) {
    auto ingress =
        v1::Ingress::NewStub(testing::NewChannel(runtime_.ingress_address()));
    absl::flat_hash_map<std::string, v1::Result> results;
    for (const auto& id : ids) {
      v1::AttachRequest attach;
      attach.set_invocation_id(id);
      v1::InvokeResponse response;
      grpc::Status status =
          ingress->Attach(Deadline(120).get(), attach, &response);
      EXPECT_TRUE(status.ok()) << id << ": " << status.error_message();
      results[id] = response.result();
    }
    return results;
  }

  v1::InvocationDescription Describe(const std::string& id) {
    auto admin =
        v1::Admin::NewStub(testing::NewChannel(runtime_.admin_address()));
    v1::DescribeInvocationRequest request;
    request.set_invocation_id(id);
    v1::InvocationDescription description;
    EXPECT_TRUE(
        admin->DescribeInvocation(Deadline(10).get(), request, &description)
            .ok());
    return description;
  }

  std::vector<std::vector<std::string>> EffectLines() {
    std::vector<std::vector<std::string>> lines;
    for (absl::string_view line :
         absl::StrSplit(testing::ReadFile(effects_), '\n', absl::SkipEmpty())) {
      lines.push_back(absl::StrSplit(line, ' '));
    }
    return lines;
  }

  // Runs kWorkflows workflows while `kill` strikes kKills times at random
  // moments, then checks every workflow against the recorded side effects.
  void RunWorkflowsUnder(const std::function<void()>& kill) {
    std::vector<std::string> ids;
    for (int i = 0; i < kWorkflows; ++i) {
      ids.push_back(Send("Workflow", "run", ""));
      ASSERT_FALSE(ids.back().empty());
    }
    std::mt19937 random(std::random_device{}());
    for (int k = 0; k < kKills; ++k) {
      absl::SleepFor(absl::Milliseconds(100 + random() % 300));
      kill();
    }
    auto results = AttachAll(ids);

    // (id, step) -> what the side-effect file says about it.
    struct StepEffects {
      std::vector<std::string> executed;  // nonces, in order
      std::string acked;                  // the value Run returned
      bool executed_after_ack = false;
    };
    absl::flat_hash_map<std::string, StepEffects> steps;
    for (const auto& f : EffectLines()) {
      ASSERT_EQ(f.size(), 4u);
      StepEffects& s = steps[f[1] + "/" + f[2]];
      if (f[0] == "EXEC") {
        if (!s.acked.empty()) s.executed_after_ack = true;
        s.executed.push_back(f[3]);
      } else {
        ASSERT_EQ(f[0], "ACK");
        if (!s.acked.empty()) {
          EXPECT_EQ(s.acked, f[3]) << "a replay changed a durable result";
        }
        s.acked = f[3];
      }
    }
    int re_executed = 0;
    for (const auto& id : ids) {
      const v1::Result& result = results[id];
      ASSERT_TRUE(result.has_value()) << id << " failed";
      std::vector<std::string> values = absl::StrSplit(result.value(), ',');
      ASSERT_EQ(values.size(), static_cast<size_t>(kSteps)) << id;
      for (int step = 1; step <= kSteps; ++step) {
        const StepEffects& s = steps[id + "/" + std::to_string(step)];
        EXPECT_FALSE(s.executed_after_ack)
            << id << " step " << step << " ran again after it was durable";
        EXPECT_EQ(s.acked, values[step - 1]) << id << " step " << step;
        // The journaled value is one that a real execution produced.
        EXPECT_NE(
            std::find(s.executed.begin(), s.executed.end(), values[step - 1]),
            s.executed.end())
            << id << " step " << step;
        if (s.executed.size() > 1) ++re_executed;
      }
    }
    // The kills struck mid-step (the run lasts several seconds, the kills
    // come within the first two): some steps had to run again.
    EXPECT_GT(re_executed, 0);
    std::printf("%d of %d steps ran more than once (never after their ack)\n",
                re_executed, kWorkflows * kSteps);
  }

  testing::TempDir dir_;
  testing::RuntimeProcess runtime_;
  const std::string effects_;
  std::unique_ptr<ChildProcess> worker_;
  int worker_starts_ = 0;
};

// A call chain a -> b -> c across partitions while the runtime is killed:
// every caller gets the right result, and b and c ran as one invocation
// per chain (a redelivered call is recognized, not run again).
TEST_F(DurableExecutionTest, CallChainsSurviveRuntimeKills) {
  constexpr int kChains = 100;
  std::vector<std::string> ids;
  for (int i = 0; i < kChains; ++i) {
    ids.push_back(Send("Chain", "a", std::to_string(i)));
    ASSERT_FALSE(ids.back().empty());
  }
  for (int k = 0; k < 2; ++k) {
    absl::SleepFor(absl::Milliseconds(150));
    RestartRuntime();
  }
  auto results = AttachAll(ids);
  for (int i = 0; i < kChains; ++i) {
    EXPECT_EQ(results[ids[i]].value(), "a(b(c(" + std::to_string(i) + ")))")
        << results[ids[i]].failure().message();
  }
  // input -> invocation ids that recorded it, per hop.
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> hops;
  for (const auto& f : EffectLines()) {
    ASSERT_EQ(f.size(), 3u);
    hops[f[0] + " " + f[2]].insert(f[1]);
  }
  for (int i = 0; i < kChains; ++i) {
    for (const char* hop : {"B", "C"}) {
      EXPECT_EQ(hops[absl::StrCat(hop, " ", i)].size(), 1u)
          << hop << " of chain " << i;
    }
  }
}

TEST_F(DurableExecutionTest, CallToAMissingServiceFailsTheCall) {
  auto results = AttachAll({Send("Chain", "lost", "")});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_THAT(
      results.begin()->second.value(),
      ::testing::HasSubstr("NOT_FOUND: service Nope is not registered"));
}

TEST_F(DurableExecutionTest, WorkflowsSurviveWorkerKills) {
  RunWorkflowsUnder([&] {
    worker_->Kill(SIGKILL);
    StartWorker();
  });
}

TEST_F(DurableExecutionTest, WorkflowsSurviveRuntimeKills) {
  RunWorkflowsUnder([&] { RestartRuntime(); });
}

TEST_F(DurableExecutionTest, WorkflowsSurviveKillingBoth) {
  RunWorkflowsUnder([&] {
    worker_->Kill(SIGKILL);
    RestartRuntime();
    StartWorker();
  });
}

// Sagas compensating, after a failure or a cancellation, while the worker
// and the runtime are killed: every compensation runs, newest first, and
// none runs again once its step is durable (an execution that starts after
// the journal entry was appended).
TEST_F(DurableExecutionTest, SagaCompensationsRunOnceAcrossKills) {
  constexpr int kSagas = 60;
  std::vector<std::string> ids;
  // Odd ones wait to be cancelled.
  for (int i = 0; i < kSagas; ++i) {
    ids.push_back(Send("Saga", "book", i % 2 == 1 ? "wait" : ""));
    ASSERT_FALSE(ids.back().empty());
  }
  std::mt19937 random(std::random_device{}());
  for (int k = 0; k < 3; ++k) {
    absl::SleepFor(absl::Milliseconds(100 + random() % 300));
    worker_->Kill(SIGKILL);
    RestartRuntime();
    StartWorker();
    if (k == 0) {
      // Wherever each one is: a cancellation before its sleep fails the
      // sleep when it comes.
      auto admin =
          v1::Admin::NewStub(testing::NewChannel(runtime_.admin_address()));
      for (int i = 1; i < kSagas; i += 2) {
        v1::InvocationRequest cancel;
        cancel.set_invocation_id(ids[i]);
        v1::ControlResponse response;
        grpc::Status status =
            admin->CancelInvocation(Deadline(10).get(), cancel, &response);
        ASSERT_TRUE(status.ok()) << status.error_message();
      }
    }
  }
  auto results = AttachAll(ids);
  // (id, step) -> (nonce, start ms) of each execution of its undo.
  absl::flat_hash_map<std::string, std::vector<std::pair<std::string, int64_t>>>
      undos;
  for (const auto& f : EffectLines()) {
    ASSERT_EQ(f.size(), 5u);
    ASSERT_EQ(f[0], "UNDO");
    int64_t at = 0;
    ASSERT_TRUE(absl::SimpleAtoi(f[4], &at));
    undos[f[1] + "/" + f[2]].emplace_back(f[3], at);
  }
  int re_executed = 0;
  for (int i = 0; i < kSagas; ++i) {
    const std::string& id = ids[i];
    EXPECT_EQ(results[id].failure().code(),
              static_cast<uint32_t>(i % 2 == 1 ? absl::StatusCode::kCancelled
                                               : absl::StatusCode::kAborted))
        << id << ": " << results[id].DebugString();
    v1::InvocationDescription d = Describe(id);
    std::vector<std::string> names;
    for (const auto& e : d.journal()) {
      if (e.kind() != "run") continue;
      names.push_back(e.name());
      if (e.name().rfind("undo-", 0) != 0) continue;
      const auto& executions = undos[id + "/" + e.name().substr(5)];
      bool journaled_ran = false;
      for (const auto& [nonce, at] : executions) {
        journaled_ran = journaled_ran || nonce == e.result().value();
        EXPECT_LE(at, e.appended_at_ms())
            << id << " " << e.name() << " ran again after it was durable";
      }
      EXPECT_TRUE(journaled_ran) << id << " " << e.name();
      if (executions.size() > 1) ++re_executed;
    }
    EXPECT_THAT(names, ::testing::ElementsAre("do-1", "do-2", "do-3", "undo-3",
                                              "undo-2", "undo-1"))
        << id;
  }
  std::printf(
      "%d of %d compensations ran more than once (never after their "
      "step was durable)\n",
      re_executed, kSagas * 3);
}

TEST_F(DurableExecutionTest, SleepsFireOnceAcrossARuntimeRestart) {
  constexpr int kSleepers = 100;
  // Every sleeper wakes about this long after the first send, whatever
  // the sends took (on a loaded machine, a second or more): the kill must
  // land while all of them sleep, or a step that ran before it may
  // rightly run again.
  constexpr int64_t kWakeAfterMs = 4000;
  constexpr int64_t kMinSleepMs = 2000;
  const absl::Time first = absl::Now();
  std::vector<std::string> ids;
  absl::flat_hash_map<std::string, int64_t> sleep_ms;
  for (int i = 0; i < kSleepers; ++i) {
    const int64_t sleep =
        kWakeAfterMs - absl::ToInt64Milliseconds(absl::Now() - first);
    ASSERT_GE(sleep, kMinSleepMs) << "the sends took too long";
    ids.push_back(Send("Sleeper", "nap", std::to_string(sleep)));
    sleep_ms[ids.back()] = sleep;
  }
  absl::SleepFor(absl::Milliseconds(500));
  ASSERT_LT(absl::Now() - first, absl::Milliseconds(kWakeAfterMs - 500))
      << "the kill would not land while every invocation sleeps";
  RestartRuntime();
  auto results = AttachAll(ids);

  absl::flat_hash_map<std::string, int> woke;
  for (const auto& f : EffectLines()) {
    if (f[0] == "WOKE") ++woke[f[1]];
  }
  for (const auto& id : ids) {
    ASSERT_TRUE(results[id].has_value()) << id;
    std::vector<std::string> times = absl::StrSplit(results[id].value(), ' ');
    ASSERT_EQ(times.size(), 2u);
    int64_t started = 0, awake = 0;
    ASSERT_TRUE(absl::SimpleAtoi(times[0], &started));
    ASSERT_TRUE(absl::SimpleAtoi(times[1], &awake));
    EXPECT_GE(awake - started, sleep_ms[id]) << id << " woke early";
    EXPECT_EQ(woke[id], 1) << id << " woke " << woke[id] << " times";
    v1::InvocationDescription d = Describe(id);
    ASSERT_GE(d.journal_size(), 3);
    EXPECT_EQ(d.journal(2).kind(), "sleep");
    EXPECT_GE(d.journal(2).completed_at_ms(), d.journal(2).time_ms());
  }
}

}  // namespace
}  // namespace reprise
