#include "reprise/sdk/worker.h"

#include <gtest/gtest.h>
#include <signal.h>

namespace reprise::sdk {
namespace {

bool Blocked(int signal) {
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  return sigismember(&mask, signal) == 1;
}

TEST(WorkerTest, RunUntilSignalUnblocksTheSignalsWhenRunReturns) {
  ASSERT_FALSE(Blocked(SIGINT));
  ASSERT_FALSE(Blocked(SIGTERM));
  // A client certificate without its key: Run refuses at once.
  Worker worker({.tls_cert_file = "/nonexistent/cert.pem"});
  EXPECT_EQ(worker.RunUntilSignal().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(Blocked(SIGINT));
  EXPECT_FALSE(Blocked(SIGTERM));
}

}  // namespace
}  // namespace reprise::sdk
