#include "runtime/ingress/completion_waiters.h"

#include <algorithm>

namespace reprise::ingress {

std::optional<CompletionWaiters::Token> CompletionWaiters::Add(
    const InvocationId& id, Callback callback) {
  absl::MutexLock lock(&mu_);
  if (closed_) return std::nullopt;
  Token token = next_token_++;
  waiters_[id].emplace_back(token, std::move(callback));
  return token;
}

void CompletionWaiters::Complete(const InvocationId& id,
                                 const v1::Result& result) {
  std::vector<std::pair<Token, Callback>> callbacks;
  {
    absl::MutexLock lock(&mu_);
    auto it = waiters_.find(id);
    if (it == waiters_.end()) return;
    callbacks = std::move(it->second);
    waiters_.erase(it);
  }
  for (auto& [token, callback] : callbacks) callback(result);
}

bool CompletionWaiters::Remove(const InvocationId& id, Token token) {
  absl::MutexLock lock(&mu_);
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return false;
  auto& list = it->second;
  auto match = std::find_if(list.begin(), list.end(),
                            [&](const auto& w) { return w.first == token; });
  if (match == list.end()) return false;
  list.erase(match);
  if (list.empty()) waiters_.erase(it);
  return true;
}

void CompletionWaiters::CloseAll(const absl::Status& status) {
  absl::flat_hash_map<InvocationId, std::vector<std::pair<Token, Callback>>>
      waiters;
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    waiters.swap(waiters_);
  }
  for (auto& [id, callbacks] : waiters) {
    for (auto& [token, callback] : callbacks) callback(status);
  }
}

}  // namespace reprise::ingress
