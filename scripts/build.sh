#!/usr/bin/env bash
# Configures and builds Reprise with CMake and Ninja.
#   BUILD_DIR   build directory            (default: build)
#   BUILD_TYPE  Release, Debug, RelWithDebInfo (default: Release)
#   CMAKE_ARGS  extra arguments for cmake  (e.g. -DREPRISE_SANITIZE=ON)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
BUILD_TYPE=${BUILD_TYPE:-Release}
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="$BUILD_TYPE" ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
