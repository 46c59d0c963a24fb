// End to end: the agent example, an AI-agent tool loop as a workflow. The
// loop waits for a human's approval on an awakeable across a runtime crash,
// books once, and takes a refusal into account.
#include <gmock/gmock.h>

#include "tests/testing/e2e_fixture.h"

namespace reprise {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class AgentE2eTest : public testing::E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    worker_ =
        StartWorker({testing::BuildPath("examples/agent/agent")}, "agent");
  }

  static json Trip() {
    return {{"traveler", "ada"},
            {"from", "LIS"},
            {"to", "SFO"},
            {"budget_eur", 900}};
  }

  // The awakeable the workflow `key` waits on, from its status handler
  // (bounded wait).
  std::string PendingApproval(const std::string& key) {
    for (int i = 0; i < 300; ++i) {
      json status = Call("Agent", "status", nullptr, key);
      if (status.contains("pending_approval")) {
        EXPECT_EQ(status["pending_approval"]["proposal"]["tool"],
                  "book_flight");
        return status["pending_approval"]["awakeable"];
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    ADD_FAILURE() << "no approval asked for";
    return "";
  }

  // How often the worker ran `tool`.
  int ToolRuns(const std::string& tool) {
    const std::string log = testing::ReadFile(dir_.path() + "/agent.log");
    int runs = 0;
    for (size_t at = log.find("tool " + tool + " ran"); at != std::string::npos;
         at = log.find("tool " + tool + " ran", at + 1)) {
      ++runs;
    }
    return runs;
  }

  std::unique_ptr<testing::ChildProcess> worker_;
};

TEST_F(AgentE2eTest, WaitsForApprovalAcrossARuntimeCrashAndBooksOnce) {
  const std::string id = Send(Request("Agent", "run", Trip(), "trip-1"));
  const std::string awakeable = PendingApproval("trip-1");
  ASSERT_THAT(awakeable, ::testing::StartsWith("awk_"));
  json d =
      WaitUntil(id, [](const json& j) { return j["status"] == "suspended"; });
  EXPECT_EQ(d["status"], "suspended") << d.dump();

  RestartRuntime();
  testing::CommandResult r =
      Cli({"awakeables", "resolve", awakeable, "--data", "\"approve\""});
  ASSERT_EQ(r.exit_code, 0) << r.output;

  v1::Result result = Attach(id);
  ASSERT_TRUE(result.has_value()) << result.DebugString();
  json out = json::parse(result.value());
  EXPECT_EQ(out["answer"],
            "Booked LIS-SFO-202 for ada, confirmation BK-LIS-SFO-202-ada.");
  EXPECT_EQ(out["turns"], 4);
  EXPECT_EQ(ToolRuns("search_flights"), 1);
  EXPECT_EQ(ToolRuns("book_flight"), 1);
  EXPECT_EQ(ToolRuns("send_itinerary"), 1);
  std::vector<std::string> runs;
  const json described = Describe(id);
  for (const json& e : described["journal"]) {
    if (e["kind"] == "run") runs.push_back(e["name"]);
  }
  EXPECT_THAT(runs, ::testing::ElementsAre("model", "tool:search_flights",
                                           "model", "tool:book_flight", "model",
                                           "tool:send_itinerary", "model"));
  // The workflow ran once for its id: submitting it again returns the
  // same answer.
  v1::InvokeResponse again;
  ASSERT_TRUE(stub_
                  ->Invoke(testing::Deadline(10).get(),
                           Request("Agent", "run", Trip(), "trip-1"), &again)
                  .ok());
  EXPECT_EQ(again.invocation_id(), id);
  EXPECT_EQ(again.result().value(), result.value());
}

TEST_F(AgentE2eTest, RefusalIsFedBackToTheModel) {
  const std::string id = Send(Request("Agent", "run", Trip(), "trip-2"));
  const std::string awakeable = PendingApproval("trip-2");
  testing::CommandResult r =
      Cli({"awakeables", "reject", awakeable, "--reason", "too expensive"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  v1::Result result = Attach(id);
  ASSERT_TRUE(result.has_value()) << result.DebugString();
  EXPECT_THAT(json::parse(result.value())["answer"].get<std::string>(),
              HasSubstr("Did not book: too expensive"));
  EXPECT_EQ(ToolRuns("book_flight"), 0);
}

}  // namespace
}  // namespace reprise
