// Attempt: one attempt of an invocation, independent of the transport. It
// replays the journal the runtime sent, runs the handler, turns each new
// step into a proposal, waits for acks and completions, suspends when a wait
// is long, and reports the outcome (output, failure or suspension).
//
// Thread-safety: Run and the step methods are called by the one handler
// thread; OnAck, OnCompletion and Abort from any thread (each takes the
// attempt's lock). Ownership: shared by the worker's attempt table and
// the handler thread running it.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "reprise/sdk/service.h"
#include "reprise/v1/worker.pb.h"

namespace reprise::sdk::internal {

using Send = std::function<void(v1::WorkerMessage)>;

struct AttemptOptions {
  // How long an Await may wait for a completion before the attempt
  // suspends; a timer due later than this suspends at once.
  absl::Duration suspend_after = absl::Seconds(1);
};

// What the handler may do with its key's state.
enum class StateAccess {
  kNone,       // a stateless service
  kRead,       // a shared handler
  kReadWrite,  // an exclusive handler, a workflow's run handler
};

class Attempt {
 public:
  Attempt(v1::StartAttempt start, Send send, AttemptOptions options);
  Attempt(const Attempt&) = delete;
  Attempt& operator=(const Attempt&) = delete;

  const std::string& invocation_id_bytes() const {
    return start_.invocation_id();
  }
  uint32_t number() const { return start_.attempt(); }
  const v1::Target& target() const { return start_.target(); }
  const std::string& invocation_id() const { return id_text_; }
  // The Kafka record behind the invocation's input, if any.
  const v1::KafkaRecord* kafka_record() const {
    if (start_.journal().empty()) return nullptr;
    const v1::InputEntry& input = start_.journal(0).input();
    return input.has_kafka_record() ? &input.kafka_record() : nullptr;
  }

  // Runs `handler` and sends its outcome: the output entry, an
  // AttemptFailed (exception, journal mismatch) or nothing more if the
  // attempt suspended or was aborted meanwhile. Call once.
  // `workflow`: the handler belongs to a workflow, which has promises.
  void Run(const Handler& handler, StateAccess access = StateAccess::kNone,
           bool workflow = false);

  // From the runtime.
  void OnAck(uint32_t index);
  void OnCompletion(uint32_t index, const v1::JournalEntry& entry);
  // Ends the attempt: the handler unwinds at its next step.
  void Abort();
  bool ended();

  // Steps, for Context.
  absl::StatusOr<std::string> RunStep(std::string_view name,
                                      const Context::RunFunction& fn,
                                      const RunOptions& options);
  uint32_t TimerStep(std::string_view name, absl::Duration duration);
  // Waits until entry `index` completes; throws TerminalError (CANCELLED)
  // if the invocation's cancellation completed it.
  void AwaitEntry(uint32_t index);
  // Waits (or suspends) until one of the entries at `indexes` completes;
  // returns its position. Not a step: nothing is journaled.
  size_t WaitAnyComplete(const std::vector<uint32_t>& indexes);
  // The AwaitAny step: WaitAnyComplete, with the choice journaled; throws
  // as AwaitEntry if the chosen entry was cancelled.
  size_t SelectStep(const std::vector<uint32_t>& indexes);
  absl::Time NowStep();
  // Returns the call's journal index.
  uint32_t CallStep(v1::Target target, std::string parameter);
  // The result of the call or awakeable at `index`.
  absl::StatusOr<std::string> AwaitResult(uint32_t index);
  // Returns the awakeable's journal index once it is durable.
  uint32_t AwakeableStep(std::string_view name);
  std::string AwakeableId(uint32_t index) const;
  void SendStep(v1::Target target, std::string parameter, absl::Duration delay);
  // Promise steps; Get returns the entry's index, to AwaitResult.
  uint32_t GetPromiseStep(const std::string& name);
  std::optional<absl::StatusOr<std::string>> PeekPromiseStep(
      const std::string& name);
  absl::Status CompletePromiseStep(const std::string& name,
                                   v1::Result completion);
  std::optional<std::string> GetStateStep(std::string_view key);
  void SetStateStep(std::string_view key, std::string value);
  void ClearStateStep(std::string_view key);
  void ClearAllStateStep();
  std::vector<std::string> StateKeysStep();

