// The data directory: FORMAT (format version and partition count), log/
// (the embedded log) and state/ (the partition store). A directory written
// by another format version, with another partition count, or that is not a
// Reprise data directory is refused, never reset.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace reprise::server {

inline constexpr int kDataFormatVersion = 1;

// Creates `dir` with a FORMAT file if it is missing or empty; otherwise
// checks its FORMAT file against this build and `partitions`.
absl::Status PrepareDataDir(const std::string& dir, uint32_t partitions);

}  // namespace reprise::server
