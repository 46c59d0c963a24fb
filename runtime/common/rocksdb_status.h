// Translation of rocksdb::Status into absl::Status, used once at the edge of
// each RocksDB-backed component. Header-only: include it only from targets
// that link RocksDB.
#pragma once

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "rocksdb/status.h"

namespace reprise {

inline absl::Status FromRocksStatus(const rocksdb::Status& s,
                                    std::string_view context) {
  if (s.ok()) return absl::OkStatus();
  std::string msg = absl::StrCat(
      absl::string_view(context.data(), context.size()), ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut())
    return absl::UnavailableError(msg);
  if (s.IsIOError()) return absl::UnavailableError(msg);
  return absl::InternalError(msg);
}

}  // namespace reprise
