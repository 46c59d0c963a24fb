#include "runtime/ingress/completion_waiters.h"

#include <gtest/gtest.h>

namespace reprise::ingress {
namespace {

v1::Result Value(std::string v) {
  v1::Result r;
  r.set_value(std::move(v));
  return r;
}

TEST(CompletionWaitersTest, CompleteAnswersEveryWaiterOnce) {
  CompletionWaiters waiters;
  InvocationId id(1, 2);
  int answered = 0;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(waiters
                    .Add(id,
                         [&](absl::StatusOr<v1::Result> r) {
                           EXPECT_EQ(r->value(), "x");
                           ++answered;
                         })
                    .has_value());
  }
  waiters.Complete(id, Value("x"));
  waiters.Complete(id, Value("again"));
  EXPECT_EQ(answered, 3);
}

TEST(CompletionWaitersTest, RemoveDropsOnlyThatWaiter) {
  CompletionWaiters waiters;
  InvocationId id(1, 2);
  bool first = false, second = false;
  auto t1 = waiters.Add(id, [&](absl::StatusOr<v1::Result>) { first = true; });
  auto t2 = waiters.Add(id, [&](absl::StatusOr<v1::Result>) { second = true; });
  ASSERT_NE(*t1, *t2);
  EXPECT_TRUE(waiters.Remove(id, *t1));
  EXPECT_FALSE(waiters.Remove(id, *t1));
  waiters.Complete(id, Value("x"));
  EXPECT_FALSE(first);
  EXPECT_TRUE(second);
  EXPECT_FALSE(waiters.Remove(id, *t2));  // already answered
}

TEST(CompletionWaitersTest, CloseAllAnswersWithStatusAndRefusesNewWaiters) {
  CompletionWaiters waiters;
  absl::Status seen;
  ASSERT_TRUE(waiters
                  .Add(InvocationId(1, 2),
                       [&](absl::StatusOr<v1::Result> r) { seen = r.status(); })
                  .has_value());
  waiters.CloseAll(absl::UnavailableError("stopping"));
  EXPECT_EQ(seen.code(), absl::StatusCode::kUnavailable);
  EXPECT_FALSE(
      waiters.Add(InvocationId(3, 4), [](absl::StatusOr<v1::Result>) {})
          .has_value());
}

}  // namespace
}  // namespace reprise::ingress
