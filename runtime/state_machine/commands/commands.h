// One function per command kind, each in its own file. Internal to the state
// machine; see state_machine.h for the contract they share.
#pragma once

#include <vector>

#include "absl/status/status.h"
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

}  // namespace reprise::state_machine
