// The checkout example: a saga across three services. Checkout/run reserves
// stock (Inventory, a virtual object per product), charges the customer
// (Payments, a virtual object per customer, with an idempotency key taken
// from the checkout's invocation id), and books shipping (Shipping, which
// waits for a carrier pickup). A failure at shipping, or a cancellation
// while any step is under way, refunds the payment and releases the stock,
// newest first; each compensation is itself a durable call, so it happens
// exactly once.
//
//   ./build/examples/checkout/checkout --address 127.0.0.1:9090
//   ./build/runtime/cli/reprise invoke Checkout/run --data '{"order": "o-1",
//     "customer": "ada", "product": "lamp", "quantity": 2,
//     "amount_cents": 4200, "address": "1 Main St"}'
#include <cstdio>

#include "CLI/CLI.hpp"
#include "reprise/sdk/json.h"
#include "reprise/sdk/saga.h"
#include "reprise/sdk/worker.h"

namespace {

using nlohmann::json;
using reprise::sdk::Context;

// Stock every product starts with, until an order changes it.
constexpr int64_t kInitialStock = 10;

// A field of `input`, or INVALID_ARGUMENT naming it.
template <typename T>
absl::StatusOr<T> Field(const json& input, const char* name) {
  if (!input.is_object() || !input.contains(name)) {
    return absl::InvalidArgumentError(std::string("missing field '") + name +
                                      "'");
  }
  try {
    return input.at(name).get<T>();
  } catch (const json::exception&) {
    return absl::InvalidArgumentError(std::string("field '") + name +
                                      "' has the wrong type");
  }
}

#define TRY_ASSIGN(lhs, expr)                   \
  auto lhs##_or = (expr);                       \
  if (!lhs##_or.ok()) return lhs##_or.status(); \
  auto lhs = *std::move(lhs##_or)

// Inventory (virtual object, key: product) -------------------------------
// State: "available" (count), "hold:<order>" (quantity held for it).

int64_t Available(Context& ctx) {
  std::optional<std::string> stored = ctx.Get("available");
  return stored.has_value() ? std::stoll(*stored) : kInitialStock;
}

// {order, quantity} -> {available}. Holding for an order twice holds once.
absl::StatusOr<json> Reserve(Context& ctx, const json& input) {
  TRY_ASSIGN(order, Field<std::string>(input, "order"));
  TRY_ASSIGN(quantity, Field<int64_t>(input, "quantity"));
  if (quantity <= 0) {
    return absl::InvalidArgumentError("quantity must be positive");
  }
  int64_t available = Available(ctx);
  if (!ctx.Get("hold:" + order).has_value()) {
    if (available < quantity) {
      return absl::FailedPreconditionError(
          "out of stock: " + std::to_string(available) + " " + ctx.key() +
          " left, " + std::to_string(quantity) + " asked");
    }
    available -= quantity;
    ctx.Set("available", std::to_string(available));
    ctx.Set("hold:" + order, std::to_string(quantity));
  }
  return json{{"available", available}};
}

// {order} -> {available}. Releasing what is not held changes nothing, so
// the compensation may be registered before the reservation.
absl::StatusOr<json> Release(Context& ctx, const json& input) {
  TRY_ASSIGN(order, Field<std::string>(input, "order"));
  int64_t available = Available(ctx);
  if (std::optional<std::string> held = ctx.Get("hold:" + order)) {
    available += std::stoll(*held);
    ctx.Set("available", std::to_string(available));
    ctx.Clear("hold:" + order);
  }
  return json{{"available", available}};
}

// Shared: {available, holds: {order: quantity}}.
absl::StatusOr<json> Stock(Context& ctx, const json&) {
  json holds = json::object();
  for (const std::string& key : ctx.StateKeys()) {
    if (key.rfind("hold:", 0) == 0) {
      holds[key.substr(5)] = std::stoll(ctx.Get(key).value_or("0"));
    }
  }
  return json{{"available", Available(ctx)}, {"holds", holds}};
}

// Payments (virtual object, key: customer) --------------------------------
// State: "payment:<id>" = {"amount_cents", "status": charged|refunded}.

// {payment_id, amount_cents} -> the payment. The id is the idempotency key:
// a repeated charge returns the first one.
absl::StatusOr<json> Charge(Context& ctx, const json& input) {
  TRY_ASSIGN(id, Field<std::string>(input, "payment_id"));
  TRY_ASSIGN(amount, Field<int64_t>(input, "amount_cents"));
  if (std::optional<std::string> seen = ctx.Get("payment:" + id)) {
    return json::parse(*seen);
  }
  json payment = {
      {"payment_id", id}, {"amount_cents", amount}, {"status", "charged"}};
  ctx.Set("payment:" + id, payment.dump());
  return payment;
}

// {payment_id} -> the payment, refunded if it was charged; refunding one
// never charged changes nothing.
absl::StatusOr<json> Refund(Context& ctx, const json& input) {
  TRY_ASSIGN(id, Field<std::string>(input, "payment_id"));
  std::optional<std::string> seen = ctx.Get("payment:" + id);
  if (!seen.has_value()) return json{{"payment_id", id}, {"status", "none"}};
  json payment = json::parse(*seen);
  payment["status"] = "refunded";
  ctx.Set("payment:" + id, payment.dump());
  return payment;
}

// Shared: every payment of the customer, by id.
absl::StatusOr<json> Ledger(Context& ctx, const json&) {
  json payments = json::object();
  for (const std::string& key : ctx.StateKeys()) {
    payments[key.substr(8)] = json::parse(ctx.Get(key).value_or("{}"));
  }
  return payments;
}

// Shipping (service) -------------------------------------------------------

// {order, address, pickup_seconds} -> {tracking}. Waits (durably) for the
// carrier's pickup slot; an address it cannot ship to fails terminally.
absl::StatusOr<json> Ship(Context& ctx, const json& input) {
  TRY_ASSIGN(order, Field<std::string>(input, "order"));
  TRY_ASSIGN(address, Field<std::string>(input, "address"));
  const int64_t pickup = input.value("pickup_seconds", 0);
  if (address.empty() || address == "nowhere") {
    return absl::InvalidArgumentError("cannot ship to '" + address + "'");
  }
  if (pickup > 0) ctx.Sleep(absl::Seconds(pickup), "carrier-pickup");
  TRY_ASSIGN(tracking, ctx.Run("book-carrier", [&] {
    return absl::StatusOr<std::string>("TRK-" + order);
  }));
  return json{{"tracking", tracking}};
}

// Checkout (service) ------------------------------------------------------

// The result of a call, parsed.
absl::StatusOr<json> CallJson(Context& ctx, const char* service,
                              const char* handler, const json& parameter,
                              const std::string& key = "") {
  TRY_ASSIGN(out, ctx.Call(service, handler, parameter.dump(), key));
  return json::parse(out);
}

// {order, customer, product, quantity, amount_cents, address,
//  pickup_seconds?} -> {order, payment, tracking}.
absl::StatusOr<json> Checkout(Context& ctx, const json& input) {
  TRY_ASSIGN(order, Field<std::string>(input, "order"));
  TRY_ASSIGN(customer, Field<std::string>(input, "customer"));
  TRY_ASSIGN(product, Field<std::string>(input, "product"));
  TRY_ASSIGN(quantity, Field<int64_t>(input, "quantity"));
  TRY_ASSIGN(amount, Field<int64_t>(input, "amount_cents"));
  // The invocation id is the same on every retry: the payment's
  // idempotency key.
  const std::string payment_id = ctx.invocation_id();

  reprise::sdk::Saga saga(ctx);
  absl::StatusOr<std::string> done =
      saga.Run([&]() -> absl::StatusOr<std::string> {
        // Each compensation is registered before its call: a cancellation
        // fails the call at once, while the callee may have done its part.
        saga.AddCall("Inventory", "release", json{{"order", order}}.dump(),
                     product);
        TRY_ASSIGN(stock, CallJson(ctx, "Inventory", "reserve",
                                   {{"order", order}, {"quantity", quantity}},
                                   product));
        saga.AddCall("Payments", "refund",
                     json{{"payment_id", payment_id}}.dump(), customer);
        TRY_ASSIGN(payment, CallJson(ctx, "Payments", "charge",
                                     {{"payment_id", payment_id},
                                      {"amount_cents", amount}},
                                     customer));
        TRY_ASSIGN(
            shipment,
            CallJson(ctx, "Shipping", "ship",
                     {{"order", order},
                      {"address", input.value("address", "")},
                      {"pickup_seconds", input.value("pickup_seconds", 0)}}));
        return json{{"order", order},
                    {"payment", payment},
                    {"tracking", shipment["tracking"]}}
            .dump();
      });
  if (!done.ok()) return done.status();
  return json::parse(*done);
}

}  // namespace

int main(int argc, char** argv) {
  reprise::sdk::WorkerOptions options;
  options.name = "checkout";
  CLI::App app{"checkout: an example Reprise saga"};
  app.add_option("--address", options.address,
                 "Runtime worker address (default: $REPRISE_WORKER_ADDRESS "
                 "or 127.0.0.1:9090)");
  app.add_option("--version", options.version, "Worker version")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  using reprise::sdk::HandlerType;
  using reprise::sdk::JsonHandler;
  using reprise::sdk::ServiceDefinition;
  reprise::sdk::Worker worker(options);
  worker.Add(ServiceDefinition::VirtualObject("Inventory")
                 .Handler("reserve", JsonHandler(Reserve))
                 .Handler("release", JsonHandler(Release))
                 .Handler("stock", JsonHandler(Stock), HandlerType::kShared));
  worker.Add(ServiceDefinition::VirtualObject("Payments")
                 .Handler("charge", JsonHandler(Charge))
                 .Handler("refund", JsonHandler(Refund))
                 .Handler("ledger", JsonHandler(Ledger), HandlerType::kShared));
  worker.Add(ServiceDefinition::Service("Shipping")
                 .Handler("ship", JsonHandler(Ship)));
  worker.Add(ServiceDefinition::Service("Checkout")
                 .Handler("run", JsonHandler(Checkout)));
  absl::Status status = worker.RunUntilSignal();
  if (!status.ok()) {
    std::fprintf(stderr, "checkout: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
