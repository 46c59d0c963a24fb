// The agent example: an AI-agent tool loop as a durable workflow. A "model"
// (a local, deterministic function standing in for an LLM) reads the
// transcript and proposes the next tool call or the final answer; each
// model turn and each tool call is a journaled step, so a crash never
// repeats a booking and a replay sees the same model answers. Booking is
// risky: the loop waits on an awakeable for a human's approval, for as long
// as it takes, across runtime restarts, holding no thread meanwhile.
//
//   ./build/examples/agent/agent --address 127.0.0.1:9090
//   ./build/runtime/cli/reprise invoke --send Agent/run --key trip-1
//       --data '{"traveler": "ada", "from": "LIS", "to": "SFO",
//                "budget_eur": 900}'
//   ./build/runtime/cli/reprise invoke Agent/status --key trip-1
//   ./build/runtime/cli/reprise awakeables resolve awk_... --data '"approve"'
#include <cstdio>

#include "CLI/CLI.hpp"
#include "reprise/sdk/json.h"
#include "reprise/sdk/worker.h"

namespace {

using nlohmann::json;
using reprise::sdk::Context;

constexpr int kMaxTurns = 10;

// The model --------------------------------------------------------------
// Reads the request and the transcript of tool results so far; answers
// {"tool": name, "args": {...}} or {"answer": text}.

const json* LastResult(const json& transcript, const std::string& tool) {
  const json* found = nullptr;
  for (const json& turn : transcript) {
    if (turn.value("tool", "") == tool) found = &turn;
  }
  return found;
}

json Model(const json& request, const json& transcript) {
  const json* search = LastResult(transcript, "search_flights");
  if (search == nullptr) {
    return {{"tool", "search_flights"},
            {"args", {{"from", request["from"]}, {"to", request["to"]}}}};
  }
  const json* booking = LastResult(transcript, "book_flight");
  if (booking == nullptr) {
    const json* best = nullptr;
    for (const json& flight : (*search)["result"]) {
      if (flight["price_eur"] <= request["budget_eur"] &&
          (best == nullptr || flight["price_eur"] < (*best)["price_eur"])) {
        best = &flight;
      }
    }
    if (best == nullptr) {
      return {{"answer", "No flight within the budget of " +
                             request["budget_eur"].dump() + " EUR."}};
    }
    return {
        {"tool", "book_flight"},
        {"args",
         {{"flight", (*best)["flight"]}, {"traveler", request["traveler"]}}}};
  }
  if (!(*booking)["result"].contains("confirmation")) {
    return {{"answer", "Did not book: " +
                           (*booking)["result"].value("denied", "denied")}};
  }
  const std::string confirmation = (*booking)["result"]["confirmation"];
  if (LastResult(transcript, "send_itinerary") == nullptr) {
    return {{"tool", "send_itinerary"},
            {"args",
             {{"to", request["traveler"]}, {"confirmation", confirmation}}}};
  }
  return {{"answer", "Booked " +
                         (*booking)["args"]["flight"].get<std::string>() +
                         " for " + request["traveler"].get<std::string>() +
                         ", confirmation " + confirmation + "."}};
}

// The tools (simulated, deterministic) ------------------------------------

json RunTool(const std::string& tool, const json& args) {
  std::printf("tool %s ran with %s\n", tool.c_str(), args.dump().c_str());
  std::fflush(stdout);
  if (tool == "search_flights") {
    const std::string route =
        args["from"].get<std::string>() + "-" + args["to"].get<std::string>();
    return json::array({{{"flight", route + "-101"}, {"price_eur", 1180}},
                        {{"flight", route + "-202"}, {"price_eur", 760}},
                        {{"flight", route + "-303"}, {"price_eur", 845}}});
  }
  if (tool == "book_flight") {
    return {{"confirmation", "BK-" + args["flight"].get<std::string>() + "-" +
                                 args["traveler"].get<std::string>()}};
  }
  if (tool == "send_itinerary") return {{"sent_to", args["to"]}};
  return {{"error", "unknown tool " + tool}};
}

bool Risky(const std::string& tool) { return tool == "book_flight"; }

// The workflow -------------------------------------------------------------

json Transcript(Context& ctx) {
  return json::parse(ctx.Get("transcript").value_or("[]"));
}

// Asks a human to approve `proposal`; returns "" if approved, else why not.
std::string AskApproval(Context& ctx, const json& proposal) {
  Context::Awakeable approval =
      ctx.MakeAwakeable("approve-" + proposal["tool"].get<std::string>());
  ctx.Set("pending_approval",
          json{{"awakeable", approval.id}, {"proposal", proposal}}.dump());
  std::printf(
      "approval needed for %s: reprise awakeables resolve %s --data "
      "'\"approve\"'\n",
      proposal.dump().c_str(), approval.id.c_str());
  std::fflush(stdout);
  absl::StatusOr<std::string> verdict = ctx.Await(approval.future);
  ctx.Clear("pending_approval");
  if (!verdict.ok()) return std::string(verdict.status().message());
  json answer = json::parse(*verdict, nullptr, false);
  if (answer == "approve") return "";
  return answer.is_string() ? answer.get<std::string>() : *verdict;
}

// {traveler, from, to, budget_eur} -> {answer, turns}.
absl::StatusOr<json> Run(Context& ctx, const json& request) {
  for (const char* field : {"traveler", "from", "to"}) {
    if (!request.contains(field) || !request[field].is_string()) {
      return absl::InvalidArgumentError(std::string("missing field '") + field +
                                        "' (a string)");
    }
  }
  if (!request.contains("budget_eur") || !request["budget_eur"].is_number()) {
    return absl::InvalidArgumentError("missing field 'budget_eur' (a number)");
  }
  json transcript = Transcript(ctx);
  for (int turn = 1; turn <= kMaxTurns; ++turn) {
    // An LLM answers differently each time: journaled, a replay sees the
    // answer the first run acted on.
    absl::StatusOr<std::string> proposed = ctx.Run("model", [&] {
      return absl::StatusOr<std::string>(Model(request, transcript).dump());
    });
    if (!proposed.ok()) return proposed.status();
    json proposal = json::parse(*proposed);
    if (proposal.contains("answer")) {
      return json{{"answer", proposal["answer"]}, {"turns", turn}};
    }
    const std::string tool = proposal["tool"];
    json result;
    std::string denied = Risky(tool) ? AskApproval(ctx, proposal) : "";
    if (!denied.empty()) {
      result = {{"denied", denied}};
    } else {
      absl::StatusOr<std::string> out = ctx.Run("tool:" + tool, [&] {
        return absl::StatusOr<std::string>(
            RunTool(tool, proposal["args"]).dump());
      });
      if (!out.ok()) return out.status();
      result = json::parse(*out);
    }
    transcript.push_back(
        {{"tool", tool}, {"args", proposal["args"]}, {"result", result}});
    ctx.Set("transcript", transcript.dump());
  }
  return absl::DeadlineExceededError("the agent gave up after " +
                                     std::to_string(kMaxTurns) + " turns");
}

// Shared: where the agent is, and what it waits for.
absl::StatusOr<json> Status(Context& ctx, const json&) {
  json status = {{"transcript", Transcript(ctx)}};
  if (std::optional<std::string> pending = ctx.Get("pending_approval")) {
    status["pending_approval"] = json::parse(*pending);
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  reprise::sdk::WorkerOptions options;
  options.name = "agent";
  CLI::App app{"agent: an example AI-agent tool loop as a Reprise workflow"};
  app.add_option("--address", options.address,
                 "Runtime worker address (default: $REPRISE_WORKER_ADDRESS "
                 "or 127.0.0.1:9090)");
  app.add_option("--version", options.version, "Worker version")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  using reprise::sdk::HandlerType;
  using reprise::sdk::JsonHandler;
  reprise::sdk::Worker worker(options);
  worker.Add(reprise::sdk::ServiceDefinition::Workflow("Agent")
                 .Handler("run", JsonHandler(Run), HandlerType::kWorkflow)
                 .Handler("status", JsonHandler(Status)));
  absl::Status status = worker.RunUntilSignal();
  if (!status.ok()) {
    std::fprintf(stderr, "agent: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
