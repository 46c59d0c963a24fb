#!/usr/bin/env bash
# Installs the Debian 12 packages Reprise builds with, if any is missing.
# Idempotent; needs root (or sudo) only when something must be installed.
set -euo pipefail

PACKAGES=(
  cmake ninja-build pkg-config g++ ccache clang-format
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc
  libprotobuf-dev protobuf-compiler
  librocksdb-dev librdkafka-dev libabsl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev grpc-proto
  openssl  # the TLS tests make a throwaway CA
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
