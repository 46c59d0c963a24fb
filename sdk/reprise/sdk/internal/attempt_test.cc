// Replay of given journals by the SDK, without a runtime.
#include "reprise/sdk/internal/attempt.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <thread>

#include "absl/time/clock.h"
#include "reprise/sdk/json.h"
#include "reprise/sdk/saga.h"

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

// Appends `m` to `sent`, a batched proposal as one message per entry, so
// that tests see each step on its own.
void Record(std::vector<v1::WorkerMessage>& sent, v1::WorkerMessage m) {
  if (!m.has_propose() || m.propose().entries_size() <= 1) {
    sent.push_back(std::move(m));
    return;
  }
  for (int i = 0; i < m.propose().entries_size(); ++i) {
    v1::WorkerMessage one = m;
    one.mutable_propose()->set_index(m.propose().index() + i);
    one.mutable_propose()->clear_entries();
    *one.mutable_propose()->add_entries() = m.propose().entries(i);
    sent.push_back(std::move(one));
  }
}

// Runs one attempt the way a worker does, acknowledging every proposal at
// once, as a runtime whose log is instant would.
std::vector<v1::WorkerMessage> Replay(const v1::StartAttempt& start,
                                      const Handler& handler,
                                      StateAccess access = StateAccess::kNone,
                                      bool workflow = false) {
  std::vector<v1::WorkerMessage> sent;
  Attempt* self = nullptr;
  Attempt attempt(
      start,
      [&](v1::WorkerMessage m) {
        if (m.has_propose()) {
          self->OnAck(m.propose().index() + m.propose().entries_size() - 1);
        }
        Record(sent, std::move(m));
      },
      AttemptOptions{});
  self = &attempt;
  attempt.Run(handler, access, workflow);
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

TEST(AttemptTest, RunsHandlerOnInputAndProposesOutputAtNextIndex) {
  int calls = 0;
  auto sent = Replay(Start({Input("\"Ada\"")}), Greet(&calls));
  EXPECT_EQ(calls, 1);
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].has_propose());
  EXPECT_EQ(sent[0].propose().index(), 1u);
  EXPECT_EQ(sent[0].propose().attempt(), 2u);
  EXPECT_EQ(sent[0].propose().entries(0).output().result().value(),
            "\"Hello, Ada!\"");
}

TEST(AttemptTest, ReplayOfCompletedJournalDoesNotRunHandler) {
  int calls = 0;
  auto sent = Replay(Start({Input("\"Ada\""), Output("\"Hello, Ada!\"")}),
                     Greet(&calls));
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(sent.empty());
}

TEST(AttemptTest, JournalWithoutInputIsAMismatch) {
  int calls = 0;
  auto sent = Replay(Start({Output("x")}), Greet(&calls));
  EXPECT_EQ(calls, 0);
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].has_attempt_failed());
  EXPECT_NE(sent[0].attempt_failed().message().find("index 0"),
            std::string::npos);
}

TEST(AttemptTest, ErrorStatusIsATerminalFailureOutput) {
  auto sent =
      Replay(Start({Input("{}")}),
             [](Context&, const std::string&) -> absl::StatusOr<std::string> {
               return absl::FailedPreconditionError("out of stock");
             });
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].has_propose());
  const auto& failure =
      sent[0].propose().entries(0).output().result().failure();
  EXPECT_EQ(failure.code(),
            static_cast<uint32_t>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(failure.message(), "out of stock");
}

TEST(AttemptTest, ExceptionFailsOnlyTheAttempt) {
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

TEST(AttemptTest, InvalidJsonInputFailsTheInvocation) {
  int calls = 0;
  auto sent = Replay(Start({Input("not json")}), Greet(&calls));
  EXPECT_EQ(calls, 0);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].propose().entries(0).output().result().failure().code(),
            static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));
}

v1::JournalEntry RunEntry(std::string name, std::string value) {
  v1::JournalEntry e;
  e.set_name(std::move(name));
  e.mutable_run()->mutable_result()->set_value(std::move(value));
  return e;
}

