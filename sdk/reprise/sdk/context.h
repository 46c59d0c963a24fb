// Context: what a handler knows about the invocation it runs in. Later
// versions add the durable operations (run, sleep, call, state) here.
//
// Thread-safety: a Context belongs to the one attempt that runs the handler;
// use it from that handler's thread only. Ownership: owned by the SDK; valid
// until the handler returns.
#pragma once

#include <cstdint>
#include <string>

namespace reprise::sdk {

class Context {
 public:
  Context(std::string invocation_id, std::string service, std::string handler,
          std::string key, uint32_t attempt)
      : invocation_id_(std::move(invocation_id)),
        service_(std::move(service)),
        handler_(std::move(handler)),
        key_(std::move(key)),
        attempt_(attempt) {}
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // "inv_..." as shown to users; stable across attempts, so usable as an
  // idempotency key towards other systems.
  const std::string& invocation_id() const { return invocation_id_; }
  const std::string& service() const { return service_; }
  const std::string& handler() const { return handler_; }
  // The object or workflow key; empty for stateless services.
  const std::string& key() const { return key_; }
  // 1 for the first attempt, incremented on every retry.
  uint32_t attempt() const { return attempt_; }

 private:
  const std::string invocation_id_;
  const std::string service_;
  const std::string handler_;
  const std::string key_;
  const uint32_t attempt_;
};

}  // namespace reprise::sdk
