#include "runtime/admin/invocation_watch.h"

#include <algorithm>

#include "runtime/common/clock.h"
#include "runtime/state_machine/control.h"

namespace reprise::admin {
namespace {

bool Matches(const v1::WatchInvocationsRequest& filter,
             const v1::InvocationEvent& event) {
  const v1::Target& t = event.target();
  return (filter.service().empty() || filter.service() == t.service()) &&
         (filter.handler().empty() || filter.handler() == t.handler()) &&
         (filter.key().empty() || filter.key() == t.key()) &&
         (filter.status().empty() || filter.status() == event.status()) &&
         (filter.invocation_id().empty() ||
          filter.invocation_id() == event.invocation_id());
}

}  // namespace

void InvocationWatch::Subscribe(Subscriber* subscriber,
                                v1::WatchInvocationsRequest filter) {
  absl::MutexLock lock(&mu_);
  subscribers_.emplace_back(subscriber, std::move(filter));
  watchers_.store(static_cast<int>(subscribers_.size()));
}

void InvocationWatch::Unsubscribe(Subscriber* subscriber) {
  absl::MutexLock lock(&mu_);
  subscribers_.erase(
      std::remove_if(subscribers_.begin(), subscribers_.end(),
                     [&](const auto& s) { return s.first == subscriber; }),
      subscribers_.end());
  watchers_.store(static_cast<int>(subscribers_.size()));
  // Nobody watches: what was last published no longer matters.
  if (subscribers_.empty()) last_.clear();
}

void InvocationWatch::OnStatusWrites(
    PartitionId /*partition*/,
    std::vector<std::pair<InvocationId, v1::InvocationStatus>> writes) {
  const int64_t now_ms = NowMillis();
  absl::MutexLock lock(&mu_);
  if (subscribers_.empty()) return;
  for (const auto& [id, status] : writes) {
    std::string name = state_machine::StateName(status, now_ms);
    if (status.state() == v1::INVOCATION_STATE_COMPLETED) {
      last_.erase(id);
    } else {
      auto [it, inserted] = last_.try_emplace(id, name);
      if (!inserted) {
        if (it->second == name) continue;
        it->second = name;
      }
    }
    v1::InvocationEvent event;
    event.set_invocation_id(id.ToString());
    *event.mutable_target() = status.target();
    event.set_status(std::move(name));
    event.set_at_ms(status.modified_at_ms());
    event.set_attempt(status.attempt());
    for (const auto& [subscriber, filter] : subscribers_) {
      if (Matches(filter, event)) subscriber->Push(event);
    }
  }
}

}  // namespace reprise::admin
