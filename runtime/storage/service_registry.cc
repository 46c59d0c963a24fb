#include "runtime/storage/service_registry.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "runtime/common/status_macros.h"

namespace reprise::storage {
namespace {

constexpr std::string_view kRegistryKey = "services";

// `where` names the service or handler, for the message.
absl::Status ValidateOptions(const v1::HandlerOptions& options,
                             const std::string& where) {
  if (options.has_retry_policy() && options.retry_policy().factor() < 1.0) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: retry policy factor %g must be at least 1", where,
                        options.retry_policy().factor()));
  }
  if (options.has_inactivity_timeout_ms() &&
      options.inactivity_timeout_ms() == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: the inactivity timeout must be at least 1 ms (leave it unset "
        "for the default)",
        where));
  }
  return absl::OkStatus();
}

// Gives each handler its effective type: a virtual object's handlers are
// exclusive unless declared shared; a workflow's are shared except its one
// workflow handler; a stateless service's have no type.
absl::Status NormalizeHandlerTypes(v1::ServiceDefinition& service) {
  int workflow_handlers = 0;
  for (auto& handler : *service.mutable_handlers()) {
    const std::string where =
        absl::StrFormat("handler %s/%s", service.name(), handler.name());
    switch (service.type()) {
      case v1::SERVICE_TYPE_SERVICE:
        if (handler.type() != v1::HANDLER_TYPE_UNSPECIFIED &&
            handler.type() != v1::HANDLER_TYPE_SHARED) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "%s is %s, but a stateless service has only plain handlers "
              "(declare the service as a virtual object or workflow)",
              where, v1::HandlerType_Name(handler.type())));
        }
        handler.set_type(v1::HANDLER_TYPE_UNSPECIFIED);
        break;
      case v1::SERVICE_TYPE_VIRTUAL_OBJECT:
        if (handler.type() == v1::HANDLER_TYPE_WORKFLOW) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "%s is a workflow handler, but %s is a virtual object", where,
              service.name()));
        }
        if (handler.type() == v1::HANDLER_TYPE_UNSPECIFIED) {
          handler.set_type(v1::HANDLER_TYPE_EXCLUSIVE);
        }
        break;
      case v1::SERVICE_TYPE_WORKFLOW:
        if (handler.type() == v1::HANDLER_TYPE_EXCLUSIVE) {
          return absl::InvalidArgumentError(absl::StrFormat(
              "%s is exclusive, but a workflow has one workflow handler and "
              "shared ones",
              where));
        }
        if (handler.type() == v1::HANDLER_TYPE_UNSPECIFIED) {
          handler.set_type(v1::HANDLER_TYPE_SHARED);
        }
        if (handler.type() == v1::HANDLER_TYPE_WORKFLOW) ++workflow_handlers;
        break;
      default:
        break;
    }
  }
  if (service.type() == v1::SERVICE_TYPE_WORKFLOW && workflow_handlers != 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "workflow %s declares %d workflow handlers; it needs exactly one",
        service.name(), workflow_handlers));
  }
  return absl::OkStatus();
}

