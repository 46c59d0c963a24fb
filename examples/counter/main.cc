// The counter example: a virtual object. Every key is its own counter;
// `add` is exclusive, so the adds to one key run one at a time, in order of
// arrival, and each changes the count exactly once even across crashes;
// `get` is shared, so reads run at once, next to a running add.
//
//   ./build/examples/counter/counter --address 127.0.0.1:9090
//   ./build/runtime/cli/reprise invoke Counter/add --key apples --data 3
//   ./build/runtime/cli/reprise invoke Counter/get --key apples
#include <cstdio>

#include "CLI/CLI.hpp"
#include "reprise/sdk/json.h"
#include "reprise/sdk/worker.h"

namespace {

using reprise::sdk::Context;

// The count of `ctx.key()`; 0 until the first add.
int64_t Count(Context& ctx) {
  std::optional<std::string> stored = ctx.Get("count");
  return stored.has_value() ? std::stoll(*stored) : 0;
}

absl::StatusOr<nlohmann::json> Add(Context& ctx, const nlohmann::json& delta) {
  if (!delta.is_number_integer()) {
    return absl::InvalidArgumentError("add takes an integer, e.g. 3");
  }
  const int64_t count = Count(ctx) + delta.get<int64_t>();
  ctx.Set("count", std::to_string(count));
  return count;
}

absl::StatusOr<nlohmann::json> Get(Context& ctx, const nlohmann::json&) {
  return Count(ctx);
}

absl::StatusOr<nlohmann::json> Reset(Context& ctx, const nlohmann::json&) {
  ctx.ClearAll();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  reprise::sdk::WorkerOptions options;
  options.name = "counter";
  CLI::App app{"counter: an example Reprise virtual object"};
  app.add_option("--address", options.address,
                 "Runtime worker address (default: $REPRISE_WORKER_ADDRESS "
                 "or 127.0.0.1:9090)");
  app.add_option("--version", options.version, "Worker version")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  using reprise::sdk::HandlerType;
  using reprise::sdk::JsonHandler;
  reprise::sdk::Worker worker(options);
  worker.Add(reprise::sdk::ServiceDefinition::VirtualObject("Counter")
                 .Handler("add", JsonHandler(Add))
                 .Handler("reset", JsonHandler(Reset))
                 .Handler("get", JsonHandler(Get), HandlerType::kShared));
  absl::Status status = worker.RunUntilSignal();
  if (!status.ok()) {
    std::fprintf(stderr, "counter: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
