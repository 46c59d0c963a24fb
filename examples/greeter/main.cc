// The greeter example: a worker serving the stateless service Greeter with
// one handler, greet, which takes a JSON string and returns a greeting.
//
//   ./build/examples/greeter/greeter --address 127.0.0.1:9090
//   ./build/runtime/cli/reprise invoke Greeter/greet --data '"Ada"'

#include <cstdio>

#include "CLI/CLI.hpp"
#include "reprise/sdk/json.h"
#include "reprise/sdk/worker.h"

namespace {

absl::StatusOr<nlohmann::json> Greet(reprise::sdk::Context& /*ctx*/,
                                     const nlohmann::json& name) {
  if (!name.is_string()) {
    return absl::InvalidArgumentError(
        "greet takes a JSON string, e.g. \"Ada\"");
  }
  return "Hello, " + name.get<std::string>() + "!";
}

}  // namespace

int main(int argc, char** argv) {
  reprise::sdk::WorkerOptions options;
  options.name = "greeter";
  CLI::App app{"greeter: an example Reprise worker"};
  app.add_option("--address", options.address,
                 "Runtime worker address (default: $REPRISE_WORKER_ADDRESS "
                 "or 127.0.0.1:9090)");
  app.add_option("--version", options.version, "Worker version")
      ->capture_default_str();
  app.add_option("--concurrency", options.concurrency,
                 "Invocations run at once")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  reprise::sdk::Worker worker(options);
  worker.Add(reprise::sdk::ServiceDefinition::Service("Greeter").Handler(
      "greet", reprise::sdk::JsonHandler(Greet)));
  absl::Status status = worker.RunUntilSignal();
  if (!status.ok()) {
    std::fprintf(stderr, "greeter: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
