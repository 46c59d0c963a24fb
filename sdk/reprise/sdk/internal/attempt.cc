#include "reprise/sdk/internal/attempt.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <stdexcept>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace reprise::sdk::internal {
namespace {

// Unwinds the handler when the attempt ended under it. Deliberately not a
// std::exception, so handlers catching those let it pass.
struct AttemptEnded {};

// A replayed handler took another step than its journal records.
struct JournalMismatch {
  uint32_t index;
  std::string message;
};

// How early a sleep's completion may arrive and still wait for its due
// time here (worker.proto, Completion).
constexpr absl::Duration kMaxEarlyCompletion = absl::Milliseconds(10);

// When the handler may see the completion of `entry`, which came at `now`.
// The runtime fires a sleep's timer a little early, so that the completion
// is durable and here when the sleep is due; the handler resumes only then,
// by this worker's clock. A sleep due further ahead than
// kMaxEarlyCompletion counts at once: then the clocks disagree, and the
// runtime's decides, as for any timer.
absl::Time HeldUntil(const v1::JournalEntry& entry, absl::Time now) {
  if (!entry.has_sleep() || entry.sleep().has_failure()) {
    return absl::InfinitePast();
  }
  const absl::Time due = absl::FromUnixMillis(entry.sleep().wake_up_at_ms());
  return due - now <= kMaxEarlyCompletion ? due : absl::InfinitePast();
}

std::string_view KindName(v1::JournalEntry::KindCase kind) {
  switch (kind) {
    case v1::JournalEntry::kInput:
      return "input";
    case v1::JournalEntry::kOutput:
      return "output";
    case v1::JournalEntry::kRun:
      return "run";
    case v1::JournalEntry::kSleep:
      return "sleep";
    case v1::JournalEntry::kNow:
      return "now";
    case v1::JournalEntry::kGetState:
      return "get-state";
    case v1::JournalEntry::kSetState:
      return "set-state";
    case v1::JournalEntry::kClearState:
      return "clear-state";
    case v1::JournalEntry::kClearAllState:
      return "clear-all-state";
    case v1::JournalEntry::kGetStateKeys:
      return "get-state-keys";
    case v1::JournalEntry::kCall:
      return "call";
    case v1::JournalEntry::kSend:
      return "send";
    case v1::JournalEntry::kAwakeable:
      return "awakeable";
    case v1::JournalEntry::kGetPromise:
      return "get-promise";
    case v1::JournalEntry::kPeekPromise:
      return "peek-promise";
    case v1::JournalEntry::kCompletePromise:
      return "complete-promise";
    case v1::JournalEntry::kSelect:
      return "select";
    case v1::JournalEntry::KIND_NOT_SET:
      break;
  }
  return "unknown entry";
}

std::string Describe(v1::JournalEntry::KindCase kind, std::string_view name) {
  return name.empty() ? std::string(KindName(kind))
                      : absl::StrFormat("%s '%s'", KindName(kind), name);
}

absl::StatusOr<std::string> FromResult(const v1::Result& result) {
  if (result.has_failure()) {
    return absl::Status(static_cast<absl::StatusCode>(result.failure().code()),
                        result.failure().message());
  }
  return result.value();
}

v1::Result ToResult(const absl::StatusOr<std::string>& value) {
  v1::Result result;
  if (value.ok()) {
    result.set_value(*value);
  } else {
    // An OK-coded failure would read as success on replay.
    result.mutable_failure()->set_code(
        static_cast<uint32_t>(value.status().code()));
    result.mutable_failure()->set_message(
        std::string(value.status().message()));
  }
  return result;
}

}  // namespace

Attempt::Attempt(v1::StartAttempt start, Send send, AttemptOptions options)
    : start_(std::move(start)),
      id_text_(
          absl::StrCat("inv_", absl::BytesToHexString(start_.invocation_id()))),
      send_(std::move(send)),
      options_(options),
      journal_(start_.journal().begin(), start_.journal().end()),
      durable_(static_cast<uint32_t>(journal_.size())),
      sent_(durable_),
      state_complete_(!start_.partial_state()) {
  for (const v1::StateEntry& entry : start_.state()) {
    state_[entry.key()] = entry.value();
  }
}

