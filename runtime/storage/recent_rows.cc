#include "runtime/storage/recent_rows.h"

#include <utility>

namespace reprise::storage {
namespace {

// What a row costs beyond its key and value: the map's slot and the
// strings' headers, roughly.
constexpr size_t kRowOverhead = 96;

size_t RowBytes(std::string_view key, const RecentRows::Row& row) {
  return key.size() + (row.has_value() ? row->size() : 0) + kRowOverhead;
}

}  // namespace

const RecentRows::Row* RecentRows::Find(std::string_view key) const {
  const absl::string_view k(key.data(), key.size());
  if (auto it = current_.find(k); it != current_.end()) return &it->second;
  if (auto it = previous_.find(k); it != previous_.end()) return &it->second;
  return nullptr;
}

void RecentRows::Put(std::string key, Row row) {
  const size_t bytes = RowBytes(key, row);
  auto [it, inserted] = current_.try_emplace(std::move(key));
  if (!inserted) current_bytes_ -= RowBytes(it->first, it->second);
  it->second = std::move(row);
  current_bytes_ += bytes;
  if (current_bytes_ > generation_bytes_) {
    previous_ = std::move(current_);
    current_ = Map();
    current_bytes_ = 0;
  }
}

}  // namespace reprise::storage
