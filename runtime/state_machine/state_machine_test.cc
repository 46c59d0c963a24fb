// Scenario tests: command in -> state and actions out, on a real RocksDB.
#include "runtime/state_machine/state_machine.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "runtime/state_machine/control.h"
#include "tests/testing/temp_dir.h"

namespace reprise::state_machine {
namespace {

class StateMachineTest : public ::testing::Test {
 protected:
  StateMachineTest() : store_(storage::Store::Open(dir_.path()).value()) {}

  // Applies `command` as the next log record and commits, like a processor.
  std::vector<Action> Apply(const v1::Command& command) {
    return ApplyAt(command, Lsn(++lsn_));
  }
  std::vector<Action> ApplyAt(const v1::Command& command, Lsn lsn) {
    storage::Transaction txn(*store_, kPartition);
    std::vector<Action> actions;
    EXPECT_TRUE(sm_.Apply(command, lsn, txn, actions).ok());
    EXPECT_TRUE(txn.Commit().ok());
    // Commands for this partition's invocations are applied, not returned.
    for (const Action& action : actions) {
      EXPECT_FALSE(std::holds_alternative<LocalCommandAction>(action));
    }
    return actions;
  }

  static v1::Command Invoke(const InvocationId& id, int64_t ts = 1000) {
    v1::Command command;
    command.set_timestamp_ms(ts);
    auto* invoke = command.mutable_invoke();
    invoke->set_invocation_id(id.ToBytes());
    invoke->mutable_target()->set_service("Greeter");
    invoke->mutable_target()->set_handler("greet");
    invoke->set_input("\"Ada\"");
    invoke->set_service_type(v1::SERVICE_TYPE_SERVICE);
    return command;
  }

  static v1::Command Output(const InvocationId& id, uint32_t index,
                            std::string value, int64_t ts = 2000) {
    v1::Command command;
    command.set_timestamp_ms(ts);
    auto* propose = command.mutable_propose_entry();
    propose->set_invocation_id(id.ToBytes());
    propose->set_attempt(1);
    propose->set_index(index);
    propose->add_entries()->mutable_output()->mutable_result()->set_value(
        std::move(value));
    return command;
  }

  static v1::Command Propose(const InvocationId& id, uint32_t attempt,
                             uint32_t index, v1::JournalEntry entry,
                             int64_t ts = 2000) {
    v1::Command command;
    command.set_timestamp_ms(ts);
    auto* propose = command.mutable_propose_entry();
    propose->set_invocation_id(id.ToBytes());
    propose->set_attempt(attempt);
    propose->set_index(index);
    *propose->add_entries() = std::move(entry);
    propose->set_worker_version("v1");
    return command;
  }
  static v1::JournalEntry RunEntry(std::string name, std::string value) {
    v1::JournalEntry entry;
    entry.set_name(std::move(name));
    entry.mutable_run()->mutable_result()->set_value(std::move(value));
    return entry;
  }
  static v1::JournalEntry SleepEntry(int64_t wake_up_at_ms) {
    v1::JournalEntry entry;
    entry.set_name("nap");
    entry.mutable_sleep()->set_wake_up_at_ms(wake_up_at_ms);
    return entry;
  }
  static v1::Command Suspend(const InvocationId& id, uint32_t attempt,
                             std::vector<uint32_t> waiting_on,
                             int64_t ts = 3000) {
    v1::Command command;
    command.set_timestamp_ms(ts);
    auto* suspend = command.mutable_suspend();
    suspend->set_invocation_id(id.ToBytes());
    suspend->set_attempt(attempt);
    for (uint32_t i : waiting_on) suspend->add_waiting_on(i);
    return command;
  }
  // The command of the timer of sleep entry `index` (or of the
  // retention timer, due at `wake_up_at_ms`).
  v1::Command Fire(const InvocationId& id, uint32_t index, int64_t ts = 5000,
                   int64_t wake_up_at_ms = 0) {
    v1::Command command;
    command.set_timestamp_ms(ts);
    command.mutable_fire_timer()->set_invocation_id(id.ToBytes());
    command.mutable_fire_timer()->set_index(index);
    auto journal = Journal(id);
    if (index < journal.size() && journal[index].has_sleep()) {
      wake_up_at_ms = journal[index].sleep().wake_up_at_ms();
    }
    command.mutable_fire_timer()->set_wake_up_at_ms(wake_up_at_ms);
    return command;
  }
  static v1::RetryPolicy Policy(uint32_t max_attempts,
                                v1::RetryPolicy::OnMaxAttempts on_max =
                                    v1::RetryPolicy::ON_MAX_ATTEMPTS_PAUSE) {
    v1::RetryPolicy policy;
    policy.set_initial_interval_ms(100);
    policy.set_factor(2);
    policy.set_max_interval_ms(150);
    policy.set_max_attempts(max_attempts);
    policy.set_on_max_attempts(on_max);
    return policy;
  }
  static v1::Command Failed(const InvocationId& id, uint32_t attempt,
                            const v1::RetryPolicy& policy, int64_t ts) {
    v1::Command command;
    command.set_timestamp_ms(ts);
    auto* failed = command.mutable_attempt_failed();
    failed->set_invocation_id(id.ToBytes());
    failed->set_attempt(attempt);
    failed->set_message("boom " + std::to_string(attempt));
    failed->set_journal_index(1);
    *failed->mutable_retry_policy() = policy;
    return command;
  }
  std::vector<storage::Timer> Timers() {
    std::vector<storage::Timer> timers;
    EXPECT_TRUE(store_->Reader(kPartition)
                    ->ForEachTimer(
                        [&](const storage::Timer& t) { timers.push_back(t); })
                    .ok());
    return timers;
  }

  // Due times of the expiry index, soonest first.
  std::vector<int64_t> Expiries() {
    std::vector<int64_t> out;
    EXPECT_TRUE(store_->Reader(kPartition)
                    ->ForEachExpiry(INT64_MAX,
                                    [&](int64_t at, const InvocationId&) {
                                      out.push_back(at);
                                      return true;
                                    })
                    .ok());
    return out;
  }
  static v1::Command Expire(int64_t ts) {
    v1::Command command;
    command.set_timestamp_ms(ts);
    command.mutable_expire();
    return command;
  }

  std::optional<v1::InvocationStatus> Status(const InvocationId& id) {
    return store_->Reader(kPartition)->GetInvocationStatus(id).value();
  }
  std::vector<v1::JournalEntry> Journal(const InvocationId& id) {
    return store_->Reader(kPartition)->GetJournal(id).value();
  }
  // The messages in the partition's outbox, not yet truncated.
  int OutboxRows() {
    int rows = 0;
    EXPECT_TRUE(
        store_->Reader(kPartition)
            ->ForEachOutbox([&](uint64_t, const v1::OutboxMessage&) { ++rows; })
            .ok());
    return rows;
  }

  static constexpr PartitionId kPartition{0};
  testing::TempDir dir_;
  std::unique_ptr<storage::Store> store_;
  StateMachine sm_;
  uint64_t lsn_ = 0;
  InvocationId id_{7, 9};
};

TEST_F(StateMachineTest, InvokeCreatesInvocationAndStartsAttempt) {
  auto actions = Apply(Invoke(id_));
  ASSERT_EQ(actions.size(), 1u);
  auto* start = std::get_if<StartAttemptAction>(&actions[0]);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->invocation_id, id_);
  EXPECT_EQ(start->target.service(), "Greeter");
  ASSERT_EQ(start->journal.size(), 1u);
  EXPECT_EQ(start->journal[0].input().value(), "\"Ada\"");

  auto status = Status(id_);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->state(), v1::INVOCATION_STATE_INVOKED);
  EXPECT_EQ(status->created_at_ms(), 1000);
  EXPECT_EQ(status->journal_length(), 1u);
  auto journal = Journal(id_);
  ASSERT_EQ(journal.size(), 1u);
  EXPECT_EQ(journal[0].appended_at_ms(), 1000);
}

TEST_F(StateMachineTest, DuplicateInvokeIsDropped) {
  Apply(Invoke(id_, 1000));
  EXPECT_TRUE(Apply(Invoke(id_, 5000)).empty());
  EXPECT_EQ(Status(id_)->created_at_ms(), 1000);
}

TEST_F(StateMachineTest, OutputCompletesInvocationAndAnswersCallers) {
  Apply(Invoke(id_));
  auto actions = Apply(Output(id_, 1, "\"Hello, Ada!\""));
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_NE(std::get_if<InvocationParkedAction>(&actions[0]), nullptr);
  auto* done = std::get_if<InvocationCompletedAction>(&actions[1]);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->result.value(), "\"Hello, Ada!\"");

  auto status = Status(id_);
  EXPECT_EQ(status->state(), v1::INVOCATION_STATE_COMPLETED);
  EXPECT_EQ(status->completed_at_ms(), 2000);
  EXPECT_EQ(status->result().value(), "\"Hello, Ada!\"");
  auto journal = Journal(id_);
  ASSERT_EQ(journal.size(), 2u);
  EXPECT_EQ(journal[1].appended_at_ms(), 2000);
}

