#include "runtime/storage/partition_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "runtime/storage/keys.h"
#include "tests/testing/temp_dir.h"

namespace reprise::storage {
namespace {

v1::JournalEntry Input(std::string value) {
  v1::JournalEntry entry;
  entry.mutable_input()->set_value(std::move(value));
  return entry;
}

TEST(PartitionStoreTest, TransactionReadsItsOwnWritesBeforeCommit) {
  testing::TempDir dir;
  auto store = Store::Open(dir.path()).value();
  InvocationId id(1, 2);
  Transaction txn(*store, PartitionId(0));
  v1::InvocationStatus status;
  status.set_journal_length(1);
  txn.PutInvocationStatus(id, status);
  txn.PutJournalEntry(id, 0, Input("a"));
  EXPECT_EQ(txn.GetInvocationStatus(id).value()->journal_length(), 1u);
  EXPECT_EQ(txn.GetJournal(id).value().size(), 1u);
  // Not visible outside until committed.
  EXPECT_FALSE(store->Reader(PartitionId(0))
                   ->GetInvocationStatus(id)
                   .value()
                   .has_value());
  ASSERT_TRUE(txn.Commit().ok());
  EXPECT_TRUE(store->Reader(PartitionId(0))
                  ->GetInvocationStatus(id)
                  .value()
                  .has_value());
}

TEST(PartitionStoreTest, PartitionsAreSeparate) {
  testing::TempDir dir;
  auto store = Store::Open(dir.path()).value();
  InvocationId id(1, 2);
  Transaction txn(*store, PartitionId(1));
  txn.PutInvocationStatus(id, v1::InvocationStatus());
  txn.PutAppliedLsn(Lsn(7));
  ASSERT_TRUE(txn.Commit().ok());
  EXPECT_EQ(store->Reader(PartitionId(1))->GetAppliedLsn().value(), Lsn(7));
  EXPECT_EQ(store->Reader(PartitionId(0))->GetAppliedLsn().value(), Lsn(0));
  EXPECT_FALSE(store->Reader(PartitionId(0))
                   ->GetInvocationStatus(id)
                   .value()
                   .has_value());
}

TEST(PartitionStoreTest, AppliedLsnIsTheLastPutAndVisibleBeforeCommit) {
  testing::TempDir dir;
  auto store = Store::Open(dir.path()).value();
  Transaction txn(*store, PartitionId(2));
  txn.PutAppliedLsn(Lsn(3));
  txn.PutAppliedLsn(Lsn(4));
  EXPECT_EQ(txn.GetAppliedLsn().value(), Lsn(4));
  EXPECT_EQ(store->Reader(PartitionId(2))->GetAppliedLsn().value(), Lsn(0));
  ASSERT_TRUE(txn.Commit().ok());
  EXPECT_EQ(store->Reader(PartitionId(2))->GetAppliedLsn().value(), Lsn(4));
  // The next batch of the same transaction starts from the stored value.
  EXPECT_EQ(txn.GetAppliedLsn().value(), Lsn(4));
  txn.PutAppliedLsn(Lsn(9));
  ASSERT_TRUE(txn.Commit().ok());
  EXPECT_EQ(store->Reader(PartitionId(2))->GetAppliedLsn().value(), Lsn(9));
}

TEST(PartitionStoreTest, RecentRowsAnswerLikeTheStore) {
  testing::TempDir dir;
  auto store = Store::Open(dir.path()).value();
  RecentRows recent(1 << 20);
  const PartitionId p(0);
  InvocationId kept(1, 1), removed(1, 2), untouched(1, 3);
  v1::InvocationStatus first;
  first.set_attempt(1);
  {
    // Written before the cache existed: only the store knows it.
    Transaction txn(*store, p);
    txn.PutInvocationStatus(untouched, first);
    ASSERT_TRUE(txn.Commit().ok());
  }
  Transaction txn(*store, p, &recent);
  txn.PutInvocationStatus(kept, first);
  txn.PutInvocationStatus(removed, first);
  ASSERT_TRUE(txn.Commit().ok());
  ASSERT_TRUE(txn.DeleteInvocation(removed).ok());
  ASSERT_TRUE(txn.Commit().ok());
  EXPECT_EQ(txn.GetInvocationStatus(kept).value()->attempt(), 1u);
  EXPECT_FALSE(txn.GetInvocationStatus(removed).value().has_value());
  EXPECT_EQ(txn.GetInvocationStatus(untouched).value()->attempt(), 1u);
  EXPECT_FALSE(txn.GetInvocationStatus(InvocationId(9, 9)).value().has_value());
  // The batch's own writes come before the remembered rows.
  v1::InvocationStatus second;
  second.set_attempt(2);
  txn.PutInvocationStatus(kept, second);
  EXPECT_EQ(txn.GetInvocationStatus(kept).value()->attempt(), 2u);
  txn.PutInvocationStatus(removed, second);
  EXPECT_EQ(txn.GetInvocationStatus(removed).value()->attempt(), 2u);
  ASSERT_TRUE(txn.DeleteInvocation(untouched).ok());
  EXPECT_FALSE(txn.GetInvocationStatus(untouched).value().has_value());
  ASSERT_TRUE(txn.Commit().ok());
  // After the commit, a reader of the store and the cache agree.
  auto reader = store->Reader(p);
  for (const InvocationId& id : {kept, removed, untouched}) {
    auto stored = reader->GetInvocationStatus(id).value();
    auto cached = txn.GetInvocationStatus(id).value();
    ASSERT_EQ(stored.has_value(), cached.has_value());
    if (stored.has_value()) {
      EXPECT_EQ(stored->attempt(), cached->attempt());
    }
  }
}

TEST(PartitionStoreTest, RecentRowsKeepAwaitedJournalEntriesCurrent) {
  testing::TempDir dir;
  auto store = Store::Open(dir.path()).value();
  RecentRows recent(1 << 20);
  const PartitionId p(0);
  InvocationId id(4, 2);
  Transaction txn(*store, p, &recent);
  txn.PutInvocationStatus(id, v1::InvocationStatus());
  v1::JournalEntry input;
  input.mutable_input()->set_value("{}");
  txn.PutJournalEntry(id, 0, input);
  v1::JournalEntry call;
  call.mutable_call()->mutable_target()->set_service("B");
  txn.PutJournalEntry(id, 1, call);
  v1::JournalEntry run;
  run.set_name("step");
  run.mutable_run()->mutable_result()->set_value("1");
  txn.PutJournalEntry(id, 2, run);
  ASSERT_TRUE(txn.Commit().ok());
  // Only the entry that waits for its completion is remembered.
  EXPECT_NE(recent.Find(JournalKey(p, id, 1)), nullptr);
  EXPECT_EQ(recent.Find(JournalKey(p, id, 2)), nullptr);
  // Its completion replaces the remembered copy.
  call.mutable_call()->mutable_result()->set_value("done");
  txn.PutJournalEntry(id, 1, call);
  ASSERT_TRUE(txn.Commit().ok());
  EXPECT_EQ(txn.GetJournalEntry(id, 1).value()->call().result().value(),
            "done");
  EXPECT_EQ(txn.GetJournalEntry(id, 2).value()->name(), "step");
  // Removing the invocation removes the remembered rows too.
  ASSERT_TRUE(txn.DeleteInvocation(id).ok());
  ASSERT_TRUE(txn.Commit().ok());
  EXPECT_FALSE(txn.GetJournalEntry(id, 1).value().has_value());
  EXPECT_FALSE(txn.GetInvocationStatus(id).value().has_value());
}

int CountInvocations(PartitionReader& reader) {
  int seen = 0;
  EXPECT_TRUE(reader
                  .ForEachInvocation(
                      [&](const InvocationId&, const v1::InvocationStatus&) {
                        ++seen;
                        return true;
                      })
                  .ok());
  return seen;
}

// One object's state, read through `reader`, as key=value pairs.
std::vector<std::string> StateOf(PartitionReader& reader,
                                 const v1::Target& object) {
  std::vector<std::string> rows;
  EXPECT_TRUE(
      reader
          .ForEachState(object,
                        [&](std::string_view key, std::string_view value) {
                          rows.push_back(std::string(key) + "=" +
                                         std::string(value));
                          return true;
                        })
          .ok());
  return rows;
}

TEST(PartitionStoreTest, StateScansFindEachObjectsRowsInEveryTableFile) {
  testing::TempDir dir;
  auto store = Store::Open(dir.path()).value();
  const PartitionId p(1);
  auto target = [](std::string service, std::string key) {
    v1::Target t;
    t.set_service(std::move(service));
    t.set_key(std::move(key));
    return t;
  };
  // Objects whose service or key is a byte prefix of another's.
  const v1::Target a = target("S", "k"), b = target("S", "k2"),
                   c = target("Sk", ""), none = target("S", "other");
  Transaction txn(*store, p);
  txn.PutState(a, "x", "1");
  txn.PutState(a, "y", "2");
  txn.PutState(b, "x", "3");
  txn.PutInvocationStatus(InvocationId(1, 1), v1::InvocationStatus());
  ASSERT_TRUE(txn.Commit().ok());
  ASSERT_TRUE(store->Flush().ok());
  txn.PutState(c, "z", "4");
  txn.DeleteState(a, "x");
  txn.PutInvocationStatus(InvocationId(1, 2), v1::InvocationStatus());
  ASSERT_TRUE(txn.Commit().ok());
  ASSERT_TRUE(store->Flush().ok());
  txn.PutState(a, "w", "5");  // in the memtable only
  ASSERT_TRUE(txn.Commit().ok());

  auto reader = store->Reader(p);
  EXPECT_EQ(StateOf(*reader, a), (std::vector<std::string>{"w=5", "y=2"}));
  EXPECT_EQ(StateOf(*reader, b), (std::vector<std::string>{"x=3"}));
  EXPECT_EQ(StateOf(*reader, c), (std::vector<std::string>{"z=4"}));
  EXPECT_TRUE(StateOf(*reader, none).empty());
  // Through a transaction, its own writes included.
  txn.PutState(b, "a", "6");
  EXPECT_EQ(StateOf(txn, b), (std::vector<std::string>{"a=6", "x=3"}));
  EXPECT_EQ(StateOf(txn, a), (std::vector<std::string>{"w=5", "y=2"}));
  // Scans of other tables still see every row.
  EXPECT_EQ(CountInvocations(*reader), 2);
}

TEST(PartitionStoreTest, JournalIsReadInIndexOrderPerInvocation) {
  testing::TempDir dir;
  auto store = Store::Open(dir.path()).value();
  InvocationId a(5, 1), b(5, 2);
  Transaction txn(*store, PartitionId(0));
  for (uint32_t i = 0; i < 300; ++i) {
    txn.PutJournalEntry(a, i, Input("a" + std::to_string(i)));
  }
  txn.PutJournalEntry(b, 0, Input("b0"));
  ASSERT_TRUE(txn.Commit().ok());
  auto journal = store->Reader(PartitionId(0))->GetJournal(a).value();
  ASSERT_EQ(journal.size(), 300u);
  EXPECT_EQ(journal[256].input().value(), "a256");
  EXPECT_EQ(store->Reader(PartitionId(0))->GetJournal(b).value().size(), 1u);
}

TEST(PartitionStoreTest, ForEachInvocationVisitsAll) {
  testing::TempDir dir;
  auto store = Store::Open(dir.path()).value();
  Transaction txn(*store, PartitionId(0));
  for (uint64_t i = 0; i < 10; ++i) {
    txn.PutInvocationStatus(InvocationId(i, i), v1::InvocationStatus());
  }
  ASSERT_TRUE(txn.Commit().ok());
  EXPECT_EQ(CountInvocations(*store->Reader(PartitionId(0))), 10);
}

// Every open starts a WAL and keeps those it replayed (with the memtable
// they fill): a restart loop leaves at most a few, and loses no row.
TEST(PartitionStoreTest, RestartsLeaveFewWals) {
  testing::TempDir dir;
  auto wals = [&] {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
      if (entry.path().extension() == ".log") ++count;
    }
    return count;
  };
  int most = 0;
  for (int open = 0; open < 20; ++open) {
    auto store = Store::Open(dir.path()).value();
    most = std::max(most, wals());
    // The ninth open finds 9 (8 replayed and its own) and retires them.
    if (open == 8) {
      EXPECT_EQ(wals(), 1);
    }
    ASSERT_TRUE(
        store->PutMetadata(absl::StrCat("open", open), absl::StrCat(open))
            .ok());
  }
  EXPECT_GE(most, 2);  // the store kept replayed WALs at some open
  EXPECT_LE(most, 8);
  auto store = Store::Open(dir.path()).value();
  for (int open = 0; open < 20; ++open) {
    EXPECT_EQ(store->GetMetadata(absl::StrCat("open", open)).value(),
              absl::StrCat(open));
  }
}

TEST(PartitionStoreTest, MetadataSurvivesReopen) {
  testing::TempDir dir;
  {
    auto store = Store::Open(dir.path()).value();
    ASSERT_TRUE(store->PutMetadata("services", "v").ok());
  }
  auto store = Store::Open(dir.path()).value();
  EXPECT_EQ(store->GetMetadata("services").value(), "v");
  EXPECT_FALSE(store->GetMetadata("other").value().has_value());
}

}  // namespace
}  // namespace reprise::storage