void Attempt::Run(const Handler& handler, StateAccess access, bool workflow) {
  access_ = access;
  workflow_ = workflow;
  // The journal the runtime sent; immutable, so no lock is needed.
  const auto& sent = start_.journal();
  if (sent.empty() || !sent[0].has_input()) {
    Fail("journal mismatch at index 0: expected the input entry", 0);
    return;
  }
  if (sent[sent.size() - 1].has_output()) {
    Abort();  // completed already: nothing to run
    return;
  }
  Context ctx(*this);
  absl::StatusOr<std::string> result;
  try {
    result = handler(ctx, sent[0].input().value());
  } catch (const AttemptEnded&) {
    return;
  } catch (const JournalMismatch& mismatch) {
    Fail(mismatch.message, mismatch.index);
    return;
  } catch (const TerminalError& e) {
    result = e.status();
  } catch (const std::exception& e) {
    Fail(absl::StrCat("handler threw: ", e.what()), std::nullopt);
    return;
  } catch (...) {
    Fail("handler threw a non-standard exception", std::nullopt);
    return;
  }
  v1::WorkerMessage out;
  std::string mismatch;
  {
    absl::MutexLock lock(&mu_);
    if (ended_) return;  // the handler swallowed the end of its attempt
    if (next_index_ < journal_.size()) {
      const v1::JournalEntry& unreplayed = journal_[next_index_];
      mismatch = absl::StrFormat(
          "journal mismatch at index %d: the journal holds %s, but the "
          "handler returned",
          next_index_, Describe(unreplayed.kind_case(), unreplayed.name()));
    } else {
      ended_ = true;
      v1::JournalEntry entry;
      *entry.mutable_output()->mutable_result() = ToResult(result);
      out = Propose(std::move(entry), Ack::kSkip);
    }
  }
  if (!mismatch.empty()) {
    Fail(std::move(mismatch), std::nullopt);
    return;
  }
  send_(std::move(out));
}

void Attempt::OnAck(uint32_t index) {
  absl::MutexLock lock(&mu_);
  durable_ = std::max(durable_, index + 1);
  changed_.SignalAll();
}

void Attempt::OnCompletion(uint32_t index, const v1::JournalEntry& entry) {
  absl::MutexLock lock(&mu_);
  if (index >= journal_.size()) return;
  journal_[index] = entry;
  changed_.SignalAll();
}

void Attempt::Abort() {
  absl::MutexLock lock(&mu_);
  ended_ = true;
  changed_.SignalAll();
}

bool Attempt::ended() {
  absl::MutexLock lock(&mu_);
  return ended_;
}

void Attempt::ThrowIfEnded() {
  if (ended_) throw AttemptEnded{};
}

uint32_t Attempt::NextStep(v1::JournalEntry::KindCase kind,
                           std::string_view name) {
  ThrowIfEnded();
  const uint32_t index = next_index_++;
  if (index < journal_.size()) {
    const v1::JournalEntry& entry = journal_[index];
    if (entry.kind_case() != kind || entry.name() != name) {
      throw JournalMismatch{
          index, absl::StrFormat(
                     "journal mismatch at index %d: the journal holds %s, but "
                     "the handler now takes %s",
                     index, Describe(entry.kind_case(), entry.name()),
                     Describe(kind, name))};
    }
  }
  return index;
}

uint32_t Attempt::ProposeStep(v1::JournalEntry::KindCase kind,
                              std::string_view name, Ack ack,
                              absl::FunctionRef<void(v1::JournalEntry&)> fill) {
  v1::WorkerMessage proposal;
  uint32_t index;
  {
    absl::MutexLock lock(&mu_);
    index = NextStep(kind, name);
    if (index < journal_.size()) return index;
    v1::JournalEntry entry;
    entry.set_name(std::string(name));
    fill(entry);
    proposal = Propose(std::move(entry), ack);
  }
  send_(std::move(proposal));
  return index;
}

