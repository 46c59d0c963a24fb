// Kafka subscriptions under crashes: 10,000 keyed records over 4 partitions
// feed the Tally object while the runtime is killed (SIGKILL) twice. Every
// record must be handled exactly once, each key's records in order.
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/testing/e2e_fixture.h"
#include "tests/testing/kafka_testing.h"

namespace reprise {
namespace {

constexpr int kKeys = 100;
constexpr int kPerKey = 100;

class KafkaFaultTest : public testing::E2eTest {
 protected:
  void SetUp() override {
    // Trims run between the kills, so recovery starts from a trimmed log.
    runtime_args_ = {"--log-trim-interval", "50ms"};
    E2eTest::SetUp();
  }
  // Tally/get of `key`: {count, violations}.
  std::pair<int64_t, int64_t> Tally(const std::string& key) {
    v1::Result out = Invoke(Request("Tally", "get", nullptr, key));
    std::vector<std::string> parts = absl::StrSplit(out.value(), ' ');
    return {std::stoll(parts[0]), std::stoll(parts[1])};
  }
  int64_t Total() {
    int64_t total = 0;
    for (int k = 0; k < kKeys; ++k) total += Tally(absl::StrCat("k", k)).first;
    return total;
  }
  // Polls (bounded) until the records counted reach `at_least`.
  int64_t WaitForTotal(int64_t at_least, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    int64_t total = Total();
    while (total < at_least && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
      total = Total();
    }
    return total;
  }
};

TEST_F(KafkaFaultTest, RecordsAreHandledExactlyOnceInKeyOrderAcrossKills) {
  testing::KafkaMock kafka =
      testing::StartKafkaMock({"tally:4"}, dir_.path() + "/kafka.log");
  ASSERT_FALSE(kafka.bootstrap_servers.empty());
  auto worker = StartWorker({testing::BuildPath("tests/fault/steps_worker"),
                             "--effects-file", dir_.path() + "/effects"},
                            "worker");
  // A pre-filled topic: each key's records carry its sequence 1..100.
  std::vector<testing::ProducedRecord> records;
  for (int seq = 1; seq <= kPerKey; ++seq) {
    for (int k = 0; k < kKeys; ++k) {
      records.push_back(
          {absl::StrCat("k", k), absl::StrFormat("c %d", seq), {}});
    }
  }
  ASSERT_TRUE(testing::Produce(kafka.bootstrap_servers, "tally", records).ok());
  testing::CommandResult created =
      Cli({"subscriptions", "create", "tally", "--topic", "tally", "--target",
           "Tally/add", "--bootstrap-servers", kafka.bootstrap_servers,
           "--start", "earliest", "--option", "session.timeout.ms=6000",
           "--option", "heartbeat.interval.ms=500"});
  ASSERT_EQ(created.exit_code, 0) << created.output;

  // Two crashes while records are consumed: when key k0 (whose records
  // are spread like every key's) got 10, then 50 of its 100.
  for (int64_t threshold : {10, 50}) {
    const absl::Time deadline = absl::Now() + absl::Seconds(120);
    int64_t seen = Tally("k0").first;
    while (seen < threshold && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
      seen = Tally("k0").first;
    }
    ASSERT_GE(seen, threshold);
    std::fprintf(stderr, "crashing the runtime at k0 = %lld\n",
                 static_cast<long long>(seen));
    RestartRuntime();
  }

  const int64_t total = WaitForTotal(kKeys * kPerKey, absl::Seconds(180));
  ASSERT_EQ(total, kKeys * kPerKey);
  absl::SleepFor(absl::Seconds(2));  // time for a duplicate to show
  for (int k = 0; k < kKeys; ++k) {
    EXPECT_EQ(Tally(absl::StrCat("k", k)),
              std::make_pair(int64_t{kPerKey}, int64_t{0}))
        << "key k" << k;
  }
}

}  // namespace
}  // namespace reprise
