// End to end: steering single invocations with the `reprise` CLI against a
// real server and workers: pause (across a runtime restart) and resume,
// restart from a journal index, kill (which reaches a child call),
// retry-now, purge, and the errors for commands in the wrong state.
#include <gmock/gmock.h>

#include <map>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/testing/e2e_fixture.h"

namespace reprise {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class AdminE2eTest : public testing::E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    steps_ = StartWorker(
        {testing::BuildPath("tests/fault/steps_worker"), "--effects-file",
         dir_.path() + "/effects", "--step-ms", "300"},
        "steps");
  }

  // `reprise invocations <verb> <id> [args]`, expected to succeed.
  std::string Steer(const std::string& verb, const std::string& id,
                    std::vector<std::string> args = {}) {
    std::vector<std::string> argv = {"invocations", verb, id};
    argv.insert(argv.end(), args.begin(), args.end());
    testing::CommandResult r = Cli(argv);
    EXPECT_EQ(r.exit_code, 0) << verb << ": " << r.output;
    return r.output;
  }

  // The effects the worker recorded for invocation `id`: "EXEC <step>" and
  // "ACK <step>" lines, in order.
  std::vector<std::string> Effects(const std::string& id) {
    std::vector<std::string> out;
    for (absl::string_view line :
         absl::StrSplit(testing::ReadFile(dir_.path() + "/effects"), '\n')) {
      std::vector<std::string> f = absl::StrSplit(line, ' ');
      if (f.size() == 4 && f[1] == id) out.push_back(f[0] + " " + f[2]);
    }
    return out;
  }

  std::unique_ptr<testing::ChildProcess> steps_;
};

TEST_F(AdminE2eTest, PausedInvocationStaysPausedAcrossARestartUntilResumed) {
  const std::string id = Send(Request("Workflow", "run", nullptr));
  json d = WaitUntil(id, [](const json& j) {
    return j["status"] == "running" && j["journal"].size() >= 2;
  });
  ASSERT_EQ(d["status"], "running") << d.dump();
  EXPECT_THAT(Steer("pause", id), HasSubstr("paused " + id));
  d = WaitUntil(id, [](const json& j) { return j["status"] == "paused"; });
  ASSERT_EQ(d["status"], "paused") << d.dump();
  EXPECT_THAT(d["status_reason"].get<std::string>(),
              HasSubstr("paused by an operator"));
  const size_t steps = d["journal"].size();

  RestartRuntime();
  absl::SleepFor(absl::Seconds(1));
  d = Describe(id);
  EXPECT_EQ(d["status"], "paused") << d.dump();
  EXPECT_EQ(d["journal"].size(), steps);  // nothing ran meanwhile

  Steer("resume", id);
  v1::Result result = Attach(id);
  ASSERT_TRUE(result.has_value()) << result.DebugString();
  EXPECT_EQ(
      std::vector<std::string>(absl::StrSplit(result.value(), ',')).size(), 5u);
  // Every step was acknowledged (again on each replay), and none ran after
  // its first ack.
  std::vector<std::string> effects = Effects(id);
  for (int step = 1; step <= 5; ++step) {
    const std::string ack = "ACK " + std::to_string(step);
    auto at = std::find(effects.begin(), effects.end(), ack);
    ASSERT_NE(at, effects.end()) << ack;
    EXPECT_EQ(std::find(at, effects.end(), "EXEC " + std::to_string(step)),
              effects.end())
        << "step " << step << " ran after its ack";
  }

  testing::CommandResult r = Cli({"invocations", "resume", id});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("has completed (succeeded): resume applies "
                                  "to paused invocations"));
}

TEST_F(AdminE2eTest, RestartFromAnIndexRunsOnlyTheLaterSteps) {
  const std::string id = Send(Request("Workflow", "run", nullptr));
  v1::Result first = Attach(id);
  ASSERT_TRUE(first.has_value());
  std::string out = Steer("restart", id, {"--from", "3"});
  const std::string fresh = out.substr(out.find(" as ") + 4, 36);
  ASSERT_THAT(fresh, ::testing::StartsWith("inv_")) << out;
  v1::Result second = Attach(fresh);
  ASSERT_TRUE(second.has_value()) << second.DebugString();
  std::vector<std::string> a = absl::StrSplit(first.value(), ',');
  std::vector<std::string> b = absl::StrSplit(second.value(), ',');
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(b[0], a[0]);  // replayed
  EXPECT_EQ(b[1], a[1]);
  for (int i = 2; i < 5; ++i) EXPECT_NE(b[i], a[i]);  // ran again
  std::vector<std::string> effects = Effects(fresh);
  EXPECT_EQ(std::count(effects.begin(), effects.end(), "EXEC 1"), 0);
  EXPECT_EQ(std::count(effects.begin(), effects.end(), "EXEC 2"), 0);
  EXPECT_EQ(std::count(effects.begin(), effects.end(), "EXEC 3"), 1);

  testing::CommandResult r = Cli({"invocations", "restart", id, "--from", "9"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("past the last step"));
  r = Cli({"invocations", "pause", id});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("pause applies to running, pending, "
                                  "backing-off or suspended invocations"));
}

