// CompletionWaiters: callers waiting for invocations to complete. Completion
// actions of the partition processors resolve them.
//
// Thread-safety: all methods may be called from any thread. Callbacks run on
// the calling thread of Complete, outside the lock, and must not block.
#pragma once

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

  // Adds a waiter. Once closed, returns false and drops `callback`: the
  // caller answers its client itself.
  bool Add(const InvocationId& id, Callback callback);
  // Resolves and forgets every waiter of `id`.
  void Complete(const InvocationId& id, const v1::Result& result);
  // Forgets the waiters of `id` without calling them; true if there were any.
  bool Remove(const InvocationId& id);
  // Answers every waiter with `status` and refuses later ones: used at
  // shutdown, so that no call stays open waiting for a completion.
  void CloseAll(const absl::Status& status);

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<InvocationId, std::vector<Callback>> waiters_
      ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace reprise::ingress
