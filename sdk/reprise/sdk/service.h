// Services and handlers as a worker declares them to the runtime.
//
// A Handler takes the invocation's input bytes and returns its output bytes.
// Returning a non-OK status (or throwing TerminalError) completes the
// invocation as failed with that status: a terminal failure, not retried.
// Throwing any other exception fails only the attempt, which the runtime
// retries by the handler's RetryPolicy.
//
// Thread-safety: definitions are built once, before Worker::Run; handlers are
// then called concurrently from the worker's threads and must be thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "reprise/sdk/context.h"

namespace reprise::sdk {

using Handler =
    std::function<absl::StatusOr<std::string>(Context&, const std::string&)>;

enum class ServiceType { kService, kVirtualObject, kWorkflow };
// kDefault: exclusive in a virtual object, shared in a workflow, plain in
// a stateless service. kWorkflow marks a workflow's one run handler.
enum class HandlerType { kDefault, kExclusive, kShared, kWorkflow };

// How the runtime retries an invocation whose attempt failed (an exception,
// a journal mismatch, a lost worker, an inactivity timeout). The delay after
// the n-th failed attempt is min(initial_interval * factor^(n-1),
// max_interval). Resuming after a suspension is not a failure.
struct RetryPolicy {
  enum class OnMaxAttempts {
    kPause,  // keep it, journal and last failure, until an operator acts
    kFail,   // complete it as failed with the last failure
  };
  absl::Duration initial_interval = absl::Milliseconds(100);
  double factor = 2.0;
  absl::Duration max_interval = absl::Seconds(10);
  // Failed attempts after which it gives up; 0 means unlimited.
  uint32_t max_attempts = 30;
  OnMaxAttempts on_max_attempts = OnMaxAttempts::kPause;
};

// Per handler, or per service as the default of its handlers. A field the
// handler leaves unset takes the service's value, then the runtime's
// default: the RetryPolicy above, 5 minutes, and the runtime's retention.
struct HandlerOptions {
  std::optional<RetryPolicy> retry_policy;
  // An attempt that sends the runtime nothing (no step, no result) for this
  // long is aborted and retried.
  std::optional<absl::Duration> inactivity_timeout;
  // How long a completed invocation (status, journal, result) is kept
  // before the runtime removes it; unset: the runtime's default (24 h
  // unless started with --retention); absl::InfiniteDuration(): forever.
  std::optional<absl::Duration> retention;
};

class ServiceDefinition {
 public:
  // Stateless; handlers run with unlimited concurrency.
  static ServiceDefinition Service(std::string name) {
    return ServiceDefinition(std::move(name), ServiceType::kService);
  }
  // Keyed: every invocation names a key. Handlers are exclusive unless
  // declared kShared: exclusive ones run one at a time per key, in order of
  // arrival, and own the key's state; shared ones run at once and read it.
  static ServiceDefinition VirtualObject(std::string name) {
    return ServiceDefinition(std::move(name), ServiceType::kVirtualObject);
  }
  // Keyed by workflow id: one handler declared kWorkflow (conventionally
  // "run") runs at most once per id, however often it is submitted or
  // called (later submissions attach to the first and get its result);
  // it owns the id's state. The other handlers are shared: queries and
  // signals that run at once and read the state.
  static ServiceDefinition Workflow(std::string name) {
    return ServiceDefinition(std::move(name), ServiceType::kWorkflow);
  }

  ServiceDefinition& Handler(std::string name, sdk::Handler handler,
                             HandlerType type = HandlerType::kDefault,
                             HandlerOptions options = {}) {
    handlers_.push_back(
        {std::move(name), std::move(handler), type, std::move(options)});
    return *this;
  }
  ServiceDefinition& Handler(std::string name, sdk::Handler handler,
                             HandlerOptions options) {
    return Handler(std::move(name), std::move(handler), HandlerType::kDefault,
                   std::move(options));
  }
  // Defaults for the handlers that leave an option unset.
  ServiceDefinition& Options(HandlerOptions options) {
    options_ = std::move(options);
    return *this;
  }

  struct HandlerEntry {
    std::string name;
    sdk::Handler handler;
    HandlerType type;
    HandlerOptions options;
  };
  const std::string& name() const { return name_; }
  ServiceType type() const { return type_; }
  const std::vector<HandlerEntry>& handlers() const { return handlers_; }
  const HandlerOptions& options() const { return options_; }

 private:
  ServiceDefinition(std::string name, ServiceType type)
      : name_(std::move(name)), type_(type) {}

  std::string name_;
  ServiceType type_;
  std::vector<HandlerEntry> handlers_;
  HandlerOptions options_;
};

}  // namespace reprise::sdk
