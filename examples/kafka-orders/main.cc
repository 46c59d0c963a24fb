// The kafka-orders example: a Kafka topic of order events, keyed by
// customer, feeds a virtual object per customer that keeps a running total.
// A subscription turns each record into one invocation of
// Customers/add_order with the record's key as the object key, so one
// customer's orders are added one at a time, in the topic's order, each
// exactly once.
//
//   ./build/examples/kafka-orders/kafka-orders --address 127.0.0.1:9090
//   ./build/runtime/cli/reprise subscriptions create orders
//       --topic orders --target Customers/add_order
//       --bootstrap-servers <brokers>
//   ./build/runtime/cli/reprise invoke Customers/get --key ada
#include <cstdio>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "reprise/sdk/json.h"
#include "reprise/sdk/worker.h"

namespace {

using nlohmann::json;
using reprise::sdk::Context;

int64_t Number(Context& ctx, std::string_view name) {
  std::optional<std::string> stored = ctx.Get(name);
  return stored.has_value() ? std::stoll(*stored) : 0;
}

// The customer's totals as `get` returns them.
json Totals(Context& ctx) {
  return {{"customer", ctx.key()},
          {"orders", Number(ctx, "orders")},
          {"total_cents", Number(ctx, "total_cents")},
          {"last_order", ctx.Get("last_order").value_or("")},
          {"last_record", ctx.Get("last_record").value_or("")}};
}

// An order event: {"order_id": "o-17", "amount_cents": 1250}.
absl::StatusOr<json> AddOrder(Context& ctx, const json& order) {
  if (!order.is_object() || !order.contains("order_id") ||
      !order["order_id"].is_string() || !order.contains("amount_cents") ||
      !order["amount_cents"].is_number_integer()) {
    // A terminal failure: the record's invocation fails and shows why;
    // the customer's later orders go on.
    return absl::InvalidArgumentError(
        "an order is {\"order_id\": string, \"amount_cents\": integer}");
  }
  ctx.Set("orders", std::to_string(Number(ctx, "orders") + 1));
  ctx.Set("total_cents", std::to_string(Number(ctx, "total_cents") +
                                        order["amount_cents"].get<int64_t>()));
  ctx.Set("last_order", order["order_id"].get<std::string>());
  // Where the order came from: a subscription passes the record along.
  if (const reprise::v1::KafkaRecord* record = ctx.kafka_record()) {
    ctx.Set("last_record",
            absl::StrFormat("%s[%d]@%d", record->topic(), record->partition(),
                            record->offset()));
  }
  return Totals(ctx);
}

absl::StatusOr<json> Get(Context& ctx, const json&) { return Totals(ctx); }

}  // namespace

int main(int argc, char** argv) {
  reprise::sdk::WorkerOptions options;
  options.name = "kafka-orders";
  CLI::App app{"kafka-orders: running totals per customer from a Kafka topic"};
  app.add_option("--address", options.address,
                 "Runtime worker address (default: $REPRISE_WORKER_ADDRESS "
                 "or 127.0.0.1:9090)");
  CLI11_PARSE(app, argc, argv);

  using reprise::sdk::HandlerType;
  using reprise::sdk::JsonHandler;
  reprise::sdk::Worker worker(options);
  worker.Add(reprise::sdk::ServiceDefinition::VirtualObject("Customers")
                 .Handler("add_order", JsonHandler(AddOrder))
                 .Handler("get", JsonHandler(Get), HandlerType::kShared));
  absl::Status status = worker.RunUntilSignal();
  if (!status.ok()) {
    std::fprintf(stderr, "kafka-orders: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
