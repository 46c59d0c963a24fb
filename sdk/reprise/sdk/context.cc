#include "reprise/sdk/context.h"

#include "reprise/sdk/internal/attempt.h"

namespace reprise::sdk {

Context::Context(internal::Attempt& attempt) : attempt_(attempt) {}

const std::string& Context::invocation_id() const {
  return attempt_.invocation_id();
}
const std::string& Context::service() const {
  return attempt_.target().service();
}
const std::string& Context::handler() const {
  return attempt_.target().handler();
}
const std::string& Context::key() const { return attempt_.target().key(); }
const v1::KafkaRecord* Context::kafka_record() const {
  return attempt_.kafka_record();
}
uint32_t Context::attempt() const { return attempt_.number(); }

absl::StatusOr<std::string> Context::Run(std::string_view name,
                                         const RunFunction& fn,
                                         const RunOptions& options) {
  return attempt_.RunStep(name, fn, options);
}

void Context::Sleep(absl::Duration duration, std::string_view name) {
  Await(Timer(duration, name));
}

DurableFuture Context::Timer(absl::Duration duration, std::string_view name) {
  return DurableFuture(attempt_.TimerStep(name, duration));
}

void Context::Await(const DurableFuture& future) {
  attempt_.AwaitEntry(future.journal_index());
}

namespace {

v1::Target MakeTarget(std::string_view service, std::string_view handler,
                      std::string_view key) {
  v1::Target target;
  target.set_service(std::string(service));
  target.set_handler(std::string(handler));
  target.set_key(std::string(key));
  return target;
}

}  // namespace

absl::StatusOr<std::string> Context::Call(std::string_view service,
                                          std::string_view handler,
                                          std::string parameter,
                                          std::string_view key) {
  return Await(CallAsync(service, handler, std::move(parameter), key));
}

ResultFuture Context::CallAsync(std::string_view service,
                                std::string_view handler, std::string parameter,
                                std::string_view key) {
  return ResultFuture(attempt_.CallStep(MakeTarget(service, handler, key),
                                        std::move(parameter)));
}

absl::StatusOr<std::string> Context::Await(const ResultFuture& future) {
  return attempt_.AwaitResult(future.journal_index());
}

Context::Awakeable Context::MakeAwakeable(std::string_view name) {
  const uint32_t index = attempt_.AwakeableStep(name);
  return Awakeable{attempt_.AwakeableId(index), ResultFuture(index)};
}

void Context::Send(std::string_view service, std::string_view handler,
                   std::string parameter, std::string_view key,
                   absl::Duration delay) {
  attempt_.SendStep(MakeTarget(service, handler, key), std::move(parameter),
                    delay);
}

size_t Context::AwaitAny(std::initializer_list<Awaitable> futures) {
  std::vector<uint32_t> indexes;
  for (const Awaitable& f : futures) indexes.push_back(f.journal_index());
  return attempt_.SelectStep(indexes);
}

void Context::AwaitAll(std::initializer_list<Awaitable> futures) {
  // Completions only add up: waiting for each in turn is deterministic.
  for (const Awaitable& f : futures) attempt_.AwaitEntry(f.journal_index());
}

DurablePromise Context::Promise(std::string_view name) {
  return DurablePromise(*this, std::string(name));
}

absl::StatusOr<std::string> DurablePromise::Get() {
  return ctx_.Await(GetAsync());
}

ResultFuture DurablePromise::GetAsync() {
  return ResultFuture(ctx_.attempt_.GetPromiseStep(name_));
}

std::optional<absl::StatusOr<std::string>> DurablePromise::Peek() {
  return ctx_.attempt_.PeekPromiseStep(name_);
}

absl::Status DurablePromise::Resolve(std::string value) {
  v1::Result completion;
  completion.set_value(std::move(value));
  return ctx_.attempt_.CompletePromiseStep(name_, std::move(completion));
}

absl::Status DurablePromise::Reject(std::string reason) {
  v1::Result completion;
  completion.mutable_failure()->set_code(
      static_cast<uint32_t>(absl::StatusCode::kAborted));
  completion.mutable_failure()->set_message(std::move(reason));
  return ctx_.attempt_.CompletePromiseStep(name_, std::move(completion));
}

std::optional<std::string> Context::Get(std::string_view key) {
  return attempt_.GetStateStep(key);
}

void Context::Set(std::string_view key, std::string value) {
  attempt_.SetStateStep(key, std::move(value));
}

void Context::Clear(std::string_view key) { attempt_.ClearStateStep(key); }

void Context::ClearAll() { attempt_.ClearAllStateStep(); }

std::vector<std::string> Context::StateKeys() {
  return attempt_.StateKeysStep();
}

absl::Time Context::Now() { return attempt_.NowStep(); }

uint64_t Context::Random() {
  if (!random_.has_value()) {
    const std::string& id = attempt_.invocation_id_bytes();
    std::seed_seq seed(id.begin(), id.end());
    random_.emplace(seed);
  }
  return (*random_)();
}

}  // namespace reprise::sdk
