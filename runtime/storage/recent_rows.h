// RecentRows: rows one partition's transactions wrote last, kept in memory
// so that reading them back soon after needs no lookup in the store. A
// processor reads much of what it wrote a moment before (the invocation
// status at each proposal, the key lock at completion), and a lookup in
// the store's memtable walks a skip list of every row written since the
// last flush, one cache miss per step. Transaction decides which rows are
// worth remembering (storage/partition_store.h).
//
// Write-through: a transaction adds its rows once its batch is written, so
// this never holds a row the store does not. Bounded in bytes by two
// generations: once the current one outgrows half the bound it becomes the
// previous one, and the previous one is dropped; a dropped row is read from
// the store again.
//
// Thread-safety: none; a partition's transactions all run on its
// processor's thread. Every transaction of the partition that commits must
// use the same RecentRows, or it would go stale. Ownership: the caller's
// (the partition processor's); a Transaction only points to it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"

namespace reprise::storage {

class RecentRows {
 public:
  // A row: its value, or nullopt if it was deleted.
  using Row = std::optional<std::string>;

  explicit RecentRows(size_t max_bytes) : generation_bytes_(max_bytes / 2) {}

  // The row for `key` if known here; nullptr if the store must be asked.
  const Row* Find(std::string_view key) const;
  // Records that `key` now holds `row` in the store.
  void Put(std::string key, Row row);

 private:
  using Map = absl::flat_hash_map<std::string, Row>;

  const size_t generation_bytes_;
  Map current_;
  Map previous_;
  size_t current_bytes_ = 0;
};

}  // namespace reprise::storage