void Attempt::WaitDurable(uint32_t index) {
  absl::MutexLock lock(&mu_);
  while (!ended_ && durable_ <= index) changed_.Wait(&mu_);
  ThrowIfEnded();
}

void Attempt::Defer(v1::JournalEntry entry) {
  journal_.push_back(std::move(entry));
}

v1::WorkerMessage Attempt::Propose(v1::JournalEntry entry, Ack ack) {
  Defer(std::move(entry));
  return ProposeUnsent(ack);
}

v1::WorkerMessage Attempt::ProposeUnsent(Ack ack) {
  v1::WorkerMessage message;
  auto* propose = message.mutable_propose();
  propose->set_invocation_id(start_.invocation_id());
  propose->set_attempt(start_.attempt());
  propose->set_index(sent_);
  propose->set_skip_ack(ack == Ack::kSkip);
  for (; sent_ < journal_.size(); ++sent_) {
    *propose->add_entries() = journal_[sent_];
  }
  return message;
}

absl::StatusOr<std::string> Attempt::RunStep(std::string_view name,
                                             const Context::RunFunction& fn,
                                             const RunOptions& options) {
  uint32_t index;
  {
    absl::MutexLock lock(&mu_);
    index = NextStep(v1::JournalEntry::kRun, name);
    if (index < journal_.size())
      return FromResult(journal_[index].run().result());
  }
  {
    absl::MutexLock lock(&mu_);
    running_step_ = index;
  }
  v1::Result result = Execute(name, fn, options);
  v1::WorkerMessage proposal;
  {
    absl::MutexLock lock(&mu_);
    running_step_.reset();
    ThrowIfEnded();
    v1::JournalEntry entry;
    entry.set_name(std::string(name));
    *entry.mutable_run()->mutable_result() = result;
    proposal = Propose(std::move(entry), Ack::kWait);
  }
  send_(std::move(proposal));
  // The handler goes on only once the result is durable: a crash after this
  // point replays the result instead of running `fn` again.
  WaitDurable(index);
  return FromResult(result);
}

v1::Result Attempt::Execute(std::string_view name,
                            const Context::RunFunction& fn,
                            const RunOptions& options) {
  if (!options.retry_policy.has_value()) {
    try {
      return ToResult(fn());
    } catch (const TerminalError& e) {
      return ToResult(e.status());
    }
  }
  const RunRetryPolicy& policy = *options.retry_policy;
  const absl::Time first = absl::Now();
  absl::Duration delay = policy.initial_interval;
  for (uint32_t tries = 1;; ++tries) {
    std::string error;
    try {
      return ToResult(fn());
    } catch (const TerminalError& e) {
      return ToResult(e.status());
    } catch (const std::exception& e) {
      error = e.what();
    }
    const bool out_of_tries =
        policy.max_attempts > 0 && tries >= policy.max_attempts;
    const bool out_of_time = policy.max_duration > absl::ZeroDuration() &&
                             absl::Now() + delay - first >= policy.max_duration;
    if (out_of_tries || out_of_time) {
      return ToResult(absl::AbortedError(absl::StrFormat(
          "run '%s' gave up after %d tries: %s", name, tries, error)));
    }
    absl::MutexLock lock(&mu_);
    // Waits out the delay, unless the attempt ends meanwhile.
    const absl::Time until = absl::Now() + delay;
    while (!ended_ && !changed_.WaitWithDeadline(&mu_, until)) {
    }
    ThrowIfEnded();
    delay = std::min(delay * std::max(1.0, policy.factor), policy.max_interval);
  }
}

uint32_t Attempt::TimerStep(std::string_view name, absl::Duration duration) {
  const int64_t wake_up_at_ms = absl::ToUnixMillis(
      absl::Now() + std::max(duration, absl::ZeroDuration()));
  return ProposeStep(v1::JournalEntry::kSleep, name, Ack::kSkip,
                     [&](v1::JournalEntry& e) {
                       e.mutable_sleep()->set_wake_up_at_ms(wake_up_at_ms);
                     });
}

