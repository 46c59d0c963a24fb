// Operator commands about one invocation (cancel, pause, resume, kill,
// retry-now, purge, restart), from the ingress and the admin API. Each is
// checked against the invocation's state on its partition before it is
// appended, with the rules the state machine applies
// (state_machine/control.h), so that a request that cannot apply gets a
// clear error instead of being dropped.
//
// Thread-safety: call from any thread; `done` runs on the processor's
// thread or the log's. Ownership: borrows the processor.
#pragma once

#include "reprise/v1/log.pb.h"
#include "runtime/common/ids.h"
#include "runtime/partition/partition_processor.h"

namespace reprise::partition {

// Appends `command`, about invocation `id` (the id the command names),
// whose partition `processor` owns. `done` gets NOT_FOUND for an unknown
// invocation, FAILED_PRECONDITION (or INVALID_ARGUMENT for a bad restart
// index) saying why it does not apply, or OK once the command is durable.
void AppendControl(PartitionProcessor& processor, const InvocationId& id,
                   v1::Command command, PartitionProcessor::Done done);

}  // namespace reprise::partition