absl::Status ValidateService(const v1::ServiceDefinition& service) {
  REPRISE_RETURN_IF_ERROR(ValidateName(service.name(), "service name"));
  REPRISE_RETURN_IF_ERROR(
      ValidateOptions(service.options(), "service " + service.name()));
  if (service.type() == v1::SERVICE_TYPE_UNSPECIFIED ||
      !v1::ServiceType_IsValid(service.type())) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "service %s: type must be SERVICE, VIRTUAL_OBJECT or WORKFLOW",
        service.name()));
  }
  if (service.handlers().empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("service %s declares no handlers", service.name()));
  }
  absl::flat_hash_set<std::string> seen;
  for (const auto& handler : service.handlers()) {
    REPRISE_RETURN_IF_ERROR(ValidateName(
        handler.name(),
        absl::StrFormat("handler name in service %s", service.name())));
    REPRISE_RETURN_IF_ERROR(ValidateOptions(
        handler.options(), "handler " + service.name() + "/" + handler.name()));
    if (!seen.insert(handler.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("service %s declares handler %s twice",
                          service.name(), handler.name()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateName(const std::string& name, std::string_view what) {
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrFormat("invalid %s '%s': %s", what, name, why));
  };
  if (name.empty()) return invalid("must not be empty");
  if (name.size() > 128) return invalid("longer than 128 characters");
  if (!absl::ascii_isalpha(static_cast<unsigned char>(name[0])) &&
      name[0] != '_') {
    return invalid("must start with a letter or '_'");
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' &&
        c != '.' && c != '-') {
      return invalid("may contain only letters, digits, '_', '.' and '-'");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ServiceRegistry>> ServiceRegistry::Load(
    Store& store, uint64_t default_retention_ms) {
  auto registry = std::unique_ptr<ServiceRegistry>(
      new ServiceRegistry(store, default_retention_ms));
  REPRISE_ASSIGN_OR_RETURN(auto bytes, store.GetMetadata(kRegistryKey));
  if (bytes.has_value()) {
    v1::ServiceRegistryData data;
    if (!data.ParseFromString(*bytes)) {
      return absl::DataLossError("the service registry is corrupt");
    }
    absl::MutexLock lock(&registry->mu_);
    for (auto& service : *data.mutable_services()) {
      // Definitions stored before handler types were normalized.
      NormalizeHandlerTypes(*service.mutable_definition()).IgnoreError();
      std::string name = service.definition().name();
      registry->services_[name] = std::move(service);
    }
  }
  return registry;
}

absl::Status ServiceRegistry::Register(
    const std::vector<v1::ServiceDefinition>& services,
    const std::string& version, int64_t now_ms) {
  if (services.empty()) {
    return absl::InvalidArgumentError("a worker must register a service");
  }
  absl::flat_hash_set<std::string> names;
  std::vector<v1::ServiceDefinition> normalized = services;
  for (auto& service : normalized) {
    REPRISE_RETURN_IF_ERROR(ValidateService(service));
    REPRISE_RETURN_IF_ERROR(NormalizeHandlerTypes(service));
    if (!names.insert(service.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrFormat("service %s registered twice", service.name()));
    }
  }
  // Writers are serialized by write_mu_; lookups take mu_ only for the swap,
  // so the synced write never stalls an ingress call.
  absl::MutexLock write_lock(&write_mu_);
  absl::flat_hash_map<std::string, v1::RegisteredService> updated;
  {
    absl::ReaderMutexLock lock(&mu_);
    updated = services_;
  }
  for (const auto& service : normalized) {
    auto it = updated.find(service.name());
    if (it != updated.end() &&
        it->second.definition().type() != service.type()) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "service %s is registered as %s and cannot become %s", service.name(),
          v1::ServiceType_Name(it->second.definition().type()),
          v1::ServiceType_Name(service.type())));
    }
    v1::RegisteredService& entry = updated[service.name()];
    *entry.mutable_definition() = service;
    entry.set_version(version);
    entry.set_registered_at_ms(now_ms);
  }
  v1::ServiceRegistryData data;
  for (const auto& [name, service] : updated) *data.add_services() = service;
  REPRISE_RETURN_IF_ERROR(
      store_.PutMetadata(kRegistryKey, data.SerializeAsString()));
  absl::MutexLock lock(&mu_);
  services_ = std::move(updated);
  return absl::OkStatus();
}

std::optional<v1::RegisteredService> ServiceRegistry::Find(
    const std::string& service) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = services_.find(service);
  if (it == services_.end()) return std::nullopt;
  return it->second;
}

absl::StatusOr<ResolvedTarget> ServiceRegistry::Resolve(
    const v1::Target& target) const {
  if (target.service().empty()) {
    return absl::InvalidArgumentError("target.service is required");
  }
  if (target.handler().empty()) {
    return absl::InvalidArgumentError("target.handler is required");
  }
  absl::ReaderMutexLock lock(&mu_);
  auto it = services_.find(target.service());
  if (it == services_.end()) {
    return absl::NotFoundError(absl::StrFormat(
        "service %s is not registered: start a worker that serves it",
        target.service()));
  }
  const v1::ServiceDefinition& definition = it->second.definition();
  const v1::HandlerDefinition* found = nullptr;
  std::vector<std::string> handlers;
  for (const auto& handler : definition.handlers()) {
    handlers.push_back(handler.name());
    if (handler.name() == target.handler()) found = &handler;
  }
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrFormat(
        "service %s has no handler %s (it has: %s)", target.service(),
        target.handler(), absl::StrJoin(handlers, ", ")));
  }
  const bool keyed = definition.type() != v1::SERVICE_TYPE_SERVICE;
  if (keyed && target.key().empty()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "target.key is required: %s is a %s", target.service(),
        definition.type() == v1::SERVICE_TYPE_WORKFLOW ? "workflow"
                                                       : "virtual object"));
  }
  if (!keyed && !target.key().empty()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("target.key must be empty: %s is a stateless service",
                        target.service()));
  }
  return ResolvedTarget{definition.type(), found->type(),
                        RetentionMs(definition, *found)};
}

uint64_t ServiceRegistry::RetentionMs(
    const v1::ServiceDefinition& service,
    const v1::HandlerDefinition& handler) const {
  if (handler.options().has_retention_ms()) {
    return handler.options().retention_ms();
  }
  if (service.options().has_retention_ms()) {
    return service.options().retention_ms();
  }
  return default_retention_ms_;
}

std::vector<v1::RegisteredService> ServiceRegistry::List() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<v1::RegisteredService> out;
  for (const auto& [name, service] : services_) out.push_back(service);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return a.definition().name() < b.definition().name();
  });
  return out;
}

}  // namespace reprise::storage