v1::JournalEntry SleepEntry(std::string name, int64_t completed_at_ms) {
  v1::JournalEntry e;
  e.set_name(std::move(name));
  e.mutable_sleep()->set_wake_up_at_ms(1000);
  e.set_completed_at_ms(completed_at_ms);
  return e;
}

// A two-step handler: charge, then ship; counts the side effects it runs.
struct Steps {
  int charged = 0;
  int shipped = 0;
  Handler handler() {
    return [this](Context& ctx,
                  const std::string& order) -> absl::StatusOr<std::string> {
      auto receipt = ctx.Run("charge", [&]() -> absl::StatusOr<std::string> {
        ++charged;
        return "receipt-" + order;
      });
      if (!receipt.ok()) return receipt.status();
      auto tracking = ctx.Run("ship", [&]() -> absl::StatusOr<std::string> {
        ++shipped;
        return "parcel";
      });
      if (!tracking.ok()) return tracking.status();
      return *receipt + "/" + *tracking;
    };
  }
};

TEST(AttemptTest, NewStepsAreProposedInOrderAndWaitForTheirAck) {
  Steps steps;
  auto sent = Replay(Start({Input("o1")}), steps.handler());
  EXPECT_EQ(steps.charged, 1);
  EXPECT_EQ(steps.shipped, 1);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].propose().index(), 1u);
  EXPECT_EQ(sent[0].propose().entries(0).name(), "charge");
  EXPECT_EQ(sent[0].propose().entries(0).run().result().value(), "receipt-o1");
  EXPECT_EQ(sent[1].propose().index(), 2u);
  EXPECT_EQ(sent[1].propose().entries(0).name(), "ship");
  EXPECT_EQ(sent[2].propose().index(), 3u);
  EXPECT_EQ(sent[2].propose().entries(0).output().result().value(),
            "receipt-o1/parcel");
  // The handler waits for the acks of its runs; nothing waits for the
  // output's.
  EXPECT_FALSE(sent[0].propose().skip_ack());
  EXPECT_FALSE(sent[1].propose().skip_ack());
  EXPECT_TRUE(sent[2].propose().skip_ack());
}

TEST(AttemptTest, ReplayResumesAtTheFirstStepNotInTheJournal) {
  Steps steps;
  auto sent = Replay(Start({Input("o1"), RunEntry("charge", "receipt-old")}),
                     steps.handler());
  EXPECT_EQ(steps.charged, 0);  // recorded: not run again
  EXPECT_EQ(steps.shipped, 1);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].propose().index(), 2u);
  EXPECT_EQ(sent[1].propose().entries(0).output().result().value(),
            "receipt-old/parcel");
}

TEST(AttemptTest, ChangedHandlerGetsAMismatchNamingTheEntry) {
  auto sent = Replay(
      Start({Input("o1"), RunEntry("charge", "r")}),
      [](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        ctx.Sleep(absl::Seconds(1), "cool-off");
        return "never";
      });
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].has_attempt_failed());
  EXPECT_EQ(sent[0].attempt_failed().message(),
            "journal mismatch at index 1: the journal holds run 'charge', but "
            "the handler now takes sleep 'cool-off'");
  EXPECT_EQ(sent[0].attempt_failed().journal_index(), 1u);
}

TEST(AttemptTest, RenamedStepIsAMismatch) {
  auto sent = Replay(
      Start({Input("o1"), RunEntry("charge", "r")}),
      [](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        return ctx.Run("bill", [] { return absl::StatusOr<std::string>("x"); });
      });
  ASSERT_TRUE(sent.at(0).has_attempt_failed());
  EXPECT_NE(sent[0].attempt_failed().message().find("run 'bill'"),
            std::string::npos);
}

TEST(AttemptTest, HandlerReturningBeforeItsJournalEndsIsAMismatch) {
  auto sent =
      Replay(Start({Input("o1"), RunEntry("charge", "r")}),
             [](Context&, const std::string&) -> absl::StatusOr<std::string> {
               return "done";
             });
  ASSERT_TRUE(sent.at(0).has_attempt_failed());
  EXPECT_EQ(sent[0].attempt_failed().message(),
            "journal mismatch at index 1: the journal holds run 'charge', but "
            "the handler returned");
}