TEST_F(StateMachineTest, SecondOutputIsDroppedSoResultIsRecordedOnce) {
  Apply(Invoke(id_));
  Apply(Output(id_, 1, "first"));
  EXPECT_TRUE(Apply(Output(id_, 1, "second")).empty());
  EXPECT_TRUE(Apply(Output(id_, 2, "third")).empty());
  EXPECT_EQ(Status(id_)->result().value(), "first");
  EXPECT_EQ(Journal(id_).size(), 2u);
}

TEST_F(StateMachineTest, EntryAtWrongIndexIsDropped) {
  Apply(Invoke(id_));
  EXPECT_TRUE(Apply(Output(id_, 0, "stale")).empty());
  EXPECT_TRUE(Apply(Output(id_, 5, "ahead")).empty());
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_INVOKED);
}

TEST_F(StateMachineTest, OutputForUnknownInvocationIsDropped) {
  EXPECT_TRUE(Apply(Output(id_, 1, "x")).empty());
  EXPECT_FALSE(Status(id_).has_value());
}

TEST_F(StateMachineTest, ReapplyingAnAppliedLsnChangesNothing) {
  Apply(Invoke(id_));               // lsn 1
  Apply(Output(id_, 1, "result"));  // lsn 2
  // Recovery re-reads the log from an older position.
  EXPECT_TRUE(ApplyAt(Invoke(InvocationId(1, 1)), Lsn(1)).empty());
  EXPECT_FALSE(Status(InvocationId(1, 1)).has_value());
  EXPECT_EQ(store_->Reader(kPartition)->GetAppliedLsn().value(), Lsn(2));
}

TEST_F(StateMachineTest, FreshStateMachineSkipsWhatTheStoreAlreadyApplied) {
  Apply(Invoke(id_));  // lsn 1
  StateMachine after_restart;
  storage::Transaction txn(*store_, kPartition);
  std::vector<Action> actions;
  ASSERT_TRUE(
      after_restart.Apply(Invoke(InvocationId(1, 1)), Lsn(1), txn, actions)
          .ok());
  EXPECT_TRUE(actions.empty());
  ASSERT_TRUE(
      after_restart.Apply(Output(id_, 1, "r"), Lsn(2), txn, actions).ok());
  EXPECT_EQ(actions.size(), 2u);  // parked, completed
}

TEST_F(StateMachineTest, FailureResultIsStored) {
  Apply(Invoke(id_));
  v1::Command command = Output(id_, 1, "");
  auto* failure = command.mutable_propose_entry()
                      ->mutable_entries(0)
                      ->mutable_output()
                      ->mutable_result()
                      ->mutable_failure();
  failure->set_code(9);
  failure->set_message("out of stock");
  auto actions = Apply(command);
  ASSERT_EQ(actions.size(), 2u);  // parked, completed
  EXPECT_EQ(Status(id_)->result().failure().message(), "out of stock");
}

TEST_F(StateMachineTest, RunEntryIsJournaledAckedAndPinsTheVersion) {
  Apply(Invoke(id_));
  auto actions = Apply(Propose(id_, 1, 1, RunEntry("charge", "receipt")));
  ASSERT_EQ(actions.size(), 1u);
  auto* ack = std::get_if<EntryAckAction>(&actions[0]);
  ASSERT_NE(ack, nullptr);
  EXPECT_EQ(ack->attempt, 1u);
  EXPECT_EQ(ack->index, 1u);
  auto journal = Journal(id_);
  ASSERT_EQ(journal.size(), 2u);
  EXPECT_EQ(journal[1].name(), "charge");
  EXPECT_EQ(journal[1].run().result().value(), "receipt");
  EXPECT_EQ(journal[1].appended_at_ms(), 2000);
  EXPECT_EQ(Status(id_)->pinned_version(), "v1");
  EXPECT_EQ(Status(id_)->journal_length(), 2u);
}

TEST_F(StateMachineTest, ProposalOfAnotherAttemptIsDropped) {
  Apply(Invoke(id_));
  EXPECT_TRUE(Apply(Propose(id_, 2, 1, RunEntry("a", "x"))).empty());
  EXPECT_TRUE(Apply(Propose(id_, 0, 1, RunEntry("a", "x"))).empty());
  EXPECT_EQ(Journal(id_).size(), 1u);
  EXPECT_TRUE(Status(id_)->pinned_version().empty());
}

TEST_F(StateMachineTest, WorkerCannotProposeCompletedOrInputEntries) {
  Apply(Invoke(id_));
  v1::JournalEntry input;
  input.mutable_input()->set_value("x");
  EXPECT_TRUE(Apply(Propose(id_, 1, 1, input)).empty());
  v1::JournalEntry fired = SleepEntry(9000);
  fired.set_completed_at_ms(1);
  EXPECT_TRUE(Apply(Propose(id_, 1, 1, fired)).empty());
  EXPECT_EQ(Journal(id_).size(), 1u);
}

TEST_F(StateMachineTest, SleepRegistersDurableTimer) {
  Apply(Invoke(id_));
  auto actions = Apply(Propose(id_, 1, 1, SleepEntry(9000)));
  ASSERT_EQ(actions.size(), 2u);
  auto* timer = std::get_if<RegisterTimerAction>(&actions[0]);
  ASSERT_NE(timer, nullptr);
  EXPECT_EQ(timer->wake_up_at_ms, 9000);
  EXPECT_EQ(timer->index, 1u);
  EXPECT_NE(std::get_if<EntryAckAction>(&actions[1]), nullptr);
  auto timers = Timers();
  ASSERT_EQ(timers.size(), 1u);
  EXPECT_EQ(timers[0].invocation_id, id_);
  EXPECT_EQ(timers[0].wake_up_at_ms, 9000);
}

TEST_F(StateMachineTest, TimerFiringWhileRunningTellsTheAttempt) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, SleepEntry(9000)));
  auto actions = Apply(Fire(id_, 1, 9001));
  ASSERT_EQ(actions.size(), 1u);
  auto* completed = std::get_if<EntryCompletedAction>(&actions[0]);
  ASSERT_NE(completed, nullptr);
  EXPECT_EQ(completed->attempt, 1u);
  EXPECT_EQ(completed->entry.completed_at_ms(), 9001);
  EXPECT_EQ(Journal(id_)[1].completed_at_ms(), 9001);
  EXPECT_TRUE(Timers().empty());
  // A second firing (e.g. re-appended after a crash) changes nothing.
  EXPECT_TRUE(Apply(Fire(id_, 1, 9500)).empty());
  EXPECT_EQ(Journal(id_)[1].completed_at_ms(), 9001);
}

TEST_F(StateMachineTest, SuspendedInvocationResumesWhenItsTimerFires) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, SleepEntry(9000)));
  auto actions = Apply(Suspend(id_, 1, {1}));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_NE(std::get_if<InvocationParkedAction>(&actions[0]), nullptr);
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_SUSPENDED);
  ASSERT_EQ(Status(id_)->waiting_on_size(), 1);

  actions = Apply(Fire(id_, 1, 9001));
  ASSERT_EQ(actions.size(), 1u);
  auto* start = std::get_if<StartAttemptAction>(&actions[0]);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->attempt, 2u);
  EXPECT_EQ(start->pinned_version, "v1");
  ASSERT_EQ(start->journal.size(), 2u);
  EXPECT_EQ(start->journal[1].completed_at_ms(), 9001);
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_INVOKED);
  EXPECT_EQ(Status(id_)->attempt(), 2u);
  EXPECT_EQ(Status(id_)->waiting_on_size(), 0);
}

TEST_F(StateMachineTest, SuspendAfterTheCompletionResumesAtOnce) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, SleepEntry(9000)));
  Apply(Fire(id_, 1, 9001));  // raced with the worker's suspension
  auto actions = Apply(Suspend(id_, 1, {1}, 9002));
  ASSERT_EQ(actions.size(), 1u);
  auto* start = std::get_if<StartAttemptAction>(&actions[0]);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->attempt, 2u);
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_INVOKED);
}

TEST_F(StateMachineTest, StaleSuspendIsDropped) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, SleepEntry(9000)));
  EXPECT_TRUE(Apply(Suspend(id_, 2, {1})).empty());
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_INVOKED);
}

