// TaskThread: one thread that runs posted tasks in order, and delayed tasks
// once their time has come. Used for work that may block (a synced metadata
// write) or must wait (a retry back-off), so that gRPC reactions never do.
//
// Thread-safety: Post and PostAt may be called from any thread, including
// from a task. Ownership: the destructor drops delayed tasks that are not
// due, runs nothing more, and joins the thread.
#pragma once

#include <functional>
#include <queue>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace reprise {

class TaskThread {
 public:
  using Task = absl::AnyInvocable<void()>;

  TaskThread();
  ~TaskThread();
  TaskThread(const TaskThread&) = delete;
  TaskThread& operator=(const TaskThread&) = delete;

  void Post(Task task) { PostAt(absl::InfinitePast(), std::move(task)); }
  void PostAt(absl::Time when, Task task);

 private:
  struct Delayed {
    absl::Time when;
    uint64_t seq;  // keeps tasks with the same time in posting order
    mutable Task task;
    bool operator>(const Delayed& o) const {
      return when != o.when ? when > o.when : seq > o.seq;
    }
  };
  void Loop();

  absl::Mutex mu_;
  std::priority_queue<Delayed, std::vector<Delayed>, std::greater<>> tasks_
      ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace reprise
