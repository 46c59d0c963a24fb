// StateMachine: applies the commands of one partition's log to its store.
//
// Apply is deterministic: it reads only the command and the store, never a
// clock, randomness or the network, so every replica and every replay after
// a crash derives the same state. It writes through the given transaction
// and records the command's Lsn there, in the same batch, so a command is
// applied at most once even if the log is re-read from an older position.
// Side effects are returned as Actions for the leader to execute.
//
// Commands that are well-formed but no longer apply (a duplicate invoke, an
// entry from a superseded attempt) are dropped without error. Errors are
// returned only for storage failures, after which the processor must stop.
//
// Thread-safety: none; one per partition processor, used by one thread at a
// time.
#pragma once

#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "reprise/v1/log.pb.h"
#include "runtime/state_machine/action.h"
#include "runtime/storage/partition_store.h"

namespace reprise::state_machine {

class StateMachine {
 public:
  // REQUIRES: every transaction given is of the same partition, and only
  // this instance applies commands to it (the applied Lsn is cached).
  absl::Status Apply(const v1::Command& command, Lsn lsn,
                     storage::Transaction& txn, std::vector<Action>& actions);

 private:
  // The partition's applied Lsn, read from the store once.
  std::optional<Lsn> applied_;
};

}  // namespace reprise::state_machine
