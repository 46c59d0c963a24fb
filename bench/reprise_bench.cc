// reprise-bench: closed-loop load against a real reprise-server.
//
// Starts reprise-server (fresh data directory, free ports, fsync on as
// always) and an in-process SDK worker, then for each workload and each
// in-flight level keeps exactly that many Invoke calls outstanding for the
// given duration. Prints throughput, latency percentiles, the server's CPU
// time per invocation and its resident memory, and the bench process's own
// CPU time per invocation (the load generator and the worker together).
// Workloads (Bench/<name>):
//
//   noop      returns at once
//   steps3    three sequential `run` steps, each durable before the next
//   sleep100  one durable 100 ms `sleep`
//   add-rand  a virtual object's exclusive `add` (read and write one state
//             key) on keys drawn at random from a million
//   add-hot   the same `add`, always on one key: the adds run one by one
//   call      a durable call A -> B, B a no-op (two invocations)
//
// Kafka workloads (not closed-loop): --kafka-records records are produced
// to a 4-partition topic of a mock cluster (kafka-mock) first; then a
// subscription is created and the rate at which the handler completes them
// is measured, from the first completion to the last (so the consumer
// group's join is not counted):
//
//   kafka-noop  a stateless no-op handler
//   kafka-add   the virtual object's `add`, keyed by the record's key (one
//               of 1,000)
//
// With --send-backlog N, after those: N one-way `Send`s of a no-op
// handler (BenchBacklog/run) as fast as the ingress takes them (64 in
// flight), while its service is registered but no worker serves it, so
// they all wait; then a worker for it connects. Prints how fast the sends
// were accepted, how fast the backlog drained once the worker came, and
// how often the handler ran (N when no attempt was retried or timed out
// while it waited).
//
// With --restart-retained N, last: no-op invocations fill the runtime
// until N are retained (completed, kept for the default 24 h), then the
// server is killed with SIGKILL and started again on the same data
// directory and ports; prints the time until it is ready (recovery done,
// listening) and until a no-op invocation succeeds again (the worker
// reconnects meanwhile).
//
//   ./build-release/bench/reprise-bench --in-flight 1,16,64 --seconds 10
//   ./build-release/bench/reprise-bench --workload steps3,sleep100
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/random/random.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "reprise/sdk/worker.h"
#include "reprise/v1/ingress.grpc.pb.h"
#include "reprise/v1/subscriptions.grpc.pb.h"
#include "tests/testing/kafka_testing.h"
#include "tests/testing/process.h"

namespace {

struct ProcStats {
  double cpu_seconds = 0;
  double rss_mib = 0;
};

ProcStats ReadProc(pid_t pid) {
  ProcStats stats;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), {});
  // Fields after the command name (which may contain spaces).
  std::istringstream rest(content.substr(content.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  stats.cpu_seconds = static_cast<double>(utime + stime) /
                      static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      stats.rss_mib = std::stod(line.substr(6)) / 1024.0;
    }
  }
  return stats;
}

// Issue runs on gRPC's callback threads: one generator per thread.
absl::BitGen& RandomGen() {
  thread_local absl::BitGen gen;
  return gen;
}

class ClosedLoop {
 public:
  ClosedLoop(reprise::v1::Ingress::Stub& stub, std::string handler,
             int in_flight, absl::Time end)
      : stub_(stub),
        handler_(std::move(handler)),
        end_(end),
        slots_(in_flight) {}

  void Run() {
    remaining_ = static_cast<int>(slots_.size());
    for (auto& slot : slots_) Issue(slot);
    done_.WaitForNotification();
  }

  std::vector<double>& latencies_ms() { return latencies_; }
  int errors() const { return errors_; }

