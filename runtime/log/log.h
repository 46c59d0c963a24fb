// Log: an append-only, partitioned log of commands, the source of truth of
// Reprise. Every partition is an independent sequence of records numbered by
// Lsn, starting at 1:
//
//        trim point          durable tail
//            v                    v
//   [ 1 ][ 2 ][ 3 ][ 4 ][ 5 ][ 6 ]  7  ...
//   trimmed   readable records      the first unwritten position
//
// Contract every implementation satisfies (tests/log_conformance.h):
//  - Append acknowledges a record only once it is durable: after the callback
//    reports Lsn n, record n survives a crash of the process or the machine.
//  - Lsns of one partition are consecutive; callbacks of one partition run
//    in Lsn order.
//  - Read returns only durable records, in Lsn order, never those below the
//    trim point.
//  - The tail listener is told every time a partition's durable tail moves.
//
// Thread-safety: all methods may be called from any thread. Callbacks and
// the tail listener run on an internal thread and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/common/ids.h"

namespace reprise::log {

struct Record {
  Lsn lsn;
  std::string payload;
};

// Receives the Lsn of a durable record, or why the append failed.
using AppendCallback = absl::AnyInvocable<void(absl::StatusOr<Lsn>)>;
// Told the new durable tail (first unwritten Lsn) of a partition.
using TailListener = std::function<void(PartitionId, Lsn tail)>;

class Log {
 public:
  virtual ~Log() = default;

  virtual uint32_t partitions() const = 0;

  // Appends `payload` to the end of `partition`. Never blocks; `done` runs
  // exactly once, after the record is durable or the append has failed.
  // A failed append fails every later one too (the log is fail-stop).
  virtual void Append(PartitionId partition, std::string payload,
                      AppendCallback done) = 0;

  // Returns durable records of `partition` with Lsn >= `from`, at most
  // `max_records`, without waiting for new ones. An empty result means
  // `from` is at (or past) the durable tail.
  virtual absl::StatusOr<std::vector<Record>> Read(PartitionId partition,
                                                   Lsn from,
                                                   size_t max_records) = 0;

  // The first unwritten position of `partition` (1 for an empty log).
  virtual absl::StatusOr<Lsn> FindTail(PartitionId partition) = 0;

  // Discards the records of `partition` below `before`.
  // REQUIRES: calls for one partition do not overlap (one trimmer).
  virtual absl::Status Trim(PartitionId partition, Lsn before) = 0;

  // Whether no append waits to be written: a hint for a tail listener that
  // could do some work of its own on the log's thread meanwhile.
  virtual bool Idle() const = 0;

  // Installs the one tail listener. REQUIRES: called before the first Append.
  virtual void SetTailListener(TailListener listener) = 0;
};

// The callback for an append whose loss would leave work waiting forever (a
// proposal, a timer's firing): logs `what` and stops the process if the
// append fails. The log is fail-stop, so nothing more could become durable;
// a restart recovers everything from the log.
AppendCallback StopProcessOnFailure(std::string what);

}  // namespace reprise::log
