#include "runtime/admin/invocation_watch.h"

#include <gtest/gtest.h>

namespace reprise::admin {
namespace {

struct Recorder : InvocationWatch::Subscriber {
  void Push(const v1::InvocationEvent& event) override {
    seen.push_back(event.invocation_id() + " " + event.status());
  }
  std::vector<std::string> seen;
};

v1::InvocationStatus Status(const std::string& service,
                            v1::InvocationState state) {
  v1::InvocationStatus status;
  status.mutable_target()->set_service(service);
  status.set_state(state);
  return status;
}

TEST(InvocationWatchTest, PublishesChangesOnlyAndFilters) {
  InvocationWatch watch;
  EXPECT_FALSE(watch.Watching());
  Recorder all, suspended;
  watch.Subscribe(&all, {});
  v1::WatchInvocationsRequest filter;
  filter.set_status("suspended");
  watch.Subscribe(&suspended, filter);
  EXPECT_TRUE(watch.Watching());

  const InvocationId a{1, 1}, b{1, 2};
  const std::string a_text = a.ToString(), b_text = b.ToString();
  watch.OnStatusWrites(
      PartitionId(0),
      {{a, Status("A", v1::INVOCATION_STATE_INVOKED)},
       {a, Status("A", v1::INVOCATION_STATE_INVOKED)},  // no change
       {b, Status("B", v1::INVOCATION_STATE_QUEUED)},
       {a, Status("A", v1::INVOCATION_STATE_SUSPENDED)},
       {a, Status("A", v1::INVOCATION_STATE_COMPLETED)}});
  EXPECT_EQ(all.seen, (std::vector<std::string>{
                          a_text + " running", b_text + " queued",
                          a_text + " suspended", a_text + " succeeded"}));
  EXPECT_EQ(suspended.seen, (std::vector<std::string>{a_text + " suspended"}));

  watch.Unsubscribe(&all);
  watch.Unsubscribe(&suspended);
  EXPECT_FALSE(watch.Watching());
  // A new watcher hears about b again: what was published was forgotten.
  Recorder later;
  watch.Subscribe(&later, {});
  watch.OnStatusWrites(PartitionId(0),
                       {{b, Status("B", v1::INVOCATION_STATE_QUEUED)}});
  EXPECT_EQ(later.seen, (std::vector<std::string>{b_text + " queued"}));
  watch.Unsubscribe(&later);
}

}  // namespace
}  // namespace reprise::admin
