// Kafka helpers for tests: the mock cluster (kafka-mock) as a child process,
// and a producer that waits until every record is acknowledged.
// Not thread-safe; use from the test's thread.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "tests/testing/process.h"

namespace reprise::testing {

struct KafkaMock {
  std::unique_ptr<ChildProcess> process;  // SIGKILLed when destroyed
  std::string bootstrap_servers;
};

// Starts kafka-mock with `topics` ("name:partitions"), its output in
// `log_path`; the bootstrap servers are empty if it did not start. With
// `relay_port` (0: any free one) they are one relay address, which a
// cluster started again with that port serves too.
KafkaMock StartKafkaMock(const std::vector<std::string>& topics,
                         const std::string& log_path,
                         std::optional<int> relay_port = std::nullopt);

struct ProducedRecord {
  std::optional<std::string> key;  // the partition follows the key's hash
  std::string value;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Produces `records` in order (idempotent producer, acks=all) and waits
// until all are acknowledged.
absl::Status Produce(const std::string& bootstrap_servers,
                     const std::string& topic,
                     const std::vector<ProducedRecord>& records);

}  // namespace reprise::testing
