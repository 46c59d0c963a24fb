#include "tests/testing/e2e_fixture.h"

#include "absl/time/clock.h"

namespace reprise::testing {

using nlohmann::json;

void E2eTest::SetUp() {
  runtime_ =
      std::make_unique<RuntimeProcess>(dir_.path() + "/data", runtime_args_);
  ASSERT_TRUE(runtime_->Start()) << ReadFile(runtime_->log_path());
  stub_ = v1::Ingress::NewStub(NewChannel(runtime_->ingress_address()));
}

std::unique_ptr<ChildProcess> E2eTest::StartWorker(
    std::vector<std::string> argv, const std::string& name) {
  argv.push_back("--address");
  argv.push_back(runtime_->worker_address());
  const std::string log = dir_.path() + "/" + name + ".log";
  auto worker = std::make_unique<ChildProcess>(std::move(argv), log);
  EXPECT_TRUE(worker->WaitForLine("registered as", absl::Seconds(30)))
      << ReadFile(log);
  return worker;
}

void E2eTest::RestartRuntime() {
  runtime_->Crash();
  ASSERT_TRUE(runtime_->Start()) << ReadFile(runtime_->log_path());
  stub_ = v1::Ingress::NewStub(NewChannel(runtime_->ingress_address()));
}

v1::InvokeRequest E2eTest::Request(const std::string& service,
                                   const std::string& handler,
                                   const json& payload,
                                   const std::string& key) const {
  v1::InvokeRequest request;
  request.mutable_target()->set_service(service);
  request.mutable_target()->set_handler(handler);
  request.mutable_target()->set_key(key);
  request.set_payload(payload.dump());
  return request;
}

v1::Result E2eTest::Invoke(const v1::InvokeRequest& request) {
  v1::InvokeResponse response;
  grpc::Status status = stub_->Invoke(Deadline(60).get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.result();
}

json E2eTest::Call(const std::string& service, const std::string& handler,
                   const json& payload, const std::string& key) {
  v1::Result result = Invoke(Request(service, handler, payload, key));
  EXPECT_TRUE(result.has_value()) << result.DebugString();
  return json::parse(result.value(), nullptr, false);
}

std::string E2eTest::Send(const v1::InvokeRequest& request) {
  v1::SendResponse response;
  grpc::Status status = stub_->Send(Deadline(10).get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.invocation_id();
}

v1::Result E2eTest::Attach(const std::string& invocation_id) {
  v1::AttachRequest request;
  request.set_invocation_id(invocation_id);
  v1::InvokeResponse response;
  grpc::Status status = stub_->Attach(Deadline(60).get(), request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response.result();
}

CommandResult E2eTest::Cli(std::vector<std::string> args) {
  std::vector<std::string> argv = {
      BuildPath("runtime/cli/reprise"), "--address", runtime_->admin_address(),
      "--ingress-address", runtime_->ingress_address()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

json E2eTest::Describe(const std::string& invocation_id) {
  CommandResult r = Cli({"--json", "invocations", "describe", invocation_id});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return json::parse(r.output, nullptr, false);
}

json E2eTest::WaitUntil(const std::string& invocation_id,
                        const std::function<bool(const json&)>& done) {
  json d;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    d = Describe(invocation_id);
    if (d.is_object() && done(d)) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return d;
}

}  // namespace reprise::testing
