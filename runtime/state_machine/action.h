// Actions: what applying a command asks the partition's leader to do. They
// are data, so followers (and recovery replays) can simply drop them.
#pragma once

#include <variant>
#include <vector>

#include "reprise/v1/common.pb.h"
#include "reprise/v1/journal.pb.h"
#include "runtime/common/ids.h"

namespace reprise::state_machine {

// Run an attempt of the invocation, replaying `journal`.
struct StartAttemptAction {
  InvocationId invocation_id;
  v1::Target target;
  std::vector<v1::JournalEntry> journal;
};

// The invocation completed: answer callers waiting for it and free its
// attempt's slot.
struct InvocationCompletedAction {
  InvocationId invocation_id;
  v1::Result result;
};

using Action = std::variant<StartAttemptAction, InvocationCompletedAction>;

}  // namespace reprise::state_machine