 private:
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    reprise::v1::InvokeRequest request;
    reprise::v1::InvokeResponse response;
    absl::Time started;
  };

  void Issue(Slot& slot) {
    slot.context = std::make_unique<grpc::ClientContext>();
    slot.context->set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(30));
    auto* target = slot.request.mutable_target();
    if (handler_ == "add-rand" || handler_ == "add-hot") {
      target->set_service("BenchObject");
      target->set_handler("add");
      target->set_key(handler_ == "add-hot" ? std::string("hot")
                                            : std::to_string(absl::Uniform(
                                                  RandomGen(), 0, 1'000'000)));
    } else {
      target->set_service("Bench");
      target->set_handler(handler_);
    }
    slot.started = absl::Now();
    stub_.async()->Invoke(slot.context.get(), &slot.request, &slot.response,
                          [this, &slot](grpc::Status status) {
                            absl::Time now = absl::Now();
                            {
                              absl::MutexLock lock(&mu_);
                              if (status.ok()) {
                                latencies_.push_back(absl::ToDoubleMilliseconds(
                                    now - slot.started));
                              } else {
                                ++errors_;
                              }
                            }
                            if (now < end_) {
                              Issue(slot);
                            } else if (--remaining_ == 0) {
                              done_.Notify();
                            }
                          });
  }

  reprise::v1::Ingress::Stub& stub_;
  const std::string handler_;
  const absl::Time end_;
  std::vector<Slot> slots_;
  absl::Mutex mu_;
  std::vector<double> latencies_;
  int errors_ = 0;
  std::atomic<int> remaining_{0};
  absl::Notification done_;
};

// Keeps 64 `Send`s of BenchBacklog/run outstanding until `count` were
// accepted.
class SendLoop {
 public:
  SendLoop(reprise::v1::Ingress::Stub& stub, int64_t count)
      : stub_(stub), remaining_(count) {}

  void Run() {
    in_flight_ = static_cast<int>(slots_.size());
    for (auto& slot : slots_) Issue(slot);
    done_.WaitForNotification();
  }
  int64_t errors() const { return errors_; }

 private:
  struct Slot {
    std::unique_ptr<grpc::ClientContext> context;
    reprise::v1::InvokeRequest request;
    reprise::v1::SendResponse response;
  };

  void Issue(Slot& slot) {
    if (remaining_.fetch_sub(1) <= 0) {
      if (--in_flight_ == 0) done_.Notify();
      return;
    }
    slot.context = std::make_unique<grpc::ClientContext>();
    slot.context->set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(30));
    slot.request.mutable_target()->set_service("BenchBacklog");
    slot.request.mutable_target()->set_handler("run");
    stub_.async()->Send(slot.context.get(), &slot.request, &slot.response,
                        [this, &slot](grpc::Status status) {
                          if (!status.ok()) errors_.fetch_add(1);
                          Issue(slot);
                        });
  }

  reprise::v1::Ingress::Stub& stub_;
  std::atomic<int64_t> remaining_;
  std::atomic<int64_t> errors_{0};
  std::atomic<int> in_flight_{0};
  std::vector<Slot> slots_ = std::vector<Slot>(64);
  absl::Notification done_;
};

// Runs of BenchBacklog/run.
std::atomic<int64_t> backlog_runs{0};

// Completions of the Kafka workloads' handlers, with the first and last
// time.
struct KafkaCompletions {
  absl::Mutex mu;
  int64_t count ABSL_GUARDED_BY(mu) = 0;
  absl::Time first ABSL_GUARDED_BY(mu), last ABSL_GUARDED_BY(mu);
  void Add() {
    absl::MutexLock lock(&mu);
    last = absl::Now();
    if (count++ == 0) first = last;
  }
};
KafkaCompletions kafka_completions;

