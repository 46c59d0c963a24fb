// One function per command kind, each in its own file, and the helpers they
// share. Internal to the state machine; see state_machine.h for the contract.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "reprise/v1/log.pb.h"
#include "runtime/state_machine/action.h"
#include "runtime/storage/partition_store.h"

namespace reprise::state_machine {

absl::Status ApplyInvoke(const v1::InvokeCommand& command, int64_t now_ms,
                         storage::Transaction& txn,
                         std::vector<Action>& actions);

absl::Status ApplyProposeEntry(const v1::ProposeEntryCommand& command,
                               int64_t now_ms, storage::Transaction& txn,
                               std::vector<Action>& actions);

absl::Status ApplySuspend(const v1::SuspendCommand& command, int64_t now_ms,
                          storage::Transaction& txn,
                          std::vector<Action>& actions);

absl::Status ApplyAttemptFailed(const v1::AttemptFailedCommand& command,
                                int64_t now_ms, storage::Transaction& txn,
                                std::vector<Action>& actions);

absl::Status ApplyFireTimer(const v1::FireTimerCommand& command, int64_t now_ms,
                            storage::Transaction& txn,
                            std::vector<Action>& actions);

absl::Status ApplyCompleteCall(const v1::CompleteCallCommand& command,
                               int64_t now_ms, storage::Transaction& txn,
                               std::vector<Action>& actions);

absl::Status ApplyCompleteAwakeable(const v1::CompleteAwakeableCommand& command,
                                    int64_t now_ms, storage::Transaction& txn,
                                    std::vector<Action>& actions);

absl::Status ApplyCompletePromise(const v1::CompletePromiseCommand& command,
                                  int64_t now_ms, storage::Transaction& txn,
                                  std::vector<Action>& actions);

// Completes promise `name` of `workflow` with `completion` and the entries
// waiting for it; false (and nothing changes) if it was completed before.
absl::StatusOr<bool> CompletePromise(const v1::Target& workflow,
                                     const std::string& name,
                                     const v1::Result& completion,
                                     int64_t now_ms, storage::Transaction& txn,
                                     std::vector<Action>& actions);

absl::Status ApplyCancel(const v1::Command& command, int64_t now_ms,
                         storage::Transaction& txn,
                         std::vector<Action>& actions);

// Operator commands (control_commands.cc); each first checks CheckControl.
absl::Status ApplyPause(const v1::Command& command, int64_t now_ms,
                        storage::Transaction& txn,
                        std::vector<Action>& actions);
absl::Status ApplyResume(const v1::Command& command, int64_t now_ms,
                         storage::Transaction& txn,
                         std::vector<Action>& actions);
absl::Status ApplyKill(const v1::Command& command, int64_t now_ms,
                       storage::Transaction& txn, std::vector<Action>& actions);
absl::Status ApplyRetryNow(const v1::Command& command, int64_t now_ms,
                           storage::Transaction& txn,
                           std::vector<Action>& actions);
absl::Status ApplyPurge(const v1::Command& command, int64_t now_ms,
                        storage::Transaction& txn);
absl::Status ApplyRestart(const v1::Command& command, int64_t now_ms,
                          storage::Transaction& txn,
                          std::vector<Action>& actions);

absl::Status ApplyEditState(const v1::EditStateCommand& command,
                            storage::Transaction& txn);

absl::Status ApplyTruncateOutbox(const v1::TruncateOutboxCommand& command,
                                 storage::Transaction& txn);

// Helpers (attempts.cc).

// The invocation and its status when `attempt` is its current, running
// attempt; nullopt when a command of that attempt no longer applies (unknown
// invocation, not running, superseded attempt).
struct RunningInvocation {
  InvocationId id;
  v1::InvocationStatus status;
};
absl::StatusOr<std::optional<RunningInvocation>> FindRunningAttempt(
    storage::Transaction& txn, const std::string& invocation_id,
    uint32_t attempt);

// The invocation an operator command names and its status, when the command
// applies to it (CheckControl); nullopt otherwise.
absl::StatusOr<std::optional<RunningInvocation>> FindControlled(
    const v1::Command& command, const std::string& invocation_id,
    int64_t now_ms, storage::Transaction& txn);

// Entry `index` of the invocation, when it is of `kind`, still pending, and
// the invocation not completed: what a completion from outside may
// complete. Nullopt otherwise (a repeated or stale completion).
struct PendingEntry {
  InvocationId id;
  v1::InvocationStatus status;
  v1::JournalEntry entry;
};
absl::StatusOr<std::optional<PendingEntry>> FindPendingEntry(
    storage::Transaction& txn, const std::string& invocation_id, uint32_t index,
    v1::JournalEntry::KindCase kind);

// Pins the invocation to `worker_version` if it is not pinned yet. Only a
// journal entry pins: an attempt that wrote nothing may move to any version.
void PinVersion(v1::InvocationStatus& status, const std::string& version);

// Handlers that run one at a time per key: exclusive ones and a workflow's
// run handler.
bool IsExclusive(const v1::InvocationStatus& status);

// Completes the invocation with `result`: writes `status`, answers its
// callers, schedules its removal after its retention, and passes its key
// to the next queued invocation.
absl::Status CompleteInvocation(const InvocationId& id,
                                v1::InvocationStatus& status, v1::Result result,
                                int64_t now_ms, storage::Transaction& txn,
                                std::vector<Action>& actions);

// When the completed invocation is to be removed (table `ex`): its
// completion time plus the longer of its retention and its idempotency
// retention; nullopt if it is kept.
std::optional<int64_t> ExpiresAt(const v1::InvocationStatus& status);

// Most invocations one ExpireCommand removes.
inline constexpr int kMaxExpiredPerCommand = 1000;
absl::Status ApplyExpire(int64_t now_ms, storage::Transaction& txn);

// Runs a new (or scheduled) invocation: takes its key if it is exclusive,
// or queues it behind the key's holder; otherwise starts attempt 1 with
// `journal`, its input.
absl::Status StartInvocation(const InvocationId& id,
                             v1::InvocationStatus& status,
                             std::vector<v1::JournalEntry> journal,
                             int64_t now_ms, storage::Transaction& txn,
                             std::vector<Action>& actions);

// Entry kinds that complete after they are journaled, and which an
// attempt can wait for.
bool CompletesLater(const v1::JournalEntry& entry);

// The failure a cancelled invocation, and each step it was waiting for,
// completes with: CANCELLED.
v1::Result CancelledResult();
// Gives `entry`, one that CompletesLater, the cancellation failure.
void SetCancelled(v1::JournalEntry& entry);

// Stops the waits of the invocation's pending entries that complete later
// (`journal` is its journal): deletes their timers and promise waiters, and
// sends `propagate` (a cancel or kill, with no id set) to the callee of
// each pending call, except a workflow's run, which outlives its callers.
// Returns the indexes of those entries.
absl::StatusOr<std::vector<uint32_t>> StopWaiting(
    const InvocationId& id, const v1::InvocationStatus& status,
    const std::vector<v1::JournalEntry>& journal, const v1::Command& propagate,
    storage::Transaction& txn, std::vector<Action>& actions);

// Journals `entry`, now complete, at `index`: a running attempt is told, a
// suspended invocation waiting for it resumes, a paused one only records
// it. REQUIRES: the invocation is not completed.
absl::Status CompleteEntry(const InvocationId& id, v1::InvocationStatus& status,
                           uint32_t index, v1::JournalEntry entry,
                           int64_t now_ms, storage::Transaction& txn,
                           std::vector<Action>& actions);

// Sends `result`, of invocation `callee`, to the call entry `caller`.
absl::Status SendCallResult(const InvocationId& callee,
                            const v1::CallerRef& caller,
                            const v1::Result& result, int64_t now_ms,
                            storage::Transaction& txn,
                            std::vector<Action>& actions);

// Sends `command`, from invocation `source`, to invocation `destination`.
// When their partition keys share the high 32 bits (which alone decide the
// partition), they are on this partition: the command is applied right
// after the one being applied, in the same transaction (a
// LocalCommandAction). Otherwise it goes into the outbox, for the
// partition of `destination`.
absl::Status SendCommand(const InvocationId& source,
                         const InvocationId& destination, v1::Command command,
                         storage::Transaction& txn,
                         std::vector<Action>& actions);

// Makes the invocation run a new attempt (number status.attempt + 1) no
// earlier than `not_before_ms`, replaying its journal; writes `status`.
absl::Status StartNextAttempt(const InvocationId& id,
                              v1::InvocationStatus& status, int64_t now_ms,
                              int64_t not_before_ms, storage::Transaction& txn,
                              std::vector<Action>& actions);

}  // namespace reprise::state_machine