TEST(AttemptTest, RunErrorStatusIsRecordedAsATerminalStepFailure) {
  auto sent = Replay(
      Start({Input("o1")}),
      [](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        auto r = ctx.Run("charge", []() -> absl::StatusOr<std::string> {
          return absl::FailedPreconditionError("card declined");
        });
        EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
        return "compensated";
      });
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].propose().entries(0).run().result().failure().message(),
            "card declined");
  EXPECT_EQ(sent[1].propose().entries(0).output().result().value(),
            "compensated");
}

TEST(AttemptTest, RunRetriesByItsPolicyThenFailsTerminally) {
  int tries = 0;
  RunOptions options;
  options.retry_policy =
      RunRetryPolicy{absl::Milliseconds(1), 2.0, absl::Milliseconds(4), 3};
  auto sent = Replay(
      Start({Input("o1")}),
      [&](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        auto r = ctx.Run(
            "flaky",
            [&]() -> absl::StatusOr<std::string> {
              ++tries;
              throw std::runtime_error("timeout");
            },
            options);
        EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
        return std::string(r.status().message());
      });
  EXPECT_EQ(tries, 3);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].propose().entries(0).output().result().value(),
            "run 'flaky' gave up after 3 tries: timeout");
}

TEST(AttemptTest, RunThrowingWithoutPolicyFailsTheAttemptAtItsIndex) {
  auto sent = Replay(
      Start({Input("o1"), RunEntry("a", "x")}),
      [](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        ctx.Run("a", [] { return absl::StatusOr<std::string>("x"); })
            .IgnoreError();
        return ctx.Run("b", []() -> absl::StatusOr<std::string> {
          throw std::runtime_error("db down");
        });
      });
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].attempt_failed().message(), "handler threw: db down");
  EXPECT_EQ(sent[0].attempt_failed().journal_index(), 2u);
}

TEST(AttemptTest, TerminalErrorFailsTheInvocation) {
  auto sent = Replay(
      Start({Input("o1")}),
      [](Context&, const std::string&) -> absl::StatusOr<std::string> {
        throw TerminalError("no such order", absl::StatusCode::kNotFound);
      });
  ASSERT_EQ(sent.size(), 1u);
  const auto& failure =
      sent[0].propose().entries(0).output().result().failure();
  EXPECT_EQ(failure.code(), static_cast<uint32_t>(absl::StatusCode::kNotFound));
  EXPECT_EQ(failure.message(), "no such order");
}

Handler SleepThenReply(int* after_sleep) {
  return [after_sleep](Context& ctx,
                       const std::string&) -> absl::StatusOr<std::string> {
    ctx.Sleep(absl::Hours(1), "nap");
    ++*after_sleep;
    return "awake";
  };
}

TEST(AttemptTest, LongSleepSuspendsAtOnce) {
  int after = 0;
  auto sent = Replay(Start({Input("")}), SleepThenReply(&after));
  EXPECT_EQ(after, 0);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].propose().entries(0).name(), "nap");
  EXPECT_GT(sent[0].propose().entries(0).sleep().wake_up_at_ms(),
            absl::ToUnixMillis(absl::Now() + absl::Minutes(59)));
  ASSERT_TRUE(sent[1].has_suspend());
  ASSERT_EQ(sent[1].suspend().waiting_on_size(), 1);
  EXPECT_EQ(sent[1].suspend().waiting_on(0), 1u);
  // A sleep waits for its completion, not for an ack.
  EXPECT_TRUE(sent[0].propose().skip_ack());
}

TEST(AttemptTest, CompletedSleepReplaysWithoutWaiting) {
  int after = 0;
  auto sent = Replay(Start({Input(""), SleepEntry("nap", 5000)}),
                     SleepThenReply(&after));
  EXPECT_EQ(after, 1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].propose().entries(0).output().result().value(), "awake");
}

TEST(AttemptTest, PendingSleepInTheJournalSuspendsAgain) {
  int after = 0;
  auto sent =
      Replay(Start({Input(""), SleepEntry("nap", 0)}), SleepThenReply(&after));
  EXPECT_EQ(after, 0);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].has_suspend());
}

