#include "runtime/partition/invocation_commands.h"

#include "absl/strings/str_format.h"
#include "runtime/common/status_macros.h"

namespace reprise::partition {

void CancelInvocation(PartitionProcessor& processor, const InvocationId& id,
                      PartitionProcessor::Done done) {
  v1::Command command;
  command.mutable_cancel()->set_invocation_id(id.ToBytes());
  processor.AppendIfValid(
      std::move(command),
      [id](storage::PartitionReader& reader) -> absl::Status {
        REPRISE_ASSIGN_OR_RETURN(auto status, reader.GetInvocationStatus(id));
        if (!status.has_value()) {
          return absl::NotFoundError(
              absl::StrFormat("no invocation %s", id.ToString()));
        }
        if (status->state() == v1::INVOCATION_STATE_COMPLETED) {
          return absl::FailedPreconditionError(absl::StrFormat(
              "invocation %s has completed (%s): only one that has not can "
              "be cancelled",
              id.ToString(),
              status->result().has_failure() ? "failed" : "succeeded"));
        }
        if (status->cancelled()) {
          return absl::FailedPreconditionError(absl::StrFormat(
              "invocation %s was cancelled already (its handler may be "
              "running its compensations)",
              id.ToString()));
        }
        return absl::OkStatus();
      },
      std::move(done));
}

}  // namespace reprise::partition
