// Worker: connects a handler program to the Reprise runtime, registers its
// services and runs the attempts the runtime sends, many at once.
//
//   reprise::sdk::Worker worker({.address = "127.0.0.1:9090", .name =
//   "greeter"}); worker.Add(reprise::sdk::ServiceDefinition::Service("Greeter")
//                  .Handler("greet", reprise::sdk::JsonHandler(Greet)));
//   return worker.Run().ok() ? 0 : 1;
//
// The connection is re-established with exponential back-off whenever it
// breaks (for example while the runtime restarts); attempts cut off by a
// broken connection are retried by the runtime.
//
// Thread-safety: Add before Run, from one thread. Run blocks the calling
// thread until Shutdown, which may be called from any thread (e.g. a signal
// watcher). Ownership: the Worker owns its threads and its connection.
#pragma once

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "reprise/sdk/service.h"

namespace reprise::sdk {

struct WorkerOptions {
  // The runtime's worker address; empty means $REPRISE_WORKER_ADDRESS, or
  // 127.0.0.1:9090 when that is unset.
  std::string address;
  // The bearer token the runtime requires, if it requires one; empty means
  // $REPRISE_TOKEN.
  std::string token;
  // TLS: a PEM CA that signed the runtime's certificate (empty means
  // $REPRISE_TLS_CA; still empty: plain TCP), and for mutual TLS the
  // worker's PEM certificate and key ($REPRISE_TLS_CERT, $REPRISE_TLS_KEY).
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  // Shown to operators.
  std::string name = "worker";
  // An invocation is pinned to the version that wrote its first journal
  // entry; its later attempts run only on workers of that version.
  std::string version = "dev";
  // Attempts run at once (handler threads); announced to the runtime.
  uint32_t concurrency = 64;
  // How long a handler may wait for a step to complete (a short timer)
  // before its attempt suspends and frees its thread; a timer due later
  // than this suspends at once.
  absl::Duration suspend_after = absl::Seconds(1);
  // After a lost connection, the next try comes this long later, doubling
  // up to the maximum; both bound the gRPC channel's own reconnection too,
  // so a restarted runtime is found within max_reconnect_delay.
  absl::Duration initial_reconnect_delay = absl::Milliseconds(50);
  absl::Duration max_reconnect_delay = absl::Seconds(2);
};

class Worker {
 public:
  explicit Worker(WorkerOptions options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  Worker& Add(ServiceDefinition service);

  // Serves until Shutdown. Returns OK after Shutdown, or the runtime's
  // answer if it refuses the registration (a definition error to fix).
  absl::Status Run();
  // Run, until SIGINT or SIGTERM asks for a clean Shutdown. Blocks those
  // signals in the calling thread first, so call it from main before any
  // other thread starts (threads inherit the mask); unblocks them again
  // before it returns.
  absl::Status RunUntilSignal();
  void Shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reprise::sdk