void Attempt::AwaitEntry(uint32_t index) {
  WaitAnyComplete({index});
  ThrowIfCancelled(index);
}

void Attempt::ThrowIfCancelled(uint32_t index) {
  absl::Status cancelled;
  {
    absl::MutexLock lock(&mu_);
    const v1::JournalEntry& entry = journal_[index];
    const v1::Failure* failure = nullptr;
    if (entry.has_sleep()) {
      failure = &entry.sleep().failure();
    } else if (entry.has_call()) {
      failure = &entry.call().result().failure();
    } else if (entry.has_awakeable()) {
      failure = &entry.awakeable().result().failure();
    } else if (entry.has_get_promise()) {
      failure = &entry.get_promise().result().failure();
    }
    if (failure == nullptr ||
        failure->code() !=
            static_cast<uint32_t>(absl::StatusCode::kCancelled)) {
      return;
    }
    cancelled = absl::CancelledError(failure->message());
  }
  throw TerminalError(std::move(cancelled));
}

size_t Attempt::WaitAnyComplete(const std::vector<uint32_t>& indexes) {
  std::optional<v1::WorkerMessage> flush;
  v1::WorkerMessage suspend;
  {
    absl::MutexLock lock(&mu_);
    ThrowIfEnded();
    for (uint32_t index : indexes) {
      if (index >= journal_.size()) {
        throw std::logic_error("Await of a future from another invocation");
      }
    }
    // The first complete entry; `held` becomes the earliest time a sleep
    // whose completion came early is due.
    auto first_complete =
        [&](absl::Time& held) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          const absl::Time now = absl::Now();
          for (size_t i = 0; i < indexes.size(); ++i) {
            const v1::JournalEntry& entry = journal_[indexes[i]];
            if (entry.completed_at_ms() == 0) continue;
            const absl::Time due = HeldUntil(entry, now);
            if (due <= now) return i;
            held = std::min(held, due);
          }
          return indexes.size();
        };
    absl::Time held = absl::InfiniteFuture();
    if (size_t i = first_complete(held); i < indexes.size()) return i;
    // Wait a little for a completion; but if every wait is a timer due
    // later than that, suspend at once.
    absl::Time deadline = absl::Now() + options_.suspend_after;
    bool all_later = !indexes.empty();
    for (uint32_t index : indexes) {
      const v1::JournalEntry& entry = journal_[index];
      all_later =
          all_later && entry.has_sleep() &&
          absl::FromUnixMillis(entry.sleep().wake_up_at_ms()) > deadline;
    }
    if (all_later) deadline = absl::InfinitePast();
    size_t found = indexes.size();
    // Once a completion is held, it is waited for, past the deadline if
    // need be: it is due within milliseconds, and suspending would only
    // resume at once.
    while (!ended_ && (found = first_complete(held)) == indexes.size()) {
      const bool holding = held != absl::InfiniteFuture();
      if (!holding && absl::Now() >= deadline) break;
      changed_.WaitWithDeadline(&mu_, holding ? held : deadline);
    }
    ThrowIfEnded();
    if (found < indexes.size()) return found;
    ended_ = true;
    // Deferred steps (state writes, sends) go first, so that they are not
    // lost with the attempt: a suspension may last days.
    if (sent_ < journal_.size()) flush = ProposeUnsent(Ack::kSkip);
    auto* out = suspend.mutable_suspend();
    out->set_invocation_id(start_.invocation_id());
    out->set_attempt(start_.attempt());
    for (uint32_t index : indexes) out->add_waiting_on(index);
  }
  if (flush.has_value()) send_(*std::move(flush));
  send_(std::move(suspend));
  throw AttemptEnded{};
}

