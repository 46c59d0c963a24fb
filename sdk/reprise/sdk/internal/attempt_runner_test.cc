// Replay of given journals by the SDK, without a runtime.
#include "reprise/sdk/internal/attempt_runner.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "reprise/sdk/json.h"

namespace reprise::sdk::internal {
namespace {

v1::StartAttempt Start(std::vector<v1::JournalEntry> journal) {
  v1::StartAttempt start;
  start.set_invocation_id(std::string(16, '\x01'));
  start.set_attempt(2);
  start.mutable_target()->set_service("Greeter");
  start.mutable_target()->set_handler("greet");
  for (auto& e : journal) *start.add_journal() = std::move(e);
  return start;
}

v1::JournalEntry Input(std::string value) {
  v1::JournalEntry e;
  e.mutable_input()->set_value(std::move(value));
  return e;
}

v1::JournalEntry Output(std::string value) {
  v1::JournalEntry e;
  e.mutable_output()->mutable_result()->set_value(std::move(value));
  return e;
}

std::vector<v1::WorkerMessage> Replay(const v1::StartAttempt& start,
                                      const Handler& handler) {
  std::vector<v1::WorkerMessage> sent;
  RunAttempt(start, handler, [&](v1::WorkerMessage m) { sent.push_back(m); });
  return sent;
}

Handler Greet(int* calls) {
  return JsonHandler(
      [calls](Context& ctx,
              const nlohmann::json& name) -> absl::StatusOr<nlohmann::json> {
        ++*calls;
        EXPECT_EQ(ctx.attempt(), 2u);
        EXPECT_EQ(ctx.invocation_id(), "inv_01010101010101010101010101010101");
        return "Hello, " + name.get<std::string>() + "!";
      });
}

TEST(AttemptRunnerTest, RunsHandlerOnInputAndProposesOutputAtNextIndex) {
  int calls = 0;
  auto sent = Replay(Start({Input("\"Ada\"")}), Greet(&calls));
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].has_propose());
  EXPECT_EQ(sent[0].propose().index(), 1u);
  EXPECT_EQ(sent[0].propose().attempt(), 2u);
  EXPECT_EQ(sent[0].propose().entry().output().result().value(),
            "\"Hello, Ada!\"");
}

TEST(AttemptRunnerTest, ReplayOfCompletedJournalDoesNotRunHandler) {
  int calls = 0;
  auto sent = Replay(Start({Input("\"Ada\""), Output("\"Hello, Ada!\"")}),
                     Greet(&calls));
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(sent.empty());
}

TEST(AttemptRunnerTest, JournalWithoutInputIsAMismatch) {
  int calls = 0;
  auto sent = Replay(Start({Output("x")}), Greet(&calls));
  EXPECT_EQ(calls, 0);
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].has_attempt_failed());
  EXPECT_NE(sent[0].attempt_failed().message().find("index 0"),
            std::string::npos);
}

TEST(AttemptRunnerTest, ErrorStatusIsATerminalFailureOutput) {
  auto sent =
      Replay(Start({Input("{}")}),
             [](Context&, const std::string&) -> absl::StatusOr<std::string> {
               return absl::FailedPreconditionError("out of stock");
             });
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].has_propose());
  const auto& failure = sent[0].propose().entry().output().result().failure();
  EXPECT_EQ(failure.code(),
            static_cast<uint32_t>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(failure.message(), "out of stock");
}

TEST(AttemptRunnerTest, ExceptionFailsOnlyTheAttempt) {
  auto sent =
      Replay(Start({Input("{}")}),
             [](Context&, const std::string&) -> absl::StatusOr<std::string> {
               throw std::runtime_error("database unreachable");
             });
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].has_attempt_failed());
  EXPECT_NE(sent[0].attempt_failed().message().find("database unreachable"),
            std::string::npos);
}

TEST(AttemptRunnerTest, InvalidJsonInputFailsTheInvocation) {
  int calls = 0;
  auto sent = Replay(Start({Input("not json")}), Greet(&calls));
  EXPECT_EQ(calls, 0);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].propose().entry().output().result().failure().code(),
            static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace reprise::sdk::internal
