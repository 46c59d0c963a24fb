// RuntimeProcess: a real reprise-server started by a test on free loopback
// ports, with a data directory that survives Restart/Kill so crash recovery
// can be tested. Stopped (SIGKILL) when destroyed.
// Not thread-safe; one owner.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/testing/process.h"

namespace reprise::testing {

class RuntimeProcess {
 public:
  // `extra_args` are passed to reprise-server on every start.
  explicit RuntimeProcess(std::string data_dir,
                          std::vector<std::string> extra_args = {});

  // Starts the server and waits until it is ready; false on failure. The
  // first start binds free ports; later starts reuse them. A server not
  // ready in 30 s is killed, after the stacks of its threads are appended
  // to its log.
  bool Start();
  // SIGKILL, as a crash would.
  void Crash();

  const std::string& ingress_address() const { return ingress_; }
  const std::string& worker_address() const { return worker_; }
  const std::string& admin_address() const { return admin_; }
  const std::string& log_path() const { return log_path_; }
  ChildProcess* process() { return process_.get(); }

 private:
  std::string data_dir_;
  std::vector<std::string> extra_args_;
  std::string log_path_;
  std::unique_ptr<ChildProcess> process_;
  std::string ingress_, worker_, admin_;
};

// A channel of its own (not sharing gRPC's global subchannel pool), so a
// client made after a server restart never inherits a dead connection.
std::shared_ptr<grpc::Channel> NewChannel(const std::string& address);

// A client context with a deadline `seconds` away that waits for the
// channel to connect (across a server restart) instead of failing fast.
std::unique_ptr<grpc::ClientContext> Deadline(int seconds);

// Path of a binary in the build tree, e.g. "runtime/server/reprise-server".
std::string BuildPath(const std::string& relative);

}  // namespace reprise::testing
