#!/usr/bin/env bash
# Installs what is missing, checks formatting, builds and runs every test
# (labels unit, integration, e2e, fault), then again under AddressSanitizer
# and UndefinedBehaviorSanitizer. REPRISE_SKIP_SANITIZERS=1 skips the latter.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/check-format.sh

BUILD_DIR=build-test BUILD_TYPE=RelWithDebInfo ./scripts/build.sh
ctest --test-dir build-test --output-on-failure -j 2

if [ "${REPRISE_SKIP_SANITIZERS:-0}" != 1 ]; then
  BUILD_DIR=build-asan BUILD_TYPE=Debug CMAKE_ARGS="-DREPRISE_SANITIZE=ON" \
    ./scripts/build.sh
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j 2
fi
