// Context: the handler's view of its invocation and its durable operations.
//
// Every operation below is a journaled step. The first time a handler runs
// a step, its result is recorded in the invocation's journal; when the
// handler runs again (a retry, or a resume after suspension) the step
// returns the recorded result instead of doing the work again. A handler
// must therefore take the same steps, with the same names, in the same
// order, on every run: branch only on the input and on step results, never
// on the clock, randomness or outside state (use Run, Now and Random for
// those). A handler that takes another step than its journal records fails
// its attempt with a "journal mismatch" error naming the entry.
//
//   absl::StatusOr<std::string> Charge(reprise::sdk::Context& ctx,
//                                      const std::string& order) {
//     auto receipt = ctx.Run("charge", [&] { return payments.Charge(order); });
//     if (!receipt.ok()) return receipt.status();  // terminal: fails it
//     ctx.Sleep(absl::Hours(24), "cool-off");        // suspends; holds nothing
//     return *receipt;
//   }
//
// Control flow: when a handler must wait long for a step (a timer), or the
// runtime ends the attempt, the current operation unwinds the handler with
// an internal signal that is not a std::exception. Let it pass: catch
// specific exception types, not `...`; if the signal is swallowed anyway,
// whatever the handler does afterwards is ignored.
//
// Thread-safety: a Context belongs to the one attempt that runs the handler;
// use it from that handler's thread only. Ownership: owned by the SDK; valid
// until the handler returns.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "reprise/v1/common.pb.h"

namespace reprise::sdk {

namespace internal {
class Attempt;
}

// Thrown from a handler (or a Run function) to fail terminally: no retry.
// From a handler it completes the invocation as failed; from a Run function
// it records the step as failed and Run returns the error.
class TerminalError : public std::exception {
 public:
  explicit TerminalError(std::string message,
                         absl::StatusCode code = absl::StatusCode::kUnknown)
      : status_(code, message), what_(std::move(message)) {}
  // An OK `status` is taken as kUnknown.
  explicit TerminalError(absl::Status status)
      : status_(status.ok() ? absl::UnknownError("terminal error")
                            : std::move(status)),
        what_(status_.message()) {}
  const char* what() const noexcept override { return what_.c_str(); }
  const absl::Status& status() const { return status_; }

 private:
  absl::Status status_;
  std::string what_;
};

// How Run retries a function that throws. The delay before try n+1 is
// min(initial_interval * factor^(n-1), max_interval). Retrying stops after
// `max_attempts` tries or once `max_duration` has passed since the first
// (zero means no limit on that axis); the step then fails terminally with
// the last error, so the handler can compensate. The attempt sends nothing
// while it retries: keep the whole sequence within the inactivity timeout.
struct RunRetryPolicy {
  absl::Duration initial_interval = absl::Milliseconds(100);
  double factor = 2.0;
  absl::Duration max_interval = absl::Seconds(10);
  uint32_t max_attempts = 10;
  absl::Duration max_duration = absl::ZeroDuration();
};

struct RunOptions {
  // Without a policy, a throwing function fails the whole attempt, which
  // the runtime retries by the handler's policy; with one, Run retries the
  // function in place and records a terminal failure when it gives up.
  std::optional<RunRetryPolicy> retry_policy;
};

// A step that completes later (a timer). Await it with Context::Await.
class DurableFuture {
 public:
  uint32_t journal_index() const { return index_; }

 private:
  friend class Context;
  explicit DurableFuture(uint32_t index) : index_(index) {}
  uint32_t index_;
};

// A step that completes later with a result: a call to another handler (to
// make several at once), an awakeable, or a promise's GetAsync. Await it
// with Context::Await.
class ResultFuture {
 public:
  uint32_t journal_index() const { return index_; }

 private:
  friend class Context;
  friend class DurablePromise;
  explicit ResultFuture(uint32_t index) : index_(index) {}
  uint32_t index_;
};

class Context;

// Anything Context::AwaitAny / AwaitAll accept: a timer or a result future.
class Awaitable {
 public:
  Awaitable(const DurableFuture& f) : index_(f.journal_index()) {}  // NOLINT
  Awaitable(const ResultFuture& f) : index_(f.journal_index()) {}   // NOLINT
  uint32_t journal_index() const { return index_; }

 private:
  uint32_t index_;
};

// A workflow's durable promise, by name: a value that one handler (or the
// ingress, ResolvePromise) completes once and others wait for. Each method
// is a journaled step. Valid while its Context is.
class DurablePromise {
 public:
  // Waits for the promise's completion (suspending if long): its value, or
  // ABORTED with the reason it was rejected for.
  absl::StatusOr<std::string> Get();
  // Get as a future, to Await later or race in AwaitAny.
  ResultFuture GetAsync();
  // The completion if it has one, without waiting.
  std::optional<absl::StatusOr<std::string>> Peek();
  // Completes it, unless it was completed before: then FAILED_PRECONDITION.
  absl::Status Resolve(std::string value);
  absl::Status Reject(std::string reason);

 private:
  friend class Context;
  DurablePromise(Context& ctx, std::string name)
      : ctx_(ctx), name_(std::move(name)) {}
  Context& ctx_;
  std::string name_;
};

class Context {
 public:
  // A function whose result Run records. An error status is a terminal
  // failure of the step; throwing is retryable (see RunOptions).
  using RunFunction = std::function<absl::StatusOr<std::string>()>;

