// A worker for durable-execution tests. Every side effect is one line
// appended (a single write(2), so lines never interleave) to --effects-file:
//
//   Workflow/run   5 `run` steps; each step's body writes
//                  "EXEC <id> <step> <nonce>", works --step-ms, and
//                  returns the nonce;
//                  once Run returns (the step is durable) the handler writes
//                  "ACK <id> <step> <value>". Output: the 5 values, joined
//                  by ','.
//   Sleeper/nap    records Now, sleeps <input> ms, then a `run` step writes
//                  "WOKE <id> <unix ms>". Output: "<now ms> <woke ms>".
//   Flaky/thrice   throws on attempts 1-3, then returns "ok".
//   Flaky/always   always throws; at most 3 attempts, then paused.
//   Flaky/slow     throws on attempt 1, then returns "ok"; attempts are a
//                  minute apart.
//   Tally/add      a virtual object: input "<caller> <seq>"; adds 1 to the
//                  key's "count" and checks that each caller's seq is the
//                  one after its previous, counting "violations" if not.
//                  Output: the new count.
//   Tally/careful  as add, but an input from caller "poison" fails (at most
//                  3 attempts, then paused) while --poison-file exists.
//   Tally/get      shared: "<count> <violations>".
//   Tally/self     calls Tally/<input> on its own key; returns the result
//                  or the error.
//   Chain/a        calls Chain/b with its input, which calls Chain/c; b and
//                  c record "B|C <id> <input>" in a `run` step. Output:
//                  "a(b(c(<input>)))".
//   Chain/lost     calls Nope/x, which does not exist; returns the error.
//   Signup/run     a workflow: records "RUN <key>" once per run step, then
//                  waits for its promise "confirmed"; returns
//                  "confirmed:<value>". Signup/confirm (shared) resolves
//                  the promise with its input, returning the status;
//                  Signup/peek (shared) returns it or "none".
//   Approval/ask   waits on an awakeable; returns "approved:<payload>" or
//                  "rejected:<status>".
//   Approval/race  races an awakeable with a timer of <input> ms; returns
//                  "timed out" or the payload.
//   Saga/book      3 `run` steps "do-<n>" (--step-ms each), registering
//                  compensation "undo-<n>" after each; then fails with
//                  ABORTED "declined" (input "wait": sleeps an hour first,
//                  to be cancelled), so the saga runs undo-3..1. Each
//                  undo writes "UNDO <id> <n> <nonce> <unix ms>" as it
//                  starts and returns the nonce.
#include <fcntl.h>
#include <unistd.h>

#include <random>
#include <stdexcept>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "reprise/sdk/saga.h"
#include "reprise/sdk/worker.h"

namespace {

int effects_fd = -1;

void Record(const std::string& line) {
  std::string out = line + "\n";
  if (write(effects_fd, out.data(), out.size()) !=
      static_cast<ssize_t>(out.size())) {
    throw std::runtime_error("cannot record the side effect");
  }
}

}  // namespace

