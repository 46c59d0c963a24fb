// TruncateOutboxCommand: the leader appended the outbox messages up to
// `seq` to their partitions' logs; they need not be sent again.
#include <algorithm>

#include "runtime/common/status_macros.h"
#include "runtime/state_machine/commands/commands.h"

namespace reprise::state_machine {

absl::Status ApplyTruncateOutbox(const v1::TruncateOutboxCommand& command,
                                 storage::Transaction& txn) {
  REPRISE_ASSIGN_OR_RETURN(v1::OutboxCursor cursor, txn.GetOutboxCursor());
  const uint64_t end = std::min(command.seq() + 1, cursor.next());
  if (end <= cursor.head()) return absl::OkStatus();
  for (uint64_t seq = cursor.head(); seq < end; ++seq) txn.DeleteOutbox(seq);
  cursor.set_head(end);
  txn.PutOutboxCursor(cursor);
  return absl::OkStatus();
}

}  // namespace reprise::state_machine
