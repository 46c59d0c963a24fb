// Which operator commands (cancel, pause, resume, kill, retry-now, purge,
// restart) apply to an invocation in which state. Shared by the state
// machine, which drops a command that does not apply, and the admin API,
// which refuses it first with an error saying why, so the two never
// disagree.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "reprise/v1/journal.pb.h"
#include "reprise/v1/log.pb.h"
#include "reprise/v1/storage.pb.h"
#include "runtime/common/ids.h"

namespace reprise::state_machine {

// The invocation's status as operators name it, as far as the state
// machine knows: "scheduled", "queued", "running" (which includes waiting
// for a worker), "backing-off", "suspended", "paused", "succeeded",
// "failed".
std::string StateName(const v1::InvocationStatus& status, int64_t now_ms);

// OK if `command` (one of the kinds above) applies to invocation `id` in
// `status` at `now_ms`; else FAILED_PRECONDITION naming its status and the
// statuses the command applies to.
absl::Status CheckControl(const v1::Command& command, const InvocationId& id,
                          const v1::InvocationStatus& status, int64_t now_ms);

// OK if a restart may keep entries [0, from) of `journal`: 1 <= from, the
// entries exist and are complete, and none is the output.
absl::Status CheckRestartPrefix(const std::vector<v1::JournalEntry>& journal,
                                uint32_t from);

}  // namespace reprise::state_machine
