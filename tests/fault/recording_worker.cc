// A worker for fault tests: service Recorder, handler record, which appends
// one line "<invocation id> <attempt>" to --effects-file each time its body
// runs (a side effect the test can count), then echoes its input.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_format.h"
#include "reprise/sdk/worker.h"

int main(int argc, char** argv) {
  reprise::sdk::WorkerOptions options;
  options.name = "recorder";
  std::string effects_file;
  CLI::App app{"recording worker for fault tests"};
  app.add_option("--address", options.address)->required();
  app.add_option("--effects-file", effects_file)->required();
  CLI11_PARSE(app, argc, argv);

  int fd = open(effects_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) return 1;
  reprise::sdk::Worker worker(options);
  worker.Add(
      reprise::sdk::ServiceDefinition::Service("Recorder")
          .Handler(
              "record",
              [fd](reprise::sdk::Context& ctx,
                   const std::string& input) -> absl::StatusOr<std::string> {
                std::string line = absl::StrFormat(
                    "%s %d\n", ctx.invocation_id(), ctx.attempt());
                // One write(2) per line: appends of this size are not
                // interleaved.
                if (write(fd, line.data(), line.size()) !=
                    static_cast<ssize_t>(line.size())) {
                  throw std::runtime_error("cannot record the side effect");
                }
                return input;
              }));
  return worker.Run().ok() ? 0 : 1;
}
