// The conformance suite of the Log interface: every implementation
// instantiates it with a LogFactory (see embedded_log_test.cc).
//
//   INSTANTIATE_TEST_SUITE_P(Embedded, LogConformanceTest,
//                            ::testing::Values(&MakeEmbeddedLogFactory));
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "runtime/log/log.h"

namespace reprise::log {

// Opens the same log (same storage) each time it is called, so tests can
// close and reopen it. A factory owns its storage and removes it when
// destroyed.
class LogFactory {
 public:
  virtual ~LogFactory() = default;
  virtual std::unique_ptr<Log> Open(uint32_t partitions) = 0;
};

using LogFactoryMaker = std::unique_ptr<LogFactory> (*)();

class LogConformanceTest : public ::testing::TestWithParam<LogFactoryMaker> {
 protected:
  void SetUp() override { factory_ = GetParam()(); }
  std::unique_ptr<LogFactory> factory_;
};

}  // namespace reprise::log