  explicit Context(internal::Attempt& attempt);
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // "inv_..." as shown to users; stable across attempts, so usable as an
  // idempotency key towards other systems.
  const std::string& invocation_id() const;
  const std::string& service() const;
  const std::string& handler() const;
  // The object or workflow key; empty for stateless services.
  const std::string& key() const;
  // 1 for the first attempt, incremented on every retry and resume.
  uint32_t attempt() const;
  // The Kafka record that started the invocation when a subscription did
  // (topic, partition, offset, timestamp, key, headers; its value is the
  // input); nullptr otherwise. Valid for the handler's run.
  const v1::KafkaRecord* kafka_record() const;

  // Runs `fn` once and records its result (or terminal failure): on later
  // runs of the handler, returns the recorded result without calling `fn`.
  // Returns only once the result is durable.
  absl::StatusOr<std::string> Run(std::string_view name, const RunFunction& fn,
                                  const RunOptions& options = {});

  // Waits `duration` on the runtime's durable timer. Survives restarts;
  // fires once. A long sleep suspends the invocation: no thread, no worker
  // slot is held meanwhile.
  void Sleep(absl::Duration duration, std::string_view name = "sleep");
  // Starts a durable timer to await later, e.g. after other steps.
  DurableFuture Timer(absl::Duration duration, std::string_view name = "timer");
  // Waits until `future` completes (suspending if that takes long).
  void Await(const DurableFuture& future);

  // Durable RPC: invokes `service`/`handler` (with `key` for a virtual
  // object or workflow) with `parameter`, exactly once even across crashes
  // of either side, and returns its result. A callee that fails terminally
  // returns its failure as an error status, which the caller may handle
  // (e.g. compensate); so does a target that does not exist (NOT_FOUND,
  // INVALID_ARGUMENT for a bad key). A long wait suspends the caller.
  absl::StatusOr<std::string> Call(std::string_view service,
                                   std::string_view handler,
                                   std::string parameter,
                                   std::string_view key = "");
  ResultFuture CallAsync(std::string_view service, std::string_view handler,
                         std::string parameter, std::string_view key = "");
  // The result of a call or awakeable (waiting, or suspending, until then).
  absl::StatusOr<std::string> Await(const ResultFuture& future);
  // One-way: invokes the handler exactly once, `delay` from now, without
  // waiting for it. The send is journaled with the handler's next step the
  // runtime must see (at the latest, its result). A target that does not
  // exist is recorded in the journal as a failed send.
  void Send(std::string_view service, std::string_view handler,
            std::string parameter, std::string_view key = "",
            absl::Duration delay = absl::ZeroDuration());

  // An awakeable: an id to hand to an outside system (a human's approval,
  // a webhook), which completes it through the ingress
  // (ResolveAwakeable / RejectAwakeable, `reprise awakeables resolve`).
  // Await `future` for its payload, or for the rejection as an ABORTED
  // status. Returns once the awakeable is durable, so it may be completed
  // at once; it may wait for days: the invocation suspends meanwhile.
  struct Awakeable {
    std::string id;  // "awk_..."
    ResultFuture future;
  };
  Awakeable MakeAwakeable(std::string_view name = "awakeable");

  // Combinators. AwaitAny waits until the first of `futures` completes
  // (suspending if that takes long) and returns its position; which one
  // was first is journaled, so a replay takes the same branch. Read the
  // winner's result with Await afterwards. A call raced with a timeout:
  //
  //   ResultFuture call = ctx.CallAsync("Payments", "charge", order);
  //   DurableFuture timeout = ctx.Timer(absl::Seconds(30));
  //   if (ctx.AwaitAny({call, timeout}) == 1) return TimedOut();
  //   absl::StatusOr<std::string> receipt = ctx.Await(call);
  //
  // AwaitAll waits until every one of `futures` has completed.
  size_t AwaitAny(std::initializer_list<Awaitable> futures);
  void AwaitAll(std::initializer_list<Awaitable> futures);

  // Workflows only (the run handler and the shared ones): the workflow's
  // durable promise `name`. Elsewhere its methods throw TerminalError
  // (FAILED_PRECONDITION).
  DurablePromise Promise(std::string_view name);

  // Virtual objects and workflows: the K/V state of the invocation's key.
  // Every read and write is a journaled step, so a replay sees the values
  // the first run saw, and a write takes effect exactly once. Reads see the
  // handler's own writes. Only exclusive handlers (and a workflow's run
  // handler) may write: they run one at a time per key. Using state from a
  // stateless service, or writing it from a shared handler, throws
  // TerminalError (FAILED_PRECONDITION).
  std::optional<std::string> Get(std::string_view key);
  void Set(std::string_view key, std::string value);
  void Clear(std::string_view key);
  void ClearAll();
  // The keys that have a value, sorted.
  std::vector<std::string> StateKeys();

  // The time the handler first asked, recorded; the same on every run.
  absl::Time Now();
  // Deterministic random numbers: seeded from the invocation id, so every
  // run of the handler draws the same sequence.
  uint64_t Random();

 private:
  friend class DurablePromise;
  internal::Attempt& attempt_;
  std::optional<std::mt19937_64> random_;
};

}  // namespace reprise::sdk