// Runs Kafka workload `workload` (see the top); returns false on a failure.
bool RunKafka(const std::string& workload, int records,
              const std::string& admin_address, pid_t server_pid,
              const std::string& dir) {
  reprise::testing::KafkaMock kafka = reprise::testing::StartKafkaMock(
      {workload + ":4"}, dir + "/" + workload + ".log");
  if (kafka.bootstrap_servers.empty()) {
    std::fprintf(stderr, "kafka-mock did not start\n");
    return false;
  }
  std::vector<reprise::testing::ProducedRecord> batch;
  for (int i = 0; i < records; ++i) {
    batch.push_back({std::to_string(i % 1000), "x", {}});
  }
  if (absl::Status produced =
          reprise::testing::Produce(kafka.bootstrap_servers, workload, batch);
      !produced.ok()) {
    std::fprintf(stderr, "producing failed: %s\n", produced.ToString().c_str());
    return false;
  }
  {
    absl::MutexLock lock(&kafka_completions.mu);
    kafka_completions.count = 0;
  }
  auto stub = reprise::v1::Subscriptions::NewStub(
      grpc::CreateChannel(admin_address, grpc::InsecureChannelCredentials()));
  reprise::v1::CreateSubscriptionRequest request;
  auto* subscription = request.mutable_subscription();
  subscription->set_name(workload);
  subscription->set_topic(workload);
  subscription->set_bootstrap_servers(kafka.bootstrap_servers);
  subscription->set_start_position(reprise::v1::START_POSITION_EARLIEST);
  subscription->mutable_target()->set_service(
      workload == "kafka-add" ? "BenchObject" : "Bench");
  subscription->mutable_target()->set_handler(
      workload == "kafka-add" ? "kafka_add" : "kafka_noop");
  ProcStats before = ReadProc(server_pid);
  grpc::ClientContext context;
  reprise::v1::SubscriptionDescription created;
  grpc::Status status = stub->CreateSubscription(&context, request, &created);
  if (!status.ok()) {
    std::fprintf(stderr, "subscription refused: %s\n",
                 status.error_message().c_str());
    return false;
  }
  const absl::Time deadline = absl::Now() + absl::Minutes(5);
  absl::Duration elapsed;
  {
    absl::MutexLock lock(&kafka_completions.mu);
    auto all_done = [records] {
      kafka_completions.mu.AssertHeld();
      return kafka_completions.count >= records;
    };
    while (!all_done() && absl::Now() < deadline) {
      kafka_completions.mu.AwaitWithTimeout(absl::Condition(&all_done),
                                            absl::Seconds(1));
    }
    if (kafka_completions.count < records) {
      std::fprintf(stderr, "only %lld of %d records handled\n",
                   static_cast<long long>(kafka_completions.count), records);
      return false;
    }
    elapsed = kafka_completions.last - kafka_completions.first;
  }
  ProcStats after = ReadProc(server_pid);
  // Stopped before its cluster goes, so that it does not load the next
  // workload with reconnection attempts.
  grpc::ClientContext delete_context;
  reprise::v1::SubscriptionRequest name;
  name.set_name(workload);
  reprise::v1::DeleteSubscriptionResponse deleted;
  (void)stub->DeleteSubscription(&delete_context, name, &deleted);
  std::printf("%-10s %9d %13.0f %14.1f %11.1f\n", workload.c_str(), records,
              (records - 1) / absl::ToDoubleSeconds(elapsed),
              (after.cpu_seconds - before.cpu_seconds) * 1e6 / records,
              after.rss_mib);
  std::fflush(stdout);
  return true;
}

double Percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1));
  return sorted[i];
}

}  // namespace