TEST_F(StateMachineTest, FailedAttemptsBackOffThenPause) {
  Apply(Invoke(id_));
  const v1::RetryPolicy policy = Policy(3);
  auto actions = Apply(Failed(id_, 1, policy, 3000));
  ASSERT_EQ(actions.size(), 1u);
  auto* start = std::get_if<StartAttemptAction>(&actions[0]);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->attempt, 2u);
  EXPECT_EQ(start->not_before_ms, 3100);
  EXPECT_EQ(Status(id_)->next_retry_at_ms(), 3100);
  EXPECT_EQ(Status(id_)->last_failure().message(), "boom 1");
  EXPECT_EQ(Status(id_)->last_failure().journal_index(), 1u);

  // A late report of attempt 1 changes nothing.
  EXPECT_TRUE(Apply(Failed(id_, 1, policy, 3050)).empty());

  actions = Apply(Failed(id_, 2, policy, 4000));
  start = std::get_if<StartAttemptAction>(&actions[0]);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->not_before_ms, 4150);  // 200 capped at max 150

  actions = Apply(Failed(id_, 3, policy, 5000));
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_NE(std::get_if<InvocationParkedAction>(&actions[0]), nullptr);
  auto status = Status(id_);
  EXPECT_EQ(status->state(), v1::INVOCATION_STATE_PAUSED);
  EXPECT_EQ(status->attempt(), 3u);
  EXPECT_EQ(status->last_failure().attempt(), 3u);
  EXPECT_EQ(status->last_failure().message(), "boom 3");
  EXPECT_EQ(status->last_failure().failed_at_ms(), 5000);
}

TEST_F(StateMachineTest, ResumesDoNotSpendTheRetryBudget) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, SleepEntry(9000)));
  Apply(Suspend(id_, 1, {1}));
  Apply(Fire(id_, 1, 9001));  // attempt 2 resumes
  auto actions = Apply(Failed(id_, 2, Policy(2), 9100));
  ASSERT_EQ(actions.size(), 1u);
  auto* start = std::get_if<StartAttemptAction>(&actions[0]);
  ASSERT_NE(start, nullptr) << "a first failure must be retried";
  EXPECT_EQ(start->attempt, 3u);
  EXPECT_EQ(start->not_before_ms, 9200);  // the first back-off, not a later
  EXPECT_EQ(Status(id_)->failures(), 1u);
}

TEST_F(StateMachineTest, FailureWithoutAnEntryDoesNotPin) {
  Apply(Invoke(id_));
  Apply(Failed(id_, 1, Policy(5), 3000));
  EXPECT_TRUE(Status(id_)->pinned_version().empty());
}

TEST_F(StateMachineTest, ExhaustedAttemptsFailTheInvocationWhenAsked) {
  Apply(Invoke(id_));
  auto actions = Apply(
      Failed(id_, 1, Policy(1, v1::RetryPolicy::ON_MAX_ATTEMPTS_FAIL), 3000));
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_NE(std::get_if<InvocationParkedAction>(&actions[0]), nullptr);
  auto* done = std::get_if<InvocationCompletedAction>(&actions[1]);
  ASSERT_NE(done, nullptr);
  EXPECT_NE(done->result.failure().message().find("boom 1"), std::string::npos);
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_COMPLETED);
}

TEST_F(StateMachineTest, TimerOfAnotherSleepDoesNotCompleteTheEntry) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, SleepEntry(9000)));
  // A timer due at another time (left from a removed invocation with the
  // same id) finds no matching sleep.
  v1::Command stale = Fire(id_, 1, 9001);
  stale.mutable_fire_timer()->set_wake_up_at_ms(8000);
  EXPECT_TRUE(Apply(stale).empty());
  EXPECT_EQ(Journal(id_)[1].completed_at_ms(), 0);
  EXPECT_EQ(Timers().size(), 1u);
}

TEST_F(StateMachineTest, TimerOfPausedInvocationOnlyCompletesTheEntry) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, SleepEntry(9000)));
  Apply(Failed(id_, 1, Policy(1), 3000));
  EXPECT_TRUE(Apply(Fire(id_, 1, 9001)).empty());
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_PAUSED);
  EXPECT_EQ(Journal(id_)[1].completed_at_ms(), 9001);
  EXPECT_TRUE(Timers().empty());
}

// Virtual objects: exclusive handlers queue per key and own its state.

v1::Command ObjectInvoke(const InvocationId& id, std::string key,
                         v1::HandlerType type = v1::HANDLER_TYPE_EXCLUSIVE,
                         int64_t ts = 1000) {
  v1::Command command;
  command.set_timestamp_ms(ts);
  auto* invoke = command.mutable_invoke();
  invoke->set_invocation_id(id.ToBytes());
  invoke->mutable_target()->set_service("Counter");
  invoke->mutable_target()->set_handler(
      type == v1::HANDLER_TYPE_SHARED ? "get" : "add");
  invoke->mutable_target()->set_key(std::move(key));
  invoke->set_service_type(v1::SERVICE_TYPE_VIRTUAL_OBJECT);
  invoke->set_handler_type(type);
  return command;
}

v1::JournalEntry SetEntry(std::string key, std::string value) {
  v1::JournalEntry entry;
  entry.set_name(std::move(key));
  entry.mutable_set_state()->set_value(std::move(value));
  return entry;
}

v1::JournalEntry GetEntry(std::string key) {
  v1::JournalEntry entry;
  entry.set_name(std::move(key));
  entry.mutable_get_state();
  return entry;
}

v1::JournalEntry OutputEntry(std::string value) {
  v1::JournalEntry entry;
  entry.mutable_output()->mutable_result()->set_value(std::move(value));
  return entry;
}

template <typename T>
size_t CountOf(const std::vector<Action>& actions) {
  size_t n = 0;
  for (const auto& action : actions) n += std::holds_alternative<T>(action);
  return n;
}

// A record of subscription "sub-1", topic "orders", Kafka partition 2.
v1::Command KafkaInvoke(v1::Command invoke, int64_t offset,
                        std::string subscription_id = "sub-1") {
  auto* command = invoke.mutable_invoke();
  command->set_subscription_id(std::move(subscription_id));
  auto* record = command->mutable_kafka_record();
  record->set_subscription("orders-sub");
  record->set_topic("orders");
  record->set_partition(2);
  record->set_offset(offset);
  record->set_key("k");
  return invoke;
}

TEST_F(StateMachineTest, KafkaRecordAtOrBelowTheAppliedOffsetIsDropped) {
  EXPECT_EQ(CountOf<StartAttemptAction>(Apply(KafkaInvoke(Invoke({1, 1}), 5))),
            1u);
  auto status = Status({1, 1});
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->subscription(), "orders-sub");
  auto journal = Journal({1, 1});
  ASSERT_EQ(journal.size(), 1u);
  EXPECT_EQ(journal[0].input().kafka_record().offset(), 5);
  EXPECT_EQ(journal[0].input().kafka_record().key(), "k");

  // Read again after a crash: the same record, and an earlier one, under
  // other ids, create nothing.
  EXPECT_TRUE(Apply(KafkaInvoke(Invoke({1, 2}), 5)).empty());
  EXPECT_TRUE(Apply(KafkaInvoke(Invoke({1, 3}), 4)).empty());
  EXPECT_FALSE(Status({1, 2}).has_value());
  EXPECT_FALSE(Status({1, 3}).has_value());
  // The next record, and another subscription's record at a lower offset,
  // are new.
  EXPECT_EQ(CountOf<StartAttemptAction>(Apply(KafkaInvoke(Invoke({1, 4}), 6))),
            1u);
  EXPECT_EQ(CountOf<StartAttemptAction>(
                Apply(KafkaInvoke(Invoke({1, 5}), 0, "sub-2"))),
            1u);
  EXPECT_EQ(
      store_->Reader(kPartition)->GetKafkaOffset("sub-1", "orders", 2).value(),
      std::optional<int64_t>(6));
}

TEST_F(StateMachineTest, RejectedKafkaRecordCompletesFailedAtOnce) {
  v1::Command command = KafkaInvoke(Invoke(id_), 9);
  command.mutable_invoke()->set_rejected("the record has no key");
  auto actions = Apply(command);
  EXPECT_EQ(CountOf<StartAttemptAction>(actions), 0u);
  EXPECT_EQ(CountOf<InvocationCompletedAction>(actions), 1u);
  auto status = Status(id_);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->state(), v1::INVOCATION_STATE_COMPLETED);
  EXPECT_EQ(status->result().failure().code(),
            static_cast<uint32_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(status->result().failure().message(), "the record has no key");
}

// Points into `actions`, which must outlive the result.
template <typename T>
std::vector<const T*> ActionsOf(std::vector<Action>&&) = delete;
template <typename T>
std::vector<const T*> ActionsOf(const std::vector<Action>& actions) {
  std::vector<const T*> out;
  for (const auto& action : actions) {
    if (auto* a = std::get_if<T>(&action)) out.push_back(a);
  }
  return out;
}

