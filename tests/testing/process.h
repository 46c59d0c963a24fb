// ChildProcess: a program started by a test, with stdout and stderr sent to
// a log file the test can search. The destructor kills (SIGKILL) and reaps
// the child if it is still running, so a failing test never leaks processes.
// Not thread-safe; one owner.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace reprise::testing {

class ChildProcess {
 public:
  // Starts `argv[0]` with `argv`, output appended to `log_path`.
  ChildProcess(std::vector<std::string> argv, std::string log_path);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // Waits until the log contains a line with `needle` and returns that line,
  // or nullopt after `timeout` or if the child exited.
  std::optional<std::string> WaitForLine(const std::string& needle,
                                         absl::Duration timeout);
  // Sends `signal` and waits for the exit; returns the wait status.
  int Kill(int signal);
  // Waits for the child to exit by itself; returns its exit code, or -1 on
  // timeout or death by signal.
  int Wait(absl::Duration timeout);
  bool running();

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// Runs a command to completion, returning its exit code and output.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Seconds(60));

// Reads a whole file; empty if it does not exist.
std::string ReadFile(const std::string& path);

// Directory of the running test binary's build tree, from argv[0] of
// /proc/self/exe, used to find sibling binaries.
std::string BuildDir();

}  // namespace reprise::testing
