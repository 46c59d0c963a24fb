#include "runtime/storage/recent_rows.h"

#include <gtest/gtest.h>

#include <string>

namespace reprise::storage {
namespace {

TEST(RecentRowsTest, KnowsValuesAndDeletions) {
  RecentRows recent(1 << 20);
  EXPECT_EQ(recent.Find("a"), nullptr);
  recent.Put("a", "1");
  recent.Put("b", std::nullopt);
  ASSERT_NE(recent.Find("a"), nullptr);
  EXPECT_EQ(*recent.Find("a"), "1");
  ASSERT_NE(recent.Find("b"), nullptr);
  EXPECT_FALSE(recent.Find("b")->has_value());
  recent.Put("a", std::nullopt);
  EXPECT_FALSE(recent.Find("a")->has_value());
  recent.Put("b", "2");
  EXPECT_EQ(*recent.Find("b"), "2");
}

TEST(RecentRowsTest, KeepsTheLatestRowsWithinItsBound) {
  constexpr size_t kBound = 64 << 10;
  RecentRows recent(kBound);
  const std::string value(1000, 'v');
  constexpr int kRows = 1000;  // far more than the bound holds
  for (int i = 0; i < kRows; ++i) recent.Put(std::to_string(i), value);
  int known = 0;
  for (int i = 0; i < kRows; ++i) {
    if (recent.Find(std::to_string(i)) != nullptr) ++known;
  }
  EXPECT_GT(known, 0);
  EXPECT_LE(known * 1000, static_cast<int>(kBound));
  // The newest rows are the ones kept, with their latest values.
  ASSERT_NE(recent.Find(std::to_string(kRows - 1)), nullptr);
  EXPECT_EQ(recent.Find("0"), nullptr);
}

TEST(RecentRowsTest, ARowWrittenAgainShadowsItsCopyInThePreviousGeneration) {
  // Generations of 32 KiB: about 30 rows of 1,000 bytes each.
  RecentRows recent(64 << 10);
  const std::string value(1000, 'v');
  recent.Put("k", "old");
  // Enough rows to move "k" into the previous generation once, not twice.
  for (int i = 0; i < 45; ++i) {
    recent.Put("filler" + std::to_string(i), value);
    ASSERT_NE(recent.Find("k"), nullptr) << "after filler " << i;
  }
  EXPECT_EQ(*recent.Find("k"), "old");
  recent.Put("k", "new");
  EXPECT_EQ(*recent.Find("k"), "new");
  recent.Put("k", std::nullopt);
  ASSERT_NE(recent.Find("k"), nullptr);
  EXPECT_FALSE(recent.Find("k")->has_value());
}

}  // namespace
}  // namespace reprise::storage
