// Actions: what applying a command asks the partition's leader to do. They
// are data, so followers (and recovery replays) can simply drop them.
#pragma once

#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "reprise/v1/common.pb.h"
#include "reprise/v1/journal.pb.h"
#include "reprise/v1/log.pb.h"
#include "runtime/common/ids.h"

namespace reprise::state_machine {

// Run attempt `attempt` of the invocation, replaying `journal`, no earlier
// than `not_before_ms` (a retry back-off), on a worker of `pinned_version`
// when that is set.
struct StartAttemptAction {
  InvocationId invocation_id;
  v1::Target target;
  uint32_t attempt = 1;
  std::vector<v1::JournalEntry> journal;
  std::string pinned_version;
  int64_t not_before_ms = 0;
  // Virtual objects and workflows: the key's state, sent with the attempt
  // when it is small (added by the leader, not the state machine).
  std::vector<std::pair<std::string, std::string>> state;
  bool partial_state = false;
};

// The entry the attempt proposed at `index` is durable: tell its worker.
struct EntryAckAction {
  InvocationId invocation_id;
  uint32_t attempt = 0;
  uint32_t index = 0;
};

// The entry at `index` completed while `attempt` runs: tell its worker.
struct EntryCompletedAction {
  InvocationId invocation_id;
  v1::JournalEntry entry;
  uint32_t attempt = 0;
  uint32_t index = 0;
};

// The timer index that names no journal entry: the start of a delayed
// invocation.
inline constexpr uint32_t kStartTimerIndex = 0xfffffffe;

// Fire a durable timer once its time has come.
struct RegisterTimerAction {
  InvocationId invocation_id;
  uint32_t index = 0;
  int64_t wake_up_at_ms = 0;
};

// No attempt runs any more (completed, suspended or paused): forget the
// attempt, freeing its slot.
struct InvocationParkedAction {
  InvocationId invocation_id;
};

// Stop attempt `attempt` at once if it runs (an operator paused or killed
// the invocation): its worker is told `reason`, its slot is freed.
struct AbortAttemptAction {
  InvocationId invocation_id;
  uint32_t attempt = 0;
  std::string reason;
};

// The invocation completed: answer the ingress callers waiting for it. The
// leader runs these after the rest of their batch's actions (see
// PartitionProcessor::ApplyAndExecute).
struct InvocationCompletedAction {
  InvocationId invocation_id;
  v1::Result result;
};

// Append `command` to the log of the partition of the invocation it names,
// then tell this partition that outbox message `seq` was delivered.
struct OutboxAction {
  uint64_t seq = 0;
  InvocationId destination;
  v1::Command command;
};

// Apply `command` next, in the same transaction: an invocation sent it to
// one on this partition (SendCommand). StateMachine::Apply consumes these;
// it never returns one.
struct LocalCommandAction {
  v1::Command command;
};

using Action =
    std::variant<StartAttemptAction, EntryAckAction, EntryCompletedAction,
                 RegisterTimerAction, InvocationParkedAction,
                 AbortAttemptAction, InvocationCompletedAction, OutboxAction,
                 LocalCommandAction>;

}  // namespace reprise::state_machine
