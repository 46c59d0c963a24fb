#include "runtime/storage/partition_store.h"

#include <limits>

#include "absl/strings/str_format.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/write_batch_with_index.h"
#include "runtime/common/big_endian.h"
#include "runtime/common/rocksdb_status.h"
#include "runtime/common/rocksdb_wals.h"
#include "runtime/common/status_macros.h"
#include "runtime/storage/keys.h"

namespace reprise::storage {
namespace {

template <typename Message>
absl::StatusOr<Message> ParseValue(const std::string& bytes,
                                   std::string_view what) {
  Message message;
  if (!message.ParseFromString(bytes)) {
    return absl::DataLossError(
        absl::StrFormat("corrupt %s in the partition store", what));
  }
  return message;
}

// The prefix of a row of table "st": 'p' | partition | "st" | object key,
// the object key being u32 BE length | service | u32 BE length | key (so
// that no object's prefix is a prefix of another's). Rows of other tables
// have none. The state of most objects is in one table file or none, so
// the prefix bloom filters spare the scan of one object's state a seek in
// every other file. The name is stored with each table file: a table
// written with another extractor is read without its prefix filter, never
// wrongly.
class StatePrefixExtractor final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "reprise.StatePrefix.1"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), PrefixSize(key));
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return PrefixSize(key) > 0;
  }

 private:
  // 0 for a key with no state prefix.
  static size_t PrefixSize(const rocksdb::Slice& key) {
    const rocksdb::Slice state_table(kStateTable.data(), kStateTable.size());
    if (key.size() < kTablePrefixSize || key[0] != 'p' ||
        rocksdb::Slice(key.data() + kTablePrefixSize - state_table.size(),
                       state_table.size()) != state_table) {
      return 0;
    }
    size_t end = kTablePrefixSize;
    for (int part = 0; part < 2; ++part) {  // service, then key
      if (key.size() < end + 4) return 0;
      end += 4 + DecodeBigEndian32(key.data() + end);
      if (end > key.size()) return 0;
    }
    return end;
  }
};

rocksdb::ReadOptions IteratorOptions(bool one_state_prefix) {
  rocksdb::ReadOptions options;
  // Every other scan reads in plain key order, beyond any prefix: with a
  // prefix extractor set, only total_order_seek guarantees that.
  options.prefix_same_as_start = one_state_prefix;
  options.total_order_seek = !one_state_prefix;
  return options;
}

// Reads committed state straight from the database.
class DbReader final : public PartitionReader {
 public:
  DbReader(rocksdb::DB& db, PartitionId partition)
      : PartitionReader(partition), db_(db) {}

 protected:
  absl::StatusOr<std::optional<std::string>> Get(
      const std::string& key) override {
    std::string value;
    rocksdb::Status s = db_.Get(rocksdb::ReadOptions(), key, &value);
    if (s.IsNotFound()) return std::nullopt;
    REPRISE_RETURN_IF_ERROR(FromRocksStatus(s, "partition store read"));
    return value;
  }
  std::unique_ptr<rocksdb::Iterator> NewIterator(
      bool one_state_prefix) override {
    return std::unique_ptr<rocksdb::Iterator>(
        db_.NewIterator(IteratorOptions(one_state_prefix)));
  }

 private:
  rocksdb::DB& db_;
};

}  // namespace

absl::StatusOr<Lsn> PartitionReader::GetAppliedLsn() {
  REPRISE_ASSIGN_OR_RETURN(auto value, Get(AppliedLsnKey(partition_)));
  if (!value.has_value()) return Lsn(0);
  if (value->size() != 8) {
    return absl::DataLossError("corrupt applied Lsn in the partition store");
  }
  return Lsn(DecodeBigEndian64(value->data()));
}

absl::StatusOr<std::optional<v1::InvocationStatus>>
PartitionReader::GetInvocationStatus(const InvocationId& id) {
  REPRISE_ASSIGN_OR_RETURN(auto value,
                           Get(InvocationStatusKey(partition_, id)));
  if (!value.has_value()) return std::nullopt;
  return ParseValue<v1::InvocationStatus>(*value, "invocation status");
}

