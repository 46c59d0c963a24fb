// TestThreads: the threads a test starts (callers, senders), stopped and
// joined however the test ends. An ASSERT that returns while they run
// would otherwise destroy joinable std::threads, and std::terminate would
// abort the test binary before it reports which assertion failed.
//
//   testing::TestThreads callers;
//   callers.Start([&] { while (!callers.stopping() && ...) Call(); });
//   ASSERT_TRUE(runtime.Start());  // on failure: stop, join, report
//   callers.Join();
//
// Start and Join are for the test's thread; stopping() for any thread.
#pragma once

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

namespace reprise::testing {

class TestThreads {
 public:
  TestThreads() = default;
  // Tells the threads to stop (stopping()) and waits for them.
  ~TestThreads() {
    stopping_ = true;
    Join();
  }
  TestThreads(const TestThreads&) = delete;
  TestThreads& operator=(const TestThreads&) = delete;

  template <typename F>
  void Start(F&& body) {
    threads_.emplace_back(std::forward<F>(body));
  }
  // Waits for the threads to end by themselves.
  void Join() {
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }
  // True once the test has ended early: loops check it and return.
  bool stopping() const { return stopping_; }

 private:
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
};

}  // namespace reprise::testing