TEST(AttemptTest, ShortSleepWaitsForItsCompletion) {
  std::vector<v1::WorkerMessage> sent;
  std::thread timer;
  Attempt* self = nullptr;
  Attempt attempt(
      Start({Input("")}),
      [&](v1::WorkerMessage m) {
        if (m.has_propose() && m.propose().entries(0).has_sleep()) {
          v1::JournalEntry done = m.propose().entries(0);
          done.set_completed_at_ms(1);
          timer = std::thread([self, done] {
            absl::SleepFor(absl::Milliseconds(20));
            self->OnCompletion(1, done);
          });
        }
        Record(sent, std::move(m));
      },
      AttemptOptions{absl::Seconds(30)});
  self = &attempt;
  attempt.Run(
      [](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        ctx.Sleep(absl::Milliseconds(10));
        return "awake";
      });
  timer.join();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].propose().entries(0).output().result().value(), "awake");
}

// The runtime fires a sleep's timer a little early; the handler still
// resumes only once the sleep is due, and does not suspend meanwhile, even
// past its suspend_after.
TEST(AttemptTest, EarlySleepCompletionWaitsUntilTheSleepIsDue) {
  std::vector<v1::WorkerMessage> sent;
  Attempt* self = nullptr;
  int64_t wake_up_at_ms = 0;
  Attempt attempt(
      Start({Input("")}),
      [&](v1::WorkerMessage m) {
        if (m.has_propose() && m.propose().entries(0).has_sleep()) {
          v1::JournalEntry done = m.propose().entries(0);
          wake_up_at_ms = done.sleep().wake_up_at_ms();
          done.set_completed_at_ms(wake_up_at_ms);
          self->OnCompletion(1, done);
        }
        Record(sent, std::move(m));
      },
      AttemptOptions{absl::Milliseconds(1)});
  self = &attempt;
  absl::Time resumed;
  attempt.Run(
      [&](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        ctx.Sleep(absl::Milliseconds(8));
        resumed = absl::Now();
        return "awake";
      });
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].propose().entries(0).output().result().value(), "awake");
  EXPECT_GE(resumed, absl::FromUnixMillis(wake_up_at_ms));

  // The same when a new attempt gets the entry completed in its journal.
  v1::JournalEntry early = sent[0].propose().entries(0);
  early.mutable_sleep()->set_wake_up_at_ms(
      absl::ToUnixMillis(absl::Now() + absl::Milliseconds(8)));
  early.set_completed_at_ms(early.sleep().wake_up_at_ms());
  sent = Replay(
      Start({Input(""), early}),
      [&](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        ctx.Sleep(absl::Milliseconds(8));
        resumed = absl::Now();
        return "awake";
      });
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_GE(resumed, absl::FromUnixMillis(early.sleep().wake_up_at_ms()));
}

TEST(AttemptTest, WaitLongerThanSuspendAfterSuspends) {
  std::vector<v1::WorkerMessage> sent;
  Attempt attempt(
      Start({Input("")}),
      [&](v1::WorkerMessage m) { Record(sent, std::move(m)); },
      AttemptOptions{absl::Milliseconds(20)});
  attempt.Run(
      [](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        ctx.Sleep(absl::Milliseconds(10));  // its completion never comes
        return "awake";
      });
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_TRUE(sent[1].has_suspend());
}

TEST(AttemptTest, AbortUnwindsAHandlerWaitingForAnAck) {
  std::vector<v1::WorkerMessage> sent;
  int after = 0;
  Attempt attempt(
      Start({Input("")}),
      [&](v1::WorkerMessage m) { Record(sent, std::move(m)); },
      AttemptOptions{});
  std::thread aborter([&] {
    absl::SleepFor(absl::Milliseconds(20));
    attempt.Abort();
  });
  attempt.Run([&](Context& ctx,
                  const std::string&) -> absl::StatusOr<std::string> {
    ctx.Run("a", [] { return absl::StatusOr<std::string>("x"); }).IgnoreError();
    ++after;
    return "done";
  });
  aborter.join();
  EXPECT_EQ(after, 0);
  ASSERT_EQ(sent.size(), 1u);  // the proposal, and nothing after the abort
}

