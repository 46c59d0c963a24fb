// InvocationWatch: fans the status changes of invocations out to the admin
// API's watch streams. Partition processors report every status a batch
// wrote while anyone watches; the watch keeps, for each live invocation,
// the status it last published, so a subscriber sees changes (running ->
// suspended -> running -> succeeded), not every write.
//
// Thread-safety: all methods may be called from any thread; subscribers'
// Push runs under the watch's lock and must not block or call back into
// it. Ownership: borrows subscribers until they unsubscribe.
#pragma once

#include <atomic>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "reprise/v1/admin.pb.h"
#include "runtime/partition/partition_processor.h"

namespace reprise::admin {

class InvocationWatch final : public partition::StatusListener {
 public:
  class Subscriber {
   public:
    virtual ~Subscriber() = default;
    virtual void Push(const v1::InvocationEvent& event) = 0;
  };

  // `subscriber` gets the changes `filter` matches until it unsubscribes.
  void Subscribe(Subscriber* subscriber, v1::WatchInvocationsRequest filter);
  void Unsubscribe(Subscriber* subscriber);

  bool Watching() const override { return watchers_.load() > 0; }
  void OnStatusWrites(PartitionId partition,
                      std::vector<std::pair<InvocationId, v1::InvocationStatus>>
                          writes) override;

 private:
  absl::Mutex mu_;
  std::atomic<int> watchers_{0};
  std::vector<std::pair<Subscriber*, v1::WatchInvocationsRequest>> subscribers_
      ABSL_GUARDED_BY(mu_);
  // The status last published per invocation that has not completed.
  absl::flat_hash_map<InvocationId, std::string> last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace reprise::admin
