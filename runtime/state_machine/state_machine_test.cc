// Scenario tests: command in -> state and actions out, on a real RocksDB.
#include "runtime/state_machine/state_machine.h"

#include <gtest/gtest.h>

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
    propose->set_index(index);
    propose->mutable_entry()->mutable_output()->mutable_result()->set_value(
        std::move(value));
    return command;
  }

  std::optional<v1::InvocationStatus> Status(const InvocationId& id) {
    return store_->Reader(kPartition)->GetInvocationStatus(id).value();
  }
  std::vector<v1::JournalEntry> Journal(const InvocationId& id) {
    return store_->Reader(kPartition)->GetJournal(id).value();
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
  ASSERT_EQ(actions.size(), 1u);
  auto* done = std::get_if<InvocationCompletedAction>(&actions[0]);
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
  EXPECT_EQ(actions.size(), 1u);
}

TEST_F(StateMachineTest, FailureResultIsStored) {
  Apply(Invoke(id_));
  v1::Command command = Output(id_, 1, "");
  auto* failure = command.mutable_propose_entry()
                      ->mutable_entry()
                      ->mutable_output()
                      ->mutable_result()
                      ->mutable_failure();
  failure->set_code(9);
  failure->set_message("out of stock");
  auto actions = Apply(command);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(Status(id_)->result().failure().message(), "out of stock");
}

}  // namespace
}  // namespace reprise::state_machine
