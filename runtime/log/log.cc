#include "runtime/log/log.h"

#include "runtime/common/check.h"
#include "runtime/common/logging.h"

namespace reprise::log {

AppendCallback StopProcessOnFailure(std::string what) {
  return [what = std::move(what)](absl::StatusOr<Lsn> lsn) {
    if (lsn.ok()) return;
    reprise::Log(LogLevel::kError, "%s: %s", what, lsn.status().ToString());
    REPRISE_CHECK(false, "the log failed; restart the runtime");
  };
}

}  // namespace reprise::log
