// End to end: durable execution through the real server, workers and CLI —
// the onboarding example's multi-step flow with a timer, and the retry
// policy (retried attempts, then a pause that describe explains).
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/testing/e2e_fixture.h"

namespace reprise {
namespace {

using nlohmann::json;
using testing::BuildPath;
using testing::ChildProcess;
using ::testing::HasSubstr;

class DurableE2eTest : public testing::E2eTest {
 protected:
  // Sends `payload` as it is (not as JSON) and returns the invocation id.
  std::string Send(const std::string& service, const std::string& handler,
                   const std::string& payload) {
    v1::InvokeRequest request = Request(service, handler, nullptr);
    request.set_payload(payload);
    return E2eTest::Send(request);
  }
  using E2eTest::Send;

  json WaitForStatus(const std::string& id, const std::string& status) {
    return WaitUntil(id, [&](const json& d) { return d["status"] == status; });
  }

  std::unique_ptr<ChildProcess> StartStepsWorker() {
    return StartWorker({BuildPath("tests/fault/steps_worker"), "--effects-file",
                        dir_.path() + "/effects"},
                       "steps");
  }
};

TEST_F(DurableE2eTest, OnboardingSuspendsDuringItsTrialAndFinishes) {
  auto worker =
      StartWorker({BuildPath("examples/onboarding/onboarding")}, "onboarding");
  const std::string id =
      Send("Onboarding", "start", R"({"user": "ada", "trial_seconds": 3})");
  json suspended = WaitForStatus(id, "suspended");
  EXPECT_EQ(suspended["status"], "suspended") << suspended.dump();
  EXPECT_THAT(suspended["status_reason"].get<std::string>(),
              HasSubstr("timer 'trial'"));

  v1::Result result = Attach(id);
  json output = json::parse(result.value(), nullptr, false);
  EXPECT_EQ(output["user"], "ada") << result.DebugString();
  EXPECT_EQ(output["steps"].size(), 3u);

  json d = Describe(id);
  std::vector<std::string> kinds, names;
  for (const auto& e : d["journal"]) {
    kinds.push_back(e["kind"]);
    names.push_back(e["name"]);
  }
  EXPECT_THAT(kinds, ::testing::ElementsAre("input", "run", "run", "sleep",
                                            "run", "output"));
  EXPECT_THAT(names,
              ::testing::ElementsAre("", "create-account", "send-welcome",
                                     "trial", "send-trial-ended", ""));
  const json& sleep = d["journal"][3];
  EXPECT_GE(sleep["completed_at_ms"].get<int64_t>(),
            sleep["time_ms"].get<int64_t>());
  // The trial's steps ran once each: the resumed attempt replayed them.
  std::string log = testing::ReadFile(dir_.path() + "/onboarding.log");
  for (const char* line : {"created account ada", "sent welcome mail to ada",
                           "told ada the trial has ended"}) {
    size_t first = log.find(line);
    ASSERT_NE(first, std::string::npos) << line;
    EXPECT_EQ(log.find(line, first + 1), std::string::npos)
        << line << " ran twice";
  }
  EXPECT_GE(d["attempts"].get<int>(), 2);  // resumed after suspending
}

// An awakeable waits across a runtime restart for an outside system (the
// CLI here); completing it twice, or an unknown one, is a clear error.
TEST_F(DurableE2eTest, AwakeableWaitsAcrossRestartForItsResolution) {
  auto worker = StartStepsWorker();
  const std::string approve = Send("Approval", "ask", "");
  const std::string reject = Send("Approval", "ask", "");
  json d = WaitForStatus(approve, "suspended");
  ASSERT_EQ(d["status"], "suspended") << d.dump();
  EXPECT_THAT(d["status_reason"].get<std::string>(), HasSubstr("awakeable"));
  const std::string approve_id = d["journal"][1]["invocation_id"];
  ASSERT_THAT(approve_id, ::testing::StartsWith("awk_"));
  const std::string reject_id =
      WaitForStatus(reject, "suspended")["journal"][1]["invocation_id"];

  RestartRuntime();
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "awakeables");
    return Cli(args);
  };
  testing::CommandResult r =
      cli({"resolve", approve_id, "--data", "\"approve\""});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = cli({"reject", reject_id, "--reason", "too risky"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Attach(approve).value(), "approved:\"approve\"");
  EXPECT_EQ(Attach(reject).value(), "rejected:ABORTED: too risky");

  r = cli({"resolve", approve_id, "--data", "again"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("already resolved"));
  std::string unknown = approve_id;
  unknown.back() = unknown.back() == '0' ? '1' : '0';
  r = cli({"resolve", unknown});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("no awakeable"));
  r = cli({"resolve", "awk_nope"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("invalid awakeable id"));
}

// Completions racing each other through the ingress: one is answered OK
// and counts; the others learn that they lost.
TEST_F(DurableE2eTest, RacingCompletionsAnswerOneOk) {
  auto worker = StartStepsWorker();
  const std::string ask = Send("Approval", "ask", "");
  const std::string awakeable =
      WaitForStatus(ask, "suspended")["journal"][1]["invocation_id"];
  ASSERT_THAT(awakeable, ::testing::StartsWith("awk_"));

  // Runs `call(i)` for i in 0..7 at once; returns the OK ones' i and how
  // many got FAILED_PRECONDITION.
  auto race = [](const std::function<grpc::Status(int)>& call) {
    std::vector<grpc::Status> statuses(8);
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i) {
      threads.emplace_back([&, i] { statuses[i] = call(i); });
    }
    for (auto& t : threads) t.join();
    std::vector<int> ok;
    int lost = 0;
    for (int i = 0; i < 8; ++i) {
      if (statuses[i].ok()) ok.push_back(i);
      lost += statuses[i].error_code() == grpc::StatusCode::FAILED_PRECONDITION;
    }
    return std::make_pair(ok, lost);
  };
  auto [ok, lost] = race([&](int i) {
    auto stub =
        v1::Ingress::NewStub(testing::NewChannel(runtime_->ingress_address()));
    v1::ResolveAwakeableRequest request;
    request.set_awakeable_id(awakeable);
    request.set_payload(absl::StrCat("\"v", i, "\""));
    v1::ResolveAwakeableResponse response;
    return stub->ResolveAwakeable(testing::Deadline(10).get(), request,
                                  &response);
  });
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(lost, 7);
  EXPECT_EQ(Attach(ask).value(), absl::StrCat("approved:\"v", ok[0], "\""));

  std::tie(ok, lost) = race([&](int i) {
    auto stub =
        v1::Ingress::NewStub(testing::NewChannel(runtime_->ingress_address()));
    v1::ResolvePromiseRequest request;
    request.set_service("Signup");
    request.set_key("zed");
    request.set_name("confirmed");
    request.set_payload(absl::StrCat("p", i));
    v1::ResolvePromiseResponse response;
    return stub->ResolvePromise(testing::Deadline(10).get(), request,
                                &response);
  });
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(lost, 7);
  v1::Result run = Invoke(Request("Signup", "run", nullptr, "zed"));
  EXPECT_EQ(run.value(), absl::StrCat("confirmed:p", ok[0]));
}

// A workflow runs once per id however often it is submitted, and a
// promise completed before the workflow reaches it is not lost; a second
// completion is refused.
TEST_F(DurableE2eTest, WorkflowRunsOncePerIdAndKeepsEarlyPromises) {
  auto worker = StartStepsWorker();
  auto request = [](const std::string& handler, const std::string& key,
                    const std::string& payload) {
    v1::InvokeRequest r;
    r.mutable_target()->set_service("Signup");
    r.mutable_target()->set_handler(handler);
    r.mutable_target()->set_key(key);
    r.set_payload(payload);
    return r;
  };
  // Confirmed through the ingress before the workflow even starts.
  v1::ResolvePromiseRequest early;
  early.set_service("Signup");
  early.set_key("ada");
  early.set_name("confirmed");
  early.set_payload("yes");
  v1::ResolvePromiseResponse resolved;
  grpc::Status status =
      stub_->ResolvePromise(testing::Deadline(10).get(), early, &resolved);
  ASSERT_TRUE(status.ok()) << status.error_message();
  status = stub_->ResolvePromise(testing::Deadline(10).get(), early, &resolved);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("completed already"));

