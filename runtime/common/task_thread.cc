#include "runtime/common/task_thread.h"

#include "absl/time/clock.h"

namespace reprise {

TaskThread::TaskThread() : thread_([this] { Loop(); }) {}

TaskThread::~TaskThread() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void TaskThread::PostAt(absl::Time when, Task task) {
  absl::MutexLock lock(&mu_);
  tasks_.push(Delayed{when, next_seq_++, std::move(task)});
}

void TaskThread::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    if (tasks_.empty()) {
      mu_.Await(absl::Condition(
          +[](TaskThread* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return self->stopping_ || !self->tasks_.empty();
          },
          this));
      continue;
    }
    absl::Time now = absl::Now();
    if (tasks_.top().when > now) {
      // Wakes early if a sooner task or a stop arrives.
      absl::Time due = tasks_.top().when;
      size_t size = tasks_.size();
      struct Args {
        TaskThread* self;
        size_t size;
      } args{this, size};
      mu_.AwaitWithDeadline(absl::Condition(
                                +[](Args* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                  return a->self->stopping_ ||
                                         a->self->tasks_.size() != a->size;
                                },
                                &args),
                            due);
      continue;
    }
    Task task = std::move(tasks_.top().task);
    tasks_.pop();
    mu_.Unlock();
    task();
    mu_.Lock();
  }
}

}  // namespace reprise
