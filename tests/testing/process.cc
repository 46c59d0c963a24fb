#include "tests/testing/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace reprise::testing {
namespace {

pid_t Spawn(const std::vector<std::string>& argv, int out_fd) {
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out_fd, STDOUT_FILENO);
    dup2(out_fd, STDERR_FILENO);
    // Nothing to read: a prompt sees the end of its input.
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    // The child dies with the test runner rather than outliving it.
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> argv, std::string log_path)
    : log_path_(std::move(log_path)) {
  int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_ = Spawn(argv, fd);
  close(fd);
}

ChildProcess::~ChildProcess() {
  if (running()) Kill(SIGKILL);
}

bool ChildProcess::running() {
  if (pid_ <= 0) return false;
  int status;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return r == 0;
}

std::optional<std::string> ChildProcess::WaitForLine(const std::string& needle,
                                                     absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    std::string contents = ReadFile(log_path_);
    for (absl::string_view line : absl::StrSplit(contents, '\n')) {
      if (line.find(needle) != absl::string_view::npos)
        return std::string(line);
    }
    if (!running()) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return std::nullopt;
}

int ChildProcess::Kill(int signal) {
  if (pid_ <= 0) return -1;
  kill(pid_, signal);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return status;
}

int ChildProcess::Wait(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (pid_ > 0 && absl::Now() < deadline) {
    int status;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return -1;
}

CommandResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout) {
  char templ[] = "/tmp/reprise-cmd-XXXXXX";
  int fd = mkstemp(templ);
  pid_t pid = Spawn(argv, fd);
  close(fd);
  CommandResult result;
  absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      break;
    }
    if (absl::Now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  result.output = ReadFile(templ);
  unlink(templ);
  return result;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string BuildDir() {
  // Test binaries live in <build>/tests/<kind>/ or <build>/runtime/<c>/.
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe");
  for (auto dir = exe.parent_path(); dir.has_parent_path() && dir != "/";
       dir = dir.parent_path()) {
    if (std::filesystem::exists(dir / "CMakeCache.txt")) return dir.string();
  }
  return exe.parent_path().string();
}

}  // namespace reprise::testing