int main(int argc, char** argv) {
  std::string server_path;
  std::vector<int> levels = {1, 16, 64};
  std::vector<std::string> workloads = {"noop"};
  double seconds = 10;
  double warmup_seconds = 2;
  uint32_t partitions = 4;
  CLI::App app{"reprise-bench: closed-loop no-op invocations"};
  app.add_option("--server", server_path,
                 "reprise-server binary (default: the one in this build)");
  app.add_option("--in-flight", levels, "In-flight levels")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--workload", workloads,
                 "noop, steps3, sleep100, add-rand, add-hot, call, "
                 "kafka-noop, kafka-add")
      ->delimiter(',')
      ->check(CLI::IsMember({"noop", "steps3", "sleep100", "add-rand",
                             "add-hot", "call", "kafka-noop", "kafka-add"}))
      ->capture_default_str();
  int kafka_records = 50000;
  app.add_option("--kafka-records", kafka_records, "Records per Kafka workload")
      ->capture_default_str();
  app.add_option("--seconds", seconds, "Measured seconds per level")
      ->capture_default_str();
  app.add_option("--warmup", warmup_seconds, "Warm-up seconds per level")
      ->capture_default_str();
  app.add_option("--partitions", partitions)->capture_default_str();
  int64_t send_backlog = 0;
  app.add_option("--send-backlog", send_backlog,
                 "Then send this many one-way no-op invocations at once and "
                 "measure how the backlog drains (0: not)")
      ->capture_default_str();
  int64_t restart_retained = 0;
  app.add_option("--restart-retained", restart_retained,
                 "Then measure a restart after SIGKILL with this many "
                 "retained invocations (0: no restart)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
#ifdef NDEBUG
  // As in reprise-server: deadlock detection costs a graph update per lock.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  if (server_path.empty()) {
    server_path =
        std::filesystem::path(std::filesystem::read_symlink("/proc/self/exe"))
            .parent_path()
            .parent_path() /
        "runtime/server/reprise-server";
  }

  char templ[] = "/tmp/reprise-bench-XXXXXX";
  std::string dir = mkdtemp(templ);
  auto server_args = [&](const std::string& ingress, const std::string& worker,
                         const std::string& admin) {
    return std::vector<std::string>{server_path,
                                    "--data-dir",
                                    dir + "/data",
                                    "--ingress-address",
                                    ingress,
                                    "--worker-address",
                                    worker,
                                    "--admin-address",
                                    admin,
                                    "--partitions",
                                    std::to_string(partitions)};
  };
  auto server = std::make_unique<reprise::testing::ChildProcess>(
      server_args("127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"),
      dir + "/server.log");
  auto ready = server->WaitForLine("reprise-server ready:", absl::Seconds(30));
  if (!ready) {
    std::fprintf(stderr, "server did not start:\n%s\n",
                 reprise::testing::ReadFile(dir + "/server.log").c_str());
    return 1;
  }
  auto field = [&](const std::string& name) {
    auto pos = ready->find(name + "=");
    auto end = ready->find(' ', pos);
    return ready->substr(pos + name.size() + 1, end - pos - name.size() - 1);
  };

  reprise::sdk::WorkerOptions options;
  options.address = field("workers");
  options.name = "bench";
  options.concurrency = 128;
  // Short, so that a restart measures the server's recovery, not the
  // worker's back-off.
  options.max_reconnect_delay = absl::Milliseconds(100);
  reprise::sdk::Worker worker(options);
  using Result = absl::StatusOr<std::string>;
  worker.Add(
      reprise::sdk::ServiceDefinition::Service("Bench")
          .Handler("noop",
                   [](reprise::sdk::Context&, const std::string&) -> Result {
                     return std::string();
                   })
          .Handler(
              "steps3",
              [](reprise::sdk::Context& ctx, const std::string&) -> Result {
                for (const char* step : {"one", "two", "three"}) {
                  Result r = ctx.Run(step, [] { return Result("x"); });
                  if (!r.ok()) return r;
                }
                return std::string();
              })
          .Handler("call",
                   [](reprise::sdk::Context& ctx, const std::string&) {
                     return ctx.Call("Bench", "noop", "");
                   })
          .Handler("kafka_noop",
                   [](reprise::sdk::Context&, const std::string&) -> Result {
                     kafka_completions.Add();
                     return std::string();
                   })
          .Handler(
              "sleep100",
              [](reprise::sdk::Context& ctx, const std::string&) -> Result {
                ctx.Sleep(absl::Milliseconds(100));
                return std::string();
              }));
  worker.Add(
      reprise::sdk::ServiceDefinition::VirtualObject("BenchObject")
          .Handler(
              "add",
              [](reprise::sdk::Context& ctx, const std::string&) -> Result {
                std::optional<std::string> count = ctx.Get("count");
                std::string next = std::to_string(
                    (count.has_value() ? std::stoll(*count) : 0) + 1);
                ctx.Set("count", next);
                return next;
              })
          .Handler(
              "kafka_add",
              [](reprise::sdk::Context& ctx, const std::string&) -> Result {
                std::optional<std::string> count = ctx.Get("count");
                std::string next = std::to_string(
                    (count.has_value() ? std::stoll(*count) : 0) + 1);
                ctx.Set("count", next);
                kafka_completions.Add();
                return next;
              }));
  std::thread worker_thread([&] { (void)worker.Run(); });
  absl::SleepFor(absl::Milliseconds(500));

  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 100);
  auto stub = reprise::v1::Ingress::NewStub(grpc::CreateCustomChannel(
      field("ingress"), grpc::InsecureChannelCredentials(), args));

  std::vector<std::string> kafka_workloads;
  std::erase_if(workloads, [&](const std::string& w) {
    if (w.rfind("kafka-", 0) != 0) return false;
    kafka_workloads.push_back(w);
    return true;
  });
  if (!kafka_workloads.empty()) {
    std::printf("%-10s %9s %13s %14s %11s\n", "workload", "records",
                "records/s", "server CPU us", "server MiB");
  }
  bool failed = false;
  for (const std::string& workload : kafka_workloads) {
    if (!failed) {
      failed = !RunKafka(workload, kafka_records, field("admin"), server->pid(),
                         dir);
    }
  }
  if (failed) workloads.clear();
  if (!workloads.empty()) {
    std::printf("%-9s %9s %13s %9s %9s %9s %14s %11s %13s\n", "workload",
                "in-flight", "invocations/s", "p50 ms", "p90 ms", "p99 ms",
                "server CPU us", "server MiB", "bench CPU us");
  }
  for (const std::string& workload : workloads) {
    for (int level : levels) {
      ClosedLoop warmup(*stub, workload, level,
                        absl::Now() + absl::Seconds(warmup_seconds));
      warmup.Run();
      ProcStats before = ReadProc(server->pid());
      ProcStats bench_before = ReadProc(getpid());
      absl::Time start = absl::Now();
      ClosedLoop loop(*stub, workload, level, start + absl::Seconds(seconds));
      loop.Run();
      double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
      ProcStats after = ReadProc(server->pid());
      ProcStats bench_after = ReadProc(getpid());
      auto& lat = loop.latencies_ms();
      std::sort(lat.begin(), lat.end());
      double count = static_cast<double>(lat.size());
      std::printf(
          "%-9s %9d %13.0f %9.3f %9.3f %9.3f %14.1f %11.1f %13.1f%s\n",
          workload.c_str(), level, count / elapsed, Percentile(lat, 0.5),
          Percentile(lat, 0.9), Percentile(lat, 0.99),
          count > 0 ? (after.cpu_seconds - before.cpu_seconds) * 1e6 / count
                    : 0.0,
          after.rss_mib,
          count > 0 ? (bench_after.cpu_seconds - bench_before.cpu_seconds) *
                          1e6 / count
                    : 0.0,
          loop.errors() > 0
              ? (" (" + std::to_string(loop.errors()) + " errors)").c_str()
              : "");
      std::fflush(stdout);
    }
  }
  if (!failed && send_backlog > 0) {
    // A worker of its own, started twice: once to register the service,
    // then again once the backlog is there.
    auto backlog_worker = [&] {
      reprise::sdk::WorkerOptions backlog_options = options;
      backlog_options.name = "backlog";
      auto w = std::make_unique<reprise::sdk::Worker>(backlog_options);
      w->Add(reprise::sdk::ServiceDefinition::Service("BenchBacklog")
                 .Handler(
                     "run",
                     [](reprise::sdk::Context&, const std::string&) -> Result {
                       backlog_runs.fetch_add(1);
                       return std::string();
                     }));
      return w;
    };
    {
      auto registering = backlog_worker();
      std::thread thread([&] { (void)registering->Run(); });
      absl::SleepFor(absl::Milliseconds(500));
      registering->Shutdown();
      thread.join();
    }
    const absl::Time start = absl::Now();
    SendLoop sends(*stub, send_backlog);
    sends.Run();
    const absl::Time accepted = absl::Now();
    auto serving = backlog_worker();
    std::thread serving_thread([&] { (void)serving->Run(); });
    // Bounded: stops when the runs stop growing for a minute.
    int64_t runs = backlog_runs.load();
    absl::Time progress = absl::Now();
    while (runs < send_backlog && absl::Now() - progress < absl::Minutes(1)) {
      absl::SleepFor(absl::Milliseconds(20));
      if (backlog_runs.load() != runs) {
        runs = backlog_runs.load();
        progress = absl::Now();
      }
    }
    const absl::Time drained = absl::Now();
    absl::SleepFor(absl::Seconds(2));  // retries, if any, would show now
    serving->Shutdown();
    serving_thread.join();
    const double accept_s = absl::ToDoubleSeconds(accepted - start);
    const double drain_s = absl::ToDoubleSeconds(drained - accepted);
    std::printf(
        "send backlog of %lld: accepted in %.1f s (%.0f/s); once a worker "
        "came, all run in %.1f s (%.0f/s); the handler ran %lld times; %lld "
        "sends failed\n",
        static_cast<long long>(send_backlog), accept_s,
        static_cast<double>(send_backlog) / accept_s, drain_s,
        static_cast<double>(runs) / drain_s,
        static_cast<long long>(backlog_runs.load()),
        static_cast<long long>(sends.errors()));
    std::fflush(stdout);
    failed = runs < send_backlog;
  }
  if (!failed && restart_retained > 0) {
    int64_t retained = 0;
    while (retained < restart_retained) {
      ClosedLoop fill(*stub, "noop", 64, absl::Now() + absl::Seconds(5));
      fill.Run();
      retained += static_cast<int64_t>(fill.latencies_ms().size());
    }
    server->Kill(SIGKILL);
    const absl::Time start = absl::Now();
    server = std::make_unique<reprise::testing::ChildProcess>(
        server_args(field("ingress"), field("workers"), field("admin")),
        dir + "/restarted.log");
    if (!server->WaitForLine("reprise-server ready:", absl::Minutes(5))) {
      std::fprintf(stderr, "server did not restart:\n%s\n",
                   reprise::testing::ReadFile(dir + "/restarted.log").c_str());
      failed = true;
    } else {
      const absl::Time listening = absl::Now();
      absl::Time serving = absl::InfiniteFuture();
      while (absl::Now() < listening + absl::Seconds(60)) {
        ClosedLoop probe(*stub, "noop", 1, absl::Now());
        probe.Run();
        if (!probe.latencies_ms().empty()) {
          serving = absl::Now();
          break;
        }
        absl::SleepFor(absl::Milliseconds(10));
      }
      std::printf(
          "restart after SIGKILL with %lld retained invocations: ready in "
          "%.0f ms, a no-op invocation served in %.0f ms\n",
          static_cast<long long>(retained),
          absl::ToDoubleMilliseconds(listening - start),
          absl::ToDoubleMilliseconds(serving - start));
      failed = serving == absl::InfiniteFuture();
    }
  }
  worker.Shutdown();
  worker_thread.join();
  server->Kill(SIGTERM);
  std::filesystem::remove_all(dir);
  return failed ? 1 : 0;
}