TEST_F(AdminE2eTest, KillReachesTheChildCallAndCompensatesNothing) {
  auto checkout = StartWorker(
      {testing::BuildPath("examples/checkout/checkout")}, "checkout");
  const std::string id = Send(Request("Checkout", "run",
                                      {{"order", "o-9"},
                                       {"customer", "ada"},
                                       {"product", "lamp"},
                                       {"quantity", 2},
                                       {"amount_cents", 100},
                                       {"address", "1 Main St"},
                                       {"pickup_seconds", 600}}));
  json d = WaitUntil(id, [](const json& j) {
    return j["status"] == "suspended" && j["journal"].size() == 4;
  });
  ASSERT_EQ(d["journal"].size(), 4u) << d.dump();
  const std::string shipping = d["journal"][3]["invocation_id"];

  Steer("kill", id);
  v1::Result result = Attach(id);
  EXPECT_EQ(result.failure().code(),
            static_cast<uint32_t>(grpc::StatusCode::ABORTED));
  EXPECT_EQ(result.failure().message(), "the invocation was killed");
  EXPECT_EQ(Attach(shipping).failure().code(),
            static_cast<uint32_t>(grpc::StatusCode::ABORTED));
  EXPECT_EQ(Describe(id)["journal"].size(), 4u);  // no compensation ran
  EXPECT_EQ(Call("Inventory", "stock", nullptr, "lamp")["available"], 8);
}

TEST_F(AdminE2eTest, RetryNowSkipsTheBackOff) {
  const std::string id = Send(Request("Flaky", "slow", nullptr));
  json d = WaitUntil(
      id, [&](const json& j) { return j["status"] == "backing-off"; });
  ASSERT_EQ(d["status"], "backing-off") << d.dump();
  EXPECT_GT(d["next_retry_at_ms"].get<int64_t>(),
            absl::ToUnixMillis(absl::Now() + absl::Seconds(30)));
  Steer("retry-now", id);
  // The minute of back-off is skipped.
  d = WaitUntil(id, [&](const json& j) { return j["status"] == "succeeded"; });
  EXPECT_EQ(d["status"], "succeeded") << d.dump();
  EXPECT_LT(d["completed_at_ms"].get<int64_t>(),
            d["created_at_ms"].get<int64_t>() + 30000);
  testing::CommandResult r = Cli({"invocations", "retry-now", id});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("retry-now applies to backing-off"));
}

TEST_F(AdminE2eTest, PurgeDeletesACompletedInvocation) {
  const std::string id = Send(Request("Flaky", "slow", nullptr));
  testing::CommandResult r = Cli({"invocations", "purge", id});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("purge applies to completed"));
  Steer("kill", id);
  Attach(id);
  Steer("purge", id);
  r = Cli({"invocations", "describe", id});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("no invocation"));
  r = Cli({"invocations", "purge", "inv_nope"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("invalid"));
}

