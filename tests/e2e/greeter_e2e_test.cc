// End to end: the real reprise-server, the greeter example worker and the
// reprise CLI, as separate processes on free loopback ports.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "reprise/v1/ingress.grpc.pb.h"
#include "tests/testing/runtime_process.h"
#include "tests/testing/temp_dir.h"

namespace reprise {
namespace {

using testing::BuildPath;
using testing::ChildProcess;
using ::testing::HasSubstr;
using testing::RunCommand;

class GreeterE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    runtime_ = std::make_unique<testing::RuntimeProcess>(
        dir_.path() + "/data",
        std::vector<std::string>{"--max-payload-bytes", "1024"});
    ASSERT_TRUE(runtime_->Start()) << testing::ReadFile(runtime_->log_path());
    StartGreeter();
    stub_ =
        v1::Ingress::NewStub(testing::NewChannel(runtime_->ingress_address()));
  }

  void StartGreeter() {
    greeter_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{BuildPath("examples/greeter/greeter"),
                                 "--address", runtime_->worker_address()},
        dir_.path() + "/greeter.log");
    ASSERT_TRUE(greeter_->WaitForLine("registered as", absl::Seconds(30)))
        << testing::ReadFile(dir_.path() + "/greeter.log");
  }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(30));
    // Across a server restart the channel must reconnect first.
    context->set_wait_for_ready(true);
    return context;
  }

  v1::InvokeRequest Request(std::string service, std::string handler,
                            std::string payload, std::string key = "") {
    v1::InvokeRequest request;
    request.mutable_target()->set_service(std::move(service));
    request.mutable_target()->set_handler(std::move(handler));
    request.mutable_target()->set_key(std::move(key));
    request.set_payload(std::move(payload));
    return request;
  }

  testing::CommandResult Cli(std::vector<std::string> args) {
    std::vector<std::string> argv = {BuildPath("runtime/cli/reprise"),
                                     "--address", runtime_->admin_address(),
                                     "--ingress-address",
                                     runtime_->ingress_address()};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::RuntimeProcess> runtime_;
  std::unique_ptr<ChildProcess> greeter_;
  std::unique_ptr<v1::Ingress::Stub> stub_;
};

TEST_F(GreeterE2eTest, InvokeOverGrpcReturnsHandlerOutput) {
  v1::InvokeResponse response;
  auto status = stub_->Invoke(
      Context().get(), Request("Greeter", "greet", "\"Ada\""), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.result().value(), "\"Hello, Ada!\"");
  EXPECT_THAT(response.invocation_id(), ::testing::StartsWith("inv_"));
}

TEST_F(GreeterE2eTest, SendThenAttachAndGetOutput) {
  v1::SendResponse sent;
  ASSERT_TRUE(
      stub_->Send(Context().get(), Request("Greeter", "greet", "\"Bo\""), &sent)
          .ok());
  v1::AttachRequest attach;
  attach.set_invocation_id(sent.invocation_id());
  v1::InvokeResponse attached;
  ASSERT_TRUE(stub_->Attach(Context().get(), attach, &attached).ok());
  EXPECT_EQ(attached.result().value(), "\"Hello, Bo!\"");
  v1::GetOutputResponse output;
  ASSERT_TRUE(stub_->GetOutput(Context().get(), attach, &output).ok());
  EXPECT_TRUE(output.completed());
  EXPECT_EQ(output.result().value(), "\"Hello, Bo!\"");
}

TEST_F(GreeterE2eTest, TerminalErrorCompletesAsFailed) {
  v1::InvokeResponse response;
  ASSERT_TRUE(stub_
                  ->Invoke(Context().get(), Request("Greeter", "greet", "42"),
                           &response)
                  .ok());
  ASSERT_TRUE(response.result().has_failure());
  EXPECT_EQ(response.result().failure().code(),
            static_cast<uint32_t>(grpc::StatusCode::INVALID_ARGUMENT));
}