  v1::SendResponse first, second;
  ASSERT_TRUE(
      stub_
          ->Send(testing::Deadline(10).get(), request("run", "ada", ""), &first)
          .ok());
  ASSERT_TRUE(stub_
                  ->Send(testing::Deadline(10).get(), request("run", "ada", ""),
                         &second)
                  .ok());
  EXPECT_EQ(first.invocation_id(), second.invocation_id());
  EXPECT_EQ(Attach(first.invocation_id()).value(), "confirmed:yes");
  v1::InvokeResponse again;
  ASSERT_TRUE(stub_
                  ->Invoke(testing::Deadline(10).get(),
                           request("run", "ada", ""), &again)
                  .ok());
  EXPECT_EQ(again.invocation_id(), first.invocation_id());
  EXPECT_EQ(again.result().value(), "confirmed:yes");
  // Attach by the workflow id alone.
  v1::AttachRequest by_key;
  *by_key.mutable_target() = request("run", "ada", "").target();
  v1::InvokeResponse attached;
  ASSERT_TRUE(
      stub_->Attach(testing::Deadline(10).get(), by_key, &attached).ok());
  EXPECT_EQ(attached.invocation_id(), first.invocation_id());
  EXPECT_EQ(attached.result().value(), "confirmed:yes");

  // Another id waits for a signal from a shared handler.
  v1::SendResponse bob;
  ASSERT_TRUE(
      stub_->Send(testing::Deadline(10).get(), request("run", "bob", ""), &bob)
          .ok());
  WaitForStatus(bob.invocation_id(), "suspended");
  v1::InvokeResponse peek, confirm, confirm_again;
  ASSERT_TRUE(stub_
                  ->Invoke(testing::Deadline(10).get(),
                           request("peek", "bob", ""), &peek)
                  .ok());
  EXPECT_EQ(peek.result().value(), "none");
  ASSERT_TRUE(stub_
                  ->Invoke(testing::Deadline(10).get(),
                           request("confirm", "bob", "ok"), &confirm)
                  .ok());
  EXPECT_EQ(confirm.result().value(), "OK");
  ASSERT_TRUE(stub_
                  ->Invoke(testing::Deadline(10).get(),
                           request("confirm", "bob", "twice"), &confirm_again)
                  .ok());
  EXPECT_THAT(confirm_again.result().value(), HasSubstr("FAILED_PRECONDITION"));
  EXPECT_EQ(Attach(bob.invocation_id()).value(), "confirmed:ok");

