// The onboarding example: a durable multi-step flow for a new user. Each
// side effect is a journaled `Run` step and the trial period is a durable
// `Sleep`, so the flow survives crashes of this worker and of the runtime,
// and a long trial holds no thread while it waits.
//
//   ./build/examples/onboarding/onboarding --address 127.0.0.1:9090
//   ./build/runtime/cli/reprise invoke Onboarding/start
//       --data '{"user": "ada", "trial_seconds": 10}'
//
// The "systems" it talks to are simulated: each step prints what it does.
#include <cstdio>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "reprise/sdk/json.h"
#include "reprise/sdk/worker.h"

namespace {

using reprise::sdk::Context;

// One simulated side effect: prints it and returns a record of it.
Context::RunFunction Effect(std::string what) {
  return [what = std::move(what)]() -> absl::StatusOr<std::string> {
    std::printf("onboarding: %s\n", what.c_str());
    std::fflush(stdout);
    return what;
  };
}

absl::StatusOr<nlohmann::json> Start(Context& ctx,
                                     const nlohmann::json& request) {
  if (!request.is_object() || !request.contains("user") ||
      !request["user"].is_string()) {
    return absl::InvalidArgumentError(
        "start takes {\"user\": \"<name>\", \"trial_seconds\": <n>}");
  }
  const std::string user = request["user"];
  const int trial_seconds = request.value("trial_seconds", 14 * 24 * 3600);

  auto account = ctx.Run("create-account",
                         Effect(absl::StrFormat("created account %s", user)));
  if (!account.ok()) return account.status();
  auto welcome = ctx.Run(
      "send-welcome", Effect(absl::StrFormat("sent welcome mail to %s", user)));
  if (!welcome.ok()) return welcome.status();

  ctx.Sleep(absl::Seconds(trial_seconds), "trial");

  auto reminder =
      ctx.Run("send-trial-ended",
              Effect(absl::StrFormat("told %s the trial has ended", user)));
  if (!reminder.ok()) return reminder.status();
  return nlohmann::json{{"user", user},
                        {"steps", {*account, *welcome, *reminder}}};
}

}  // namespace

int main(int argc, char** argv) {
  reprise::sdk::WorkerOptions options;
  options.name = "onboarding";
  CLI::App app{"onboarding: an example durable multi-step Reprise worker"};
  app.add_option("--address", options.address,
                 "Runtime worker address (default: $REPRISE_WORKER_ADDRESS "
                 "or 127.0.0.1:9090)");
  app.add_option("--version", options.version, "Worker version")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  reprise::sdk::Worker worker(options);
  worker.Add(reprise::sdk::ServiceDefinition::Service("Onboarding")
                 .Handler("start", reprise::sdk::JsonHandler(Start)));
  absl::Status status = worker.RunUntilSignal();
  if (!status.ok()) {
    std::fprintf(stderr, "onboarding: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