TEST_F(GreeterE2eTest, BadInputGetsTheRightStatus) {
  v1::InvokeResponse response;
  auto code = [&](const v1::InvokeRequest& request) {
    return stub_->Invoke(Context().get(), request, &response).error_code();
  };
  EXPECT_EQ(code(Request("Nobody", "greet", "1")), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(code(Request("Greeter", "nope", "1")), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(code(Request("", "greet", "1")),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(Request("Greeter", "", "1")),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(Request("Greeter", "greet", "1", "a-key")),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(Request("Greeter", "greet", std::string(2000, 'x'))),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  v1::AttachRequest attach;
  attach.set_invocation_id("inv_00000000000000000000000000000001");
  EXPECT_EQ(stub_->Attach(Context().get(), attach, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  attach.set_invocation_id("not-an-id");
  EXPECT_EQ(stub_->Attach(Context().get(), attach, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GreeterE2eTest, InvocationWaitsForAWorkerInsteadOfFailing) {
  greeter_->Kill(SIGKILL);
  v1::SendResponse sent;
  ASSERT_TRUE(
      stub_->Send(Context().get(), Request("Greeter", "greet", "\"Cy\""), &sent)
          .ok());
  // The disconnect may take a moment to be noticed; the invocation is then
  // pending, and says why.
  std::string status_line;
  for (int i = 0; i < 100; ++i) {
    auto describe =
        Cli({"--json", "invocations", "describe", sent.invocation_id()});
    ASSERT_EQ(describe.exit_code, 0) << describe.output;
    auto json = nlohmann::json::parse(describe.output);
    status_line = json["status"].get<std::string>() + ": " +
                  json["status_reason"].get<std::string>();
    if (json["status"] == "pending") break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(status_line, HasSubstr("pending"));
  EXPECT_THAT(status_line,
              HasSubstr("waiting for a worker of service Greeter"));

  StartGreeter();
  v1::AttachRequest attach;
  attach.set_invocation_id(sent.invocation_id());
  v1::InvokeResponse attached;
  ASSERT_TRUE(stub_->Attach(Context().get(), attach, &attached).ok());
  EXPECT_EQ(attached.result().value(), "\"Hello, Cy!\"");
}

TEST_F(GreeterE2eTest, CallerThatGivesUpLeavesTheInvocationRunning) {
  greeter_->Kill(SIGKILL);
  grpc::ClientContext impatient;
  impatient.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(300));
  v1::InvokeResponse response;
  EXPECT_EQ(stub_
                ->Invoke(&impatient, Request("Greeter", "greet", "\"Flo\""),
                         &response)
                .error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);

  auto list = Cli({"--json", "invocations", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.output;
  auto invocations = nlohmann::json::parse(list.output)["invocations"];
  ASSERT_EQ(invocations.size(), 1u);
  std::string id = invocations[0]["invocation_id"];

  StartGreeter();
  v1::AttachRequest attach;
  attach.set_invocation_id(id);
  v1::InvokeResponse attached;
  ASSERT_TRUE(stub_->Attach(Context().get(), attach, &attached).ok());
  EXPECT_EQ(attached.result().value(), "\"Hello, Flo!\"");
}

TEST_F(GreeterE2eTest, CliInvokeListAndDescribe) {
  auto invoked = Cli({"invoke", "Greeter/greet", "--data", "\"Ada\""});
  EXPECT_EQ(invoked.exit_code, 0) << invoked.output;
  EXPECT_EQ(invoked.output, "\"Hello, Ada!\"\n");

  auto sent = Cli({"invoke", "--send", "Greeter/greet", "--data", "\"Bo\""});
  ASSERT_EQ(sent.exit_code, 0) << sent.output;
  std::string id = sent.output.substr(0, sent.output.find('\n'));
  ASSERT_THAT(id, ::testing::StartsWith("inv_"));

  // describe waits for completion by polling; bounded.
  nlohmann::json described;
  for (int i = 0; i < 100; ++i) {
    auto describe = Cli({"--json", "invocations", "describe", id});
    ASSERT_EQ(describe.exit_code, 0) << describe.output;
    described = nlohmann::json::parse(describe.output);
    if (described["status"] == "succeeded") break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(described["status"], "succeeded");
  ASSERT_EQ(described["journal"].size(), 2u);
  EXPECT_EQ(described["journal"][0]["kind"], "input");
  EXPECT_EQ(described["journal"][0]["value"], "Bo");
  EXPECT_EQ(described["journal"][1]["kind"], "output");
  EXPECT_EQ(described["journal"][1]["value"], "Hello, Bo!");
  EXPECT_GT(described["journal"][1]["appended_at_ms"].get<int64_t>(), 0);

  auto table = Cli({"invocations", "describe", id});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.output, HasSubstr("Journal"));
  EXPECT_THAT(table.output, HasSubstr("\"Hello, Bo!\""));

  auto list = Cli({"--json", "invocations", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.output;
  auto invocations = nlohmann::json::parse(list.output)["invocations"];
  EXPECT_EQ(invocations.size(), 2u);
  EXPECT_THAT(Cli({"invocations", "list"}).output, HasSubstr(id));
}

TEST_F(GreeterE2eTest, CliExitCodes) {
  auto failed = Cli({"invoke", "Greeter/greet", "--data", "42"});
  EXPECT_EQ(failed.exit_code, 1);
  EXPECT_THAT(failed.output, HasSubstr("greet takes a JSON string"));
  auto unknown = Cli({"invoke", "Nobody/greet", "--data", "1"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_THAT(unknown.output, HasSubstr("service Nobody is not registered"));
  EXPECT_EQ(Cli({"invocations"}).exit_code, 2);
  EXPECT_EQ(Cli({"invoke", "no-slash"}).exit_code, 2);
  EXPECT_EQ(Cli({"invocations", "describe", "inv_bad"}).exit_code, 1);
}

TEST_F(GreeterE2eTest, StopWhileCallersWaitAnswersThemAndExits) {
  greeter_->Kill(SIGKILL);
  grpc::Status waited;
  std::thread caller([&] {
    v1::InvokeResponse response;
    waited = stub_->Invoke(Context().get(),
                           Request("Greeter", "greet", "\"Ed\""), &response);
  });
  // The invocation is durable and waits for a worker; the caller waits too.
  for (int i = 0; i < 200; ++i) {
    auto list = Cli({"--json", "invocations", "list", "--status", "pending"});
    if (nlohmann::json::parse(list.output)["invocations"].size() == 1) break;
    absl::SleepFor(absl::Milliseconds(25));
  }
  kill(runtime_->process()->pid(), SIGTERM);
  EXPECT_EQ(runtime_->process()->Wait(absl::Seconds(20)), 0);
  caller.join();
  EXPECT_EQ(waited.error_code(), grpc::StatusCode::UNAVAILABLE)
      << waited.error_message();
}

TEST_F(GreeterE2eTest, CompletedOutputSurvivesRestart) {
  v1::InvokeResponse response;
  ASSERT_TRUE(stub_
                  ->Invoke(Context().get(),
                           Request("Greeter", "greet", "\"Di\""), &response)
                  .ok());
  runtime_->Crash();
  ASSERT_TRUE(runtime_->Start());
  auto stub =
      v1::Ingress::NewStub(testing::NewChannel(runtime_->ingress_address()));
  v1::AttachRequest request;
  request.set_invocation_id(response.invocation_id());
  v1::GetOutputResponse output;
  grpc::Status status = stub->GetOutput(Context().get(), request, &output);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": "
                           << status.error_message();
  EXPECT_TRUE(output.completed());
  EXPECT_EQ(output.result().value(), "\"Hello, Di!\"");
}

}  // namespace
}  // namespace reprise