  // The CLI completes promises too: a rejection reaches Get as ABORTED.
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "promises");
    return Cli(args);
  };
  testing::CommandResult r =
      cli({"reject", "Signup", "cy", "confirmed", "--reason", "bounced"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = cli({"resolve", "Signup", "cy", "confirmed", "--data", "late"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("completed already"));
  v1::InvokeResponse cy;
  ASSERT_TRUE(
      stub_->Invoke(testing::Deadline(10).get(), request("run", "cy", ""), &cy)
          .ok());
  EXPECT_EQ(cy.result().failure().message(), "bounced");

  int runs = 0;
  for (absl::string_view line :
       absl::StrSplit(testing::ReadFile(dir_.path() + "/effects"), '\n')) {
    runs += line == "RUN ada";
  }
  EXPECT_EQ(runs, 1);
}

// AwaitAny: an awakeable nobody completes loses its race with a timer,
// also across the suspension in between; the choice is in the journal.
TEST_F(DurableE2eTest, AwaitAnyRacesAnAwakeableWithATimeout) {
  auto worker = StartStepsWorker();
  const std::string id = Send("Approval", "race", "1500");
  EXPECT_EQ(Attach(id).value(), "timed out");
  std::vector<std::string> kinds;
  const json d = Describe(id);
  for (const auto& e : d["journal"]) kinds.push_back(e["kind"]);
  EXPECT_THAT(kinds, ::testing::ElementsAre("input", "awakeable", "sleep",
                                            "select", "output"));
}

// An exclusive handler calling an exclusive handler of its own key would
// wait for itself: the call fails at once instead. Shared ones are fine.
TEST_F(DurableE2eTest, CallToOwnKeyIsRefusedInsteadOfDeadlocking) {
  auto worker = StartStepsWorker();
  auto self = [&](const std::string& handler) {
    v1::InvokeRequest request;
    request.mutable_target()->set_service("Tally");
    request.mutable_target()->set_handler("self");
    request.mutable_target()->set_key("k");
    request.set_payload(handler);
    v1::InvokeResponse response;
    grpc::Status status =
        stub_->Invoke(testing::Deadline(30).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.result().value();
  };
  const std::string refused = self("add");
  EXPECT_THAT(refused, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(refused, HasSubstr("wait for itself"));
  EXPECT_EQ(self("get"), "0 0");
}

TEST_F(DurableE2eTest, FailingAttemptsAreRetriedThenPaused) {
  auto worker = StartStepsWorker();
  // Fails three times, then succeeds: four attempts.
  const std::string thrice = Send("Flaky", "thrice", "");
  EXPECT_EQ(Attach(thrice).value(), "ok");
  json d = Describe(thrice);
  EXPECT_EQ(d["attempts"], 4);
  EXPECT_EQ(d["last_failure"]["attempt"], 3);
  EXPECT_EQ(d["last_failure"]["message"],
            "handler threw: attempt 3 fails on purpose");

  // Always fails; its policy allows three attempts, then pauses it.
  const std::string always = Send("Flaky", "always", "");
  d = WaitForStatus(always, "paused");
  EXPECT_EQ(d["status"], "paused") << d.dump();
  EXPECT_EQ(d["attempts"], 3);
  EXPECT_EQ(d["last_failure"]["attempt"], 3);
  EXPECT_EQ(d["last_failure"]["message"],
            "handler threw: the database is unreachable");
  EXPECT_EQ(d["last_failure"]["journal_index"], 2);
  EXPECT_EQ(d["pinned_version"], "dev");
  // Its journaled step stayed: the retries replayed it.
  ASSERT_EQ(d["journal"].size(), 2u);
  EXPECT_EQ(d["journal"][1]["name"], "first");

  testing::CommandResult list =
      Cli({"invocations", "list", "--status", "paused"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.output, HasSubstr(always));
  EXPECT_THAT(list.output, ::testing::Not(HasSubstr(thrice)));
  testing::CommandResult text = Cli({"invocations", "describe", always});
  EXPECT_THAT(text.output,
              HasSubstr("Last failure attempt 3 at journal index 2"));
}

}  // namespace
}  // namespace reprise
