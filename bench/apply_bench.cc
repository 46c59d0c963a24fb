// apply_bench: the cost of applying commands to a partition's store, the
// largest share of the runtime's CPU per invocation (see
// docs/benchmarks.md). One thread drives one partition's state machine the
// way a processor does: a batch of invoke commands, one transaction, commit;
// then the batch's output entries, one transaction, commit. No log, no
// network, no other threads, so storage changes can be compared without
// the end-to-end benchmark's noise.
//
//   ./build-release/bench/apply-bench --benchmark_min_time=3
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "runtime/state_machine/state_machine.h"
#include "tests/testing/temp_dir.h"

namespace reprise {
namespace {

constexpr PartitionId kPartition(0);
// The default retention of a completed invocation: each completion also
// writes the expiry index.
constexpr uint64_t kRetentionMs = 24 * 3600 * 1000;

v1::Command Invoke(const InvocationId& id, int64_t now_ms) {
  v1::Command command;
  command.set_timestamp_ms(now_ms);
  auto* invoke = command.mutable_invoke();
  invoke->set_invocation_id(id.ToBytes());
  invoke->mutable_target()->set_service("Bench");
  invoke->mutable_target()->set_handler("noop");
  invoke->set_input("{}");
  invoke->set_service_type(v1::SERVICE_TYPE_SERVICE);
  invoke->set_retention_ms(kRetentionMs);
  return command;
}

v1::Command Output(const InvocationId& id, int64_t now_ms) {
  v1::Command command;
  command.set_timestamp_ms(now_ms);
  auto* propose = command.mutable_propose_entry();
  propose->set_invocation_id(id.ToBytes());
  propose->set_attempt(1);
  propose->set_index(1);
  propose->set_worker_version("bench");
  propose->add_entries()->mutable_output()->mutable_result()->set_value("{}");
  return command;
}

// Applies `commands` as the next log records in one transaction.
void ApplyBatch(storage::Store& store, storage::RecentRows& recent,
                state_machine::StateMachine& sm, uint64_t& lsn,
                const std::vector<v1::Command>& commands,
                benchmark::State& state) {
  storage::Transaction txn(store, kPartition, &recent);
  std::vector<state_machine::Action> actions;
  for (const v1::Command& command : commands) {
    if (!sm.Apply(command, Lsn(++lsn), txn, actions).ok()) {
      state.SkipWithError("apply failed");
      return;
    }
  }
  if (!txn.Commit().ok()) state.SkipWithError("commit failed");
}

// One no-op invocation per item: its invoke, then its output, in batches
// of state.range(0) invocations.
void BM_NoopInvocations(benchmark::State& state) {
  testing::TempDir dir;
  auto store = storage::Store::Open(dir.path());
  if (!store.ok()) {
    state.SkipWithError("cannot open the store");
    return;
  }
  state_machine::StateMachine sm;
  storage::RecentRows recent(2 << 20);  // as the processor's
  std::mt19937_64 random(42);
  uint64_t lsn = 0;
  int64_t now_ms = 1'700'000'000'000;
  const auto batch = static_cast<size_t>(state.range(0));
  std::vector<InvocationId> ids(batch);
  std::vector<v1::Command> invokes(batch);
  std::vector<v1::Command> outputs(batch);
  for (auto _ : state) {
    state.PauseTiming();
    ++now_ms;
    for (size_t i = 0; i < batch; ++i) {
      ids[i] = InvocationId(random(), random());
      invokes[i] = Invoke(ids[i], now_ms);
      outputs[i] = Output(ids[i], now_ms);
    }
    state.ResumeTiming();
    ApplyBatch(**store, recent, sm, lsn, invokes, state);
    ApplyBatch(**store, recent, sm, lsn, outputs, state);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
}
BENCHMARK(BM_NoopInvocations)->Arg(1)->Arg(16)->UseRealTime();

}  // namespace
}  // namespace reprise

BENCHMARK_MAIN();
