// Key layout of the partition store (documented in docs/formats.md).
//
//   'p' | partition (u32 BE) | table (2 chars) | table key
//   'm' | metadata name
//
// Tables: "fs" state-machine bookkeeping (applied Lsn), "is" invocation
// status (key: invocation id, 16 bytes), "jr" journal (key: invocation id |
// entry index u32 BE), "tm" durable timers (key: wake-up time u64 BE ms |
// invocation id | entry index u32 BE, so a scan yields them in due order;
// empty value), "st" K/V state (key: object key | state key), "lk" key
// locks (key: object key), "ib" inbox (key: object key | sequence u64 BE).
// An object key is u32 BE length | service | u32 BE length | key, so no
// (service, key) pair is a prefix of another. "ob" outbox (key: sequence
// u64 BE; cursor in "fs" row "outbox"), "pr" workflow promises (key:
// object key | u32 BE length | name; value: Result), "pw" their waiters
// (key: the promise's key | invocation id | index u32 BE; empty value), "ex"
// expiry index (key: removal time u64 BE ms | invocation id; empty value),
// "kf" the highest Kafka offset applied (key: u32 BE length | subscription
// id | u32 BE length | topic | Kafka partition u32 BE; value: offset u64
// BE). Retired
// table ids stay reserved.
#pragma once

#include <string>
#include <string_view>

#include "runtime/common/big_endian.h"
#include "runtime/common/ids.h"

namespace reprise::storage {

inline constexpr std::string_view kFsmTable = "fs";
inline constexpr std::string_view kInvocationStatusTable = "is";
inline constexpr std::string_view kJournalTable = "jr";
inline constexpr std::string_view kTimerTable = "tm";
inline constexpr std::string_view kStateTable = "st";
inline constexpr std::string_view kKeyLockTable = "lk";
inline constexpr std::string_view kInboxTable = "ib";
inline constexpr std::string_view kOutboxTable = "ob";
inline constexpr std::string_view kPromiseTable = "pr";
inline constexpr std::string_view kPromiseWaiterTable = "pw";
inline constexpr std::string_view kExpiryTable = "ex";
inline constexpr std::string_view kKafkaOffsetTable = "kf";
inline constexpr std::string_view kOutboxDedupTable = "dd";

inline std::string TablePrefix(PartitionId partition, std::string_view table) {
  std::string key(1, 'p');
  AppendBigEndian32(key, partition.value());
  key.append(table);
  return key;
}

// 'p' | partition | table.
inline constexpr size_t kTablePrefixSize = 1 + 4 + 2;

inline constexpr std::string_view kAppliedLsnRow = "applied_lsn";

inline std::string AppliedLsnKey(PartitionId partition) {
  return TablePrefix(partition, kFsmTable).append(kAppliedLsnRow);
}

inline std::string OutboxCursorKey(PartitionId partition) {
  return TablePrefix(partition, kFsmTable) + "outbox";
}

inline std::string OutboxKey(PartitionId partition, uint64_t seq) {
  std::string key = TablePrefix(partition, kOutboxTable);
  AppendBigEndian64(key, seq);
  return key;
}

inline std::string InvocationStatusKey(PartitionId partition,
                                       const InvocationId& id) {
  return TablePrefix(partition, kInvocationStatusTable) + id.ToBytes();
}

inline std::string JournalPrefix(PartitionId partition,
                                 const InvocationId& id) {
  return TablePrefix(partition, kJournalTable) + id.ToBytes();
}

inline std::string JournalKey(PartitionId partition, const InvocationId& id,
                              uint32_t index) {
  std::string key = JournalPrefix(partition, id);
  AppendBigEndian32(key, index);
  return key;
}

inline std::string TimerKey(PartitionId partition, int64_t wake_up_at_ms,
                            const InvocationId& id, uint32_t index) {
  std::string key = TablePrefix(partition, kTimerTable);
  AppendBigEndian64(key, static_cast<uint64_t>(wake_up_at_ms));
  key.append(id.ToBytes());
  AppendBigEndian32(key, index);
  return key;
}

inline std::string ExpiryKey(PartitionId partition, int64_t expires_at_ms,
                             const InvocationId& id) {
  std::string key = TablePrefix(partition, kExpiryTable);
  AppendBigEndian64(key, static_cast<uint64_t>(expires_at_ms));
  key.append(id.ToBytes());
  return key;
}

// The (service, key) of a virtual object or workflow, for table keys.
inline std::string ObjectKey(std::string_view service, std::string_view key) {
  std::string out;
  AppendBigEndian32(out, static_cast<uint32_t>(service.size()));
  out.append(service);
  AppendBigEndian32(out, static_cast<uint32_t>(key.size()));
  out.append(key);
  return out;
}

inline std::string StatePrefix(PartitionId partition,
                               std::string_view object_key) {
  return TablePrefix(partition, kStateTable).append(object_key);
}

inline std::string KeyLockKey(PartitionId partition,
                              std::string_view object_key) {
  return TablePrefix(partition, kKeyLockTable).append(object_key);
}

inline std::string InboxPrefix(PartitionId partition,
                               std::string_view object_key) {
  return TablePrefix(partition, kInboxTable).append(object_key);
}

inline std::string PromiseKey(PartitionId partition, std::string_view table,
                              std::string_view object_key,
                              std::string_view name) {
  std::string key = TablePrefix(partition, table).append(object_key);
  AppendBigEndian32(key, static_cast<uint32_t>(name.size()));
  key.append(name);
  return key;
}

inline std::string OutboxDedupKey(PartitionId partition, PartitionId source) {
  std::string key = TablePrefix(partition, kOutboxDedupTable);
  AppendBigEndian32(key, source.value());
  return key;
}

inline std::string KafkaOffsetKey(PartitionId partition,
                                  std::string_view subscription_id,
                                  std::string_view topic,
                                  int32_t kafka_partition) {
  std::string key = TablePrefix(partition, kKafkaOffsetTable);
  AppendBigEndian32(key, static_cast<uint32_t>(subscription_id.size()));
  key.append(subscription_id);
  AppendBigEndian32(key, static_cast<uint32_t>(topic.size()));
  key.append(topic);
  AppendBigEndian32(key, static_cast<uint32_t>(kafka_partition));
  return key;
}

inline std::string MetadataKey(std::string_view name) {
  return std::string(1, 'm').append(name);
}

}  // namespace reprise::storage