TEST(AttemptTest, FailureAfterTheAttemptEndedIsNotReported) {
  std::vector<v1::WorkerMessage> sent;
  Attempt attempt(
      Start({Input("")}),
      [&](v1::WorkerMessage m) { Record(sent, std::move(m)); },
      AttemptOptions{});
  attempt.Run(
      [&](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        try {
          ctx.Sleep(absl::Hours(1));  // suspends
        } catch (...) {               // swallows the end of the attempt
        }
        throw std::runtime_error("too late");
      });
  ASSERT_EQ(sent.size(), 2u);  // the sleep and the suspension only
  EXPECT_TRUE(sent[1].has_suspend());
}

TEST(AttemptTest, NowAndRandomAreTheSameOnReplay) {
  absl::Time first_now;
  uint64_t first_random = 0;
  auto sent = Replay(
      Start({Input("")}),
      [&](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        first_now = ctx.Now();
        first_random = ctx.Random();
        return "ok";
      });
  ASSERT_EQ(sent.size(), 2u);
  v1::JournalEntry now_entry = sent[0].propose().entries(0);
  ASSERT_TRUE(now_entry.has_now());

  absl::Time replayed_now;
  uint64_t replayed_random = 0;
  Replay(Start({Input(""), now_entry}),
         [&](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
           replayed_now = ctx.Now();
           replayed_random = ctx.Random();
           return "ok";
         });
  EXPECT_EQ(replayed_now, first_now);
  EXPECT_EQ(replayed_random, first_random);
}

// State: eager, lazy, replayed.

v1::JournalEntry StateEntry(std::string key, std::optional<std::string> value,
                            bool write) {
  v1::JournalEntry e;
  e.set_name(std::move(key));
  if (write) {
    e.mutable_set_state()->set_value(value.value_or(""));
  } else if (value.has_value()) {
    e.mutable_get_state()->set_value(*value);
  } else {
    e.mutable_get_state()->mutable_empty();
  }
  return e;
}

// Adds the input to the "count" state and returns the new count.
absl::StatusOr<std::string> AddToCount(Context& ctx, const std::string& in) {
  std::optional<std::string> count = ctx.Get("count");
  const int total = (count.has_value() ? std::stoi(*count) : 0) + std::stoi(in);
  ctx.Set("count", std::to_string(total));
  return std::to_string(total);
}

TEST(AttemptTest, EagerStateAnswersReadsLocallyAndJournalsThem) {
  v1::StartAttempt start = Start({Input("2")});
  auto* entry = start.add_state();
  entry->set_key("count");
  entry->set_value("40");
  auto sent = Replay(start, AddToCount, StateAccess::kReadWrite);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].propose().entries(0).name(), "count");
  EXPECT_EQ(sent[0].propose().entries(0).get_state().value(), "40");
  EXPECT_EQ(sent[1].propose().entries(0).set_state().value(), "42");
  EXPECT_EQ(sent[2].propose().entries(0).output().result().value(), "42");
}

TEST(AttemptTest, ReplayedReadsReturnTheJournalNotTheCurrentState) {
  // The first run read 40 and wrote 42; the state now says 42.
  v1::StartAttempt start = Start({Input("2"), StateEntry("count", "40", false),
                                  StateEntry("count", "42", true)});
  auto* entry = start.add_state();
  entry->set_key("count");
  entry->set_value("42");
  auto sent = Replay(start, AddToCount, StateAccess::kReadWrite);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].propose().index(), 3u);
  EXPECT_EQ(sent[0].propose().entries(0).output().result().value(), "42");
}

TEST(AttemptTest, PartialStateAsksTheRuntime) {
  v1::StartAttempt start = Start({Input("1")});
  start.set_partial_state(true);
  std::vector<v1::WorkerMessage> sent;
  Attempt* self = nullptr;
  Attempt attempt(
      start,
      [&](v1::WorkerMessage m) {
        if (m.has_propose() && m.propose().entries(0).has_get_state()) {
          // The runtime resolves the read from its state table.
          v1::JournalEntry resolved = m.propose().entries(0);
          resolved.mutable_get_state()->set_value("9");
          resolved.set_completed_at_ms(1);
          self->OnCompletion(m.propose().index(), resolved);
        }
        Record(sent, std::move(m));
      },
      AttemptOptions{});
  self = &attempt;
  attempt.Run(AddToCount, StateAccess::kReadWrite);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_FALSE(sent[0].propose().entries(0).get_state().has_value());
  EXPECT_EQ(sent[2].propose().entries(0).output().result().value(), "10");
}

