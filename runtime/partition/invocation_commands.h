// Commands about one invocation that come from outside its partition (the
// ingress, the admin API), checked against the invocation's state before
// they are appended, so that a request that cannot apply gets a clear
// error instead of being dropped by the state machine.
//
// Thread-safety: call from any thread; `done` runs on the processor's
// thread or the log's. Ownership: borrows the processor.
#pragma once

#include "runtime/common/ids.h"
#include "runtime/partition/partition_processor.h"

namespace reprise::partition {

// Cancels invocation `id`, whose partition `processor` owns (log.proto,
// CancelCommand). `done` gets NOT_FOUND for an unknown invocation,
// FAILED_PRECONDITION for a completed one or one cancelled before, or OK
// once the cancellation is durable.
void CancelInvocation(PartitionProcessor& processor, const InvocationId& id,
                      PartitionProcessor::Done done);

}  // namespace reprise::partition
