// reprise-server: runs one Reprise runtime node on the embedded log.
#include <signal.h>

#include <cstdio>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/common/logging.h"
#include "runtime/server/server.h"

namespace {

// Parses duration flag `flag` from `text` into `out`; prints what to give
// and returns false if it is not a duration of at least `min`.
bool ParseDurationFlag(const char* flag, const std::string& text,
                       absl::Duration min, const char* examples,
                       absl::Duration& out) {
  if (absl::ParseDuration(text, &out) && out >= min) return true;
  std::fprintf(stderr,
               "reprise-server: %s %s: give a duration of at least %s, e.g. "
               "%s\n",
               flag, text.c_str(), absl::FormatDuration(min).c_str(), examples);
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  reprise::server::ServerOptions options;
  std::string log_level = "info";
  CLI::App app{"reprise-server: the Reprise durable-execution runtime"};
  app.add_option("--data-dir", options.data_dir,
                 "Where the log and state are kept")
      ->capture_default_str();
  app.add_option("--ingress-address", options.ingress_address,
                 "gRPC ingress listen address (port 0 picks a free port)")
      ->capture_default_str();
  app.add_option("--worker-address", options.worker_address,
                 "Listen address for worker connections")
      ->capture_default_str();
  app.add_option("--admin-address", options.admin_address,
                 "Listen address of the admin API")
      ->capture_default_str();
  app.add_option("--partitions", options.partitions,
                 "Number of partitions; fixed when the data dir is created")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--max-payload-bytes", options.max_payload_bytes,
                 "Largest accepted invocation payload")
      ->capture_default_str();
  app.add_option("--eager-state-limit-bytes", options.eager_state_limit_bytes,
                 "A virtual object's or workflow's state up to this size is "
                 "sent with each attempt; larger state is read key by key")
      ->capture_default_str();
  app.add_option("--token", options.token,
                 "Require this bearer token on the admin and worker ports "
                 "(env REPRISE_TOKEN)")
      ->envname("REPRISE_TOKEN");
  app.add_option("--tls-cert", options.tls.cert,
                 "PEM certificate: serve TLS on every port")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-key", options.tls.key, "PEM private key of --tls-cert")
      ->check(CLI::ExistingFile);
  app.add_option("--tls-client-ca", options.tls.client_ca,
                 "PEM CA: require client certificates it signed (mutual TLS)")
      ->check(CLI::ExistingFile);
  std::string retention = "24h";
  app.add_option("--retention", retention,
                 "How long completed invocations are kept when their handler "
                 "and service declare no retention (e.g. 30m, 24h, 168h)")
      ->capture_default_str();
  std::string log_trim_interval = "10s";
  app.add_option("--log-trim-interval", log_trim_interval,
                 "How often the log drops the records whose state is durable "
                 "(e.g. 1s, 10s, 1m)")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "debug, info, warning or error")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));
  CLI11_PARSE(app, argc, argv);
  if (options.tls.cert.empty() != options.tls.key.empty() ||
      (!options.tls.client_ca.empty() && options.tls.cert.empty())) {
    std::fprintf(stderr,
                 "reprise-server: TLS needs --tls-cert and --tls-key together "
                 "(and both for --tls-client-ca)\n");
    return 2;
  }
  if (!ParseDurationFlag("--retention", retention, absl::Milliseconds(1),
                         "30m, 24h or 168h", options.default_retention) ||
      !ParseDurationFlag("--log-trim-interval", log_trim_interval,
                         absl::Milliseconds(10), "1s, 10s or 1m",
                         options.log_trim_interval)) {
    return 2;
  }

#ifdef NDEBUG
  // Deadlock detection costs a graph update per lock; debug builds keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  reprise::MinLogLevel() = log_level == "debug" ? reprise::LogLevel::kDebug
                           : log_level == "warning"
                               ? reprise::LogLevel::kWarning
                           : log_level == "error" ? reprise::LogLevel::kError
                                                  : reprise::LogLevel::kInfo;

  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto server = reprise::server::Server::Start(options);
  if (!server.ok()) {
    std::fprintf(stderr, "reprise-server: %s\n",
                 server.status().ToString().c_str());
    return 1;
  }
  std::printf(
      "reprise-server ready: ingress=%s workers=%s admin=%s data=%s "
      "partitions=%u\n",
      (*server)->ingress_address().c_str(), (*server)->worker_address().c_str(),
      (*server)->admin_address().c_str(), options.data_dir.c_str(),
      options.partitions);
  std::fflush(stdout);

  int signal = 0;
  sigwait(&stop_signals, &signal);
  reprise::Log(reprise::LogLevel::kInfo, "stopping on signal %d", signal);
  server->reset();
  return 0;
}
