// E2eTest: a fixture for end-to-end tests of examples: a real reprise-server
// on free loopback ports, the example's worker process, and helpers to call
// through the ingress and the `reprise` CLI. Everything started is stopped
// (SIGKILL) when the test ends.
// Not thread-safe: use from the test's thread.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reprise/v1/ingress.grpc.pb.h"
#include "tests/testing/runtime_process.h"
#include "tests/testing/temp_dir.h"

namespace reprise::testing {

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // Starts `argv` (a worker; --address is appended) and waits until it has
  // registered; its output goes to <dir>/<name>.log.
  std::unique_ptr<ChildProcess> StartWorker(std::vector<std::string> argv,
                                            const std::string& name);
  // Crashes the runtime (SIGKILL) and starts it again on the same ports.
  void RestartRuntime();

  v1::InvokeRequest Request(const std::string& service,
                            const std::string& handler,
                            const nlohmann::json& payload,
                            const std::string& key = "") const;
  // Invokes and waits for the result; fails the test on an RPC error.
  v1::Result Invoke(const v1::InvokeRequest& request);
  // The handler's JSON output; fails the test on an error or failure.
  nlohmann::json Call(const std::string& service, const std::string& handler,
                      const nlohmann::json& payload,
                      const std::string& key = "");
  // Returns the invocation id once the invocation is durable.
  std::string Send(const v1::InvokeRequest& request);
  v1::Result Attach(const std::string& invocation_id);

  // Runs the CLI against this runtime.
  CommandResult Cli(std::vector<std::string> args);
  nlohmann::json Describe(const std::string& invocation_id);
  // Polls describe (bounded, 30 s) until `done` holds for the description.
  nlohmann::json WaitUntil(
      const std::string& invocation_id,
      const std::function<bool(const nlohmann::json&)>& done);

  // Extra reprise-server flags; set before SetUp.
  std::vector<std::string> runtime_args_;
  TempDir dir_;
  std::unique_ptr<RuntimeProcess> runtime_;
  std::unique_ptr<v1::Ingress::Stub> stub_;
};

}  // namespace reprise::testing
