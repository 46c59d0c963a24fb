// TempDir: a fresh directory under $TMPDIR (or /tmp), removed with its
// contents when the object is destroyed. Not thread-safe; one owner.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace reprise::testing {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string templ =
        std::string(base != nullptr ? base : "/tmp") + "/reprise-test-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) std::abort();
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ignored;
    if (std::getenv("REPRISE_KEEP_TEST_DIRS") == nullptr)
      std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace reprise::testing
