// Kafka subscriptions end to end: librdkafka's mock cluster (kafka-mock) on
// loopback, a real runtime, steps_worker's Tally object, and the CLI.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/testing/e2e_fixture.h"
#include "tests/testing/kafka_testing.h"

namespace reprise {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class KafkaE2eTest : public testing::E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    kafka_ = testing::StartKafkaMock({"tally:4", "other:1"},
                                     dir_.path() + "/kafka.log");
    ASSERT_FALSE(kafka_.bootstrap_servers.empty())
        << testing::ReadFile(dir_.path() + "/kafka.log");
    poison_file_ = dir_.path() + "/poison";
    worker_ = StartWorker(
        {testing::BuildPath("tests/fault/steps_worker"), "--effects-file",
         dir_.path() + "/effects", "--poison-file", poison_file_},
        "worker");
  }

  // Creates subscription `name` of `handler` (of Tally) through the CLI.
  testing::CommandResult Subscribe(const std::string& name,
                                   const std::string& handler,
                                   const std::string& topic = "tally",
                                   const std::string& start = "earliest") {
    return Cli({"subscriptions", "create", name, "--topic", topic, "--target",
                "Tally/" + handler, "--bootstrap-servers",
                kafka_.bootstrap_servers, "--start", start, "--option",
                "session.timeout.ms=6000", "--option",
                "heartbeat.interval.ms=500"});
  }

  // Records "<caller> <seq>" for seq 1..n on each key.
  static std::vector<testing::ProducedRecord> Records(
      const std::vector<std::string>& keys, int n,
      const std::string& caller = "c", int first = 1) {
    std::vector<testing::ProducedRecord> out;
    for (int seq = first; seq < first + n; ++seq) {
      for (const std::string& key : keys) {
        out.push_back({key, absl::StrFormat("%s %d", caller, seq), {}});
      }
    }
    return out;
  }

  // Tally/get of `key`: {count, violations}.
  std::pair<int, int> Tally(const std::string& key) {
    v1::Result out = Invoke(Request("Tally", "get", nullptr, key));
    std::vector<std::string> parts = absl::StrSplit(out.value(), ' ');
    return {std::stoi(parts[0]), std::stoi(parts[1])};
  }

  // Polls (bounded) until every key has `count` records counted.
  bool WaitForCounts(const std::vector<std::string>& keys, int count,
                     absl::Duration timeout = absl::Seconds(90)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      bool done = true;
      for (const std::string& key : keys) {
        if (Tally(key).first < count) {
          done = false;
          break;
        }
      }
      if (done) return true;
      absl::SleepFor(absl::Milliseconds(200));
    }
    return false;
  }

  json DescribeSubscription(const std::string& name) {
    testing::CommandResult r =
        Cli({"--json", "subscriptions", "describe", name});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return json::parse(r.output, nullptr, false);
  }

  static std::vector<std::string> Keys(int n, const std::string& prefix) {
    std::vector<std::string> keys;
    for (int i = 0; i < n; ++i) keys.push_back(absl::StrCat(prefix, i));
    return keys;
  }

  testing::KafkaMock kafka_;
  std::string poison_file_;
  std::unique_ptr<testing::ChildProcess> worker_;
};

