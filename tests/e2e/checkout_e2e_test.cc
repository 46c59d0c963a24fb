// End to end: the checkout example, a saga across Inventory, Payments and
// Shipping. A failure at shipping and a cancellation while shipping is under
// way both refund and release, newest first, each once; cancellation
// reaches the shipping invocation too.
#include <gmock/gmock.h>

#include "tests/testing/e2e_fixture.h"

namespace reprise {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class CheckoutE2eTest : public testing::E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    worker_ = StartWorker({testing::BuildPath("examples/checkout/checkout")},
                          "checkout");
  }

  static json Order(const std::string& id, const std::string& address,
                    int pickup_seconds = 0, int quantity = 2) {
    return {{"order", id},
            {"customer", "ada"},
            {"product", "lamp"},
            {"quantity", quantity},
            {"amount_cents", 4200},
            {"address", address},
            {"pickup_seconds", pickup_seconds}};
  }

  json Stock() { return Call("Inventory", "stock", nullptr, "lamp"); }
  json Ledger() { return Call("Payments", "ledger", nullptr, "ada"); }

  // "<kind> <name>" of each journal entry after the input.
  static std::vector<std::string> Steps(const json& described) {
    std::vector<std::string> steps;
    for (const json& e : described["journal"]) {
      if (e["kind"] != "input") {
        steps.push_back(e["kind"].get<std::string>() + " " +
                        e["name"].get<std::string>());
      }
    }
    return steps;
  }

  std::unique_ptr<testing::ChildProcess> worker_;
};

TEST_F(CheckoutE2eTest, ReservesChargesAndShips) {
  json out = Call("Checkout", "run", Order("o-1", "1 Main St"));
  EXPECT_EQ(out["tracking"], "TRK-o-1") << out.dump();
  EXPECT_EQ(out["payment"]["status"], "charged");
  EXPECT_EQ(Stock()["available"], 8);
  EXPECT_EQ(Stock()["holds"]["o-1"], 2);
  const std::string payment = out["payment"]["payment_id"];
  EXPECT_THAT(payment, ::testing::StartsWith("inv_"));
  EXPECT_EQ(Ledger()[payment]["status"], "charged");
}

TEST_F(CheckoutE2eTest, FailedShippingRefundsThenReleases) {
  v1::InvokeResponse response;
  ASSERT_TRUE(stub_
                  ->Invoke(testing::Deadline(60).get(),
                           Request("Checkout", "run", Order("o-2", "nowhere")),
                           &response)
                  .ok());
  ASSERT_TRUE(response.result().has_failure());
  EXPECT_EQ(response.result().failure().code(),
            static_cast<uint32_t>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(response.result().failure().message(),
              HasSubstr("cannot ship to 'nowhere'"));
  EXPECT_EQ(Stock()["available"], 10);
  EXPECT_TRUE(Stock()["holds"].empty());
  EXPECT_EQ(Ledger()[response.invocation_id()]["status"], "refunded");
  EXPECT_THAT(
      Steps(Describe(response.invocation_id())),
      ::testing::ElementsAre("call Inventory/reserve", "call Payments/charge",
                             "call Shipping/ship", "call Payments/refund",
                             "call Inventory/release", "output "));
}

TEST_F(CheckoutE2eTest, OutOfStockReleasesNothingItDidNotHold) {
  v1::Result result =
      Invoke(Request("Checkout", "run", Order("o-3", "1 Main St", 0, 11)));
  EXPECT_THAT(result.failure().message(), HasSubstr("out of stock"));
  EXPECT_EQ(Stock()["available"], 10);
}

TEST_F(CheckoutE2eTest, CancelWhileShippingCompensatesAndCancelsShipping) {
  const std::string id =
      Send(Request("Checkout", "run", Order("o-4", "1 Main St", 600)));
  // Wait until the checkout waits for Shipping, which waits for its pickup.
  json d = WaitUntil(id, [](const json& j) {
    return j["status"] == "suspended" && j["journal"].size() == 4;
  });
  ASSERT_EQ(d["status"], "suspended") << d.dump();
  const std::string shipping = d["journal"][3]["invocation_id"];
  json s = WaitUntil(shipping,
                     [](const json& j) { return j["status"] == "suspended"; });
  ASSERT_EQ(s["status"], "suspended") << s.dump();

  testing::CommandResult r = Cli({"invocations", "cancel", id});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  v1::Result result = Attach(id);
  ASSERT_TRUE(result.has_failure()) << result.DebugString();
  EXPECT_EQ(result.failure().code(),
            static_cast<uint32_t>(grpc::StatusCode::CANCELLED));
  EXPECT_EQ(Stock()["available"], 10);
  EXPECT_TRUE(Stock()["holds"].empty());
  EXPECT_EQ(Ledger()[id]["status"], "refunded");
  EXPECT_THAT(
      Steps(Describe(id)),
      ::testing::ElementsAre("call Inventory/reserve", "call Payments/charge",
                             "call Shipping/ship", "call Payments/refund",
                             "call Inventory/release", "output "));
  // The cancellation reached Shipping: its pickup wait failed, so it never
  // booked a carrier.
  v1::Result shipped = Attach(shipping);
  EXPECT_EQ(shipped.failure().code(),
            static_cast<uint32_t>(grpc::StatusCode::CANCELLED));
  const json shipping_steps = Describe(shipping);
  EXPECT_THAT(Steps(shipping_steps),
              ::testing::ElementsAre("sleep carrier-pickup", "output "));
  EXPECT_EQ(shipping_steps["journal"][1]["failure"]["code"],
            static_cast<int>(grpc::StatusCode::CANCELLED));

  // Cancelling again, or something unknown, is a clear error.
  r = Cli({"invocations", "cancel", id});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("has completed (failed)"));
  r = Cli({"invocations", "cancel", "inv_00000000000000000000000000000000"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("no invocation"));
  v1::AttachRequest cancel;
  cancel.set_invocation_id("nope");
  v1::CancelResponse cancelled;
  grpc::Status status =
      stub_->Cancel(testing::Deadline(10).get(), cancel, &cancelled);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace reprise
