// CompletionWaiters: callers waiting for invocations to complete. Completion
// actions of the partition processors resolve them.
//
// Thread-safety: all methods may be called from any thread. Callbacks run on
// the calling thread of Complete, outside the lock, and must not block.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "reprise/v1/common.pb.h"
#include "runtime/common/ids.h"

namespace reprise::ingress {

class CompletionWaiters {
 public:
  // Receives the invocation's result, or why it will not come (shutdown).
  using Callback = absl::AnyInvocable<void(absl::StatusOr<v1::Result>)>;
  // Identifies one waiter, for Remove.
  using Token = uint64_t;

  // Adds a waiter and returns its token. Once closed, returns nullopt and
  // drops `callback`: the caller answers its client itself.
  std::optional<Token> Add(const InvocationId& id, Callback callback);
  // Resolves and forgets every waiter of `id`.
  void Complete(const InvocationId& id, const v1::Result& result);
  // Forgets one waiter without calling it; true if it was still waiting.
  bool Remove(const InvocationId& id, Token token);
  // Answers every waiter with `status` and refuses later ones: used at
  // shutdown, so that no call stays open waiting for a completion.
  void CloseAll(const absl::Status& status);

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<InvocationId, std::vector<std::pair<Token, Callback>>>
      waiters_ ABSL_GUARDED_BY(mu_);
  Token next_token_ ABSL_GUARDED_BY(mu_) = 1;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace reprise::ingress