size_t Attempt::SelectStep(const std::vector<uint32_t>& indexes) {
  if (indexes.empty()) throw std::logic_error("AwaitAny of no futures");
  uint32_t index;
  std::optional<size_t> replayed;
  {
    absl::MutexLock lock(&mu_);
    index = NextStep(v1::JournalEntry::kSelect, "");
    if (index < journal_.size()) {
      const v1::SelectEntry& recorded = journal_[index].select();
      if (!std::equal(recorded.candidates().begin(),
                      recorded.candidates().end(), indexes.begin(),
                      indexes.end())) {
        throw JournalMismatch{
            index, absl::StrFormat(
                       "journal mismatch at index %d: the journal holds a "
                       "select of entries %s, but the handler now awaits %s",
                       index, absl::StrJoin(recorded.candidates(), ", "),
                       absl::StrJoin(indexes, ", "))};
      }
      if (recorded.chosen() >= indexes.size()) {
        throw JournalMismatch{
            index, absl::StrFormat("journal mismatch at index %d: the select "
                                   "chose position %d of %d",
                                   index, recorded.chosen(), indexes.size())};
      }
      replayed = recorded.chosen();
    }
  }
  if (replayed.has_value()) {
    ThrowIfCancelled(indexes[*replayed]);
    return *replayed;
  }
  const size_t chosen = WaitAnyComplete(indexes);
  v1::WorkerMessage proposal;
  {
    absl::MutexLock lock(&mu_);
    v1::JournalEntry entry;
    for (uint32_t candidate : indexes) {
      entry.mutable_select()->add_candidates(candidate);
    }
    entry.mutable_select()->set_chosen(static_cast<uint32_t>(chosen));
    proposal = Propose(std::move(entry), Ack::kWait);
  }
  send_(std::move(proposal));
  // The handler branches on the choice: it must be durable first, or a
  // replay could choose another branch after the first had effects.
  WaitDurable(index);
  ThrowIfCancelled(indexes[chosen]);
  return chosen;
}

absl::Time Attempt::NowStep() {
  absl::MutexLock lock(&mu_);
  const uint32_t index = NextStep(v1::JournalEntry::kNow, "");
  if (index < journal_.size()) {
    return absl::FromUnixMillis(journal_[index].now().unix_ms());
  }
  // Millisecond precision, as replays will see it.
  const absl::Time now = absl::FromUnixMillis(absl::ToUnixMillis(absl::Now()));
  v1::JournalEntry entry;
  entry.mutable_now()->set_unix_ms(absl::ToUnixMillis(now));
  Defer(std::move(entry));
  return now;
}

uint32_t Attempt::CallStep(v1::Target target, std::string parameter) {
  // Proposed at once: the callee starts without waiting for the caller.
  const std::string name = target.service() + "/" + target.handler();
  return ProposeStep(v1::JournalEntry::kCall, name, Ack::kSkip,
                     [&](v1::JournalEntry& e) {
                       *e.mutable_call()->mutable_target() = std::move(target);
                       e.mutable_call()->set_parameter(std::move(parameter));
                     });
}

absl::StatusOr<std::string> Attempt::AwaitResult(uint32_t index) {
  WaitAnyComplete({index});
  absl::MutexLock lock(&mu_);
  const v1::JournalEntry& entry = journal_[index];
  if (entry.has_call()) return FromResult(entry.call().result());
  if (entry.has_awakeable()) return FromResult(entry.awakeable().result());
  if (entry.has_get_promise()) {
    return FromResult(entry.get_promise().result());
  }
  throw std::logic_error(
      "Await of a future that is no call, awakeable or promise");
}

uint32_t Attempt::AwakeableStep(std::string_view name) {
  const uint32_t index =
      ProposeStep(v1::JournalEntry::kAwakeable, name, Ack::kWait,
                  [](v1::JournalEntry& e) { e.mutable_awakeable(); });
  // Only a durable awakeable can be completed: wait before handing out its
  // id.
  WaitDurable(index);
  return index;
}

std::string Attempt::AwakeableId(uint32_t index) const {
  std::string bytes = start_.invocation_id();
  for (int shift = 24; shift >= 0; shift -= 8) {
    bytes.push_back(static_cast<char>((index >> shift) & 0xff));
  }
  return absl::StrCat("awk_", absl::BytesToHexString(bytes));
}

