// Saga: undo, newest first, what a handler did when it fails terminally or
// is cancelled.
//
// Register each compensation as soon as there may be something to undo,
// and run the body through Saga::Run. After a Run step, that is once it
// succeeded; before a call, since a cancellation fails the call at once
// while the callee may have done (part of) its work:
//
//   reprise::sdk::Saga saga(ctx);
//   return saga.Run([&]() -> absl::StatusOr<std::string> {
//     auto hold = ctx.Run("reserve", [&] { return stock.Reserve(order); });
//     if (!hold.ok()) return hold.status();
//     // Runs after the body returned: capture by value what it needs.
//     saga.Add("release", [&stock, h = *hold] { return stock.Release(h); });
//     saga.Add("refund", [&] { return payments.Refund(order); });
//     auto paid = ctx.Call("Payments", "charge", order);
//     if (!paid.ok()) return paid.status();
//     ...
//   });
//
// When the body returns an error status or throws TerminalError (which is
// how a cancellation arrives), Run executes each compensation registered so
// far, newest first, each as a Run step named as given or as a durable
// call, and then returns the body's error. Each compensation is a journaled
// step, so it runs exactly once however often the handler is retried; and
// because the body registers the same compensations again on every replay, a
// crash in the middle of compensating resumes with the compensations not yet
// done. Compensations must be idempotent towards the systems they touch (a
// step's function may run again if the worker died before its result was
// durable), and should not fail terminally: one that throws fails the attempt
// and is retried by the handler's retry policy, like any step.
//
// Other exceptions (a bug, a lost dependency) pass through untouched: the
// attempt is retried from the journal and nothing is compensated.
//
// Thread-safety: as its Context, of which it keeps a reference; use it from
// the handler's thread only, while the Context is valid.
#pragma once

#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "reprise/sdk/context.h"

namespace reprise::sdk {

class Saga {
 public:
  explicit Saga(Context& ctx) : ctx_(ctx) {}
  Saga(const Saga&) = delete;
  Saga& operator=(const Saga&) = delete;

  // Registers `undo` to run as the Run step `name` if the saga compensates.
  void Add(std::string name, Context::RunFunction undo,
           RunOptions options = {});
  // Registers a durable call (Context::Call) as the compensation: for
  // effects another handler made, which that handler (or another) undoes.
  void AddCall(std::string service, std::string handler, std::string parameter,
               std::string key = "");

  // Runs `body`; compensates when it fails terminally (see above). Returns
  // the body's result, or its error after compensating; a compensation that
  // itself fails terminally is noted in the returned error's message.
  absl::StatusOr<std::string> Run(
      absl::FunctionRef<absl::StatusOr<std::string>()> body);

  // Runs the compensations registered and not run yet, newest first.
  // Returns the first terminal failure of one, after running the others.
  absl::Status Compensate();

 private:
  // A Run step, or a call when `undo` is empty.
  struct Compensation {
    std::string name;  // the step's, or the call's service
    Context::RunFunction undo;
    RunOptions options;
    std::string handler, parameter, key;  // a call's
  };
  Context& ctx_;
  std::vector<Compensation> compensations_;
};

}  // namespace reprise::sdk
