#include "runtime/server/data_dir.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/testing/temp_dir.h"

namespace reprise::server {
namespace {

TEST(DataDirTest, CreatesThenAcceptsTheSameLayout) {
  testing::TempDir dir;
  ASSERT_TRUE(PrepareDataDir(dir.path() + "/data", 4).ok());
  EXPECT_TRUE(PrepareDataDir(dir.path() + "/data", 4).ok());
}

TEST(DataDirTest, RefusesOtherPartitionCountWithTheFix) {
  testing::TempDir dir;
  ASSERT_TRUE(PrepareDataDir(dir.path(), 4).ok());
  auto status = PrepareDataDir(dir.path(), 8);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("--partitions 4"), std::string::npos);
}

TEST(DataDirTest, RefusesNewerFormat) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/FORMAT")
      << "reprise-data-format 99\npartitions 4\n";
  auto status = PrepareDataDir(dir.path(), 4);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("format 99"), std::string::npos);
}

TEST(DataDirTest, RefusesCorruptFormatFile) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/FORMAT") << "garbage";
  EXPECT_EQ(PrepareDataDir(dir.path(), 4).code(), absl::StatusCode::kDataLoss);
}

TEST(DataDirTest, RefusesForeignNonEmptyDirectory) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/something") << "x";
  EXPECT_EQ(PrepareDataDir(dir.path(), 4).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace reprise::server