 private:
  // Whether the handler waits for a proposal's EntryAck (WaitDurable). A
  // proposal it does not wait for asks the runtime to send none.
  enum class Ack { kWait, kSkip };

  // The journal index of the next step, after checking a replayed entry at
  // that index against the step the handler takes. Throws on a mismatch.
  uint32_t NextStep(v1::JournalEntry::KindCase kind, std::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The step of `kind` named `name`: replayed, or built by `fill` and
  // proposed at once (with what was deferred). Returns its index.
  uint32_t ProposeStep(v1::JournalEntry::KindCase kind, std::string_view name,
                       Ack ack,
                       absl::FunctionRef<void(v1::JournalEntry&)> fill);
  // Returns once entry `index` is durable; throws if the attempt ends.
  void WaitDurable(uint32_t index);
  // Appends `entry` at the end of the journal, to be proposed with the
  // next Propose: steps the handler does not wait for travel together.
  void Defer(v1::JournalEntry entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends `entry` and returns the proposal of every entry not sent yet.
  v1::WorkerMessage Propose(v1::JournalEntry entry, Ack ack)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The proposal of every entry not sent yet.
  v1::WorkerMessage ProposeUnsent(Ack ack) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ThrowIfEnded() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Throws TerminalError (CANCELLED) if entry `index` completed with the
  // runtime's cancellation failure.
  void ThrowIfCancelled(uint32_t index) ABSL_LOCKS_EXCLUDED(mu_);
  // Throws TerminalError unless the handler may read (or write) state.
  void CheckStateAccess(bool write) const;
  // Throws TerminalError unless the handler belongs to a workflow.
  void CheckWorkflow() const;
  // Proposes `entry`, a state read the runtime resolves, and waits for it.
  const v1::JournalEntry& ProposeAndWait(v1::JournalEntry entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies a state write, replayed or new, to the known state.
  void ApplyStateWrite(const v1::JournalEntry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records a state write step; proposes it unless it is replayed.
  void StateWriteStep(v1::JournalEntry entry);
  v1::Result Execute(std::string_view name, const Context::RunFunction& fn,
                     const RunOptions& options);
  // Reports the attempt failed at `journal_index` (by default where the
  // handler is: the Run step executing, or its next step), unless the
  // attempt already ended. Call without holding mu_.
  void Fail(std::string message, std::optional<uint32_t> journal_index);

  const v1::StartAttempt start_;
  const std::string id_text_;
  const Send send_;
  const AttemptOptions options_;

  absl::Mutex mu_;
  absl::CondVar changed_;
  // Replayed entries, then those proposed by this attempt.
  std::vector<v1::JournalEntry> journal_ ABSL_GUARDED_BY(mu_);
  // The handler's position: the index of its next step.
  uint32_t next_index_ ABSL_GUARDED_BY(mu_) = 1;
  // The Run step whose function executes now.
  std::optional<uint32_t> running_step_ ABSL_GUARDED_BY(mu_);
  // Entries below this index are durable; below sent_, sent.
  uint32_t durable_ ABSL_GUARDED_BY(mu_);
  uint32_t sent_ ABSL_GUARDED_BY(mu_);
  // Suspended, aborted, or the outcome was sent.
  bool ended_ ABSL_GUARDED_BY(mu_) = false;

  StateAccess access_ = StateAccess::kNone;  // set by Run
  bool workflow_ = false;                    // set by Run
  // The key's state as far as known: the values the attempt came with, as
  // changed by the journal's writes; nullopt marks a key known to be unset.
  std::map<std::string, std::optional<std::string>, std::less<>> state_
      ABSL_GUARDED_BY(mu_);
  // Whether keys missing from state_ are known to be unset.
  bool state_complete_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reprise::sdk::internal