TEST_F(StateMachineTest, ExclusiveInvocationsOfOneKeyRunInOrderOfArrival) {
  const InvocationId a{1, 1}, b{1, 2}, c{1, 3}, other{1, 4};
  EXPECT_EQ(CountOf<StartAttemptAction>(Apply(ObjectInvoke(a, "k"))), 1u);
  EXPECT_TRUE(Apply(ObjectInvoke(b, "k")).empty());
  EXPECT_TRUE(Apply(ObjectInvoke(c, "k")).empty());
  // Another key and a shared handler of the same key do not wait.
  EXPECT_EQ(CountOf<StartAttemptAction>(Apply(ObjectInvoke(other, "k2"))), 1u);
  EXPECT_EQ(CountOf<StartAttemptAction>(
                Apply(ObjectInvoke({1, 5}, "k", v1::HANDLER_TYPE_SHARED))),
            1u);
  EXPECT_EQ(Status(b)->state(), v1::INVOCATION_STATE_QUEUED);
  EXPECT_EQ(Status(c)->state(), v1::INVOCATION_STATE_QUEUED);

  auto actions = Apply(Propose(a, 1, 1, OutputEntry("1")));
  auto starts = ActionsOf<StartAttemptAction>(actions);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]->invocation_id, b);
  EXPECT_EQ(starts[0]->attempt, 1u);
  EXPECT_EQ(Status(b)->state(), v1::INVOCATION_STATE_INVOKED);
  EXPECT_EQ(Status(c)->state(), v1::INVOCATION_STATE_QUEUED);

  actions = Apply(Propose(b, 1, 1, OutputEntry("2")));
  starts = ActionsOf<StartAttemptAction>(actions);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]->invocation_id, c);
  EXPECT_TRUE(CountOf<StartAttemptAction>(
                  Apply(Propose(c, 1, 1, OutputEntry("3")))) == 0);
  // The key is free again: the next invocation runs at once.
  EXPECT_EQ(CountOf<StartAttemptAction>(Apply(ObjectInvoke({1, 6}, "k"))), 1u);
}

TEST_F(StateMachineTest, PausedInvocationKeepsItsKey) {
  const InvocationId a{1, 1}, b{1, 2};
  Apply(ObjectInvoke(a, "k"));
  Apply(ObjectInvoke(b, "k"));
  Apply(Failed(a, 1, Policy(1), 3000));
  EXPECT_EQ(Status(a)->state(), v1::INVOCATION_STATE_PAUSED);
  EXPECT_EQ(Status(b)->state(), v1::INVOCATION_STATE_QUEUED);
}

TEST_F(StateMachineTest, FailedInvocationHandsOnItsKey) {
  const InvocationId a{1, 1}, b{1, 2};
  Apply(ObjectInvoke(a, "k"));
  Apply(ObjectInvoke(b, "k"));
  auto actions = Apply(
      Failed(a, 1, Policy(1, v1::RetryPolicy::ON_MAX_ATTEMPTS_FAIL), 3000));
  EXPECT_EQ(ActionsOf<InvocationCompletedAction>(actions).size(), 1u);
  EXPECT_EQ(ActionsOf<StartAttemptAction>(actions).size(), 1u);
  EXPECT_EQ(Status(b)->state(), v1::INVOCATION_STATE_INVOKED);
}

TEST_F(StateMachineTest, StateWritesApplyOnceAndReadsAreResolved) {
  const InvocationId a{1, 1};
  v1::Target object;
  object.set_service("Counter");
  object.set_key("k");
  Apply(ObjectInvoke(a, "k"));
  auto actions = Apply(Propose(a, 1, 1, SetEntry("count", "5")));
  EXPECT_EQ(ActionsOf<EntryAckAction>(actions).size(), 1u);
  // A duplicate proposal (same index) changes nothing.
  Apply(Propose(a, 1, 1, SetEntry("count", "6")));
  auto reader = store_->Reader(kPartition);
  EXPECT_EQ(reader->GetState(object, "count").value(), "5");

  // A read the worker left open is answered from the table.
  actions = Apply(Propose(a, 1, 2, GetEntry("count")));
  auto completed = ActionsOf<EntryCompletedAction>(actions);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0]->entry.get_state().value(), "5");
  EXPECT_NE(completed[0]->entry.completed_at_ms(), 0);
  EXPECT_EQ(Journal(a)[2].get_state().value(), "5");
  actions = Apply(Propose(a, 1, 3, GetEntry("missing")));
  completed = ActionsOf<EntryCompletedAction>(actions);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_TRUE(completed[0]->entry.get_state().has_empty());

  v1::JournalEntry clear_all;
  clear_all.mutable_clear_all_state();
  Apply(Propose(a, 1, 4, clear_all));
  EXPECT_FALSE(reader->GetState(object, "count").value().has_value());
}

TEST_F(StateMachineTest, BatchOfEntriesAppliesInOrderWithOneAck) {
  const InvocationId a{1, 1};
  Apply(ObjectInvoke(a, "k"));
  v1::Command batch = Propose(a, 1, 1, SetEntry("x", "1"));
  *batch.mutable_propose_entry()->add_entries() = SetEntry("x", "2");
  *batch.mutable_propose_entry()->add_entries() = GetEntry("x");
  auto actions = Apply(batch);
  auto acks = ActionsOf<EntryAckAction>(actions);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0]->index, 3u);
  auto completed = ActionsOf<EntryCompletedAction>(actions);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0]->entry.get_state().value(), "2");
  EXPECT_EQ(Status(a)->journal_length(), 4u);
  // The same batch again (a redelivery) is stale as a whole.
  EXPECT_TRUE(Apply(batch).empty());
  EXPECT_EQ(Status(a)->journal_length(), 4u);

  // A worker that does not wait for the ack gets none; the read it left
  // open is still answered.
  v1::Command unacked = Propose(a, 1, 4, GetEntry("x"));
  unacked.mutable_propose_entry()->set_skip_ack(true);
  actions = Apply(unacked);
  EXPECT_TRUE(ActionsOf<EntryAckAction>(actions).empty());
  EXPECT_EQ(ActionsOf<EntryCompletedAction>(actions).size(), 1u);
  EXPECT_EQ(Status(a)->journal_length(), 5u);
}

TEST_F(StateMachineTest, SharedHandlersCannotWriteState) {
  const InvocationId a{1, 1};
  v1::Target object;
  object.set_service("Counter");
  object.set_key("k");
  Apply(ObjectInvoke(a, "k", v1::HANDLER_TYPE_SHARED));
  EXPECT_TRUE(Apply(Propose(a, 1, 1, SetEntry("count", "5"))).empty());
  EXPECT_FALSE(store_->Reader(kPartition)
                   ->GetState(object, "count")
                   .value()
                   .has_value());
  // Stateless services have no state at all.
  Apply(Invoke(id_));
  EXPECT_TRUE(Apply(Propose(id_, 1, 1, GetEntry("count"))).empty());
}

