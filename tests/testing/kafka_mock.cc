// kafka-mock: hosts librdkafka's mock Kafka cluster on loopback, for tests
// and for trying the Kafka examples where no broker is at hand (Debian 12
// packages none). Prints "bootstrap.servers=<list>" once the cluster
// serves, then runs until it is killed. All data lives in memory.
//
//   kafka-mock --topic orders:4 [--topic other:1] [--brokers 3]
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Hosts librdkafka's mock Kafka cluster on loopback"};
  int brokers = 3;
  std::vector<std::string> topics;
  app.add_option("--brokers", brokers, "Mock brokers")->capture_default_str();
  app.add_option("--topic", topics, "A topic to create, as name:partitions");
  CLI11_PARSE(app, argc, argv);

  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // Quiet: the host itself produces nothing, which librdkafka warns about.
  rd_kafka_conf_set(conf, "log_level", "3", error, sizeof error);
  rd_kafka_t* host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (host == nullptr) {
    std::fprintf(stderr, "kafka-mock: %s\n", error);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(host, brokers);
  if (cluster == nullptr) {
    std::fprintf(stderr, "kafka-mock: cannot start the mock cluster\n");
    return 1;
  }
  for (const std::string& topic : topics) {
    const size_t colon = topic.rfind(':');
    const std::string name = topic.substr(0, colon);
    const int partitions =
        colon == std::string::npos ? 1 : std::stoi(topic.substr(colon + 1));
    if (rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, 1) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "kafka-mock: cannot create topic %s\n",
                   name.c_str());
      return 1;
    }
  }
  std::printf("bootstrap.servers=%s\n",
              rd_kafka_mock_cluster_bootstraps(cluster));
  std::fflush(stdout);
  for (;;) pause();
}