TEST_F(KafkaE2eTest, EachRecordInvokesItsKeyOnceInOrder) {
  const std::vector<std::string> keys = Keys(20, "k");
  ASSERT_TRUE(
      testing::Produce(kafka_.bootstrap_servers, "tally", Records(keys, 10))
          .ok());
  testing::CommandResult created = Subscribe("tally", "add");
  ASSERT_EQ(created.exit_code, 0) << created.output;
  EXPECT_THAT(created.output, HasSubstr("created subscription tally"));

  ASSERT_TRUE(WaitForCounts(keys, 10));
  // More records after it started, then a crash and restart of the
  // runtime (a new consumer, a new assignment): nothing twice, nothing lost.
  ASSERT_TRUE(testing::Produce(kafka_.bootstrap_servers, "tally",
                               Records(keys, 5, "c", 11))
                  .ok());
  ASSERT_TRUE(WaitForCounts(keys, 15));
  RestartRuntime();
  ASSERT_TRUE(testing::Produce(kafka_.bootstrap_servers, "tally",
                               Records(keys, 5, "c", 16))
                  .ok());
  ASSERT_TRUE(WaitForCounts(keys, 20));
  absl::SleepFor(absl::Seconds(1));  // time for a duplicate to show
  for (const std::string& key : keys) {
    EXPECT_EQ(Tally(key), std::make_pair(20, 0)) << key;
  }

  // Describe: running, all 4 partitions with no lag once committed.
  json described;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  int64_t lag = -1;
  while (absl::Now() < deadline) {
    described = DescribeSubscription("tally");
    lag = 0;
    for (const json& p : described.value("partitions", json::array())) {
      lag += std::stoll(p.value("lag", std::string("-1")));
    }
    if (described.value("partitions", json::array()).size() == 4 && lag == 0) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_EQ(described["state"], "running") << described.dump();
  EXPECT_EQ(lag, 0) << described.dump();
  EXPECT_EQ(described["subscription"]["target"]["service"], "Tally");

  testing::CommandResult list = Cli({"subscriptions", "list"});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_THAT(list.output, HasSubstr("Tally/add"));
  EXPECT_THAT(list.output, HasSubstr("running"));

  // Deleted: it stops, and its invocations stay.
  testing::CommandResult deleted = Cli({"subscriptions", "delete", "tally"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_EQ(Cli({"subscriptions", "describe", "tally"}).exit_code, 1);
  ASSERT_TRUE(testing::Produce(kafka_.bootstrap_servers, "tally",
                               Records(keys, 1, "c", 21))
                  .ok());
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(Tally("k0").first, 20);
}

TEST_F(KafkaE2eTest, LatestReadsWhatIsProducedAfterCreation) {
  const std::vector<std::string> keys = Keys(4, "late");
  ASSERT_TRUE(
      testing::Produce(kafka_.bootstrap_servers, "tally", Records(keys, 5))
          .ok());
  testing::CommandResult created = Subscribe("late", "add", "tally", "latest");
  ASSERT_EQ(created.exit_code, 0) << created.output;
  // Produced at once, before the consumer group has its partitions.
  ASSERT_TRUE(testing::Produce(kafka_.bootstrap_servers, "tally",
                               Records(keys, 5, "c", 6))
                  .ok());
  ASSERT_TRUE(WaitForCounts(keys, 5));
  absl::SleepFor(absl::Seconds(1));
  for (const std::string& key : keys) {
    // Records 6..10 only: the first five came before the subscription,
    // so "c 6" follows nothing and counts one violation.
    EXPECT_EQ(Tally(key), std::make_pair(5, 1)) << key;
  }
}

TEST_F(KafkaE2eTest, ATopicCreatedAgainStopsTheSubscription) {
  // A cluster behind a fixed relay address, so that a new one (with the
  // topic created afresh, numbered from 0 again) takes its place.
  testing::KafkaMock first = testing::StartKafkaMock(
      {"again:1"}, dir_.path() + "/again1.log", /*relay_port=*/0);
  ASSERT_FALSE(first.bootstrap_servers.empty());
  const std::string relay = first.bootstrap_servers;
  ASSERT_TRUE(testing::Produce(relay, "again", Records({"a"}, 10)).ok());
  testing::CommandResult created =
      Cli({"subscriptions", "create", "again", "--topic", "again", "--target",
           "Tally/add", "--bootstrap-servers", relay, "--start", "earliest",
           "--option", "session.timeout.ms=6000", "--option",
           "heartbeat.interval.ms=500"});
  ASSERT_EQ(created.exit_code, 0) << created.output;
  ASSERT_TRUE(WaitForCounts({"a"}, 10));

  first.process.reset();  // the cluster is gone, and with it the topic
  testing::KafkaMock second =
      testing::StartKafkaMock({"again:1"}, dir_.path() + "/again2.log",
                              std::stoi(relay.substr(relay.rfind(':') + 1)));
  ASSERT_EQ(second.bootstrap_servers, relay);
  ASSERT_TRUE(
      testing::Produce(relay, "again", Records({"a"}, 3, "c", 11)).ok());

  // Offsets 0..2 again: taken for records handled, they would be dropped.
  // The subscription stops and says why instead.
  json described;
  const absl::Time deadline = absl::Now() + absl::Seconds(90);
  while (absl::Now() < deadline) {
    described = DescribeSubscription("again");
    if (described.value("error", "").find("created again") !=
        std::string::npos) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(250));
  }
  EXPECT_EQ(described["state"], "error") << described.dump();
  EXPECT_THAT(described.value("error", ""),
              HasSubstr("delete the subscription and create it again"));
  EXPECT_EQ(Tally("a").first, 10);

  // As the message says: a new subscription reads the new topic.
  ASSERT_EQ(Cli({"subscriptions", "delete", "again"}).exit_code, 0);
  created =
      Cli({"subscriptions", "create", "again", "--topic", "again", "--target",
           "Tally/add", "--bootstrap-servers", relay, "--start", "earliest"});
  ASSERT_EQ(created.exit_code, 0) << created.output;
  ASSERT_TRUE(WaitForCounts({"a"}, 13));
  EXPECT_EQ(Tally("a"), std::make_pair(13, 0));
}

TEST_F(KafkaE2eTest, AStatelessTargetHandlesEachRecordOnce) {
  std::vector<testing::ProducedRecord> records;
  for (int i = 0; i < 60; ++i) {
    // Keys or none: a stateless service takes both.
    records.push_back(
        {i % 2 == 0 ? std::optional<std::string>(absl::StrCat("k", i % 7))
                    : std::nullopt,
         absl::StrCat("r", i),
         {}});
  }
  ASSERT_TRUE(
      testing::Produce(kafka_.bootstrap_servers, "tally", records).ok());
  testing::CommandResult created =
      Cli({"subscriptions", "create", "chain", "--topic", "tally", "--target",
           "Chain/c", "--bootstrap-servers", kafka_.bootstrap_servers,
           "--start", "earliest"});
  ASSERT_EQ(created.exit_code, 0) << created.output;

  // Chain/c records "C <invocation id> <input>" in a `run` step.
  std::map<std::string, std::set<std::string>> ids_by_input;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    ids_by_input.clear();
    for (absl::string_view line :
         absl::StrSplit(testing::ReadFile(dir_.path() + "/effects"), '\n',
                        absl::SkipEmpty())) {
      std::vector<std::string> parts = absl::StrSplit(line, ' ');
      if (parts.size() == 3 && parts[0] == "C") {
        ids_by_input[parts[2]].insert(parts[1]);
      }
    }
    if (ids_by_input.size() == records.size()) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(ids_by_input.size(), records.size());
  for (int i = 0; i < 60; ++i) {
    EXPECT_EQ(ids_by_input[absl::StrCat("r", i)].size(), 1u) << "r" << i;
  }
}

TEST_F(KafkaE2eTest, APausedRecordHoldsUpOnlyItsKey) {
  std::ofstream(poison_file_) << "on";
  std::vector<testing::ProducedRecord> records = Records({"bad"}, 3, "poison");
  for (auto& r : Records(Keys(5, "good"), 5)) records.push_back(r);
  ASSERT_TRUE(
      testing::Produce(kafka_.bootstrap_servers, "tally", records).ok());
  testing::CommandResult created = Subscribe("careful", "careful");
  ASSERT_EQ(created.exit_code, 0) << created.output;

  // The other keys flow.
  ASSERT_TRUE(WaitForCounts(Keys(5, "good"), 5));
  // The first "bad" record ends paused and holds up the two after it.
  json described;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    described = DescribeSubscription("careful");
    if (!described.value("blocked_keys", json::array()).empty()) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_EQ(described["blocked_keys"].size(), 1u) << described.dump();
  EXPECT_EQ(described["blocked_keys"][0]["key"], "bad");
  const std::string paused = described["blocked_keys"][0]["invocation_id"];
  EXPECT_EQ(Tally("bad").first, 0);
  // The key's next record waits behind it, and says so.
  testing::CommandResult queued = Cli(
      {"--json", "invocations", "list", "--key", "bad", "--status", "queued"});
  json queued_list = json::parse(queued.output, nullptr, false);
  ASSERT_EQ(queued_list.value("invocations", json::array()).size(), 2u)
      << queued.output;
  EXPECT_THAT(
      Describe(queued_list["invocations"][0]["invocation_id"])["status_reason"]
          .get<std::string>(),
      HasSubstr("queued behind " + paused + " (paused)"));
  testing::CommandResult human = Cli({"subscriptions", "describe", "careful"});
  EXPECT_THAT(human.output, HasSubstr("held up by a paused invocation"));
  EXPECT_THAT(human.output, HasSubstr(paused));

  // The fix, then a resume: it completes, and the key's later records too.
  std::remove(poison_file_.c_str());
  testing::CommandResult resumed = Cli({"invocations", "resume", paused});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  ASSERT_TRUE(WaitForCounts({"bad"}, 3));
  EXPECT_EQ(Tally("bad"), std::make_pair(3, 0));
  EXPECT_TRUE(DescribeSubscription("careful")
                  .value("blocked_keys", json::array())
                  .empty());
}

TEST_F(KafkaE2eTest, ARecordWithoutAKeyFailsVisibly) {
  ASSERT_TRUE(testing::Produce(kafka_.bootstrap_servers, "other",
                               {{std::nullopt, "c 1", {}}, {"k", "c 1", {}}})
                  .ok());
  testing::CommandResult created = Subscribe("other", "add", "other");
  ASSERT_EQ(created.exit_code, 0) << created.output;
  ASSERT_TRUE(WaitForCounts({"k"}, 1));
  // The keyless record is an invocation that failed with the reason.
  json list;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    testing::CommandResult r =
        Cli({"--json", "invocations", "list", "--service", "Tally"});
    list = json::parse(r.output, nullptr, false);
    if (list.value("invocations", json::array()).size() >= 2) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  std::string failed_id;
  for (const json& inv : list.value("invocations", json::array())) {
    if (inv["key"] == "") failed_id = inv["invocation_id"];
  }
  ASSERT_FALSE(failed_id.empty()) << list.dump();
  json description = Describe(failed_id);
  EXPECT_EQ(description["status"], "failed") << description.dump();
  EXPECT_THAT(description.dump(), HasSubstr("has no key"));
}

TEST_F(KafkaE2eTest, BadSubscriptionsAreRefusedWithTheReason) {
  testing::CommandResult r =
      Cli({"subscriptions", "create", "x", "--topic", "tally", "--target",
           "Tally/nope", "--bootstrap-servers", kafka_.bootstrap_servers});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("not found"));
  EXPECT_THAT(r.output, HasSubstr("nope"));

  r = Cli({"subscriptions", "create", "x", "--topic", "tally", "--target",
           "Nope/add", "--bootstrap-servers", kafka_.bootstrap_servers});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("Nope is not registered"));

  r = Cli({"subscriptions", "create", "x", "--topic", "missing", "--target",
           "Tally/add", "--bootstrap-servers", kafka_.bootstrap_servers});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("topic missing does not exist"));

  // Port 1 on loopback: nothing listens there.
  r = Cli({"subscriptions", "create", "x", "--topic", "tally", "--target",
           "Tally/add", "--bootstrap-servers", "127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("did not answer"));

  r = Cli({"subscriptions", "create", "x", "--topic", "tally", "--target",
           "Tally/add", "--bootstrap-servers", kafka_.bootstrap_servers,
           "--option", "enable.auto.commit=true"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("enable.auto.commit cannot be set"));

  r = Cli({"subscriptions", "create", "x", "--topic", "tally", "--target",
           "Tally/add", "--bootstrap-servers", kafka_.bootstrap_servers,
           "--option", "no.such.option=1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("no.such.option"));

  // Nothing was stored or consumed.
  r = Cli({"--json", "subscriptions", "list"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(json::parse(r.output, nullptr, false)
                .value("subscriptions", json::array())
                .size(),
            0u)
      << r.output;

  ASSERT_EQ(Subscribe("once", "add").exit_code, 0);
  r = Subscribe("once", "add");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("already exists"));
}

// examples/kafka-orders, as its README runs it.
class KafkaOrdersE2eTest : public testing::E2eTest {};

TEST_F(KafkaOrdersE2eTest, KeepsARunningTotalPerCustomer) {
  testing::KafkaMock kafka =
      testing::StartKafkaMock({"orders:4"}, dir_.path() + "/kafka.log");
  ASSERT_FALSE(kafka.bootstrap_servers.empty());
  auto worker = StartWorker(
      {testing::BuildPath("examples/kafka-orders/kafka-orders")}, "orders");
  testing::CommandResult created = Cli(
      {"subscriptions", "create", "orders", "--topic", "orders", "--target",
       "Customers/add_order", "--bootstrap-servers", kafka.bootstrap_servers,
       "--start", "earliest", "--option", "session.timeout.ms=6000"});
  ASSERT_EQ(created.exit_code, 0) << created.output;

  std::vector<testing::ProducedRecord> records;
  for (int i = 1; i <= 30; ++i) {
    const std::string customer = i % 3 == 0 ? "ada" : i % 3 == 1 ? "bob" : "cy";
    records.push_back(
        {customer,
         json{{"order_id", absl::StrCat("o-", i)}, {"amount_cents", i * 100}}
             .dump(),
         {}});
  }
  records.push_back({"bob", R"({"order": 1})", {{"source", "shop-7"}}});
  ASSERT_TRUE(
      testing::Produce(kafka.bootstrap_servers, "orders", records).ok());

  json ada;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    ada = Call("Customers", "get", nullptr, "ada");
    if (ada.value("orders", 0) == 10) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  // ada got orders 3, 6, ..., 30: 3 + 6 + ... + 30 = 165, times 100 cents.
  EXPECT_EQ(ada["orders"], 10) << ada.dump();
  EXPECT_EQ(ada["total_cents"], 16500);
  EXPECT_EQ(ada["last_order"], "o-30");
  EXPECT_THAT(ada["last_record"].get<std::string>(),
              ::testing::MatchesRegex("orders\\[[0-3]\\]@[0-9]+"));

  // The malformed order failed on its own; bob's orders all counted.
  json bob;
  for (int i = 0; i < 100; ++i) {
    bob = Call("Customers", "get", nullptr, "bob");
    if (bob.value("orders", 0) == 10) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(bob["orders"], 10) << bob.dump();
  testing::CommandResult failed =
      Cli({"--json", "invocations", "list", "--status", "failed"});
  json list = json::parse(failed.output, nullptr, false);
  ASSERT_EQ(list.value("invocations", json::array()).size(), 1u)
      << failed.output;
  json described = Describe(list["invocations"][0]["invocation_id"]);
  EXPECT_EQ(described["key"], "bob");
  const json& record = described["journal"][0]["kafka_record"];
  EXPECT_EQ(record["topic"], "orders") << described.dump();
  EXPECT_EQ(record["key"], "bob");
  EXPECT_EQ(record["headers"]["source"], "shop-7");
  EXPECT_GT(record["timestamp_ms"].get<int64_t>(), 0);
  EXPECT_THAT(described.dump(), HasSubstr("amount_cents"));
}

}  // namespace
}  // namespace reprise