// Bulk: every invocation of one target, filtered by status, after a
// confirmation; and the list's filters and pages that bulk commands use.
TEST_F(AdminE2eTest, BulkPauseOfAThousandInvocationsOfOneTarget) {
  constexpr int kSleepers = 1000;
  for (int i = 0; i < kSleepers; ++i) {
    ASSERT_FALSE(Send(Request("Sleeper", "nap", 600000)).empty());
  }
  const std::string other = Send(Request("Workflow", "run", nullptr));
  auto count = [&](const std::string& status) {
    testing::CommandResult r =
        Cli({"--json", "invocations", "list", "--service", "Sleeper",
             "--status", status, "--limit", "1000"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return json::parse(r.output)["invocations"].size();
  };
  for (int i = 0; i < 300 && count("suspended") < kSleepers; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
  }
  ASSERT_EQ(count("suspended"), static_cast<size_t>(kSleepers));

  // Without --yes it asks; with no answer, nothing is done.
  testing::CommandResult r = Cli({"invocations", "pause", "--target",
                                  "Sleeper/nap", "--status", "suspended"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("1000 invocations of Sleeper/nap match"));
  EXPECT_THAT(r.output, HasSubstr("nothing done"));
  EXPECT_EQ(count("paused"), 0u);

  r = Cli({"invocations", "pause", "--target", "Sleeper/nap", "--status",
           "suspended", "--yes"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("paused 1000 of 1000"));
  EXPECT_EQ(count("paused"), static_cast<size_t>(kSleepers));
  EXPECT_NE(Describe(other)["status"], "paused");

  // Pages: 1000 in pages of 300, newest first, each id once.
  std::vector<std::string> seen;
  std::string token;
  for (int page = 0; page < 10; ++page) {
    std::vector<std::string> args = {"--json",    "invocations", "list",
                                     "--service", "Sleeper",     "--limit",
                                     "300"};
    if (!token.empty()) {
      args.push_back("--page-token");
      args.push_back(token);
    }
    json out = json::parse(Cli(args).output);
    int64_t last = INT64_MAX;
    for (const json& s : out["invocations"]) {
      EXPECT_LE(s["created_at_ms"].get<int64_t>(), last);
      last = s["created_at_ms"].get<int64_t>();
      seen.push_back(s["invocation_id"]);
    }
    if (!out["truncated"].get<bool>()) break;
    token = out["next_page_token"];
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kSleepers));
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()), seen.end());

  // Other filters: handler, created time.
  r = Cli({"--json", "invocations", "list", "--handler", "run"});
  EXPECT_EQ(json::parse(r.output)["invocations"].size(), 1u) << r.output;
  r = Cli({"--json", "invocations", "list", "--created-after", "1h",
           "--created-before", "2099-01-01T00:00:00Z", "--limit", "1"});
  EXPECT_TRUE(json::parse(r.output)["truncated"].get<bool>()) << r.output;
  r = Cli({"invocations", "list", "--created-after", "yesterday"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("neither a time"));
}

TEST_F(AdminE2eTest, ServicesDescribeAndWorkersList) {
  const std::string id = Send(Request("Flaky", "slow", nullptr));
  WaitUntil(id, [](const json& j) { return j["status"] == "backing-off"; });
  testing::CommandResult r = Cli({"--json", "services", "describe", "Flaky"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json d = json::parse(r.output);
  std::map<std::string, json> handlers;
  for (const json& h : d["handlers"]) handlers[h["name"]] = h;
  ASSERT_EQ(handlers.size(), 3u) << r.output;
  EXPECT_EQ(handlers["always"]["retry_policy"]["max_attempts"], 3);
  EXPECT_EQ(handlers["slow"]["retry_policy"]["initial_interval_ms"], 60000);
  // Not declared: the runtime's defaults.
  EXPECT_EQ(handlers["thrice"]["retry_policy"]["max_attempts"], 30);
  EXPECT_EQ(handlers["thrice"]["inactivity_timeout_ms"], 300000);
  EXPECT_EQ(handlers["thrice"]["retention_ms"], 24 * 3600 * 1000);
  ASSERT_EQ(d["workers"].size(), 1u);
  EXPECT_EQ(d["workers"][0]["name"], "steps");
  EXPECT_EQ(d["invocations_by_status"]["backing-off"], 1);

  r = Cli({"services", "describe", "Flaky"});
  EXPECT_THAT(r.output, HasSubstr("3 attempts, 20ms x2 up to 10000ms, then "
                                  "pause"));
  r = Cli({"services", "describe", "Nope"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("service Nope is not registered"));

  r = Cli({"--json", "workers", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json workers = json::parse(r.output)["workers"];
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]["name"], "steps");
  EXPECT_EQ(workers[0]["version"], "dev");
  EXPECT_THAT(workers[0]["services"].get<std::vector<std::string>>(),
              ::testing::Contains("Flaky"));
  r = Cli({"workers", "list"});
  EXPECT_THAT(r.output, HasSubstr("steps"));
}

// State edits: refused while an exclusive handler (here a workflow's run,
// waiting for its promise) holds the key, unless forced.
TEST_F(AdminE2eTest, StateGetSetClear) {
  const std::string run = Send(Request("Signup", "run", nullptr, "ada"));
  WaitUntil(run, [](const json& j) { return j["status"] == "suspended"; });
  testing::CommandResult r =
      Cli({"state", "set", "Signup", "ada", "plan", "--data", "\"pro\""});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("holds Signup/ada"));
  EXPECT_THAT(r.output, HasSubstr("--force"));
  Steer("kill", run);  // frees the key
  Attach(run);
  r = Cli({"state", "set", "Signup", "ada", "plan", "--data", "\"pro\""});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = Cli({"state", "set", "Signup", "ada", "seats", "--data", "3"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = Cli({"--json", "state", "get", "Signup", "ada"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json::parse(r.output)["state"],
            json({{"plan", "pro"}, {"seats", 3}}));
  r = Cli({"state", "get", "Signup", "ada", "seats"});
  EXPECT_EQ(r.output, "3\n");
  EXPECT_EQ(Cli({"state", "clear", "Signup", "ada", "seats"}).exit_code, 0);
  r = Cli({"state", "get", "Signup", "ada", "seats"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("has no state key 'seats'"));
  EXPECT_EQ(Cli({"state", "clear", "Signup", "ada"}).exit_code, 0);
  r = Cli({"state", "get", "Signup", "ada"});
  EXPECT_THAT(r.output, HasSubstr("Signup/ada has no state"));

  // A forced edit goes through while the key is held.
  const std::string bob = Send(Request("Signup", "run", nullptr, "bob"));
  WaitUntil(bob, [](const json& j) { return j["status"] == "suspended"; });
  r = Cli({"state", "set", "Signup", "bob", "note", "--data", "1", "--force"});
  EXPECT_EQ(r.exit_code, 0) << r.output;

  r = Cli({"state", "get", "Workflow", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("stateless service"));
  r = Cli({"state", "get", "Nope", "x"});
  EXPECT_THAT(r.output, HasSubstr("not registered"));
}

TEST_F(AdminE2eTest, WatchStreamsStatusChanges) {
  auto watch = [&](std::vector<std::string> args, const std::string& name) {
    std::vector<std::string> argv = {testing::BuildPath("runtime/cli/reprise"),
                                     "--address",
                                     runtime_->admin_address(),
                                     "--json",
                                     "invocations",
                                     "watch",
                                     "--for",
                                     "60"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto process = std::make_unique<testing::ChildProcess>(
        argv, dir_.path() + "/" + name + ".log");
    EXPECT_TRUE(process->WaitForLine("watching", absl::Seconds(10)));
    return process;
  };
  auto all = watch({"--service", "Workflow", "--count", "2"}, "all");
  auto done = watch({"--status", "succeeded", "--count", "1"}, "done");
  const std::string id = Send(Request("Workflow", "run", nullptr));
  ASSERT_TRUE(Attach(id).has_value());
  ASSERT_EQ(all->Wait(absl::Seconds(30)), 0);
  ASSERT_EQ(done->Wait(absl::Seconds(30)), 0);

  auto events = [&](const std::string& name) {
    std::vector<std::string> statuses;
    for (absl::string_view line : absl::StrSplit(
             testing::ReadFile(dir_.path() + "/" + name + ".log"), '\n')) {
      json event = json::parse(line, nullptr, false);
      if (!event.is_object()) continue;
      EXPECT_EQ(event["invocation_id"], id);
      statuses.push_back(event["status"]);
    }
    return statuses;
  };
  // Five steps write the status five times while it runs: one change.
  EXPECT_THAT(events("all"), ::testing::ElementsAre("running", "succeeded"));
  EXPECT_THAT(events("done"), ::testing::ElementsAre("succeeded"));

  testing::CommandResult r =
      Cli({"invocations", "watch", "--status", "pending", "--for", "5"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("unknown status 'pending'"));
  EXPECT_THAT(r.output, ::testing::Not(HasSubstr("watching")));
}

// Retention: the runtime removes completed invocations once their
// retention ends (here the runtime's default, 2 s), idempotent ones no
// earlier than their idempotency retention.
class RetentionE2eTest : public AdminE2eTest {
 protected:
  void SetUp() override {
    runtime_args_ = {"--retention", "2s"};
    AdminE2eTest::SetUp();
  }
};

TEST_F(RetentionE2eTest, CompletedInvocationsAreRemovedAfterTheirRetention) {
  const std::string id = Send(Request("Flaky", "slow", nullptr));
  v1::InvokeRequest idempotent = Request("Flaky", "thrice", nullptr);
  idempotent.set_idempotency_key("once");
  const std::string kept = Send(idempotent);
  Steer("kill", id);
  Steer("kill", kept);
  ASSERT_TRUE(Attach(id).has_failure());
  const int64_t completed = Describe(id)["completed_at_ms"];
  testing::CommandResult r;
  for (int i = 0; i < 100; ++i) {
    r = Cli({"invocations", "describe", id});
    if (r.exit_code != 0) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("no invocation"));
  EXPECT_GE(absl::ToUnixMillis(absl::Now()), completed + 2000);
  // Its idempotency key keeps the other for 24 hours.
  EXPECT_EQ(Describe(kept)["status"], "failed");
}

}  // namespace
}  // namespace reprise
