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
#include "absl/synchronization/mutex.h"
#include "reprise/v1/common.pb.h"
#include "runtime/common/ids.h"

namespace reprise::ingress {

class CompletionWaiters {
 public:
  using Callback = absl::AnyInvocable<void(const v1::Result&)>;

  void Add(const InvocationId& id, Callback callback);
  // Resolves and forgets every waiter of `id`.
  void Complete(const InvocationId& id, const v1::Result& result);
  // Forgets the waiters of `id` without calling them; true if there were any.
  bool Remove(const InvocationId& id);

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<InvocationId, std::vector<Callback>> waiters_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace reprise::ingress
