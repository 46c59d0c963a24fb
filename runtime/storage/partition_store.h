// The partition store: the state each partition processor derives from its
// log, in one RocksDB instance shared by all partitions (keys.h), plus a
// small metadata table for cluster-wide data such as the service registry.
//
// Durability: partition writes are not synced. The log is the durable copy;
// the applied Lsn is written in the same batch as the state it produced, so
// after a crash the processor re-applies the log from there. The log is
// trimmed only below what SyncWal made durable. Metadata writes are synced
// (they are not derived from the log).
//
// Thread-safety: Store and PartitionReader methods may be called from any
// thread (RocksDB reads are thread-safe). A Transaction belongs to one
// thread, the partition processor's. Ownership: Store owns the RocksDB
// instance and must outlive every reader and transaction made from it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "reprise/v1/journal.pb.h"
#include "reprise/v1/storage.pb.h"
#include "runtime/common/ids.h"
#include "runtime/storage/recent_rows.h"

namespace rocksdb {
class DB;
class Iterator;
class WriteBatchWithIndex;
}  // namespace rocksdb

namespace reprise::storage {

struct Timer;

// Typed reads of one partition's tables, over a point-read and an iterator
// primitive that the store and the transaction each supply.
class PartitionReader {
 public:
  virtual ~PartitionReader() = default;

  PartitionId partition() const { return partition_; }

  // The Lsn of the last command applied; Lsn(0) before the first.
  absl::StatusOr<Lsn> GetAppliedLsn();
  absl::StatusOr<std::optional<v1::InvocationStatus>> GetInvocationStatus(
      const InvocationId& id);
  // Journal entry `index` of `id`, if it exists.
  absl::StatusOr<std::optional<v1::JournalEntry>> GetJournalEntry(
      const InvocationId& id, uint32_t index);
  // Journal entries 0..n-1 of `id`, in index order.
  absl::StatusOr<std::vector<v1::JournalEntry>> GetJournal(
      const InvocationId& id);
  // Calls `fn` for each invocation of the partition, in id order, until it
  // returns false.
  absl::Status ForEachInvocation(
      const std::function<bool(const InvocationId&,
                               const v1::InvocationStatus&)>& fn);
  // Calls `fn` for each durable timer of the partition, soonest first.
  absl::Status ForEachTimer(const std::function<void(const Timer&)>& fn);

  // K/V state of the virtual object or workflow `object` (its service and
  // key; the handler is ignored).
  absl::StatusOr<std::optional<std::string>> GetState(
      const v1::Target& object, std::string_view state_key);
  // Calls `fn` for each state entry of `object`, in key order, until it
  // returns false.
  absl::Status ForEachState(
      const v1::Target& object,
      const std::function<bool(std::string_view key, std::string_view value)>&
          fn);
  // The exclusive invocation holding `object`'s key, if any.
  absl::StatusOr<std::optional<v1::KeyLock>> GetKeyLock(
      const v1::Target& object);
  // Workflow `object`'s promise `name`: its completion, if it has one.
  absl::StatusOr<std::optional<v1::Result>> GetPromise(const v1::Target& object,
                                                       std::string_view name);
  // The journal entries (invocation, index) waiting for that promise.
  absl::StatusOr<std::vector<std::pair<InvocationId, uint32_t>>>
  GetPromiseWaiters(const v1::Target& object, std::string_view name);
  // The outbox's cursor (zeros while it has never held a message).
  absl::StatusOr<v1::OutboxCursor> GetOutboxCursor();
  // Calls `fn` for each outbox message not known to be delivered, in order.
  absl::Status ForEachOutbox(
      const std::function<void(uint64_t seq, const v1::OutboxMessage&)>& fn);
  // Calls `fn` for each completed invocation due for removal at or before
  // `up_to_ms`, soonest first, until it returns false.
  absl::Status ForEachExpiry(
      int64_t up_to_ms,
      const std::function<bool(int64_t expires_at_ms, const InvocationId&)>&
          fn);
  // When the soonest removal is due, if any is.
  absl::StatusOr<std::optional<int64_t>> FirstExpiry();
  // The highest offset of Kafka partition `kafka_partition` of `topic`
  // that subscription `subscription_id` turned into an invocation on this
  // partition, if any.
  absl::StatusOr<std::optional<int64_t>> GetKafkaOffset(
      std::string_view subscription_id, std::string_view topic,
      int32_t kafka_partition);
  // The highest outbox sequence number of partition `source` whose command
  // was applied here, if any.
  absl::StatusOr<std::optional<uint64_t>> GetOutboxDedup(PartitionId source);
  // The invocation queued at `seq` in `object`'s inbox, if any.
  absl::StatusOr<std::optional<InvocationId>> GetQueued(
      const v1::Target& object, uint64_t seq);

 protected:
  explicit PartitionReader(PartitionId partition) : partition_(partition) {}
  virtual absl::StatusOr<std::optional<std::string>> Get(
      const std::string& key) = 0;
  // With `one_state_prefix`, the iterator may stop at the end of the
  // seek key's object state (rows of one object's `st` prefix): the store
  // then skips, by their prefix bloom filters, the table files that hold
  // none of that object's state.
  virtual std::unique_ptr<rocksdb::Iterator> NewIterator(
      bool one_state_prefix) = 0;

