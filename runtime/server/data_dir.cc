#include "runtime/server/data_dir.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_format.h"

namespace reprise::server {
namespace {

namespace fs = std::filesystem;

absl::Status WriteFormatFile(const fs::path& dir, uint32_t partitions) {
  const fs::path tmp = dir / "FORMAT.tmp";
  std::string contents =
      absl::StrFormat("reprise-data-format %d\npartitions %d\n",
                      kDataFormatVersion, partitions);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 ||
      write(fd, contents.data(), contents.size()) !=
          static_cast<ssize_t>(contents.size()) ||
      fsync(fd) != 0) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError(
        absl::StrFormat("cannot write %s", tmp.string()));
  }
  close(fd);
  std::error_code ec;
  fs::rename(tmp, dir / "FORMAT", ec);
  if (ec)
    return absl::UnavailableError("cannot create " + (dir / "FORMAT").string());
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PrepareDataDir(const std::string& dir_name, uint32_t partitions) {
  const fs::path dir(dir_name);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "cannot create the data directory %s: %s", dir_name, ec.message()));
  }
  const fs::path format = dir / "FORMAT";
  if (!fs::exists(format)) {
    bool empty = fs::is_empty(dir, ec);
    if (!empty) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s is not empty and has no FORMAT file, so it is not a Reprise data "
          "directory; choose an empty or new directory with --data-dir",
          dir_name));
    }
    return WriteFormatFile(dir, partitions);
  }
  std::ifstream in(format);
  std::string word;
  int version = 0;
  uint32_t stored_partitions = 0;
  std::string partitions_word;
  if (!(in >> word >> version >> partitions_word >> stored_partitions) ||
      word != "reprise-data-format" || partitions_word != "partitions") {
    return absl::DataLossError(absl::StrFormat(
        "%s is corrupt: expected 'reprise-data-format N' and 'partitions N'",
        format.string()));
  }
  if (version != kDataFormatVersion) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s was written in data format %d; this build of reprise-server reads "
        "format %d only",
        dir_name, version, kDataFormatVersion));
  }
  if (stored_partitions != partitions) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s was created with %d partitions; start with --partitions %d",
        dir_name, stored_partitions, stored_partitions));
  }
  return absl::OkStatus();
}

}  // namespace reprise::server
