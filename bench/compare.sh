#!/bin/bash
# Compares two builds with reprise-bench, fairly on a noisy machine.
#
#   bench/compare.sh [-r ROUNDS] [-s SECONDS] [-w WORKLOADS] [-f IN_FLIGHT] A B
#
# A and B are build directories (e.g. build-release of two checkouts); each
# is measured with its own bench/reprise-bench (which holds the SDK worker)
# and runtime/server/reprise-server. The builds alternate A B, B A, A B, ...
# for ROUNDS rounds (default 4), so that a slow or fast spell of the machine
# and whatever a run leaves behind for the next one (dirty pages, a warm or
# cold cache) fall on both alike. Each row of each run is printed as it
# comes, labelled A or B; then, per workload and in-flight level, the mean
# of each build with its lowest and highest throughput.
set -euo pipefail

usage() {
  sed -n '4p' "$0" | sed 's/^# *//' >&2
  exit 2
}

rounds=4
seconds=4
workloads=noop
in_flight=64
while getopts "r:s:w:f:" opt; do
  case "$opt" in
    r) rounds=$OPTARG ;;
    s) seconds=$OPTARG ;;
    w) workloads=$OPTARG ;;
    f) in_flight=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || usage
for dir in "$1" "$2"; do
  for binary in bench/reprise-bench runtime/server/reprise-server; do
    if [ ! -x "$dir/$binary" ]; then
      echo "compare.sh: $dir/$binary is missing; build $dir first" >&2
      exit 1
    fi
  done
done

for round in $(seq 1 "$rounds"); do
  order="A B"
  if [ $((round % 2)) -eq 0 ]; then order="B A"; fi
  for build in $order; do
    dir=$1
    if [ "$build" = B ]; then dir=$2; fi
    "$dir/bench/reprise-bench" \
      --server "$dir/runtime/server/reprise-server" \
      --workload "$workloads" --in-flight "$in_flight" \
      --seconds "$seconds" --warmup 1 2>/dev/null |
      awk -v build="$build" '$2 ~ /^[0-9]+$/ { print build, $0; fflush() }'
  done
done | tee /dev/stderr | awk '
  {
    key = $2 " " $3 " " $1
    n[key]++
    rate[key] += $4
    p50[key] += $5
    server[key] += $8
    bench[key] += $10
    if (!(key in low) || $4 < low[key]) low[key] = $4
    if (!(key in high) || $4 > high[key]) high[key] = $4
  }
  END {
    printf "%-9s %9s %5s %13s %15s %9s %14s %13s\n", "workload", "in-flight",
           "build", "invocations/s", "(low-high)", "p50 ms", "server CPU us",
           "bench CPU us"
    for (key in n) {
      split(key, k, " ")
      printf "%-9s %9s %5s %13.0f %15s %9.3f %14.1f %13.1f\n", k[1], k[2],
             k[3], rate[key] / n[key], "(" low[key] "-" high[key] ")",
             p50[key] / n[key], server[key] / n[key], bench[key] / n[key]
    }
  }' | (read -r header && echo "$header" && sort -k1,1 -k2,2n -k3,3)
