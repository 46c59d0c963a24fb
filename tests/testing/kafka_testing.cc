#include "tests/testing/kafka_testing.h"

#include <librdkafka/rdkafkacpp.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace reprise::testing {
namespace {

class CountingReports final : public RdKafka::DeliveryReportCb {
 public:
  void dr_cb(RdKafka::Message& message) override {
    if (message.err() == RdKafka::ERR_NO_ERROR) {
      ++delivered;
    } else {
      ++failed;
      last_error = message.errstr();
    }
  }
  std::atomic<size_t> delivered{0}, failed{0};
  std::string last_error;
};

}  // namespace

KafkaMock StartKafkaMock(const std::vector<std::string>& topics,
                         const std::string& log_path,
                         std::optional<int> relay_port) {
  std::vector<std::string> argv = {BuildDir() + "/tests/testing/kafka-mock"};
  if (relay_port.has_value()) {
    argv.push_back("--relay-port");
    argv.push_back(std::to_string(*relay_port));
  }
  for (const std::string& topic : topics) {
    argv.push_back("--topic");
    argv.push_back(topic);
  }
  KafkaMock mock;
  mock.process = std::make_unique<ChildProcess>(argv, log_path);
  std::optional<std::string> line =
      mock.process->WaitForLine("bootstrap.servers=", absl::Seconds(20));
  if (line.has_value()) {
    mock.bootstrap_servers = line->substr(line->find('=') + 1);
    while (!mock.bootstrap_servers.empty() &&
           std::isspace(
               static_cast<unsigned char>(mock.bootstrap_servers.back()))) {
      mock.bootstrap_servers.pop_back();
    }
  }
  return mock;
}

absl::Status Produce(const std::string& bootstrap_servers,
                     const std::string& topic,
                     const std::vector<ProducedRecord>& records) {
  std::string error;
  std::unique_ptr<RdKafka::Conf> conf(
      RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
  CountingReports reports;
  if (conf->set("bootstrap.servers", bootstrap_servers, error) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("enable.idempotence", "true", error) !=
          RdKafka::Conf::CONF_OK ||
      conf->set("dr_cb", &reports, error) != RdKafka::Conf::CONF_OK) {
    return absl::InternalError(error);
  }
  std::unique_ptr<RdKafka::Producer> producer(
      RdKafka::Producer::create(conf.get(), error));
  if (producer == nullptr) return absl::InternalError(error);
  for (const ProducedRecord& record : records) {
    RdKafka::Headers* headers = nullptr;
    if (!record.headers.empty()) {
      headers = RdKafka::Headers::create();
      for (const auto& [k, v] : record.headers) {
        headers->add(k, v.data(), v.size());
      }
    }
    for (;;) {
      RdKafka::ErrorCode err = producer->produce(
          topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
          const_cast<char*>(record.value.data()), record.value.size(),
          record.key.has_value() ? record.key->data() : nullptr,
          record.key.has_value() ? record.key->size() : 0, 0, headers, nullptr);
      if (err == RdKafka::ERR__QUEUE_FULL) {
        producer->poll(10);
        continue;
      }
      if (err != RdKafka::ERR_NO_ERROR) {
        delete headers;  // not taken over on failure
        return absl::InternalError(RdKafka::err2str(err));
      }
      break;
    }
    producer->poll(0);
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (reports.delivered + reports.failed < records.size() &&
         absl::Now() < deadline) {
    producer->poll(50);
  }
  producer->flush(1000);
  if (reports.failed > 0) {
    return absl::InternalError(absl::StrFormat(
        "%d records failed: %s", reports.failed.load(), reports.last_error));
  }
  if (reports.delivered < records.size()) {
    return absl::DeadlineExceededError(
        absl::StrFormat("%d of %d records acknowledged",
                        reports.delivered.load(), records.size()));
  }
  return absl::OkStatus();
}

}  // namespace reprise::testing
