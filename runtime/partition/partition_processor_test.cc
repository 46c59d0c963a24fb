// The processor on a real embedded log and store: apply, actions after
// durability, read-after-apply queries, and recovery after a restart.
#include "runtime/partition/partition_processor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "reprise/v1/log.pb.h"
#include "runtime/log/embedded_log.h"
#include "tests/testing/commands.h"
#include "tests/testing/temp_dir.h"

namespace reprise::partition {
namespace {

class RecordingActions : public LeaderActions {
 public:
  void Execute(PartitionId, state_machine::Action action) override {
    absl::MutexLock lock(&mu_);
    actions_.push_back(std::move(action));
    threads_.push_back(std::this_thread::get_id());
  }
  // The thread of each Execute, in order.
  std::vector<std::thread::id> threads() {
    absl::MutexLock lock(&mu_);
    return threads_;
  }
  // Waits until `n` actions arrived (bounded), then returns them.
  std::vector<state_machine::Action> WaitFor(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return actions_.size() >= n;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), absl::Seconds(10));
    return actions_;
  }

 private:
  absl::Mutex mu_;
  std::vector<state_machine::Action> actions_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread::id> threads_ ABSL_GUARDED_BY(mu_);
};

class PartitionProcessorTest : public ::testing::Test {
 protected:
  void Open() {
    log_ = log::EmbeddedLog::Open(dir_.path() + "/log", 1).value();
    store_ = storage::Store::Open(dir_.path() + "/store").value();
    actions_ = std::make_unique<RecordingActions>();
    processor_ = std::make_unique<PartitionProcessor>(PartitionId(0), *log_,
                                                      *store_, *actions_);
    log_->SetTailListener(
        [this](PartitionId, Lsn tail) { processor_->OnTailAdvanced(tail); });
    ASSERT_TRUE(processor_->Start().ok());
  }
  void Close() {
    processor_.reset();
    store_.reset();
    log_.reset();
  }
  // Returns the thread that acknowledged the append (the log's writer).
  std::thread::id AppendAndWait(const v1::Command& command) {
    absl::Notification done;
    std::thread::id writer;
    log_->Append(PartitionId(0), command.SerializeAsString(),
                 [&](absl::StatusOr<Lsn> lsn) {
                   EXPECT_TRUE(lsn.ok());
                   writer = std::this_thread::get_id();
                   done.Notify();
                 });
    done.WaitForNotification();
    return writer;
  }
  v1::Command Invoke() { return testing::InvokeCommand(id_); }
  v1::Command Output() {
    v1::Command command;
    command.set_timestamp_ms(2);
    auto* p = command.mutable_propose_entry();
    p->set_invocation_id(id_.ToBytes());
    p->set_attempt(1);
    p->set_index(1);
    p->add_entries()->mutable_output()->mutable_result()->set_value("r");
    return command;
  }

  testing::TempDir dir_;
  std::unique_ptr<log::EmbeddedLog> log_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<RecordingActions> actions_;
  std::unique_ptr<PartitionProcessor> processor_;
  InvocationId id_{3, 4};
};

TEST_F(PartitionProcessorTest, AppliesAppendedCommandsAndExecutesActions) {
  Open();
  AppendAndWait(Invoke());
  auto actions = actions_->WaitFor(1);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_TRUE(
      std::holds_alternative<state_machine::StartAttemptAction>(actions[0]));
  AppendAndWait(Output());
  actions = actions_->WaitFor(3);
  ASSERT_EQ(actions.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<state_machine::InvocationParkedAction>(
      actions[1]));
  EXPECT_TRUE(std::holds_alternative<state_machine::InvocationCompletedAction>(
      actions[2]));
}

// A batch's answers to ingress callers come after its other actions, so
// that the next attempts do not wait behind them.
TEST_F(PartitionProcessorTest, AnswersCallersAfterTheBatchsOtherActions) {
  Open();
  AppendAndWait(Invoke());
  actions_->WaitFor(1);
  // A query holds the processor's thread, and with it every apply, while
  // the output and the next invoke become durable: one batch.
  absl::Notification holding, release;
  processor_->RunAfterApplied([&](storage::PartitionReader&) {
    holding.Notify();
    release.WaitForNotification();
  });
  holding.WaitForNotification();
  AppendAndWait(Output());
  const InvocationId next(3, 5);
  AppendAndWait(testing::InvokeCommand(next));
  release.Notify();
  auto actions = actions_->WaitFor(4);
  ASSERT_EQ(actions.size(), 4u);
  EXPECT_TRUE(std::holds_alternative<state_machine::InvocationParkedAction>(
      actions[1]));
  auto* start = std::get_if<state_machine::StartAttemptAction>(&actions[2]);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->invocation_id, next);
  auto* done =
      std::get_if<state_machine::InvocationCompletedAction>(&actions[3]);
  ASSERT_NE(done, nullptr);
  EXPECT_EQ(done->invocation_id, id_);
}