TEST(AttemptTest, SharedHandlersCannotWriteAndServicesHaveNoState) {
  auto sent = Replay(Start({Input("1")}), AddToCount, StateAccess::kRead);
  ASSERT_EQ(sent.size(), 2u);  // the read, then the failed output
  const auto& failure =
      sent[1].propose().entries(0).output().result().failure();
  EXPECT_EQ(failure.code(),
            static_cast<uint32_t>(absl::StatusCode::kFailedPrecondition));
  EXPECT_NE(failure.message().find("shared handler"), std::string::npos);

  sent = Replay(Start({Input("1")}), AddToCount, StateAccess::kNone);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_NE(
      sent[0].propose().entries(0).output().result().failure().message().find(
          "stateless"),
      std::string::npos);
}

TEST(AttemptTest, ClearAllMakesEveryKeyKnownUnset) {
  v1::StartAttempt start = Start({Input("1")});
  start.set_partial_state(true);
  auto sent = Replay(
      start,
      [](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        ctx.ClearAll();
        ctx.Set("b", "2");
        ctx.Set("a", "1");
        EXPECT_FALSE(ctx.Get("c").has_value());  // no runtime round trip
        std::vector<std::string> keys = ctx.StateKeys();
        EXPECT_EQ(keys, (std::vector<std::string>{"a", "b"}));
        return "ok";
      },
      StateAccess::kReadWrite);
  ASSERT_EQ(sent.size(), 6u);
  EXPECT_TRUE(sent[3].propose().entries(0).get_state().has_empty());
  EXPECT_EQ(sent[4].propose().entries(0).get_state_keys().keys().keys_size(),
            2);
}

TEST(AttemptTest, CallsReplayTheirResultAndSendsTravelWithTheNextStep) {
  v1::JournalEntry done_call;
  done_call.set_name("B/run");
  done_call.mutable_call()->mutable_target()->set_service("B");
  done_call.mutable_call()->mutable_target()->set_handler("run");
  done_call.mutable_call()->mutable_result()->set_value("from-b");
  done_call.set_completed_at_ms(1);
  std::vector<v1::WorkerMessage> raw;
  Attempt attempt(
      Start({Input(""), done_call}),
      [&](v1::WorkerMessage m) { raw.push_back(std::move(m)); },
      AttemptOptions{});
  attempt.Run(
      [](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        absl::StatusOr<std::string> b = ctx.Call("B", "run", "x");  // replayed
        ctx.Send("C", "run", "y", "", absl::Seconds(5));
        return b;
      });
  // One message: the send and the output, together.
  ASSERT_EQ(raw.size(), 1u);
  const auto& propose = raw[0].propose();
  EXPECT_EQ(propose.index(), 2u);
  ASSERT_EQ(propose.entries_size(), 2);
  EXPECT_EQ(propose.entries(0).send().target().service(), "C");
  EXPECT_GT(propose.entries(0).send().invoke_at_ms(), 0);
  EXPECT_EQ(propose.entries(1).output().result().value(), "from-b");
}

v1::JournalEntry Sleep(int64_t wake_up_at_ms, bool fired) {
  v1::JournalEntry e;
  e.set_name("t");
  e.mutable_sleep()->set_wake_up_at_ms(wake_up_at_ms);
  if (fired) e.set_completed_at_ms(wake_up_at_ms);
  return e;
}

// Two timers, the second already fired: AwaitAny picks it and journals it.
absl::StatusOr<std::string> RaceTimers(Context& ctx, const std::string&) {
  DurableFuture slow = ctx.Timer(absl::Hours(1), "t");
  DurableFuture fast = ctx.Timer(absl::Hours(1), "t");
  return std::to_string(ctx.AwaitAny({slow, fast}));
}