 private:
  const PartitionId partition_;
};

class Store;

// A durable timer: completes journal entry `index` of `invocation_id`.
struct Timer {
  int64_t wake_up_at_ms = 0;
  InvocationId invocation_id;
  uint32_t index = 0;
};

// A batch of writes to one partition, applied atomically by Commit. Reads
// through a transaction see its own uncommitted writes (scans too, except
// the applied Lsn row, which Commit writes; nothing scans table "fs").
class Transaction final : public PartitionReader {
 public:
  // With `recent` (not owned; null: none), reads look there before the
  // store, and Commit records there the rows a processor reads back soon
  // after writing them: invocation statuses, key locks, the outbox dedup
  // marks, and journal entries that wait for a completion (sleep, call,
  // awakeable, promise get). REQUIRES: once a partition has a RecentRows,
  // every transaction of that partition that commits uses it (else it
  // goes stale); the partition processor's are the only ones.
  Transaction(Store& store, PartitionId partition,
              RecentRows* recent = nullptr);
  ~Transaction() override;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  // The row is written once, at Commit, with the last Lsn put: a batch of
  // commands costs one write of it, not one per command.
  void PutAppliedLsn(Lsn lsn);
  void PutInvocationStatus(const InvocationId& id,
                           const v1::InvocationStatus& status);
  void PutJournalEntry(const InvocationId& id, uint32_t index,
                       const v1::JournalEntry& entry);
  void PutTimer(const Timer& timer);
  void DeleteTimer(const Timer& timer);
  void PutState(const v1::Target& object, std::string_view state_key,
                std::string_view value);
  void DeleteState(const v1::Target& object, std::string_view state_key);
  absl::Status DeleteAllState(const v1::Target& object);
  void PutKeyLock(const v1::Target& object, const v1::KeyLock& lock);
  void DeleteKeyLock(const v1::Target& object);
  void PutQueued(const v1::Target& object, uint64_t seq,
                 const InvocationId& id);
  void DeleteQueued(const v1::Target& object, uint64_t seq);
  void PutPromise(const v1::Target& object, std::string_view name,
                  const v1::Result& completion);
  void PutPromiseWaiter(const v1::Target& object, std::string_view name,
                        const InvocationId& id, uint32_t index);
  void DeletePromiseWaiter(const v1::Target& object, std::string_view name,
                           const InvocationId& id, uint32_t index);
  void PutOutboxCursor(const v1::OutboxCursor& cursor);
  void PutOutbox(uint64_t seq, const v1::OutboxMessage& message);
  void DeleteOutbox(uint64_t seq);
  void PutExpiry(int64_t expires_at_ms, const InvocationId& id);
  void DeleteExpiry(int64_t expires_at_ms, const InvocationId& id);
  void PutOutboxDedup(PartitionId source, uint64_t seq);
  void PutKafkaOffset(std::string_view subscription_id, std::string_view topic,
                      int32_t kafka_partition, int64_t offset);
  // Removes every promise of workflow `object`.
  absl::Status DeleteAllPromises(const v1::Target& object);
  // Removes the invocation's status, journal and pending timers.
  absl::Status DeleteInvocation(const InvocationId& id);

  // Writes the batch (unsynced, see above). The transaction is empty after.
  absl::Status Commit();

  // From now on, appends every status written to `*into` as well (for
  // watchers of status changes); nullptr stops it. `into` must outlive
  // the transaction's writes.
  void RecordStatusWrites(
      std::vector<std::pair<InvocationId, v1::InvocationStatus>>* into) {
    status_writes_ = into;
  }

 protected:
  absl::StatusOr<std::optional<std::string>> Get(
      const std::string& key) override;
  std::unique_ptr<rocksdb::Iterator> NewIterator(
      bool one_state_prefix) override;

 private:
  // A row for RecentRows, kept until the commit (if there is one); with
  // `if_known`, only to update a copy RecentRows already has.
  struct Remembered {
    std::string key;
    RecentRows::Row row;
    bool if_known;
  };
  // Puts (or, for nullopt, deletes) the row and remembers it for RecentRows.
  void WriteRemembered(std::string key, RecentRows::Row row,
                       bool if_known = false);

  Store& store_;
  RecentRows* const recent_;
  std::unique_ptr<rocksdb::WriteBatchWithIndex> batch_;
  std::vector<Remembered> remembered_;
  std::optional<Lsn> applied_lsn_;  // written by Commit
  std::vector<std::pair<InvocationId, v1::InvocationStatus>>* status_writes_ =
      nullptr;
};

class Store {
 public:
  // Opens (creating if missing) the store in `dir`. DataLoss on corruption.
  static absl::StatusOr<std::unique_ptr<Store>> Open(const std::string& dir);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // A reader of committed state of `partition`.
  std::unique_ptr<PartitionReader> Reader(PartitionId partition);

  // Makes every committed partition write durable: one sync of the WAL,
  // which holds each batch committed before the call. Until then a machine
  // crash may lose the latest batches, which recovery re-derives from the
  // log; once this returns, the log records they came from may go.
  absl::Status SyncWal();
  // Writes what the memtable holds out to a table file and waits for it.
  absl::Status Flush();

  absl::Status PutMetadata(std::string_view name, const std::string& value);
  absl::StatusOr<std::optional<std::string>> GetMetadata(std::string_view name);

  rocksdb::DB& db() { return *db_; }

 private:
  explicit Store(std::unique_ptr<rocksdb::DB> db);
  const std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace reprise::storage
