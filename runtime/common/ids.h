// Strong identifier types: log positions, partitions and invocations.
//
// Thread-safety: value types; const methods may be called concurrently.
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/hash/hash.h"
#include "absl/status/statusor.h"

namespace reprise {

// A value of type T that only converts explicitly, so that an Lsn can never be
// passed where a PartitionId is expected.
template <typename Tag, typename T>
class StrongId {
 public:
  constexpr StrongId() = default;
  constexpr explicit StrongId(T value) : value_(value) {}
  constexpr T value() const { return value_; }
  constexpr auto operator<=>(const StrongId&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, StrongId id) {
    return H::combine(std::move(h), id.value_);
  }

 private:
  T value_{};
};

// Log sequence number: the position of a record in a partition's log. The
// first record of a log has Lsn 1; Lsn 0 means "nothing".
using Lsn = StrongId<struct LsnTag, uint64_t>;
using PartitionId = StrongId<struct PartitionIdTag, uint32_t>;

// Identifies an invocation for its whole life. 16 bytes: the partition key
// (which decides the partition) followed by 8 random bytes. Text form:
// "inv_" + 32 lowercase hex digits.
class InvocationId {
 public:
  static constexpr size_t kBytes = 16;

  InvocationId() = default;
  InvocationId(uint64_t partition_key, uint64_t unique)
      : partition_key_(partition_key), unique_(unique) {}

  // Parses the 16-byte binary form used in protos and storage keys.
  static absl::StatusOr<InvocationId> FromBytes(std::string_view bytes);
  // Parses the "inv_..." text form shown to users.
  static absl::StatusOr<InvocationId> Parse(std::string_view text);

  uint64_t partition_key() const { return partition_key_; }
  std::string ToBytes() const;
  std::string ToString() const;

  auto operator<=>(const InvocationId&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const InvocationId& id) {
    return H::combine(std::move(h), id.partition_key_, id.unique_);
  }

 private:
  uint64_t partition_key_ = 0;
  uint64_t unique_ = 0;
};

// Maps a partition key onto one of `partitions` partitions by range, so that
// the mapping is stable for a fixed partition count.
// REQUIRES: partitions > 0.
inline PartitionId PartitionForKey(uint64_t partition_key,
                                   uint32_t partitions) {
  // The high 32 bits of the key times the count, over 2^32: a range split
  // that needs no 128-bit arithmetic.
  return PartitionId(
      static_cast<uint32_t>(((partition_key >> 32) * partitions) >> 32));
}

}  // namespace reprise
