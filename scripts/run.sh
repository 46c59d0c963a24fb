#!/usr/bin/env bash
# Quick start: installs what is missing, builds (Release) and runs
# reprise-server in the foreground on the embedded log, with its data in
# ./.reprise/data. Extra arguments go to reprise-server (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
BUILD_DIR=build BUILD_TYPE=Release CMAKE_ARGS="-DREPRISE_BUILD_TESTS=OFF" \
  ./scripts/build.sh
mkdir -p .reprise
exec ./build/runtime/server/reprise-server --data-dir .reprise/data "$@"