TEST_F(StateMachineTest, RepeatedInvokeOfCompletedInvocationAnswersAgain) {
  v1::Command invoke = Invoke(id_);
  invoke.mutable_invoke()->set_idempotency_key("order-1");
  invoke.mutable_invoke()->set_idempotency_retention_ms(60'000);
  Apply(invoke);
  // While it runs, a repeat adds nothing.
  EXPECT_TRUE(Apply(invoke).empty());
  Apply(Output(id_, 1, "done", 2000));
  // Completing schedules its removal after the retention.
  EXPECT_EQ(Expiries(), (std::vector<int64_t>{62'000}));
  auto actions = Apply(invoke);
  auto done = ActionsOf<InvocationCompletedAction>(actions);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]->result.value(), "done");

  Apply(Expire(61'999));
  EXPECT_TRUE(Status(id_).has_value());
  Apply(Expire(62'000));
  EXPECT_FALSE(Status(id_).has_value());
  EXPECT_TRUE(Journal(id_).empty());
  EXPECT_TRUE(Expiries().empty());
}

// Durable calls: to another partition, the outbox carries the callee's
// invoke and the result back; on the caller's partition, both apply in the
// transaction that sends them.

v1::JournalEntry CallEntry(std::string service, std::string key = "") {
  v1::JournalEntry entry;
  entry.set_name(service + "/run");
  auto* call = entry.mutable_call();
  call->mutable_target()->set_service(std::move(service));
  call->mutable_target()->set_handler("run");
  call->mutable_target()->set_key(std::move(key));
  call->set_parameter("p");
  call->set_service_type(v1::SERVICE_TYPE_SERVICE);
  return entry;
}

// A keyed callee lives on its key's partition; B/k's is not id_'s.
constexpr char kRemoteKey[] = "k";

TEST_F(StateMachineTest, CallSendsInvokeAndResultComesBack) {
  ASSERT_NE(KeyPartitionHash("B", kRemoteKey) >> 32, id_.partition_key() >> 32);
  Apply(Invoke(id_));
  auto actions = Apply(Propose(id_, 1, 1, CallEntry("B", kRemoteKey)));
  auto out = ActionsOf<OutboxAction>(actions);
  ASSERT_EQ(out.size(), 1u);
  const OutboxAction invoke = *out[0];
  ASSERT_TRUE(invoke.command.has_invoke());
  EXPECT_EQ(invoke.command.invoke().caller().invocation_id(), id_.ToBytes());
  EXPECT_EQ(invoke.command.invoke().caller().index(), 1u);
  EXPECT_EQ(invoke.command.invoke().input(), "p");
  EXPECT_EQ(invoke.destination.ToBytes(),
            invoke.command.invoke().invocation_id());
  EXPECT_EQ(Journal(id_)[1].call().invocation_id(),
            invoke.destination.ToBytes());
  // It names its origin, for the receiver's dedup.
  EXPECT_EQ(invoke.command.outbox_origin().partition(), kPartition.value());
  EXPECT_EQ(invoke.command.outbox_origin().seq(), invoke.seq);

  // The callee runs (here in the same store) and completes.
  Apply(invoke.command);
  actions = Apply(Propose(invoke.destination, 1, 1, OutputEntry("r")));
  out = ActionsOf<OutboxAction>(actions);
  ASSERT_EQ(out.size(), 1u);
  const OutboxAction result = *out[0];
  ASSERT_TRUE(result.command.has_complete_call());
  EXPECT_EQ(result.destination, id_);
  EXPECT_EQ(result.command.outbox_origin().seq(), invoke.seq + 1);

  // The caller suspended meanwhile: the result resumes it.
  Apply(Suspend(id_, 1, {1}));
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_SUSPENDED);
  auto resumed = Apply(result.command);
  auto starts = ActionsOf<StartAttemptAction>(resumed);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]->journal[1].call().result().value(), "r");
  // A repeated delivery changes nothing.
  EXPECT_TRUE(Apply(result.command).empty());
  EXPECT_TRUE(CountOf<OutboxAction>(Apply(invoke.command)) == 0);

  // Truncating the outbox removes the delivered messages.
  v1::Command truncate;
  truncate.mutable_truncate_outbox()->set_seq(result.seq);
  Apply(truncate);
  EXPECT_EQ(OutboxRows(), 0);
}

TEST_F(StateMachineTest, CallToUnknownTargetCompletesWithItsFailure) {
  Apply(Invoke(id_));
  v1::JournalEntry call = CallEntry("Nope");
  call.mutable_call()->mutable_result()->mutable_failure()->set_code(5);
  auto actions = Apply(Propose(id_, 1, 1, call));
  EXPECT_TRUE(ActionsOf<OutboxAction>(actions).empty());
  auto completed = ActionsOf<EntryCompletedAction>(actions);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0]->entry.call().result().failure().code(), 5u);
}

TEST_F(StateMachineTest, DelayedInvocationWaitsForItsTimer) {
  v1::Command invoke = Invoke(id_, 1000);
  invoke.mutable_invoke()->set_invoke_at_ms(4000);
  auto actions = Apply(invoke);
  EXPECT_TRUE(ActionsOf<StartAttemptAction>(actions).empty());
  auto timers = ActionsOf<RegisterTimerAction>(actions);
  ASSERT_EQ(timers.size(), 1u);
  const RegisterTimerAction start = *timers[0];
  EXPECT_EQ(start.wake_up_at_ms, 4000);
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_SCHEDULED);
  EXPECT_EQ(CountOf<StartAttemptAction>(
                Apply(Fire(id_, start.index, 4001, start.wake_up_at_ms))),
            1u);
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_INVOKED);
  EXPECT_TRUE(Timers().empty());
}

TEST_F(StateMachineTest, StaleCallResultDoesNotCompleteAnotherCall) {
  Apply(Invoke(id_));
  auto actions = Apply(Propose(id_, 1, 1, CallEntry("B", kRemoteKey)));
  auto out = ActionsOf<OutboxAction>(actions);
  ASSERT_EQ(out.size(), 1u);
  v1::Command stale;
  auto* complete = stale.mutable_complete_call();
  complete->set_invocation_id(id_.ToBytes());
  complete->set_index(1);
  complete->set_callee_invocation_id(InvocationId(3, 3).ToBytes());
  complete->mutable_result()->set_value("old");
  EXPECT_TRUE(Apply(stale).empty());
  EXPECT_EQ(Journal(id_)[1].completed_at_ms(), 0);
  complete->set_callee_invocation_id(out[0]->destination.ToBytes());
  EXPECT_EQ(CountOf<EntryCompletedAction>(Apply(stale)), 1u);
}

TEST_F(StateMachineTest, CallOnTheCallersPartitionAppliesWithoutTheOutbox) {
  Apply(Invoke(id_));
  // The entry, the callee's invoke and its first attempt: one transaction.
  auto actions = Apply(Propose(id_, 1, 1, CallEntry("B")));
  EXPECT_EQ(CountOf<OutboxAction>(actions), 0u);
  const InvocationId callee =
      InvocationId::FromBytes(Journal(id_)[1].call().invocation_id()).value();
  EXPECT_EQ(callee.partition_key() >> 32, id_.partition_key() >> 32);
  auto starts = ActionsOf<StartAttemptAction>(actions);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]->invocation_id, callee);
  EXPECT_EQ(starts[0]->journal[0].input().value(), "p");
  ASSERT_TRUE(Status(callee).has_value());
  EXPECT_EQ(Status(callee)->caller().invocation_id(), id_.ToBytes());

  // Its result completes the caller's entry in the same transaction too.
  actions = Apply(Propose(callee, 1, 1, OutputEntry("r")));
  EXPECT_EQ(CountOf<OutboxAction>(actions), 0u);
  EXPECT_EQ(CountOf<InvocationCompletedAction>(actions), 1u);
  auto completed = ActionsOf<EntryCompletedAction>(actions);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0]->invocation_id, id_);
  EXPECT_EQ(completed[0]->entry.call().result().value(), "r");
  EXPECT_EQ(Journal(id_)[1].call().result().value(), "r");
  EXPECT_EQ(OutboxRows(), 0);
}

TEST_F(StateMachineTest, AwakeableCompletesOnce) {
  Apply(Invoke(id_));
  v1::JournalEntry awakeable;
  awakeable.mutable_awakeable();
  Apply(Propose(id_, 1, 1, awakeable));
  Apply(Suspend(id_, 1, {1}));
  v1::Command resolve;
  resolve.set_timestamp_ms(7000);
  auto* complete = resolve.mutable_complete_awakeable();
  complete->set_invocation_id(id_.ToBytes());
  complete->set_index(1);
  complete->mutable_result()->set_value("yes");
  EXPECT_EQ(CountOf<StartAttemptAction>(Apply(resolve)), 1u);
  EXPECT_EQ(Journal(id_)[1].awakeable().result().value(), "yes");
  complete->mutable_result()->set_value("again");
  EXPECT_TRUE(Apply(resolve).empty());
  EXPECT_EQ(Journal(id_)[1].awakeable().result().value(), "yes");
}

// Workflows: promises complete once; a run invoked again attaches callers.

v1::Command WorkflowInvoke(const InvocationId& id, std::string handler,
                           v1::HandlerType type) {
  v1::Command command;
  command.set_timestamp_ms(1000);
  auto* invoke = command.mutable_invoke();
  invoke->set_invocation_id(id.ToBytes());
  invoke->mutable_target()->set_service("Signup");
  invoke->mutable_target()->set_handler(std::move(handler));
  invoke->mutable_target()->set_key("ada");
  invoke->set_service_type(v1::SERVICE_TYPE_WORKFLOW);
  invoke->set_handler_type(type);
  return command;
}

v1::JournalEntry PromiseEntry(bool complete, std::string value = "") {
  v1::JournalEntry entry;
  entry.set_name("confirmed");
  if (complete) {
    entry.mutable_complete_promise()->mutable_completion()->set_value(
        std::move(value));
  } else {
    entry.mutable_get_promise();
  }
  return entry;
}

TEST_F(StateMachineTest, PromiseWaitersCompleteWhenItIsResolvedOnce) {
  const InvocationId run{1, 1}, signal{1, 2};
  Apply(WorkflowInvoke(run, "run", v1::HANDLER_TYPE_WORKFLOW));
  Apply(Propose(run, 1, 1, PromiseEntry(false)));
  EXPECT_EQ(Journal(run)[1].completed_at_ms(), 0);
  Apply(Suspend(run, 1, {1}));
  EXPECT_EQ(Status(run)->state(), v1::INVOCATION_STATE_SUSPENDED);

  Apply(WorkflowInvoke(signal, "confirm", v1::HANDLER_TYPE_SHARED));
  auto actions = Apply(Propose(signal, 1, 1, PromiseEntry(true, "yes")));
  // The signal learns it completed the promise; the run resumes with it.
  auto completed = ActionsOf<EntryCompletedAction>(actions);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_FALSE(completed[0]->entry.complete_promise().result().has_failure());
  auto starts = ActionsOf<StartAttemptAction>(actions);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]->journal[1].get_promise().result().value(), "yes");

  // A second completion is refused and changes nothing.
  actions = Apply(Propose(signal, 1, 2, PromiseEntry(true, "no")));
  completed = ActionsOf<EntryCompletedAction>(actions);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0]->entry.complete_promise().result().failure().code(),
            static_cast<uint32_t>(absl::StatusCode::kFailedPrecondition));
  v1::Target workflow;
  workflow.set_service("Signup");
  workflow.set_key("ada");
  EXPECT_EQ(store_->Reader(kPartition)
                ->GetPromise(workflow, "confirmed")
                .value()
                ->value(),
            "yes");
}