absl::StatusOr<std::optional<v1::JournalEntry>>
PartitionReader::GetJournalEntry(const InvocationId& id, uint32_t index) {
  REPRISE_ASSIGN_OR_RETURN(auto value, Get(JournalKey(partition_, id, index)));
  if (!value.has_value()) return std::nullopt;
  return ParseValue<v1::JournalEntry>(*value, "journal entry");
}

absl::StatusOr<std::vector<v1::JournalEntry>> PartitionReader::GetJournal(
    const InvocationId& id) {
  const std::string prefix = JournalPrefix(partition_, id);
  std::vector<v1::JournalEntry> entries;
  auto it = NewIterator(/*one_state_prefix=*/false);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    uint32_t index = DecodeBigEndian32(it->key().data() + prefix.size());
    if (index != entries.size()) {
      return absl::DataLossError(
          absl::StrFormat("journal of %s has a gap at index %d", id.ToString(),
                          entries.size()));
    }
    REPRISE_ASSIGN_OR_RETURN(
        auto entry,
        ParseValue<v1::JournalEntry>(it->value().ToString(), "journal entry"));
    entries.push_back(std::move(entry));
  }
  REPRISE_RETURN_IF_ERROR(FromRocksStatus(it->status(), "journal read"));
  return entries;
}

absl::Status PartitionReader::ForEachInvocation(
    const std::function<bool(const InvocationId&, const v1::InvocationStatus&)>&
        fn) {
  const std::string prefix = TablePrefix(partition_, kInvocationStatusTable);
  auto it = NewIterator(/*one_state_prefix=*/false);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    rocksdb::Slice key = it->key();
    key.remove_prefix(prefix.size());
    REPRISE_ASSIGN_OR_RETURN(InvocationId id,
                             InvocationId::FromBytes({key.data(), key.size()}));
    REPRISE_ASSIGN_OR_RETURN(
        auto status, ParseValue<v1::InvocationStatus>(it->value().ToString(),
                                                      "invocation status"));
    if (!fn(id, status)) break;
  }
  return FromRocksStatus(it->status(), "invocation scan");
}

absl::Status PartitionReader::ForEachTimer(
    const std::function<void(const Timer&)>& fn) {
  const std::string prefix = TablePrefix(partition_, kTimerTable);
  auto it = NewIterator(/*one_state_prefix=*/false);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    rocksdb::Slice key = it->key();
    key.remove_prefix(prefix.size());
    if (key.size() != 8 + InvocationId::kBytes + 4) {
      return absl::DataLossError("corrupt timer key in the partition store");
    }
    Timer timer;
    timer.wake_up_at_ms = static_cast<int64_t>(DecodeBigEndian64(key.data()));
    REPRISE_ASSIGN_OR_RETURN(
        timer.invocation_id,
        InvocationId::FromBytes({key.data() + 8, InvocationId::kBytes}));
    timer.index = DecodeBigEndian32(key.data() + 8 + InvocationId::kBytes);
    fn(timer);
  }
  return FromRocksStatus(it->status(), "timer scan");
}

absl::Status PartitionReader::ForEachExpiry(
    int64_t up_to_ms,
    const std::function<bool(int64_t, const InvocationId&)>& fn) {
  const std::string prefix = TablePrefix(partition_, kExpiryTable);
  auto it = NewIterator(/*one_state_prefix=*/false);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    rocksdb::Slice key = it->key();
    key.remove_prefix(prefix.size());
    if (key.size() != 8 + InvocationId::kBytes) {
      return absl::DataLossError("corrupt expiry key in the partition store");
    }
    const auto at = static_cast<int64_t>(DecodeBigEndian64(key.data()));
    if (at > up_to_ms) break;
    REPRISE_ASSIGN_OR_RETURN(
        InvocationId id,
        InvocationId::FromBytes({key.data() + 8, InvocationId::kBytes}));
    if (!fn(at, id)) break;
  }
  return FromRocksStatus(it->status(), "expiry scan");
}