TEST(AttemptTest, AwaitAnyJournalsTheFirstAndReplaysIt) {
  const int64_t later = absl::ToUnixMillis(absl::Now() + absl::Hours(1));
  auto sent = Replay(
      Start({Input(""), Sleep(later, false), Sleep(later, true)}), RaceTimers);
  ASSERT_EQ(sent.size(), 2u);
  const v1::JournalEntry& select = sent[0].propose().entries(0);
  ASSERT_TRUE(select.has_select());
  EXPECT_EQ(select.select().chosen(), 1u);
  EXPECT_EQ(sent[1].propose().entries(0).output().result().value(), "1");

  // On replay the journaled choice stands, though both have fired now.
  v1::JournalEntry recorded;
  *recorded.mutable_select() = select.select();
  sent = Replay(
      Start({Input(""), Sleep(later, true), Sleep(later, true), recorded}),
      RaceTimers);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].propose().entries(0).output().result().value(), "1");
}

TEST(AttemptTest, AwaitAnyOfPendingTimersSuspendsOnAllOfThem) {
  const int64_t later = absl::ToUnixMillis(absl::Now() + absl::Hours(1));
  auto sent = Replay(
      Start({Input(""), Sleep(later, false), Sleep(later, false)}), RaceTimers);
  ASSERT_EQ(sent.size(), 1u);
  ASSERT_TRUE(sent[0].has_suspend());
  EXPECT_EQ(sent[0].suspend().waiting_on_size(), 2);
}

TEST(AttemptTest, PromiseFutureRacesInAwaitAny) {
  const int64_t later = absl::ToUnixMillis(absl::Now() + absl::Hours(1));
  v1::JournalEntry resolved;
  resolved.set_name("approved");
  resolved.mutable_get_promise()->mutable_result()->set_value("yes");
  resolved.set_completed_at_ms(1);
  auto sent = Replay(
      Start({Input(""), resolved, Sleep(later, false)}),
      [](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        ResultFuture approved = ctx.Promise("approved").GetAsync();
        DurableFuture timeout = ctx.Timer(absl::Hours(1), "t");
        if (ctx.AwaitAny({approved, timeout}) == 1) return "timed out";
        return ctx.Await(approved);
      },
      StateAccess::kReadWrite, /*workflow=*/true);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].propose().entries(0).select().chosen(), 0u);
  EXPECT_EQ(sent[1].propose().entries(0).output().result().value(), "yes");
}

// Cancellation arrives as the runtime's failure of a step the handler
// waits for; a Saga compensates for it.

v1::Failure CancelledFailure() {
  v1::Failure failure;
  failure.set_code(static_cast<uint32_t>(absl::StatusCode::kCancelled));
  failure.set_message("the invocation was cancelled");
  return failure;
}

TEST(AttemptTest, CancelledSleepThrowsACancellation) {
  v1::JournalEntry nap = Sleep(absl::ToUnixMillis(absl::Now()), true);
  nap.set_name("nap");
  *nap.mutable_sleep()->mutable_failure() = CancelledFailure();
  int after = 0;
  auto sent = Replay(Start({Input(""), nap}), SleepThenReply(&after));
  EXPECT_EQ(after, 0);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].propose().entries(0).output().result().failure().code(),
            static_cast<uint32_t>(absl::StatusCode::kCancelled));
}

TEST(AttemptTest, AwaitAnyThrowsWhenTheCancellationWins) {
  const int64_t later = absl::ToUnixMillis(absl::Now() + absl::Hours(1));
  v1::JournalEntry cancelled = Sleep(later, true);
  *cancelled.mutable_sleep()->mutable_failure() = CancelledFailure();
  auto sent =
      Replay(Start({Input(""), Sleep(later, false), cancelled}), RaceTimers);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].propose().entries(0).select().chosen(), 1u);
  EXPECT_EQ(sent[1].propose().entries(0).output().result().failure().code(),
            static_cast<uint32_t>(absl::StatusCode::kCancelled));
}

v1::JournalEntry RunResult(std::string name, std::string value) {
  v1::JournalEntry e;
  e.set_name(std::move(name));
  e.mutable_run()->mutable_result()->set_value(std::move(value));
  return e;
}