void Attempt::SendStep(v1::Target target, std::string parameter,
                       absl::Duration delay) {
  const std::string name = target.service() + "/" + target.handler();
  absl::MutexLock lock(&mu_);
  const uint32_t index = NextStep(v1::JournalEntry::kSend, name);
  if (index < journal_.size()) return;
  v1::JournalEntry entry;
  entry.set_name(name);
  auto* send = entry.mutable_send();
  *send->mutable_target() = std::move(target);
  send->set_parameter(std::move(parameter));
  if (delay > absl::ZeroDuration()) {
    send->set_invoke_at_ms(absl::ToUnixMillis(absl::Now() + delay));
  }
  // One-way: it travels with the handler's next step that must be sent.
  Defer(std::move(entry));
}

void Attempt::CheckWorkflow() const {
  if (!workflow_) {
    throw TerminalError(
        "durable promises belong to workflows; this handler's service is "
        "not one",
        absl::StatusCode::kFailedPrecondition);
  }
}

uint32_t Attempt::GetPromiseStep(const std::string& name) {
  CheckWorkflow();
  return ProposeStep(v1::JournalEntry::kGetPromise, name, Ack::kSkip,
                     [](v1::JournalEntry& e) { e.mutable_get_promise(); });
}

std::optional<absl::StatusOr<std::string>> Attempt::PeekPromiseStep(
    const std::string& name) {
  CheckWorkflow();
  absl::MutexLock lock(&mu_);
  const uint32_t index = NextStep(v1::JournalEntry::kPeekPromise, name);
  auto result = [](const v1::JournalEntry& entry)
      -> std::optional<absl::StatusOr<std::string>> {
    if (!entry.peek_promise().has_completion()) return std::nullopt;
    return FromResult(entry.peek_promise().completion());
  };
  if (index < journal_.size()) return result(journal_[index]);
  v1::JournalEntry entry;
  entry.set_name(name);
  entry.mutable_peek_promise();
  return result(ProposeAndWait(std::move(entry)));
}

absl::Status Attempt::CompletePromiseStep(const std::string& name,
                                          v1::Result completion) {
  CheckWorkflow();
  absl::MutexLock lock(&mu_);
  const uint32_t index = NextStep(v1::JournalEntry::kCompletePromise, name);
  auto result = [](const v1::JournalEntry& entry) {
    return FromResult(entry.complete_promise().result()).status();
  };
  if (index < journal_.size()) return result(journal_[index]);
  v1::JournalEntry entry;
  entry.set_name(name);
  *entry.mutable_complete_promise()->mutable_completion() =
      std::move(completion);
  return result(ProposeAndWait(std::move(entry)));
}

void Attempt::CheckStateAccess(bool write) const {
  if (access_ == StateAccess::kNone) {
    throw TerminalError(
        "state belongs to virtual objects and workflows; this handler's "
        "service is stateless",
        absl::StatusCode::kFailedPrecondition);
  }
  if (write && access_ != StateAccess::kReadWrite) {
    throw TerminalError(
        "a shared handler may read state but not change it; change it from "
        "an exclusive handler",
        absl::StatusCode::kFailedPrecondition);
  }
}

const v1::JournalEntry& Attempt::ProposeAndWait(v1::JournalEntry entry) {
  const auto index = static_cast<uint32_t>(journal_.size());
  v1::WorkerMessage proposal = Propose(std::move(entry), Ack::kSkip);
  // The runtime answers when it applies the proposal; sending under the
  // lock is avoided as everywhere, so release it meanwhile.
  mu_.Unlock();
  send_(std::move(proposal));
  mu_.Lock();
  while (!ended_ && journal_[index].completed_at_ms() == 0) {
    changed_.Wait(&mu_);
  }
  ThrowIfEnded();
  return journal_[index];
}

void Attempt::ApplyStateWrite(const v1::JournalEntry& entry) {
  switch (entry.kind_case()) {
    case v1::JournalEntry::kSetState:
      state_[entry.name()] = entry.set_state().value();
      break;
    case v1::JournalEntry::kClearState:
      state_[entry.name()] = std::nullopt;
      break;
    case v1::JournalEntry::kClearAllState:
      state_.clear();
      state_complete_ = true;
      break;
    default:
      break;
  }
}

