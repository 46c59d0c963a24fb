// End to end: the counter example (a virtual object) through the real
// server and the CLI — keyed state, exclusive and shared handlers, queued
// invocations, idempotency keys, and the errors for bad keys.
#include <gmock/gmock.h>

#include <thread>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "tests/testing/e2e_fixture.h"

namespace reprise {
namespace {

using nlohmann::json;
using testing::Deadline;
using ::testing::HasSubstr;

class ObjectsE2eTest : public testing::E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    worker_ = StartWorker({testing::BuildPath("examples/counter/counter")},
                          "counter");
  }

  // Counter/<handler> on `key` (these hide the fixture's generic ones).
  grpc::Status Invoke(const std::string& handler, const std::string& key,
                      const std::string& payload, v1::InvokeResponse& response,
                      const std::string& idempotency_key = "") {
    v1::InvokeRequest request;
    request.mutable_target()->set_service("Counter");
    request.mutable_target()->set_handler(handler);
    request.mutable_target()->set_key(key);
    request.set_payload(payload);
    request.set_idempotency_key(idempotency_key);
    return stub_->Invoke(Deadline(30).get(), request, &response);
  }

  // The handler's output; fails the test on an error.
  std::string Call(const std::string& handler, const std::string& key,
                   const std::string& payload = "null") {
    v1::InvokeResponse response;
    grpc::Status status = Invoke(handler, key, payload, response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(response.result().has_value())
        << response.result().failure().message();
    return response.result().value();
  }

  std::unique_ptr<testing::ChildProcess> worker_;
};

TEST_F(ObjectsE2eTest, EachKeyKeepsItsOwnCount) {
  EXPECT_EQ(Call("add", "apples", "3"), "3");
  EXPECT_EQ(Call("add", "apples", "4"), "7");
  EXPECT_EQ(Call("add", "pears", "1"), "1");
  EXPECT_EQ(Call("get", "apples"), "7");
  EXPECT_EQ(Call("get", "plums"), "0");
  EXPECT_EQ(Call("reset", "apples"), "0");
  EXPECT_EQ(Call("get", "apples"), "0");
  EXPECT_EQ(Call("get", "pears"), "1");
}

TEST_F(ObjectsE2eTest, ConcurrentAddsToOneKeyAllCount) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) Call("add", "hot", "1");
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(Call("get", "hot"), "200");
}

TEST_F(ObjectsE2eTest, RepeatedIdempotentRequestsMakeOneInvocation) {
  constexpr int kRequests = 100;
  absl::Mutex mu;
  absl::flat_hash_set<std::string> ids, results;
  int errors = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kRequests; ++t) {
    threads.emplace_back([&] {
      v1::InvokeResponse response;
      grpc::Status status = Invoke("add", "idem", "5", response, "order-1");
      absl::MutexLock lock(&mu);
      if (!status.ok() || !response.result().has_value()) {
        ++errors;
        return;
      }
      ids.insert(response.invocation_id());
      results.insert(response.result().value());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors, 0);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(results, absl::flat_hash_set<std::string>{"5"});
  EXPECT_EQ(Call("get", "idem"), "5");  // added once
  // Attach by target and idempotency key instead of the id.
  v1::AttachRequest attach;
  attach.mutable_target()->set_service("Counter");
  attach.mutable_target()->set_handler("add");
  attach.mutable_target()->set_key("idem");
  attach.set_idempotency_key("order-1");
  v1::InvokeResponse attached;
  ASSERT_TRUE(stub_->Attach(Deadline(10).get(), attach, &attached).ok());
  EXPECT_EQ(attached.invocation_id(), *ids.begin());
  EXPECT_EQ(attached.result().value(), "5");

  // The CLI passes the key too; after completion the first result returns.
  testing::CommandResult r =
      Cli({"invoke", "Counter/add", "--key", "idem", "--data", "5",
           "--idempotency-key", "order-1"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("5"));
  EXPECT_EQ(Call("get", "idem"), "5");
  // Another key is another invocation.
  v1::InvokeResponse response;
  ASSERT_TRUE(Invoke("add", "idem", "5", response, "order-2").ok());
  EXPECT_EQ(response.result().value(), "10");
}

TEST_F(ObjectsE2eTest, BadKeysAreClearErrors) {
  v1::InvokeResponse response;
  grpc::Status status = Invoke("add", "", "1", response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("target.key is required"));
  EXPECT_THAT(status.error_message(), HasSubstr("virtual object"));
}

TEST_F(ObjectsE2eTest, DescribeShowsTheStateSteps) {
  v1::InvokeResponse response;
  ASSERT_TRUE(Invoke("add", "described", "2", response).ok());
  testing::CommandResult r =
      Cli({"--json", "invocations", "describe", response.invocation_id()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  json d = json::parse(r.output, nullptr, false);
  ASSERT_FALSE(d.is_discarded()) << r.output;
  std::vector<std::string> kinds;
  for (const auto& entry : d["journal"]) kinds.push_back(entry["kind"]);
  EXPECT_EQ(kinds, (std::vector<std::string>{"input", "get-state", "set-state",
                                             "output"}));
}

}  // namespace
}  // namespace reprise
