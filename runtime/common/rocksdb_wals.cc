#include "runtime/common/rocksdb_wals.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "rocksdb/db.h"
#include "runtime/common/rocksdb_status.h"
#include "runtime/common/status_macros.h"

namespace reprise {

absl::Status RetireReplayedWals(rocksdb::DB& db, const std::string& dir,
                                int max_wals, std::string_view key,
                                std::string_view value, std::string_view what) {
  // Listed here: RocksDB's GetSortedWalFiles skips WALs without a record.
  int wals = 0;
  std::error_code error;
  for (std::filesystem::directory_iterator it(dir, error), end;
       !error && it != end; it.increment(error)) {
    if (it->path().extension() == ".log") ++wals;
  }
  if (error || wals <= max_wals) return absl::OkStatus();
  const std::string context =
      absl::StrCat("retiring the replayed WALs of ",
                   absl::string_view(what.data(), what.size()));
  auto check = [&](const rocksdb::Status& s) {
    return FromRocksStatus(s, context);
  };
  REPRISE_RETURN_IF_ERROR(check(db.Put(rocksdb::WriteOptions(), key, value)));
  REPRISE_RETURN_IF_ERROR(check(db.Flush(rocksdb::FlushOptions())));
  // The flush job deletes the WALs it retired after Flush returns: pausing
  // waits for it. It leaves those replayed without a record (seen in
  // RocksDB's LOG): enabling deletions again scans the directory and
  // deletes every obsolete file, on this thread.
  REPRISE_RETURN_IF_ERROR(check(db.PauseBackgroundWork()));
  REPRISE_RETURN_IF_ERROR(check(db.ContinueBackgroundWork()));
  REPRISE_RETURN_IF_ERROR(check(db.DisableFileDeletions()));
  return check(db.EnableFileDeletions(/*force=*/false));
}

}  // namespace reprise