TEST_F(StateMachineTest, PromiseCompletedBeforeItIsAwaitedIsKept) {
  v1::Command early;
  early.set_timestamp_ms(500);
  auto* complete = early.mutable_complete_promise();
  complete->mutable_workflow()->set_service("Signup");
  complete->mutable_workflow()->set_key("ada");
  complete->set_name("confirmed");
  complete->mutable_completion()->set_value("early");
  Apply(early);
  const InvocationId run{1, 1};
  Apply(WorkflowInvoke(run, "run", v1::HANDLER_TYPE_WORKFLOW));
  auto actions = Apply(Propose(run, 1, 1, PromiseEntry(false)));
  auto completed = ActionsOf<EntryCompletedAction>(actions);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0]->entry.get_promise().result().value(), "early");
}

TEST_F(StateMachineTest, RunningInvocationCalledAgainAnswersEveryCaller) {
  const InvocationId run{1, 1};
  // Callers on other partitions than run's: their results go through the
  // outbox.
  const InvocationId caller2{2ULL << 32, 2}, caller3{3ULL << 32, 3},
      caller4{4ULL << 32, 4};
  v1::Command first = WorkflowInvoke(run, "run", v1::HANDLER_TYPE_WORKFLOW);
  first.mutable_invoke()->mutable_caller()->set_invocation_id(
      caller2.ToBytes());
  first.mutable_invoke()->mutable_caller()->set_index(3);
  Apply(first);
  v1::Command second = first;
  second.mutable_invoke()->mutable_caller()->set_invocation_id(
      caller3.ToBytes());
  Apply(second);
  Apply(second);  // a redelivery adds nobody
  auto actions = Apply(Propose(run, 1, 1, OutputEntry("done")));
  auto out = ActionsOf<OutboxAction>(actions);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]->destination, caller2);
  EXPECT_EQ(out[1]->destination, caller3);
  // A caller arriving after completion gets the result at once.
  v1::Command late = first;
  late.mutable_invoke()->mutable_caller()->set_invocation_id(caller4.ToBytes());
  actions = Apply(late);
  out = ActionsOf<OutboxAction>(actions);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->command.complete_call().result().value(), "done");
}

// Cancellation: the steps an invocation waits for fail, its callees are
// cancelled, and one waiting for nothing fails its next such step.

v1::Command Cancel(const InvocationId& id, int64_t ts = 6000) {
  v1::Command command;
  command.set_timestamp_ms(ts);
  command.mutable_cancel()->set_invocation_id(id.ToBytes());
  return command;
}

constexpr uint32_t kCancelled =
    static_cast<uint32_t>(absl::StatusCode::kCancelled);

TEST_F(StateMachineTest, CancelFailsEveryWaitAndCancelsTheCallees) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, SleepEntry(90000)));
  auto actions = Apply(Propose(id_, 1, 2, CallEntry("B", kRemoteKey)));
  const v1::Command callee_invoke =
      ActionsOf<OutboxAction>(actions)[0]->command;
  Apply(Suspend(id_, 1, {1, 2}));

  actions = Apply(Cancel(id_));
  // The callee is cancelled in turn.
  auto out = ActionsOf<OutboxAction>(actions);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0]->command.has_cancel());
  EXPECT_EQ(out[0]->command.cancel().invocation_id(),
            callee_invoke.invoke().invocation_id());
  // A copy: `actions`, which `out` points into, is reassigned below.
  const v1::Command cancel_callee = out[0]->command;
  // The caller resumes with both waits failed, and its timer is gone.
  auto starts = ActionsOf<StartAttemptAction>(actions);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]->attempt, 2u);
  EXPECT_EQ(starts[0]->journal[1].sleep().failure().code(), kCancelled);
  EXPECT_EQ(starts[0]->journal[2].call().result().failure().code(), kCancelled);
  EXPECT_TRUE(Timers().empty());
  EXPECT_FALSE(Status(id_)->cancellation_pending());

  // The callee, running and waiting for nothing, fails its next wait; the
  // one after that is a normal step again.
  const InvocationId callee =
      InvocationId::FromBytes(callee_invoke.invoke().invocation_id()).value();
  Apply(callee_invoke);
  EXPECT_TRUE(CountOf<EntryCompletedAction>(Apply(cancel_callee)) == 0);
  EXPECT_TRUE(Status(callee)->cancellation_pending());
  actions = Apply(Propose(callee, 1, 1, SleepEntry(90000)));
  auto completed = ActionsOf<EntryCompletedAction>(actions);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0]->entry.sleep().failure().code(), kCancelled);
  EXPECT_TRUE(Timers().empty());
  // A redelivered cancellation changes nothing: the next wait (say, a
  // compensation's) is a normal step again.
  Apply(cancel_callee);
  EXPECT_FALSE(Status(callee)->cancellation_pending());
  EXPECT_EQ(CountOf<EntryCompletedAction>(
                Apply(Propose(callee, 1, 2, SleepEntry(90000)))),
            0u);
  EXPECT_EQ(Timers().size(), 1u);

  // The callee's result, arriving late, does not change the cancelled call.
  actions = Apply(Propose(callee, 1, 3, OutputEntry("late")));
  const v1::Command result = ActionsOf<OutboxAction>(actions)[0]->command;
  EXPECT_TRUE(Apply(result).empty());
  EXPECT_EQ(Journal(id_)[2].call().result().failure().code(), kCancelled);
}

TEST_F(StateMachineTest, CancelReachesACalleeOnTheSamePartitionAtOnce) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, CallEntry("B")));
  const InvocationId callee =
      InvocationId::FromBytes(Journal(id_)[1].call().invocation_id()).value();
  // The callee calls C, also here, and waits.
  Apply(Propose(callee, 1, 1, CallEntry("C")));
  const InvocationId grandchild =
      InvocationId::FromBytes(Journal(callee)[1].call().invocation_id())
          .value();
  auto actions = Apply(Cancel(id_));
  EXPECT_EQ(CountOf<OutboxAction>(actions), 0u);
  // Down the whole call tree, in the cancel's transaction: each waiting
  // call fails with a cancellation.
  EXPECT_EQ(Journal(id_)[1].call().result().failure().code(), kCancelled);
  EXPECT_EQ(Journal(callee)[1].call().result().failure().code(), kCancelled);
  EXPECT_TRUE(Status(grandchild)->cancellation_pending());
}

TEST_F(StateMachineTest, SendToTheSamePartitionStartsTheCalleeAtOnce) {
  Apply(Invoke(id_));
  v1::JournalEntry send;
  send.set_name("B/run");
  send.mutable_send()->mutable_target()->set_service("B");
  send.mutable_send()->mutable_target()->set_handler("run");
  send.mutable_send()->set_parameter("p");
  send.mutable_send()->set_service_type(v1::SERVICE_TYPE_SERVICE);
  auto actions = Apply(Propose(id_, 1, 1, send));
  EXPECT_EQ(CountOf<OutboxAction>(actions), 0u);
  const InvocationId callee =
      InvocationId::FromBytes(Journal(id_)[1].send().invocation_id()).value();
  auto starts = ActionsOf<StartAttemptAction>(actions);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]->invocation_id, callee);
  // Nobody waits for its result.
  EXPECT_EQ(CountOf<EntryCompletedAction>(
                Apply(Propose(callee, 1, 1, OutputEntry("r")))),
            0u);
}

TEST_F(StateMachineTest, CancelOfARunningAttemptTellsIt) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, SleepEntry(90000)));
  auto actions = Apply(Cancel(id_));
  auto completed = ActionsOf<EntryCompletedAction>(actions);
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0]->attempt, 1u);
  EXPECT_EQ(completed[0]->index, 1u);
  EXPECT_EQ(completed[0]->entry.sleep().failure().code(), kCancelled);
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_INVOKED);
  // Compensations may run and complete the invocation as they like.
  Apply(Propose(id_, 1, 2, RunEntry("refund", "ok")));
  Apply(Propose(id_, 1, 3, OutputEntry("compensated")));
  EXPECT_EQ(Status(id_)->result().value(), "compensated");
}

TEST_F(StateMachineTest, CancelledQueuedInvocationIsSkippedByItsKey) {
  const InvocationId a{1, 1}, b{1, 2}, c{1, 3};
  Apply(ObjectInvoke(a, "k"));
  Apply(ObjectInvoke(b, "k"));
  Apply(ObjectInvoke(c, "k"));
  auto actions = Apply(Cancel(b));
  auto done = ActionsOf<InvocationCompletedAction>(actions);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]->result.failure().code(), kCancelled);
  EXPECT_EQ(Status(b)->state(), v1::INVOCATION_STATE_COMPLETED);
  actions = Apply(Propose(a, 1, 1, OutputEntry("1")));
  auto starts = ActionsOf<StartAttemptAction>(actions);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]->invocation_id, c);
  Apply(Cancel(c));
  // c held the key: cancelling it (running, waiting for nothing) leaves it
  // running until it completes, then the key is free.
  EXPECT_EQ(Status(c)->state(), v1::INVOCATION_STATE_INVOKED);
  Apply(Propose(c, 1, 1, OutputEntry("3")));
  EXPECT_EQ(CountOf<StartAttemptAction>(Apply(ObjectInvoke({1, 4}, "k"))), 1u);
}

