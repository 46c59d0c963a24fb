// kafka-mock: hosts librdkafka's mock Kafka cluster on loopback, for tests
// and for trying the Kafka examples where no broker is at hand (Debian 12
// packages none). Prints "bootstrap.servers=<list>" once the cluster
// serves, then runs until it is killed. All data lives in memory.
//
//   kafka-mock --topic orders:4 [--topic other:1] [--brokers 3]
//              [--relay-port N]
//
// The mock's brokers listen on ephemeral ports. With --relay-port (0 picks
// one) it also relays 127.0.0.1:<port> to the first broker and prints that
// as the bootstrap servers, so that a cluster started again on the same
// relay port is reachable under the same address (clients learn the
// brokers' own addresses from its metadata).
#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"

namespace {

// Copies bytes from `from` to `to` until either side closes.
void Pump(int from, int to) {
  char buffer[16384];
  for (;;) {
    ssize_t n = read(from, buffer, sizeof buffer);
    if (n <= 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = write(to, buffer + done, static_cast<size_t>(n - done));
      if (w <= 0) {
        n = -1;
        break;
      }
      done += w;
    }
    if (n < 0) break;
  }
  shutdown(to, SHUT_WR);
  shutdown(from, SHUT_RD);
}

int ListenOn(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(fd, 64) != 0) {
    return -1;
  }
  return fd;
}

int BoundPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// Accepts on `listener` forever; each connection is relayed to `port`.
void Relay(int listener, int port) {
  for (;;) {
    int client = accept(listener, nullptr, nullptr);
    if (client < 0) continue;
    int broker = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (connect(broker, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(client);
      close(broker);
      continue;
    }
    std::thread([client, broker] {
      std::thread back(Pump, broker, client);
      Pump(client, broker);
      back.join();
      close(client);
      close(broker);
    }).detach();
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Hosts librdkafka's mock Kafka cluster on loopback"};
  int brokers = 3;
  std::vector<std::string> topics;
  app.add_option("--brokers", brokers, "Mock brokers")->capture_default_str();
  app.add_option("--topic", topics, "A topic to create, as name:partitions");
  int relay_port = -1;
  app.add_option("--relay-port", relay_port,
                 "Also serve 127.0.0.1:<port> (0: any) as the bootstrap "
                 "address, relayed to the first broker");
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
  std::string bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
  if (relay_port >= 0) {
    const int listener = ListenOn(relay_port);
    if (listener < 0) {
      std::fprintf(stderr, "kafka-mock: cannot listen on port %d\n",
                   relay_port);
      return 1;
    }
    const std::string first = bootstraps.substr(0, bootstraps.find(','));
    const int broker_port = std::stoi(first.substr(first.rfind(':') + 1));
    bootstraps = "127.0.0.1:" + std::to_string(BoundPort(listener));
    std::thread(Relay, listener, broker_port).detach();
  }
  std::printf("bootstrap.servers=%s\n", bootstraps.c_str());
  std::fflush(stdout);
  for (;;) pause();
}
