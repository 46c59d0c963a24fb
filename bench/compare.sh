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
# cold cache) fall on both alike. Defaults: 4 s per level after a 1 s
# warm-up, the noop workload, 64 in flight; the closed-loop workloads only
# (not kafka-*). Each row of each run goes to stderr as it comes, labelled
# A or B; then stdout gets, per workload and in-flight level, each build's
# mean throughput (with its lowest and highest), p50 and CPU per invocation.
set -euo pipefail

usage() {
  sed -n '4s/^# *//p' "$0" >&2
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

work=$(mktemp -d /tmp/reprise-compare-XXXXXX)
rows=$work/rows
for round in $(seq 1 "$rounds"); do
  order="A B"
  if [ $((round % 2)) -eq 0 ]; then order="B A"; fi
  for build in $order; do
    dir=$1
    if [ "$build" = B ]; then dir=$2; fi
    log=$work/$build-$round.log
    if ! "$dir/bench/reprise-bench" \
      --server "$dir/runtime/server/reprise-server" \
      --workload "$workloads" --in-flight "$in_flight" \
      --seconds "$seconds" --warmup 1 >"$log" 2>&1; then
      echo "compare.sh: build $build failed in round $round; see $log" >&2
      exit 1
    fi
    # A result row has 9 fields; one with errors says so after them.
    awk -v build="$build" -v file="$log" '
      $2 ~ /^[0-9]+$/ && NF >= 9 {
        if (NF > 9) print "compare.sh: errors in " file ": " $0 > "/dev/stderr"
        print build, $1, $2, $3, $4, $5, $6, $7, $8, $9
      }' "$log" | tee -a "$rows" >&2
  done
done

awk -v rounds="$rounds" '
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
    if (length(n) == 0) {
      print "compare.sh: no results" > "/dev/stderr"
      exit 1
    }
    printf "%-9s %9s %5s %13s %15s %9s %14s %13s\n", "workload", "in-flight",
           "build", "invocations/s", "(low-high)", "p50 ms", "server CPU us",
           "bench CPU us"
    for (key in n) {
      split(key, k, " ")
      if (n[key] != rounds) {
        print "compare.sh: " n[key] " of " rounds " runs for " key \
          > "/dev/stderr"
      }
      printf "%-9s %9s %5s %13.0f %15s %9.3f %14.1f %13.1f\n", k[1], k[2],
             k[3], rate[key] / n[key], "(" low[key] "-" high[key] ")",
             p50[key] / n[key], server[key] / n[key], bench[key] / n[key]
    }
  }' "$rows" | (read -r header && echo "$header" && sort -k1,1 -k2,2n -k3,3)
echo "compare.sh: runs and rows kept in $work" >&2
