// Test helper for embedded_log_test: opens the embedded log in DIR (two
// partitions), appends COUNT records "ROUND/i" to each partition, each
// durable before the next, and ends the process without closing the log,
// as a crash would.
//
//   append_and_crash DIR ROUND COUNT
//
// A process of its own, not a death test's fork: a child forked from a
// process that already used RocksDB lacks the background threads that
// opening the log may wait for (the flush after a crash).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "runtime/log/embedded_log.h"

int main(int argc, char** argv) {
  int round = 0;
  int count = 0;
  if (argc != 4 || !absl::SimpleAtoi(argv[2], &round) ||
      !absl::SimpleAtoi(argv[3], &count)) {
    std::fprintf(stderr, "usage: append_and_crash DIR ROUND COUNT\n");
    return 2;
  }
  auto log = reprise::log::EmbeddedLog::Open(argv[1], 2);
  if (!log.ok()) {
    std::fprintf(stderr, "%s\n", log.status().ToString().c_str());
    return 1;
  }
  for (int i = 0; i < count; ++i) {
    for (uint32_t p = 0; p < 2; ++p) {
      absl::Notification done;
      absl::Status status;
      (*log)->Append(reprise::PartitionId(p), absl::StrCat(round, "/", i),
                     [&](absl::StatusOr<reprise::Lsn> lsn) {
                       status = lsn.status();
                       done.Notify();
                     });
      done.WaitForNotification();
      if (!status.ok()) {
        std::fprintf(stderr, "%s\n", status.ToString().c_str());
        return 1;
      }
    }
  }
  std::_Exit(0);
}