// Its records are applied by the log's writer, sparing a wake-up, when the
// processor's thread is idle; the processor's thread takes the rest.
TEST_F(PartitionProcessorTest, AppliesOnTheLogsThreadWhileIdle) {
  Open();
  constexpr int kInvocations = 20;
  std::thread::id writer;
  for (int i = 0; i < kInvocations; ++i) {
    v1::Command invoke = Invoke();
    invoke.mutable_invoke()->set_invocation_id(
        InvocationId(3, 100 + i).ToBytes());
    writer = AppendAndWait(invoke);
    // Idle again before the next: its attempt started.
    actions_->WaitFor(static_cast<size_t>(i) + 1);
  }
  std::vector<std::thread::id> threads = actions_->threads();
  ASSERT_EQ(threads.size(), static_cast<size_t>(kInvocations));
  // Every one, unless the processor's thread woke (at most every 100 ms,
  // for a few microseconds) just then.
  EXPECT_GE(std::count(threads.begin(), threads.end(), writer),
            kInvocations - 2);
}

TEST_F(PartitionProcessorTest, QueryAfterAppendSeesTheCommand) {
  Open();
  AppendAndWait(Invoke());
  absl::Notification done;
  bool found = false;
  processor_->RunAfterApplied([&](storage::PartitionReader& reader) {
    found = reader.GetInvocationStatus(id_).value().has_value();
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(found);
}

TEST_F(PartitionProcessorTest, RestartResumesLiveInvocation) {
  Open();
  AppendAndWait(Invoke());
  actions_->WaitFor(1);
  Close();
  Open();
  auto actions = actions_->WaitFor(1);
  ASSERT_EQ(actions.size(), 1u);
  auto* start = std::get_if<state_machine::StartAttemptAction>(&actions[0]);
  ASSERT_NE(start, nullptr);
  EXPECT_EQ(start->invocation_id, id_);
  ASSERT_EQ(start->journal.size(), 1u);
}

TEST_F(PartitionProcessorTest,
       RestartAppliesUnappliedTailWithoutResumingCompleted) {
  Open();
  AppendAndWait(Invoke());
  actions_->WaitFor(1);
  processor_->Stop();
  AppendAndWait(Output());  // durable, not yet applied
  Close();
  Open();
  absl::Notification done;
  v1::InvocationState state = v1::INVOCATION_STATE_UNSPECIFIED;
  processor_->RunAfterApplied([&](storage::PartitionReader& reader) {
    state = reader.GetInvocationStatus(id_).value()->state();
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(state, v1::INVOCATION_STATE_COMPLETED);
  EXPECT_TRUE(actions_->WaitFor(0).empty());
}

TEST_F(PartitionProcessorTest, VerifyTellsWhetherTheCommandTookEffect) {
  Open();
  const InvocationId other(3, 5);
  v1::Command invoke_other = Invoke();
  invoke_other.mutable_invoke()->set_invocation_id(other.ToBytes());
  AppendAndWait(Invoke());
  AppendAndWait(invoke_other);
  actions_->WaitFor(2);
  auto output = [&](const InvocationId& id, const std::string& value) {
    v1::Command command = Output();
    auto* propose = command.mutable_propose_entry();
    propose->set_invocation_id(id.ToBytes());
    propose->mutable_entries(0)->mutable_output()->mutable_result()->set_value(
        value);
    return command;
  };
  // Appends `id`'s output "ours" and returns the answer. A `competing`
  // output lands between the check and the append, as a handler's proposal
  // could; the first output counts.
  auto complete = [&](const InvocationId& id, const std::string& competing) {
    absl::Notification done;
    absl::Status answer = absl::UnknownError("not answered");
    processor_->AppendIfValid(
        output(id, "ours"),
        [&](storage::PartitionReader&) {
          if (!competing.empty()) {
            log_->Append(PartitionId(0),
                         output(id, competing).SerializeAsString(),
                         [](absl::StatusOr<Lsn>) {});
          }
          return absl::OkStatus();
        },
        [&](absl::Status status) {
          answer = status;
          done.Notify();
        },
        "",
        [&](storage::PartitionReader& reader) -> absl::Status {
          auto status = reader.GetInvocationStatus(id).value();
          return status.has_value() && status->result().value() == "ours"
                     ? absl::OkStatus()
                     : absl::FailedPreconditionError("not ours");
        });
    EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    return answer;
  };
  EXPECT_TRUE(complete(id_, "").ok());
  EXPECT_EQ(complete(other, "theirs").code(),
            absl::StatusCode::kFailedPrecondition);
  // Completed already: ours does nothing again, and verify still says so.
  EXPECT_EQ(complete(other, "").code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace reprise::partition