TEST_F(StateMachineTest, CancelledScheduledInvocationNeverStarts) {
  v1::Command invoke = Invoke(id_, 1000);
  invoke.mutable_invoke()->set_invoke_at_ms(4000);
  auto actions = Apply(invoke);
  const RegisterTimerAction start = *ActionsOf<RegisterTimerAction>(actions)[0];
  EXPECT_EQ(CountOf<InvocationCompletedAction>(Apply(Cancel(id_, 2000))), 1u);
  EXPECT_TRUE(Timers().empty());
  EXPECT_TRUE(Apply(Fire(id_, start.index, 4001, start.wake_up_at_ms)).empty());
  EXPECT_EQ(Status(id_)->result().failure().code(), kCancelled);
}

TEST_F(StateMachineTest, CancelOfACompletedInvocationChangesNothing) {
  Apply(Invoke(id_));
  Apply(Output(id_, 1, "done"));
  EXPECT_TRUE(Apply(Cancel(id_)).empty());
  EXPECT_EQ(Status(id_)->result().value(), "done");
}

TEST_F(StateMachineTest, CancelResumesAPausedInvocation) {
  Apply(Invoke(id_));
  Apply(Failed(id_, 1, Policy(1), 3000));
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_PAUSED);
  auto actions = Apply(Cancel(id_));
  EXPECT_EQ(CountOf<StartAttemptAction>(actions), 1u);
  EXPECT_TRUE(Status(id_)->cancellation_pending());
}

TEST_F(StateMachineTest, CancelStopsWaitingForAPromise) {
  const InvocationId run{1, 1};
  Apply(WorkflowInvoke(run, "run", v1::HANDLER_TYPE_WORKFLOW));
  Apply(Propose(run, 1, 1, PromiseEntry(false)));
  Apply(Cancel(run));
  EXPECT_EQ(Journal(run)[1].get_promise().result().failure().code(),
            kCancelled);
  v1::Target workflow;
  workflow.set_service("Signup");
  workflow.set_key("ada");
  EXPECT_TRUE(store_->Reader(kPartition)
                  ->GetPromiseWaiters(workflow, "confirmed")
                  .value()
                  .empty());
}

// Operator commands: each applies only in the states control.h allows.

v1::Command Control(const InvocationId& id, v1::Command::KindCase kind,
                    int64_t ts = 6000) {
  v1::Command command;
  command.set_timestamp_ms(ts);
  const std::string bytes = id.ToBytes();
  switch (kind) {
    case v1::Command::kPause:
      command.mutable_pause()->set_invocation_id(bytes);
      break;
    case v1::Command::kResume:
      command.mutable_resume()->set_invocation_id(bytes);
      break;
    case v1::Command::kKill:
      command.mutable_kill()->set_invocation_id(bytes);
      break;
    case v1::Command::kRetryNow:
      command.mutable_retry_now()->set_invocation_id(bytes);
      break;
    case v1::Command::kPurge:
      command.mutable_purge()->set_invocation_id(bytes);
      break;
    default:
      ADD_FAILURE() << "not a control kind";
  }
  return command;
}

TEST_F(StateMachineTest, PauseStopsTheAttemptUntilResume) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, RunEntry("a", "1")));
  auto actions = Apply(Control(id_, v1::Command::kPause));
  auto aborts = ActionsOf<AbortAttemptAction>(actions);
  ASSERT_EQ(aborts.size(), 1u);
  EXPECT_EQ(aborts[0]->attempt, 1u);
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_PAUSED);
  // The stopped attempt's later steps are dropped; a second pause too.
  EXPECT_TRUE(Apply(Propose(id_, 1, 2, RunEntry("b", "2"))).empty());
  EXPECT_TRUE(Apply(Control(id_, v1::Command::kPause)).empty());
  EXPECT_EQ(Status(id_)->journal_length(), 2u);

  v1::Command resume = Control(id_, v1::Command::kResume);
  resume.mutable_resume()->set_version("v2");
  actions = Apply(resume);
  auto starts = ActionsOf<StartAttemptAction>(actions);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]->attempt, 2u);
  EXPECT_EQ(starts[0]->pinned_version, "v2");
  EXPECT_EQ(starts[0]->journal.size(), 2u);
  EXPECT_TRUE(Apply(resume).empty());  // running: resume does not apply
}

TEST_F(StateMachineTest, PausedSuspendedInvocationKeepsItsCompletions) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, SleepEntry(5000)));
  Apply(Suspend(id_, 1, {1}));
  EXPECT_EQ(
      CountOf<AbortAttemptAction>(Apply(Control(id_, v1::Command::kPause))),
      0u);
  EXPECT_EQ(CountOf<StartAttemptAction>(Apply(Fire(id_, 1))), 0u);
  EXPECT_NE(Journal(id_)[1].completed_at_ms(), 0);
  EXPECT_EQ(
      CountOf<StartAttemptAction>(Apply(Control(id_, v1::Command::kResume))),
      1u);
}

TEST_F(StateMachineTest, ResumeGivesAFreshRetryBudget) {
  Apply(Invoke(id_));
  Apply(Failed(id_, 1, Policy(1), 3000));
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_PAUSED);
  Apply(Control(id_, v1::Command::kResume));
  EXPECT_EQ(Status(id_)->failures(), 0u);
  // With max 2 attempts, one more failure backs off instead of pausing.
  Apply(Failed(id_, 2, Policy(2), 7000));
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_INVOKED);
}

TEST_F(StateMachineTest, KillCompletesAtOnceAndKillsTheCallees) {
  Apply(Invoke(id_));
  auto actions = Apply(Propose(id_, 1, 1, CallEntry("B", kRemoteKey)));
  const InvocationId callee = ActionsOf<OutboxAction>(actions)[0]->destination;
  Apply(Propose(id_, 1, 2, SleepEntry(90000)));
  actions = Apply(Control(id_, v1::Command::kKill));
  EXPECT_EQ(CountOf<AbortAttemptAction>(actions), 1u);
  auto out = ActionsOf<OutboxAction>(actions);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]->destination, callee);
  EXPECT_TRUE(out[0]->command.has_kill());
  auto done = ActionsOf<InvocationCompletedAction>(actions);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0]->result.failure().code(),
            static_cast<uint32_t>(absl::StatusCode::kAborted));
  EXPECT_TRUE(Timers().empty());
  // Completed: nothing more applies but purge.
  EXPECT_TRUE(Apply(Control(id_, v1::Command::kKill)).empty());
  EXPECT_TRUE(Apply(Control(id_, v1::Command::kPause)).empty());
}

TEST_F(StateMachineTest, KillReachesACalleeOnTheSamePartitionAtOnce) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, CallEntry("B")));
  const InvocationId callee =
      InvocationId::FromBytes(Journal(id_)[1].call().invocation_id()).value();
  auto actions = Apply(Control(id_, v1::Command::kKill));
  EXPECT_EQ(CountOf<OutboxAction>(actions), 0u);
  // Both attempts stop and both invocations complete as aborted; the
  // callee's result finds its caller completed already.
  EXPECT_EQ(CountOf<AbortAttemptAction>(actions), 2u);
  EXPECT_EQ(CountOf<InvocationCompletedAction>(actions), 2u);
  EXPECT_EQ(Status(callee)->state(), v1::INVOCATION_STATE_COMPLETED);
  EXPECT_EQ(Status(id_)->state(), v1::INVOCATION_STATE_COMPLETED);
}

TEST_F(StateMachineTest, RetryNowStartsTheNextAttemptOnlyWhenBackingOff) {
  Apply(Invoke(id_));
  EXPECT_TRUE(Apply(Control(id_, v1::Command::kRetryNow, 1500)).empty());
  v1::RetryPolicy policy = Policy(5);
  policy.set_initial_interval_ms(60000);
  policy.set_max_interval_ms(60000);
  auto actions = Apply(Failed(id_, 1, policy, 3000));
  EXPECT_EQ(ActionsOf<StartAttemptAction>(actions)[0]->not_before_ms, 63000);
  actions = Apply(Control(id_, v1::Command::kRetryNow, 4000));
  auto starts = ActionsOf<StartAttemptAction>(actions);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]->attempt, 3u);
  EXPECT_EQ(starts[0]->not_before_ms, 0);
  EXPECT_EQ(Status(id_)->next_retry_at_ms(), 0);
}