// Reserves, then calls Payments with both compensations registered.
Handler Checkout(std::vector<std::string>* effects) {
  return [effects](Context& ctx,
                   const std::string&) -> absl::StatusOr<std::string> {
    Saga saga(ctx);
    return saga.Run([&]() -> absl::StatusOr<std::string> {
      auto hold = ctx.Run("reserve", [&]() -> absl::StatusOr<std::string> {
        effects->push_back("reserve");
        return "hold-1";
      });
      if (!hold.ok()) return hold.status();
      saga.Add("release", [effects, hold = *hold] {
        effects->push_back("release " + hold);
        return std::string("released");
      });
      saga.Add("refund", [effects] {
        effects->push_back("refund");
        return std::string("refunded");
      });
      return ctx.Call("Payments", "charge", "order");
    });
  };
}

TEST(AttemptTest, SagaCompensatesInReverseWhenACallIsCancelled) {
  v1::JournalEntry call;
  call.set_name("Payments/charge");
  call.mutable_call()->mutable_target()->set_service("Payments");
  call.mutable_call()->mutable_target()->set_handler("charge");
  *call.mutable_call()->mutable_result()->mutable_failure() =
      CancelledFailure();
  call.set_completed_at_ms(1);
  std::vector<std::string> effects;
  auto sent = Replay(Start({Input(""), RunResult("reserve", "hold-1"), call}),
                     Checkout(&effects));
  // The reservation was replayed; the compensations ran newest first, each
  // a step, and the invocation failed with the cancellation.
  EXPECT_EQ(effects, (std::vector<std::string>{"refund", "release hold-1"}));
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].propose().entries(0).name(), "refund");
  EXPECT_EQ(sent[1].propose().entries(0).name(), "release");
  EXPECT_EQ(sent[2].propose().entries(0).output().result().failure().code(),
            static_cast<uint32_t>(absl::StatusCode::kCancelled));

  // A retry after the first compensation was durable runs only the rest.
  effects.clear();
  sent = Replay(Start({Input(""), RunResult("reserve", "hold-1"), call,
                       RunResult("refund", "refunded")}),
                Checkout(&effects));
  EXPECT_EQ(effects, (std::vector<std::string>{"release hold-1"}));
  ASSERT_EQ(sent.size(), 2u);
}

TEST(AttemptTest, SagaDoesNotCompensateSuccessOrRetryableFailures) {
  v1::JournalEntry call;
  call.set_name("Payments/charge");
  call.mutable_call()->mutable_target()->set_service("Payments");
  call.mutable_call()->mutable_target()->set_handler("charge");
  call.mutable_call()->mutable_result()->set_value("paid");
  call.set_completed_at_ms(1);
  std::vector<std::string> effects;
  auto sent = Replay(Start({Input(""), RunResult("reserve", "hold-1"), call}),
                     Checkout(&effects));
  EXPECT_TRUE(effects.empty());
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].propose().entries(0).output().result().value(), "paid");

  sent = Replay(
      Start({Input("")}),
      [](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        Saga saga(ctx);
        return saga.Run([&]() -> absl::StatusOr<std::string> {
          saga.Add("undo", [] { return std::string("undone"); });
          throw std::runtime_error("database unreachable");
        });
      });
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(sent[0].has_attempt_failed());
}

// A state write after the last proposal, before a long wait, is visible
// during the wait: the suspension proposes it first.
TEST(AttemptTest, SuspensionProposesDeferredStepsFirst) {
  auto sent = Replay(
      Start({Input("")}),
      [](Context& ctx, const std::string&) -> absl::StatusOr<std::string> {
        DurableFuture timer = ctx.Timer(absl::Hours(1), "t");
        ctx.Set("phase", "waiting");
        ctx.Await(timer);
        return "awake";
      },
      StateAccess::kReadWrite);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_TRUE(sent[0].propose().entries(0).has_sleep());
  EXPECT_EQ(sent[1].propose().entries(0).set_state().value(), "waiting");
  EXPECT_TRUE(sent[2].has_suspend());
}

}  // namespace
}  // namespace reprise::sdk::internal
