// RetireReplayedWals: bounds the WALs a RocksDB instance keeps across
// restarts. An open replays every live WAL into the memtable and starts a
// new one; the replayed ones stay until the memtable is flushed. A runtime
// that restarts often (a crash loop) would add one a restart, on disk and
// to every later open.
//
// Thread-safety: call right after opening `db`, before other threads use
// it. Ownership: borrows `db`.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace rocksdb {
class DB;
}  // namespace rocksdb

namespace reprise {

// When `dir` holds more than `max_wals` WALs (`*.log`), writes `key` =
// `value` (a flush skips an empty memtable, and only a flush retires
// WALs), flushes, and deletes the retired WALs before it returns; `what`
// names the database in errors. One WAL, newer than all replayed ones, is
// left.
absl::Status RetireReplayedWals(rocksdb::DB& db, const std::string& dir,
                                int max_wals, std::string_view key,
                                std::string_view value, std::string_view what);

}  // namespace reprise