std::optional<std::string> Attempt::GetStateStep(std::string_view key) {
  CheckStateAccess(/*write=*/false);
  std::optional<std::string> value;
  {
    absl::MutexLock lock(&mu_);
    const uint32_t index = NextStep(v1::JournalEntry::kGetState, key);
    auto result = [](const v1::JournalEntry& entry) {
      return entry.get_state().has_value()
                 ? std::optional<std::string>(entry.get_state().value())
                 : std::nullopt;
    };
    if (index < journal_.size()) return result(journal_[index]);
    v1::JournalEntry entry;
    entry.set_name(std::string(key));
    entry.mutable_get_state();  // without a result: the runtime resolves it
    auto known = state_.find(key);
    if (known == state_.end() && !state_complete_) {
      value = result(ProposeAndWait(std::move(entry)));
      state_[std::string(key)] = value;
      return value;
    }
    if (known != state_.end()) value = known->second;
    if (value.has_value()) {
      entry.mutable_get_state()->set_value(*value);
    } else {
      entry.mutable_get_state()->mutable_empty();
    }
    Defer(std::move(entry));
  }
  return value;
}

void Attempt::StateWriteStep(v1::JournalEntry entry) {
  CheckStateAccess(/*write=*/true);
  absl::MutexLock lock(&mu_);
  const uint32_t index = NextStep(entry.kind_case(), entry.name());
  if (index < journal_.size()) {
    // What the journal wrote is what the state holds, even if the handler
    // now computes another value.
    ApplyStateWrite(journal_[index]);
    return;
  }
  ApplyStateWrite(entry);
  Defer(std::move(entry));
}

void Attempt::SetStateStep(std::string_view key, std::string value) {
  v1::JournalEntry entry;
  entry.set_name(std::string(key));
  entry.mutable_set_state()->set_value(std::move(value));
  StateWriteStep(std::move(entry));
}

void Attempt::ClearStateStep(std::string_view key) {
  v1::JournalEntry entry;
  entry.set_name(std::string(key));
  entry.mutable_clear_state();
  StateWriteStep(std::move(entry));
}

void Attempt::ClearAllStateStep() {
  v1::JournalEntry entry;
  entry.mutable_clear_all_state();
  StateWriteStep(std::move(entry));
}

std::vector<std::string> Attempt::StateKeysStep() {
  CheckStateAccess(/*write=*/false);
  std::vector<std::string> keys;
  {
    absl::MutexLock lock(&mu_);
    const uint32_t index = NextStep(v1::JournalEntry::kGetStateKeys, "");
    auto result = [](const v1::JournalEntry& entry) {
      const auto& k = entry.get_state_keys().keys().keys();
      return std::vector<std::string>(k.begin(), k.end());
    };
    if (index < journal_.size()) return result(journal_[index]);
    v1::JournalEntry entry;
    entry.mutable_get_state_keys();
    if (!state_complete_) return result(ProposeAndWait(std::move(entry)));
    auto* out = entry.mutable_get_state_keys()->mutable_keys();
    for (const auto& [key, value] : state_) {
      if (value.has_value()) {
        keys.push_back(key);
        out->add_keys(key);
      }
    }
    Defer(std::move(entry));
  }
  return keys;
}

void Attempt::Fail(std::string message, std::optional<uint32_t> journal_index) {
  v1::WorkerMessage out;
  auto* failed = out.mutable_attempt_failed();
  {
    absl::MutexLock lock(&mu_);
    if (ended_) return;  // suspended or aborted: the runtime moved on
    ended_ = true;
    failed->set_journal_index(
        journal_index.value_or(running_step_.value_or(next_index_)));
  }
  failed->set_invocation_id(start_.invocation_id());
  failed->set_attempt(start_.attempt());
  failed->set_message(std::move(message));
  send_(std::move(out));
}

}  // namespace reprise::sdk::internal
