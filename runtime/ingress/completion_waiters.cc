#include "runtime/ingress/completion_waiters.h"

namespace reprise::ingress {

bool CompletionWaiters::Add(const InvocationId& id, Callback callback) {
  absl::MutexLock lock(&mu_);
  if (closed_) return false;
  waiters_[id].push_back(std::move(callback));
  return true;
}

void CompletionWaiters::CloseAll(const absl::Status& status) {
  absl::flat_hash_map<InvocationId, std::vector<Callback>> waiters;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    waiters.swap(waiters_);
  }
  for (auto& [id, callbacks] : waiters) {
    for (auto& callback : callbacks) callback(status);
  }
}

void CompletionWaiters::Complete(const InvocationId& id,
                                 const v1::Result& result) {
  std::vector<Callback> callbacks;
  {
    absl::MutexLock lock(&mu_);
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return;
    callbacks = std::move(it->second);
    waiters_.erase(it);
  }
  for (auto& callback : callbacks) callback(result);
}

bool CompletionWaiters::Remove(const InvocationId& id) {
  absl::MutexLock lock(&mu_);
  return waiters_.erase(id) > 0;
}

}  // namespace reprise::ingress