absl::StatusOr<std::optional<int64_t>> PartitionReader::FirstExpiry() {
  std::optional<int64_t> first;
  REPRISE_RETURN_IF_ERROR(ForEachExpiry(std::numeric_limits<int64_t>::max(),
                                        [&](int64_t at, const InvocationId&) {
                                          first = at;
                                          return false;
                                        }));
  return first;
}

absl::StatusOr<std::optional<std::string>> PartitionReader::GetState(
    const v1::Target& object, std::string_view state_key) {
  return Get(StatePrefix(partition_, ObjectKey(object.service(), object.key()))
                 .append(state_key));
}

absl::Status PartitionReader::ForEachState(
    const v1::Target& object,
    const std::function<bool(std::string_view, std::string_view)>& fn) {
  const std::string prefix =
      StatePrefix(partition_, ObjectKey(object.service(), object.key()));
  auto it = NewIterator(/*one_state_prefix=*/true);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    rocksdb::Slice key = it->key();
    key.remove_prefix(prefix.size());
    if (!fn(std::string_view(key.data(), key.size()),
            std::string_view(it->value().data(), it->value().size()))) {
      break;
    }
  }
  return FromRocksStatus(it->status(), "state scan");
}

absl::StatusOr<std::optional<v1::KeyLock>> PartitionReader::GetKeyLock(
    const v1::Target& object) {
  REPRISE_ASSIGN_OR_RETURN(
      auto value,
      Get(KeyLockKey(partition_, ObjectKey(object.service(), object.key()))));
  if (!value.has_value()) return std::nullopt;
  return ParseValue<v1::KeyLock>(*value, "key lock");
}

absl::StatusOr<std::optional<int64_t>> PartitionReader::GetKafkaOffset(
    std::string_view subscription_id, std::string_view topic,
    int32_t kafka_partition) {
  REPRISE_ASSIGN_OR_RETURN(
      auto value,
      Get(KafkaOffsetKey(partition_, subscription_id, topic, kafka_partition)));
  if (!value.has_value()) return std::nullopt;
  if (value->size() != 8) {
    return absl::DataLossError("malformed Kafka offset in the partition store");
  }
  return static_cast<int64_t>(DecodeBigEndian64(value->data()));
}

absl::StatusOr<std::optional<uint64_t>> PartitionReader::GetOutboxDedup(
    PartitionId source) {
  REPRISE_ASSIGN_OR_RETURN(auto value, Get(OutboxDedupKey(partition_, source)));
  if (!value.has_value()) return std::nullopt;
  if (value->size() != 8) {
    return absl::DataLossError("malformed outbox mark in the partition store");
  }
  return DecodeBigEndian64(value->data());
}

absl::StatusOr<std::optional<v1::Result>> PartitionReader::GetPromise(
    const v1::Target& object, std::string_view name) {
  REPRISE_ASSIGN_OR_RETURN(
      auto value,
      Get(PromiseKey(partition_, kPromiseTable,
                     ObjectKey(object.service(), object.key()), name)));
  if (!value.has_value()) return std::nullopt;
  return ParseValue<v1::Result>(*value, "promise");
}

absl::StatusOr<std::vector<std::pair<InvocationId, uint32_t>>>
PartitionReader::GetPromiseWaiters(const v1::Target& object,
                                   std::string_view name) {
  const std::string prefix =
      PromiseKey(partition_, kPromiseWaiterTable,
                 ObjectKey(object.service(), object.key()), name);
  std::vector<std::pair<InvocationId, uint32_t>> waiters;
  auto it = NewIterator(/*one_state_prefix=*/false);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    if (it->key().size() != prefix.size() + InvocationId::kBytes + 4) {
      return absl::DataLossError("corrupt promise waiter key");
    }
    const char* rest = it->key().data() + prefix.size();
    REPRISE_ASSIGN_OR_RETURN(
        InvocationId id, InvocationId::FromBytes({rest, InvocationId::kBytes}));
    waiters.emplace_back(id, DecodeBigEndian32(rest + InvocationId::kBytes));
  }
  REPRISE_RETURN_IF_ERROR(FromRocksStatus(it->status(), "promise scan"));
  return waiters;
}

