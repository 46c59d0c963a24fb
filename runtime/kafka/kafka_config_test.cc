#include "runtime/kafka/kafka_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/temp_dir.h"

namespace reprise::kafka {
namespace {

using ::testing::HasSubstr;

class KafkaConfigTest : public ::testing::Test {
 protected:
  KafkaConfigTest()
      : store_(storage::Store::Open(dir_.path()).value()),
        registry_(storage::ServiceRegistry::Load(*store_).value()) {
    v1::ServiceDefinition tally;
    tally.set_name("Tally");
    tally.set_type(v1::SERVICE_TYPE_VIRTUAL_OBJECT);
    tally.add_handlers()->set_name("add");
    tally.mutable_handlers(0)->set_type(v1::HANDLER_TYPE_EXCLUSIVE);
    v1::ServiceDefinition log;
    log.set_name("Log");
    log.set_type(v1::SERVICE_TYPE_SERVICE);
    log.add_handlers()->set_name("write");
    v1::ServiceDefinition signup;
    signup.set_name("Signup");
    signup.set_type(v1::SERVICE_TYPE_WORKFLOW);
    signup.add_handlers()->set_name("run");
    signup.mutable_handlers(0)->set_type(v1::HANDLER_TYPE_WORKFLOW);
    EXPECT_TRUE(registry_->Register({tally, log, signup}, "v1", 1).ok());
  }

  static v1::Subscription Subscription(std::string service = "Tally",
                                       std::string handler = "add") {
    v1::Subscription s;
    s.set_name("orders");
    s.set_id("00000000000000aa");
    s.set_topic("orders");
    s.set_bootstrap_servers("127.0.0.1:9092");
    s.mutable_target()->set_service(std::move(service));
    s.mutable_target()->set_handler(std::move(handler));
    return s;
  }

  static v1::KafkaRecord Record(int64_t offset,
                                std::optional<std::string> key) {
    v1::KafkaRecord r;
    r.set_subscription("orders");
    r.set_topic("orders");
    r.set_partition(1);
    r.set_offset(offset);
    if (key.has_value()) r.set_key(*key);
    return r;
  }

  testing::TempDir dir_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::ServiceRegistry> registry_;
};

TEST_F(KafkaConfigTest, ValidatesFieldsTargetAndOptions) {
  EXPECT_TRUE(ValidateSubscription(Subscription(), *registry_).ok());

  v1::Subscription bad = Subscription();
  bad.set_topic("has space");
  EXPECT_THAT(ValidateSubscription(bad, *registry_).message(),
              HasSubstr("not a valid Kafka topic name"));
  bad = Subscription();
  bad.clear_bootstrap_servers();
  EXPECT_EQ(ValidateSubscription(bad, *registry_).code(),
            absl::StatusCode::kInvalidArgument);
  bad = Subscription();
  bad.mutable_target()->set_key("k");
  EXPECT_THAT(ValidateSubscription(bad, *registry_).message(),
              HasSubstr("target.key must be empty"));
  EXPECT_EQ(ValidateSubscription(Subscription("Nope"), *registry_).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(
      ValidateSubscription(Subscription("Tally", "nope"), *registry_).code(),
      absl::StatusCode::kNotFound);

  bad = Subscription();
  (*bad.mutable_options())["auto.offset.reset"] = "latest";
  EXPECT_THAT(ValidateSubscription(bad, *registry_).message(),
              HasSubstr("use the start position"));
  bad = Subscription();
  (*bad.mutable_options())["group.id"] = "shared";
  EXPECT_THAT(ValidateSubscription(bad, *registry_).message(),
              HasSubstr("no two subscriptions share one"));
  bad = Subscription();
  (*bad.mutable_options())["plugin.library.paths"] = "/tmp/evil.so";
  EXPECT_THAT(ValidateSubscription(bad, *registry_).message(),
              HasSubstr("loads code"));
  bad = Subscription();
  (*bad.mutable_options())["session.timeout.ms"] = "soon";
  EXPECT_THAT(ValidateSubscription(bad, *registry_).message(),
              HasSubstr("session.timeout.ms"));
}

TEST_F(KafkaConfigTest, RedactsSecretOptions) {
  v1::Subscription s = Subscription();
  (*s.mutable_options())["sasl.password"] = "hunter2";
  (*s.mutable_options())["ssl.key.pem"] = "-----BEGIN";
  (*s.mutable_options())["security.protocol"] = "SASL_SSL";
  v1::Subscription shown = Redacted(s);
  EXPECT_EQ(shown.options().at("sasl.password"), "***");
  EXPECT_EQ(shown.options().at("ssl.key.pem"), "***");
  EXPECT_EQ(shown.options().at("security.protocol"), "SASL_SSL");
}

TEST_F(KafkaConfigTest, ARecordNamesTheSameInvocationEveryTime) {
  auto first = NewRecordInvocation(Subscription(), *registry_, Record(7, "ada"),
                                   "v", 1000);
  auto again = NewRecordInvocation(Subscription(), *registry_, Record(7, "ada"),
                                   "v", 2000);
  auto next = NewRecordInvocation(Subscription(), *registry_, Record(8, "ada"),
                                  "v", 1000);
  ASSERT_TRUE(first.ok() && again.ok() && next.ok());
  EXPECT_EQ(first->id, again->id);
  EXPECT_NE(first->id, next->id);
  // A key's records share its partition key, like every call of the key.
  EXPECT_EQ(first->id.partition_key(), KeyPartitionHash("Tally", "ada"));
  EXPECT_EQ(next->id.partition_key(), KeyPartitionHash("Tally", "ada"));

  const v1::InvokeCommand& invoke = first->command.invoke();
  EXPECT_EQ(invoke.target().key(), "ada");
  EXPECT_EQ(invoke.input(), "v");
  EXPECT_EQ(invoke.subscription_id(), "00000000000000aa");
  EXPECT_EQ(invoke.kafka_record().offset(), 7);
  EXPECT_EQ(invoke.handler_type(), v1::HANDLER_TYPE_EXCLUSIVE);
  EXPECT_TRUE(invoke.rejected().empty());
}

TEST_F(KafkaConfigTest, KeylessRecordsForKeyedTargetsAreRejected) {
  for (std::optional<std::string> key :
       {std::optional<std::string>(), std::optional<std::string>("")}) {
    auto invocation = NewRecordInvocation(Subscription(), *registry_,
                                          Record(3, key), "v", 1000);
    ASSERT_TRUE(invocation.ok());
    EXPECT_THAT(invocation->command.invoke().rejected(),
                HasSubstr("has no key"));
  }
  // A stateless target takes records with or without a key.
  auto stateless = NewRecordInvocation(Subscription("Log", "write"), *registry_,
                                       Record(3, std::nullopt), "v", 1000);
  ASSERT_TRUE(stateless.ok());
  EXPECT_TRUE(stateless->command.invoke().rejected().empty());
  EXPECT_TRUE(stateless->command.invoke().target().key().empty());
}

TEST_F(KafkaConfigTest, WorkflowRecordsNameTheWorkflowRun) {
  auto invocation = NewRecordInvocation(Subscription("Signup", "run"),
                                        *registry_, Record(5, "u-1"), "v", 1);
  ASSERT_TRUE(invocation.ok());
  EXPECT_EQ(invocation->id, WorkflowRunId("Signup", "u-1"));
}

TEST_F(KafkaConfigTest, AnUnregisteredTargetIsNotFound) {
  EXPECT_EQ(NewRecordInvocation(Subscription("Gone"), *registry_,
                                Record(1, "k"), "v", 1)
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace reprise::kafka
