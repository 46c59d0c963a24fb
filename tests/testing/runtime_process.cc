#include "tests/testing/runtime_process.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace reprise::testing {
namespace {

// Extracts "value" from "... name=value ..." in `line`.
std::string Field(const std::string& line, const std::string& name) {
  for (absl::string_view word : absl::StrSplit(line, ' ')) {
    if (word.substr(0, name.size() + 1) == name + "=") {
      return std::string(word.substr(name.size() + 1));
    }
  }
  return "";
}

// Appends to `log_path` what the process `pid`, not ready in time, is
// doing: the stacks of its threads by gdb where it is installed, else each
// thread's name and where it waits in the kernel. Every test prints the
// log when a start fails, so a hang shows where it is.
void DescribeStuck(pid_t pid, const std::string& log_path) {
  std::string report = absl::StrCat("\n[test] reprise-server (pid ", pid,
                                    ") was not ready in time; its threads:\n");
  CommandResult gdb =
      RunCommand({"/usr/bin/gdb", "-p", std::to_string(pid), "-batch", "-nx",
                  "-ex", "thread apply all bt"},
                 absl::Seconds(60));
  // gdb may exit 0 without stacks, when it may not attach.
  if (gdb.exit_code == 0 && absl::StrContains(gdb.output, "Thread ")) {
    for (absl::string_view line : absl::StrSplit(gdb.output, '\n')) {
      if (!absl::StartsWith(line, "[New LWP")) {
        absl::StrAppend(&report, line, "\n");
      }
    }
  } else {
    const std::string tasks = absl::StrCat("/proc/", pid, "/task");
    std::error_code error;
    for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
      std::string comm = ReadFile(task.path() / "comm");
      absl::StrAppend(&report, task.path().filename().string(), " ",
                      absl::StripTrailingAsciiWhitespace(comm), " waits in ",
                      ReadFile(task.path() / "wchan"), "\n");
    }
  }
  std::ofstream(log_path, std::ios::app) << report;
}

}  // namespace

std::shared_ptr<grpc::Channel> NewChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

std::unique_ptr<grpc::ClientContext> Deadline(int seconds) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(seconds));
  context->set_wait_for_ready(true);
  return context;
}

std::string BuildPath(const std::string& relative) {
  return BuildDir() + "/" + relative;
}

RuntimeProcess::RuntimeProcess(std::string data_dir,
                               std::vector<std::string> extra_args)
    : data_dir_(std::move(data_dir)),
      extra_args_(std::move(extra_args)),
      log_path_(data_dir_ + ".server.log") {}

bool RuntimeProcess::Start() {
  // The first start picks free ports; restarts keep them, so that workers
  // and clients reconnect to the same addresses.
  auto or_free = [](const std::string& address) {
    return address.empty() ? std::string("127.0.0.1:0") : address;
  };
  std::vector<std::string> argv = {BuildPath("runtime/server/reprise-server"),
                                   "--data-dir",
                                   data_dir_,
                                   "--ingress-address",
                                   or_free(ingress_),
                                   "--worker-address",
                                   or_free(worker_),
                                   "--admin-address",
                                   or_free(admin_)};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  // Each start appends to the same log; only the newest ready line counts.
  std::string before = ReadFile(log_path_);
  process_ = std::make_unique<ChildProcess>(argv, log_path_);
  auto deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    std::string all = ReadFile(log_path_);
    std::string fresh = all.substr(std::min(before.size(), all.size()));
    auto pos = fresh.find("reprise-server ready:");
    if (pos != std::string::npos) {
      // Set once: restarts keep the ports, and tests' threads read them.
      if (ingress_.empty()) {
        std::string line = fresh.substr(pos, fresh.find('\n', pos) - pos);
        ingress_ = Field(line, "ingress");
        worker_ = Field(line, "workers");
        admin_ = Field(line, "admin");
      }
      return true;
    }
    if (!process_->running()) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  DescribeStuck(process_->pid(), log_path_);
  process_->Kill(SIGKILL);
  return false;
}

void RuntimeProcess::Crash() {
  if (process_ != nullptr) process_->Kill(SIGKILL);
}

}  // namespace reprise::testing