absl::StatusOr<v1::OutboxCursor> PartitionReader::GetOutboxCursor() {
  REPRISE_ASSIGN_OR_RETURN(auto value, Get(OutboxCursorKey(partition_)));
  if (!value.has_value()) return v1::OutboxCursor();
  return ParseValue<v1::OutboxCursor>(*value, "outbox cursor");
}

absl::Status PartitionReader::ForEachOutbox(
    const std::function<void(uint64_t, const v1::OutboxMessage&)>& fn) {
  REPRISE_ASSIGN_OR_RETURN(v1::OutboxCursor cursor, GetOutboxCursor());
  for (uint64_t seq = cursor.head(); seq < cursor.next(); ++seq) {
    REPRISE_ASSIGN_OR_RETURN(auto value, Get(OutboxKey(partition_, seq)));
    if (!value.has_value()) {
      return absl::DataLossError("the outbox misses a message");
    }
    REPRISE_ASSIGN_OR_RETURN(
        auto message, ParseValue<v1::OutboxMessage>(*value, "outbox message"));
    fn(seq, message);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<InvocationId>> PartitionReader::GetQueued(
    const v1::Target& object, uint64_t seq) {
  std::string key =
      InboxPrefix(partition_, ObjectKey(object.service(), object.key()));
  AppendBigEndian64(key, seq);
  REPRISE_ASSIGN_OR_RETURN(auto value, Get(key));
  if (!value.has_value()) return std::nullopt;
  return InvocationId::FromBytes(*value);
}

Transaction::Transaction(Store& store, PartitionId partition,
                         RecentRows* recent)
    : PartitionReader(partition),
      store_(store),
      recent_(recent),
      batch_(std::make_unique<rocksdb::WriteBatchWithIndex>(
          rocksdb::BytewiseComparator(), 0, /*overwrite_key=*/true)) {}

Transaction::~Transaction() = default;

void Transaction::PutAppliedLsn(Lsn lsn) { applied_lsn_ = lsn; }

void Transaction::PutInvocationStatus(const InvocationId& id,
                                      const v1::InvocationStatus& status) {
  WriteRemembered(InvocationStatusKey(partition(), id),
                  status.SerializeAsString());
  if (status_writes_ != nullptr) status_writes_->emplace_back(id, status);
}

void Transaction::PutJournalEntry(const InvocationId& id, uint32_t index,
                                  const v1::JournalEntry& entry) {
  // Entries whose completion comes later are read back then; the others
  // are only kept up to date if remembered already.
  const bool awaits = entry.has_sleep() || entry.has_call() ||
                      entry.has_awakeable() || entry.has_get_promise();
  WriteRemembered(JournalKey(partition(), id, index), entry.SerializeAsString(),
                  /*if_known=*/!awaits);
}

void Transaction::PutTimer(const Timer& timer) {
  batch_
      ->Put(TimerKey(partition(), timer.wake_up_at_ms, timer.invocation_id,
                     timer.index),
            "")
      .PermitUncheckedError();
}

void Transaction::PutOutboxDedup(PartitionId source, uint64_t seq) {
  std::string value;
  AppendBigEndian64(value, seq);
  WriteRemembered(OutboxDedupKey(partition(), source), std::move(value));
}

void Transaction::PutKafkaOffset(std::string_view subscription_id,
                                 std::string_view topic,
                                 int32_t kafka_partition, int64_t offset) {
  std::string value;
  AppendBigEndian64(value, static_cast<uint64_t>(offset));
  batch_
      ->Put(
          KafkaOffsetKey(partition(), subscription_id, topic, kafka_partition),
          value)
      .PermitUncheckedError();
}

void Transaction::PutExpiry(int64_t expires_at_ms, const InvocationId& id) {
  batch_->Put(ExpiryKey(partition(), expires_at_ms, id), "")
      .PermitUncheckedError();
}

void Transaction::DeleteExpiry(int64_t expires_at_ms, const InvocationId& id) {
  batch_->Delete(ExpiryKey(partition(), expires_at_ms, id))
      .PermitUncheckedError();
}

absl::Status Transaction::DeleteAllPromises(const v1::Target& object) {
  const std::string prefix =
      TablePrefix(partition(), kPromiseTable)
          .append(ObjectKey(object.service(), object.key()));
  std::vector<std::string> keys;
  auto it = NewIterator(/*one_state_prefix=*/false);
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    keys.push_back(it->key().ToString());
  }
  REPRISE_RETURN_IF_ERROR(FromRocksStatus(it->status(), "promise scan"));
  for (const std::string& key : keys)
    batch_->Delete(key).PermitUncheckedError();
  return absl::OkStatus();
}

void Transaction::DeleteTimer(const Timer& timer) {
  batch_
      ->Delete(TimerKey(partition(), timer.wake_up_at_ms, timer.invocation_id,
                        timer.index))
      .PermitUncheckedError();
}

void Transaction::PutState(const v1::Target& object, std::string_view state_key,
                           std::string_view value) {
  batch_
      ->Put(StatePrefix(partition(), ObjectKey(object.service(), object.key()))
                .append(state_key),
            rocksdb::Slice(value.data(), value.size()))
      .PermitUncheckedError();
}

void Transaction::DeleteState(const v1::Target& object,
                              std::string_view state_key) {
  batch_
      ->Delete(
          StatePrefix(partition(), ObjectKey(object.service(), object.key()))
              .append(state_key))
      .PermitUncheckedError();
}

absl::Status Transaction::DeleteAllState(const v1::Target& object) {
  // WriteBatchWithIndex cannot index a range deletion: delete key by key.
  std::vector<std::string> keys;
  REPRISE_RETURN_IF_ERROR(
      ForEachState(object, [&](std::string_view key, std::string_view) {
        keys.emplace_back(key);
        return true;
      }));
  for (const std::string& key : keys) DeleteState(object, key);
  return absl::OkStatus();
}

void Transaction::PutKeyLock(const v1::Target& object,
                             const v1::KeyLock& lock) {
  WriteRemembered(
      KeyLockKey(partition(), ObjectKey(object.service(), object.key())),
      lock.SerializeAsString());
}

void Transaction::DeleteKeyLock(const v1::Target& object) {
  WriteRemembered(
      KeyLockKey(partition(), ObjectKey(object.service(), object.key())),
      std::nullopt);
}

void Transaction::PutQueued(const v1::Target& object, uint64_t seq,
                            const InvocationId& id) {
  std::string key =
      InboxPrefix(partition(), ObjectKey(object.service(), object.key()));
  AppendBigEndian64(key, seq);
  batch_->Put(key, id.ToBytes()).PermitUncheckedError();
}

void Transaction::DeleteQueued(const v1::Target& object, uint64_t seq) {
  std::string key =
      InboxPrefix(partition(), ObjectKey(object.service(), object.key()));
  AppendBigEndian64(key, seq);
  batch_->Delete(key).PermitUncheckedError();
}

void Transaction::PutPromise(const v1::Target& object, std::string_view name,
                             const v1::Result& completion) {
  batch_
      ->Put(PromiseKey(partition(), kPromiseTable,
                       ObjectKey(object.service(), object.key()), name),
            completion.SerializeAsString())
      .PermitUncheckedError();
}

namespace {
std::string PromiseWaiterKey(PartitionId partition, const v1::Target& object,
                             std::string_view name, const InvocationId& id,
                             uint32_t index) {
  std::string key = PromiseKey(partition, kPromiseWaiterTable,
                               ObjectKey(object.service(), object.key()), name);
  key.append(id.ToBytes());
  AppendBigEndian32(key, index);
  return key;
}
}  // namespace

void Transaction::PutPromiseWaiter(const v1::Target& object,
                                   std::string_view name,
                                   const InvocationId& id, uint32_t index) {
  batch_->Put(PromiseWaiterKey(partition(), object, name, id, index), "")
      .PermitUncheckedError();
}

void Transaction::DeletePromiseWaiter(const v1::Target& object,
                                      std::string_view name,
                                      const InvocationId& id, uint32_t index) {
  batch_->Delete(PromiseWaiterKey(partition(), object, name, id, index))
      .PermitUncheckedError();
}

void Transaction::PutOutboxCursor(const v1::OutboxCursor& cursor) {
  batch_->Put(OutboxCursorKey(partition()), cursor.SerializeAsString())
      .PermitUncheckedError();
}

void Transaction::PutOutbox(uint64_t seq, const v1::OutboxMessage& message) {
  batch_->Put(OutboxKey(partition(), seq), message.SerializeAsString())
      .PermitUncheckedError();
}

void Transaction::DeleteOutbox(uint64_t seq) {
  batch_->Delete(OutboxKey(partition(), seq)).PermitUncheckedError();
}

absl::Status Transaction::DeleteInvocation(const InvocationId& id) {
  REPRISE_ASSIGN_OR_RETURN(auto status, GetInvocationStatus(id));
  if (!status.has_value()) return absl::OkStatus();
  REPRISE_ASSIGN_OR_RETURN(auto journal, GetJournal(id));
  for (uint32_t i = 0; i < journal.size(); ++i) {
    const v1::JournalEntry& entry = journal[i];
    if (entry.has_sleep() && entry.completed_at_ms() == 0) {
      DeleteTimer({entry.sleep().wake_up_at_ms(), id, i});
    }
    WriteRemembered(JournalKey(partition(), id, i), std::nullopt);
  }
  WriteRemembered(InvocationStatusKey(partition(), id), std::nullopt);
  return absl::OkStatus();
}

void Transaction::WriteRemembered(std::string key, RecentRows::Row row,
                                  bool if_known) {
  if (row.has_value()) {
    batch_->Put(key, *row).PermitUncheckedError();
  } else {
    batch_->Delete(key).PermitUncheckedError();
  }
  if (recent_ != nullptr) {
    remembered_.push_back({std::move(key), std::move(row), if_known});
  }
}

absl::Status Transaction::Commit() {
  if (applied_lsn_.has_value()) {
    std::string value;
    AppendBigEndian64(value, applied_lsn_->value());
    batch_->Put(AppliedLsnKey(partition()), value).PermitUncheckedError();
    applied_lsn_.reset();
  }
  rocksdb::WriteOptions options;
  options.sync = false;
  absl::Status status = FromRocksStatus(
      store_.db().Write(options, batch_->GetWriteBatch()), "state commit");
  if (status.ok()) {
    for (Remembered& r : remembered_) {
      if (r.if_known && recent_->Find(r.key) == nullptr) continue;
      recent_->Put(std::move(r.key), std::move(r.row));
    }
  }
  remembered_.clear();
  batch_->Clear();
  return status;
}

absl::StatusOr<std::optional<std::string>> Transaction::Get(
    const std::string& key) {
  std::string value;
  // The size test spares building the key for every other read.
  if (applied_lsn_.has_value() &&
      key.size() == kTablePrefixSize + kAppliedLsnRow.size() &&
      key == AppliedLsnKey(partition())) {
    AppendBigEndian64(value, applied_lsn_->value());
    return value;
  }
  if (const RecentRows::Row* row =
          recent_ != nullptr ? recent_->Find(key) : nullptr) {
    // Remembered; unless this batch wrote the row since, that is the
    // store's row.
    std::unique_ptr<rocksdb::WBWIIterator> it(batch_->NewIterator());
    it->Seek(key);
    if (!it->Valid() || it->Entry().key != key) return *row;
    if (it->Entry().type == rocksdb::kPutRecord) {
      return it->Entry().value.ToString();
    }
    return std::nullopt;  // deleted (the transaction writes no merges)
  }
  rocksdb::Status s = batch_->GetFromBatchAndDB(
      &store_.db(), rocksdb::ReadOptions(), key, &value);
  if (s.IsNotFound()) return std::nullopt;
  REPRISE_RETURN_IF_ERROR(FromRocksStatus(s, "partition store read"));
  return value;
}

std::unique_ptr<rocksdb::Iterator> Transaction::NewIterator(
    bool one_state_prefix) {
  return std::unique_ptr<rocksdb::Iterator>(batch_->NewIteratorWithBase(
      store_.db().NewIterator(IteratorOptions(one_state_prefix))));
}

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  options.paranoid_checks = true;
  // A memtable this size stays mostly in cache, so its inserts (most of a
  // commit's cost) are cheaper than in the 64 MiB default, and the
  // process is smaller; measured with bench/apply_bench.cc.
  options.write_buffer_size = 16 << 20;
  options.avoid_flush_during_recovery = true;  // as the log's
  options.keep_log_file_num = 5;  // RocksDB's own LOGs, as the log's
  // Most rows land next to the previous row of their table and partition
  // (ids, Lsns and times grow), so an insert starts from where the last
  // one of its table ended rather than from the skiplist's top: commits
  // took 22% of the runtime's samples on steps3, 14% with the hint
  // (docs/benchmarks.md). Concurrent memtable writes ignore the hint: the
  // leader of a write group inserts every batch in it. Never DeleteRange
  // on this DB: RocksDB 7.8 keeps one hint a prefix for both the rows and
  // the range deletions of a memtable, and a hint from one breaks an
  // insert into the other (an assertion in Debian's build; the log keeps
  // its range deletions outside its hints' domain).
  options.allow_concurrent_memtable_write = false;
  options.memtable_insert_with_hint_prefix_extractor.reset(
      rocksdb::NewFixedPrefixTransform(kTablePrefixSize));
  // Many point reads look for a row that is not there (a new invocation's
  // status, a key nobody holds): bloom filters answer those without a
  // search, in the memtable and in each table file, however many rows the
  // store retains.
  options.memtable_prefix_bloom_size_ratio = 0.02;
  options.memtable_whole_key_filtering = true;
  options.prefix_extractor = std::make_shared<StatePrefixExtractor>();
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  rocksdb::DB* raw = nullptr;
  REPRISE_RETURN_IF_ERROR(
      FromRocksStatus(rocksdb::DB::Open(options, dir, &raw),
                      "opening the partition store at " + dir));
  std::unique_ptr<rocksdb::DB> db(raw);
  // The store keeps the memtable its WALs replay into, so that a large one
  // is not written out at every start; but each start adds a WAL, and a
  // crash loop would pile them up. Past a few, they are written out.
  constexpr int kMaxWals = 8;
  REPRISE_RETURN_IF_ERROR(RetireReplayedWals(*db, dir, kMaxWals,
                                             MetadataKey("retired_wals"), "",
                                             "the partition store"));
  return std::unique_ptr<Store>(new Store(std::move(db)));
}

Store::Store(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}

Store::~Store() { db_->Close().PermitUncheckedError(); }

std::unique_ptr<PartitionReader> Store::Reader(PartitionId partition) {
  return std::make_unique<DbReader>(*db_, partition);
}

absl::Status Store::SyncWal() {
  return FromRocksStatus(db_->SyncWAL(), "syncing the partition store");
}

absl::Status Store::Flush() {
  return FromRocksStatus(db_->Flush(rocksdb::FlushOptions()),
                         "flushing the partition store");
}

absl::Status Store::PutMetadata(std::string_view name,
                                const std::string& value) {
  rocksdb::WriteOptions options;
  options.sync = true;
  return FromRocksStatus(db_->Put(options, MetadataKey(name), value),
                         "metadata write");
}

absl::StatusOr<std::optional<std::string>> Store::GetMetadata(
    std::string_view name) {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), MetadataKey(name), &value);
  if (s.IsNotFound()) return std::nullopt;
  REPRISE_RETURN_IF_ERROR(FromRocksStatus(s, "metadata read"));
  return value;
}

}  // namespace reprise::storage
