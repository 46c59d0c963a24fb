#include "runtime/partition/invocation_commands.h"

#include "absl/strings/str_format.h"
#include "runtime/common/clock.h"
#include "runtime/common/status_macros.h"
#include "runtime/state_machine/control.h"

namespace reprise::partition {

void AppendControl(PartitionProcessor& processor, const InvocationId& id,
                   v1::Command command, PartitionProcessor::Done done) {
  v1::Command checked = command;  // the check keeps its own copy
  processor.AppendIfValid(
      std::move(command),
      [id, checked = std::move(checked)](
          storage::PartitionReader& reader) -> absl::Status {
        REPRISE_ASSIGN_OR_RETURN(auto status, reader.GetInvocationStatus(id));
        if (!status.has_value()) {
          return absl::NotFoundError(
              absl::StrFormat("no invocation %s", id.ToString()));
        }
        REPRISE_RETURN_IF_ERROR(
            state_machine::CheckControl(checked, id, *status, NowMillis()));
        if (checked.has_restart()) {
          REPRISE_ASSIGN_OR_RETURN(auto journal, reader.GetJournal(id));
          REPRISE_RETURN_IF_ERROR(state_machine::CheckRestartPrefix(
              journal, checked.restart().from()));
        }
        return absl::OkStatus();
      },
      std::move(done));
}

}  // namespace reprise::partition