TEST_F(StateMachineTest, PurgeDeletesOnlyACompletedInvocation) {
  v1::Command invoke = Invoke(id_);
  invoke.mutable_invoke()->set_idempotency_key("order-1");
  invoke.mutable_invoke()->set_idempotency_retention_ms(60'000);
  Apply(invoke);
  EXPECT_TRUE(Apply(Control(id_, v1::Command::kPurge)).empty());
  ASSERT_TRUE(Status(id_).has_value());
  Apply(Output(id_, 1, "done", 2000));
  Apply(Control(id_, v1::Command::kPurge));
  EXPECT_FALSE(Status(id_).has_value());
  EXPECT_TRUE(Journal(id_).empty());
  EXPECT_TRUE(Expiries().empty());

  // A repeat of the request makes a new invocation, removed on its own
  // schedule.
  invoke.set_timestamp_ms(3000);
  Apply(invoke);
  Apply(Output(id_, 1, "again", 4000));
  Apply(Expire(62'000));
  EXPECT_EQ(Status(id_)->result().value(), "again");
  Apply(Expire(64'000));
  EXPECT_FALSE(Status(id_).has_value());
}

TEST_F(StateMachineTest, RestartRunsAgainFromAJournalIndex) {
  Apply(Invoke(id_));
  Apply(Propose(id_, 1, 1, RunEntry("a", "1")));
  Apply(Propose(id_, 1, 2, RunEntry("b", "2")));
  Apply(Propose(id_, 1, 3, OutputEntry("12")));
  const InvocationId fresh{7, 10};
  v1::Command restart;
  restart.set_timestamp_ms(9000);
  restart.mutable_restart()->set_invocation_id(id_.ToBytes());
  restart.mutable_restart()->set_new_invocation_id(fresh.ToBytes());
  restart.mutable_restart()->set_from(2);
  auto actions = Apply(restart);
  auto starts = ActionsOf<StartAttemptAction>(actions);
  ASSERT_EQ(starts.size(), 1u);
  EXPECT_EQ(starts[0]->invocation_id, fresh);
  ASSERT_EQ(starts[0]->journal.size(), 2u);
  EXPECT_EQ(starts[0]->journal[1].run().result().value(), "1");
  EXPECT_EQ(starts[0]->pinned_version, "v1");
  EXPECT_EQ(Status(fresh)->journal_length(), 2u);
  EXPECT_EQ(Status(fresh)->created_at_ms(), 9000);
  EXPECT_EQ(Status(id_)->result().value(), "12");  // the old one stays
  EXPECT_TRUE(Apply(restart).empty());             // a repeat
  // Past the steps, or the output, or onto another partition: not applied.
  restart.mutable_restart()->set_new_invocation_id(
      InvocationId(7, 11).ToBytes());
  restart.mutable_restart()->set_from(4);
  EXPECT_TRUE(Apply(restart).empty());
  EXPECT_FALSE(Status(InvocationId(7, 11)).has_value());
  restart.mutable_restart()->set_new_invocation_id(
      InvocationId(8, 11).ToBytes());
  restart.mutable_restart()->set_from(1);
  EXPECT_TRUE(Apply(restart).empty());
}

TEST_F(StateMachineTest, AWorkflowsRunIsNotRestarted) {
  const InvocationId run{1, 1};
  Apply(WorkflowInvoke(run, "run", v1::HANDLER_TYPE_WORKFLOW));
  Apply(Propose(run, 1, 1, OutputEntry("done")));
  v1::Command restart;
  restart.mutable_restart()->set_invocation_id(run.ToBytes());
  restart.mutable_restart()->set_new_invocation_id(
      InvocationId(1, 2).ToBytes());
  restart.mutable_restart()->set_from(1);
  EXPECT_TRUE(Apply(restart).empty());
  absl::Status refused =
      CheckControl(restart, run, *Status(run), restart.timestamp_ms());
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.message()),
              ::testing::HasSubstr("runs once per workflow id"));
}

TEST_F(StateMachineTest, OperatorStateEditsApply) {
  v1::Command edit;
  auto* e = edit.mutable_edit_state();
  e->mutable_object()->set_service("Counter");
  e->mutable_object()->set_key("k");
  e->set_name("count");
  e->set_value("5");
  Apply(edit);
  e->set_name("other");
  Apply(edit);
  auto reader = store_->Reader(kPartition);
  EXPECT_EQ(reader->GetState(e->object(), "count").value(), "5");
  e->set_clear(true);
  Apply(edit);  // clears "other"
  EXPECT_FALSE(reader->GetState(e->object(), "other").value().has_value());
  e->set_name("");
  Apply(edit);  // clears every key
  EXPECT_FALSE(reader->GetState(e->object(), "count").value().has_value());
}

TEST_F(StateMachineTest, CompletedInvocationsAreRemovedAfterTheirRetention) {
  const InvocationId kept{7, 1}, forever{7, 2}, run{1, 1};
  v1::Command invoke = Invoke(id_);
  invoke.mutable_invoke()->set_retention_ms(10'000);
  Apply(invoke);
  Apply(Invoke(kept));                     // no retention: kept
  v1::Command infinite = Invoke(forever);  // an infinite one: kept too
  infinite.mutable_invoke()->set_retention_ms(INT64_MAX);
  Apply(infinite);
  Apply(Output(id_, 1, "done", 2000));
  Apply(Output(kept, 1, "done", 2000));
  Apply(Output(forever, 1, "done", 2000));
  // A workflow's run takes its workflow's state and promises along.
  v1::Command workflow = WorkflowInvoke(run, "run", v1::HANDLER_TYPE_WORKFLOW);
  workflow.mutable_invoke()->set_retention_ms(5'000);
  Apply(workflow);
  Apply(Propose(run, 1, 1, SetEntry("plan", "pro")));
  Apply(Propose(run, 1, 2, PromiseEntry(true, "yes")));
  Apply(Propose(run, 1, 3, OutputEntry("ok"), 3000));
  EXPECT_EQ(Expiries(), (std::vector<int64_t>{8'000, 12'000}));

  Apply(Expire(9'000));
  EXPECT_FALSE(Status(run).has_value());
  v1::Target signup;
  signup.set_service("Signup");
  signup.set_key("ada");
  auto reader = store_->Reader(kPartition);
  EXPECT_FALSE(reader->GetState(signup, "plan").value().has_value());
  EXPECT_FALSE(reader->GetPromise(signup, "confirmed").value().has_value());
  EXPECT_TRUE(Status(id_).has_value());
  Apply(Expire(12'000));
  EXPECT_FALSE(Status(id_).has_value());
  EXPECT_TRUE(Status(kept).has_value());
  EXPECT_TRUE(Status(forever).has_value());
  EXPECT_TRUE(Expiries().empty());
}

TEST_F(StateMachineTest, OneExpireCommandRemovesABoundedBatch) {
  constexpr int kDue = 1001;  // one more than a command removes
  for (int i = 0; i < kDue; ++i) {
    v1::Command invoke = Invoke({7, static_cast<uint64_t>(100 + i)});
    invoke.mutable_invoke()->set_retention_ms(1000);
    Apply(invoke);
    Apply(Output({7, static_cast<uint64_t>(100 + i)}, 1, "done", 2000 + i));
  }
  Apply(Expire(10'000));
  // The oldest go first; the newest waits for the next sweep.
  ASSERT_EQ(Expiries().size(), 1u);
  EXPECT_EQ(Expiries()[0], 3000 + kDue - 1);
  EXPECT_TRUE(Status({7, 100 + kDue - 1}).has_value());
  EXPECT_FALSE(Status({7, 100}).has_value());
  Apply(Expire(10'001));
  EXPECT_TRUE(Expiries().empty());
}

TEST_F(StateMachineTest,
       OutboxRedeliveryIsDroppedEvenAfterItsInvocationIsGone) {
  auto from = [](v1::Command command, uint32_t partition, uint64_t seq) {
    command.mutable_outbox_origin()->set_partition(partition);
    command.mutable_outbox_origin()->set_seq(seq);
    return command;
  };
  EXPECT_EQ(Apply(from(Invoke(id_), 1, 5)).size(), 1u);
  Apply(Output(id_, 1, "\"done\""));
  Apply(Control(id_, v1::Command::kPurge));
  ASSERT_FALSE(Status(id_).has_value());

  // The same message again (its truncation was lost in a crash) creates
  // nothing, though the invocation it created is purged; so does an
  // earlier one of that source.
  EXPECT_TRUE(Apply(from(Invoke(id_), 1, 5)).empty());
  EXPECT_TRUE(Apply(from(Invoke(InvocationId(7, 10)), 1, 4)).empty());
  EXPECT_FALSE(Status(id_).has_value());
  EXPECT_FALSE(Status(InvocationId(7, 10)).has_value());
  // Later messages of that source, and those of another, apply.
  EXPECT_EQ(Apply(from(Invoke(InvocationId(7, 11)), 1, 6)).size(), 1u);
  EXPECT_EQ(Apply(from(Invoke(InvocationId(7, 12)), 2, 1)).size(), 1u);
  EXPECT_TRUE(Status(InvocationId(7, 11)).has_value());
  EXPECT_TRUE(Status(InvocationId(7, 12)).has_value());
}

}  // namespace
}  // namespace reprise::state_machine