int main(int argc, char** argv) {
  reprise::sdk::WorkerOptions options;
  options.name = "steps";
  std::string effects_file;
  int step_ms = 10;
  CLI::App app{"durable-execution worker for tests"};
  app.add_option("--address", options.address)->required();
  app.add_option("--effects-file", effects_file)->required();
  app.add_option("--concurrency", options.concurrency);
  app.add_option("--step-ms", step_ms, "time each workflow step takes");
  std::string poison_file;
  app.add_option("--poison-file", poison_file,
                 "while it exists, Tally/careful fails for caller poison");
  CLI11_PARSE(app, argc, argv);
  effects_fd = open(effects_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (effects_fd < 0) return 1;

  using reprise::sdk::Context;
  using Result = absl::StatusOr<std::string>;
  reprise::sdk::Worker worker(options);
  worker.Add(
      reprise::sdk::ServiceDefinition::Service("Workflow")
          .Handler("run", [step_ms](Context& ctx, const std::string&) {
            std::vector<std::string> values;
            for (int step = 1; step <= 5; ++step) {
              Result value =
                  ctx.Run(absl::StrFormat("step-%d", step), [&]() -> Result {
                    std::string nonce = absl::StrFormat(
                        "%016x", std::random_device()() * 4294967296ull +
                                     std::random_device()());
                    Record(absl::StrFormat("EXEC %s %d %s", ctx.invocation_id(),
                                           step, nonce));
                    std::this_thread::sleep_for(
                        std::chrono::milliseconds(step_ms));
                    return nonce;
                  });
              if (!value.ok()) return value;
              Record(absl::StrFormat("ACK %s %d %s", ctx.invocation_id(), step,
                                     *value));
              values.push_back(*value);
            }
            return Result(absl::StrJoin(values, ","));
          }));
  worker.Add(reprise::sdk::ServiceDefinition::Service("Sleeper").Handler(
      "nap", [](Context& ctx, const std::string& input) -> Result {
        const int64_t start = absl::ToUnixMillis(ctx.Now());
        ctx.Sleep(absl::Milliseconds(std::stoi(input)), "nap");
        Result woke = ctx.Run("woke", [&]() -> Result {
          const int64_t now = absl::ToUnixMillis(absl::Now());
          Record(absl::StrFormat("WOKE %s %d", ctx.invocation_id(), now));
          return std::to_string(now);
        });
        if (!woke.ok()) return woke;
        return absl::StrFormat("%d %s", start, *woke);
      }));
  reprise::sdk::RetryPolicy three_tries;
  three_tries.initial_interval = absl::Milliseconds(20);
  three_tries.max_attempts = 3;
  reprise::sdk::RetryPolicy a_minute_apart;
  a_minute_apart.initial_interval = absl::Minutes(1);
  a_minute_apart.max_interval = absl::Minutes(1);
  worker.Add(
      reprise::sdk::ServiceDefinition::Service("Flaky")
          .Handler("thrice",
                   [](Context& ctx, const std::string&) -> Result {
                     if (ctx.attempt() <= 3) {
                       throw std::runtime_error(absl::StrFormat(
                           "attempt %d fails on purpose", ctx.attempt()));
                     }
                     return "ok";
                   })
          .Handler(
              "always",
              [](Context& ctx, const std::string&) -> Result {
                ctx.Run("first", [] { return Result("x"); }).IgnoreError();
                throw std::runtime_error("the database is unreachable");
              },
              reprise::sdk::HandlerOptions{three_tries, std::nullopt})
          .Handler(
              "slow",
              [](Context& ctx, const std::string&) -> Result {
                if (ctx.attempt() == 1) {
                  throw std::runtime_error(absl::StrFormat(
                      "attempt %d fails on purpose", ctx.attempt()));
                }
                return "ok";
              },
              reprise::sdk::HandlerOptions{a_minute_apart, std::nullopt}));
  auto number = [](Context& ctx, std::string_view key) {
    std::optional<std::string> value = ctx.Get(key);
    return value.has_value() ? std::stoll(*value) : 0;
  };
  auto add = [number](Context& ctx, const std::string& input) -> Result {
    const std::string caller = input.substr(0, input.find(' '));
    const int64_t seq = std::stoll(input.substr(input.find(' ') + 1));
    const std::string last_key = "last/" + caller;
    if (number(ctx, last_key) != seq - 1) {
      ctx.Set("violations", std::to_string(number(ctx, "violations") + 1));
    }
    ctx.Set(last_key, std::to_string(seq));
    const int64_t count = number(ctx, "count") + 1;
    ctx.Set("count", std::to_string(count));
    return std::to_string(count);
  };
  worker.Add(
      reprise::sdk::ServiceDefinition::VirtualObject("Tally")
          .Handler("add", add)
          .Handler(
              "careful",
              [add, poison_file](Context& ctx,
                                 const std::string& input) -> Result {
                if (input.rfind("poison ", 0) == 0 && !poison_file.empty() &&
                    access(poison_file.c_str(), F_OK) == 0) {
                  throw std::runtime_error("poisoned record");
                }
                return add(ctx, input);
              },
              reprise::sdk::HandlerOptions{three_tries, std::nullopt})
          .Handler(
              "get",
              [number](Context& ctx, const std::string&) -> Result {
                return absl::StrFormat("%d %d", number(ctx, "count"),
                                       number(ctx, "violations"));
              },
              reprise::sdk::HandlerType::kShared)
          .Handler("self",
                   [](Context& ctx, const std::string& handler) -> Result {
                     Result r = ctx.Call("Tally", handler, "", ctx.key());
                     return r.ok() ? *r : r.status().ToString();
                   }));
  auto hop = [](const std::string& name, const std::string& next) {
    return [name, next](Context& ctx, const std::string& input) -> Result {
      if (name != "a") {
        Result recorded = ctx.Run("record", [&]() -> Result {
          Record(absl::StrFormat("%s %s %s", name == "b" ? "B" : "C",
                                 ctx.invocation_id(), input));
          return std::string();
        });
        if (!recorded.ok()) return recorded;
      }
      if (next.empty()) return name + "(" + input + ")";
      Result inner = ctx.Call("Chain", next, input);
      if (!inner.ok()) return inner;
      return name + "(" + *inner + ")";
    };
  };
  worker.Add(reprise::sdk::ServiceDefinition::Service("Chain")
                 .Handler("a", hop("a", "b"))
                 .Handler("b", hop("b", "c"))
                 .Handler("c", hop("c", ""))
                 .Handler("lost", [](Context& ctx, const std::string&) {
                   Result r = ctx.Call("Nope", "x", "");
                   return Result(r.status().ToString());
                 }));
  worker.Add(
      reprise::sdk::ServiceDefinition::Workflow("Signup")
          .Handler(
              "run",
              [](Context& ctx, const std::string&) -> Result {
                Result ran = ctx.Run("record", [&]() -> Result {
                  Record("RUN " + ctx.key());
                  return std::string();
                });
                if (!ran.ok()) return ran;
                Result value = ctx.Promise("confirmed").Get();
                if (!value.ok()) return value;
                return "confirmed:" + *value;
              },
              reprise::sdk::HandlerType::kWorkflow)
          .Handler(
              "confirm",
              [](Context& ctx, const std::string& input) -> Result {
                return ctx.Promise("confirmed").Resolve(input).ToString();
              },
              reprise::sdk::HandlerType::kShared)
          .Handler(
              "peek",
              [](Context& ctx, const std::string&) -> Result {
                auto peeked = ctx.Promise("confirmed").Peek();
                if (!peeked.has_value()) return std::string("none");
                return *peeked;
              },
              reprise::sdk::HandlerType::kShared));
  worker.Add(reprise::sdk::ServiceDefinition::Service("Approval")
                 .Handler("ask",
                          [](Context& ctx, const std::string&) {
                            Context::Awakeable approval =
                                ctx.MakeAwakeable("approval");
                            Result answer = ctx.Await(approval.future);
                            return Result(answer.ok()
                                              ? "approved:" + *answer
                                              : "rejected:" +
                                                    answer.status().ToString());
                          })
                 .Handler("race", [](Context& ctx, const std::string& input) {
                   Context::Awakeable approval = ctx.MakeAwakeable("approval");
                   reprise::sdk::DurableFuture timeout = ctx.Timer(
                       absl::Milliseconds(std::stoi(input)), "timeout");
                   if (ctx.AwaitAny({approval.future, timeout}) == 1) {
                     return Result("timed out");
                   }
                   return ctx.Await(approval.future);
                 }));
  worker.Add(reprise::sdk::ServiceDefinition::Service("Saga").Handler(
      "book", [step_ms](Context& ctx, const std::string& input) -> Result {
        const std::string id = ctx.invocation_id();
        reprise::sdk::Saga saga(ctx);
        return saga.Run([&]() -> Result {
          for (int step = 1; step <= 3; ++step) {
            Result done =
                ctx.Run(absl::StrFormat("do-%d", step), [&]() -> Result {
                  std::this_thread::sleep_for(
                      std::chrono::milliseconds(step_ms));
                  return std::string("done");
                });
            if (!done.ok()) return done;
            saga.Add(absl::StrFormat("undo-%d", step), [id, step, step_ms] {
              const std::string nonce = absl::StrFormat(
                  "%016x", std::random_device()() * 4294967296ull +
                               std::random_device()());
              Record(absl::StrFormat("UNDO %s %d %s %d", id, step, nonce,
                                     absl::ToUnixMillis(absl::Now())));
              std::this_thread::sleep_for(std::chrono::milliseconds(step_ms));
              return Result(nonce);
            });
          }
          // Waits to be cancelled, which fails the sleep.
          if (input == "wait") ctx.Sleep(absl::Hours(1), "wait");
          return absl::AbortedError("declined");
        });
      }));
  return worker.Run().ok() ? 0 : 1;
}
