// Services and handlers as a worker declares them to the runtime.
//
// A Handler takes the invocation's input bytes and returns its output bytes.
// Returning a non-OK status completes the invocation as failed with that
// status: a terminal failure, not retried. Throwing an exception fails only
// the attempt, which the runtime retries with back-off.
//
// Thread-safety: definitions are built once, before Worker::Run; handlers are
// then called concurrently from the worker's threads and must be thread-safe.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "reprise/sdk/context.h"

namespace reprise::sdk {

using Handler =
    std::function<absl::StatusOr<std::string>(Context&, const std::string&)>;

enum class ServiceType { kService, kVirtualObject, kWorkflow };
enum class HandlerType { kDefault, kExclusive, kShared };

class ServiceDefinition {
 public:
  // Stateless; handlers run with unlimited concurrency.
  static ServiceDefinition Service(std::string name) {
    return ServiceDefinition(std::move(name), ServiceType::kService);
  }

  ServiceDefinition& Handler(std::string name, sdk::Handler handler,
                             HandlerType type = HandlerType::kDefault) {
    handlers_.push_back({std::move(name), std::move(handler), type});
    return *this;
  }

  struct HandlerEntry {
    std::string name;
    sdk::Handler handler;
    HandlerType type;
  };
  const std::string& name() const { return name_; }
  ServiceType type() const { return type_; }
  const std::vector<HandlerEntry>& handlers() const { return handlers_; }

 private:
  ServiceDefinition(std::string name, ServiceType type)
      : name_(std::move(name)), type_(type) {}

  std::string name_;
  ServiceType type_;
  std::vector<HandlerEntry> handlers_;
};

}  // namespace reprise::sdk
