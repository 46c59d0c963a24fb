// Strong identifier types: log positions, partitions and invocations.
//
// Thread-safety: value types; const methods may be called concurrently.
#pragma once

#include <compare>
#include <cstdint>
#include <initializer_list>
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
// (which decides the partition) followed by 8 more bytes (docs/formats.md).
// Text form: "inv_" + 32 lowercase hex digits.
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

// The partition key of `partition` (of `partitions`) whose low 32 bits are
// `sequence`: the first of the partition's range in the high 32 bits, so
// that keys of one partition sort by `sequence`.
// REQUIRES: partition.value() < partitions.
inline uint64_t PartitionKeyIn(PartitionId partition, uint32_t partitions,
                               uint32_t sequence) {
  // The least h with h * partitions >= partition * 2^32.
  const uint64_t first =
      ((uint64_t{partition.value()} << 32) + partitions - 1) / partitions;
  return (first << 32) | sequence;
}

// An awakeable: journal entry `index` of `invocation_id`. Text form
// "awk_" + 40 lowercase hex digits (the 16 id bytes, the index u32 BE).
struct AwakeableRef {
  InvocationId invocation_id;
  uint32_t index = 0;

  static absl::StatusOr<AwakeableRef> Parse(std::string_view text);
  std::string ToString() const;
};

// Stable hashes behind partition keys and derived invocation ids. Fixed
// forever: changing them would move keys between partitions and break the
// deduplication of repeated requests.

// FNV-1a from `basis` over `bytes`, then the splitmix64 finalizer.
uint64_t StableHash64(uint64_t basis, std::string_view bytes);
inline constexpr uint64_t kHashBasisA = 0xcbf29ce484222325ULL;
inline constexpr uint64_t kHashBasisB = 0x84222325cbf29ce4ULL;

// The partition key of a virtual object's or workflow's key.
uint64_t KeyPartitionHash(std::string_view service, std::string_view key);

// "<size>:<part>" for each part: an unambiguous concatenation to hash.
std::string LengthPrefixed(std::initializer_list<std::string_view> parts);

// An id derived from `seed` (which must identify the request uniquely): on
// the partition of (service, key) when `key` is set, anywhere otherwise.
InvocationId DerivedInvocationId(std::string_view seed,
                                 std::string_view service,
                                 std::string_view key);

// The id of the invocation that `caller` starts with a call or send entry,
// from `seed` as DerivedInvocationId. A keyed target's is
// DerivedInvocationId's, on its key's partition. A stateless target's
// shares the caller's partition key's high 32 bits, so it is on the
// caller's partition whatever the partition count, and the call and its
// result never go through another partition's log (SendCommand in the
// state machine); `sequence` fills the low 32 bits.
InvocationId CalleeInvocationId(const InvocationId& caller,
                                std::string_view seed, std::string_view service,
                                std::string_view key, uint32_t sequence);

// The one invocation of workflow `service`'s run handler for `key`: every
// submission of that workflow names it, so it runs once per workflow id.
InvocationId WorkflowRunId(std::string_view service, std::string_view key);

}  // namespace reprise
