// ServiceRegistry: the services and handlers workers have registered, kept in
// the metadata table so that the ingress still knows a service while none of
// its workers is connected (invocations then wait instead of failing).
//
// Thread-safety: all methods may be called from any thread; lookups take a
// shared lock. Ownership: borrows the Store, which must outlive it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "reprise/v1/storage.pb.h"
#include "runtime/storage/partition_store.h"

namespace reprise::storage {

// Handlers that run one at a time per key: exclusive ones and a workflow's
// run handler.
inline bool IsExclusiveHandler(v1::HandlerType type) {
  return type == v1::HANDLER_TYPE_EXCLUSIVE ||
         type == v1::HANDLER_TYPE_WORKFLOW;
}

// What an invocation target resolves to.
struct ResolvedTarget {
  v1::ServiceType service_type = v1::SERVICE_TYPE_UNSPECIFIED;
  v1::HandlerType handler_type = v1::HANDLER_TYPE_UNSPECIFIED;
  // How long a completed invocation of it is kept: the handler's option,
  // else its service's, else the registry's default.
  uint64_t retention_ms = 0;
};

inline constexpr uint64_t kDefaultRetentionMs = 24ull * 3600 * 1000;

class ServiceRegistry {
 public:
  // `default_retention_ms`: for handlers that declare none.
  static absl::StatusOr<std::unique_ptr<ServiceRegistry>> Load(
      Store& store, uint64_t default_retention_ms = kDefaultRetentionMs);

  // Validates and durably records `services` as registered by a worker of
  // `version`. A service's type may not change once registered.
  // InvalidArgument / FailedPrecondition say what to fix.
  absl::Status Register(const std::vector<v1::ServiceDefinition>& services,
                        const std::string& version, int64_t now_ms);

  std::optional<v1::RegisteredService> Find(const std::string& service) const;
  // Checks `target` as the target of a new invocation: NotFound names an
  // unknown service or handler (and the handlers there are);
  // InvalidArgument a missing key (virtual objects, workflows) or one given
  // to a stateless service.
  absl::StatusOr<ResolvedTarget> Resolve(const v1::Target& target) const;
  // How long completed invocations of `handler` are kept: its own
  // retention, else its service's, else the default.
  uint64_t RetentionMs(const v1::ServiceDefinition& service,
                       const v1::HandlerDefinition& handler) const;
  std::vector<v1::RegisteredService> List() const;

 private:
  ServiceRegistry(Store& store, uint64_t default_retention_ms)
      : store_(store), default_retention_ms_(default_retention_ms) {}

  Store& store_;
  const uint64_t default_retention_ms_;
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, v1::RegisteredService> services_
      ABSL_GUARDED_BY(mu_);
};

// Checks that a name is usable as a service or handler name: 1 to 128
// characters of [A-Za-z0-9_.-], starting with a letter or underscore.
absl::Status ValidateName(const std::string& name, std::string_view what);

}  // namespace reprise::storage
