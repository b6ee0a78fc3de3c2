#!/usr/bin/env bash
# Runs every benchmark and writes the results table into BENCHMARKS.md (between the
# "results" markers), with the machine it ran on. Benchmarks that need DynamoDB Local or
# versitygw start fresh instances themselves. Takes several minutes.
#
#   scripts/bench.sh            # all benchmarks
#   scripts/bench.sh writer     # only packages whose path contains "writer"
#   scripts/bench.sh e2e        # only the end-to-end ratio scripts (snapshot, restore)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/dynamodb-local.sh install
scripts/versitygw.sh install

filter=${1:-}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Packages with benchmarks, and how long each runs: micro-benchmarks get a time budget,
# end-to-end ones (a backlog load per iteration) run once.
run() { # pkg benchtime
  [[ -z "$filter" || "$1" == *"$filter"* ]] || return 0
  echo "== $1" >&2
  go test -run '^$' -bench . -benchtime "$2" -timeout 60m "./$1" | tee -a "$out" >&2
}
for pkg in $(go list ./... | sed 's|github.com/ddbtape/ddbtape/||'); do
  grep -qs '^func Benchmark' "$pkg"/*_test.go 2>/dev/null || continue
  case "$pkg" in
    internal/bench|cmd/*) run "$pkg" 1x ;;
    *) run "$pkg" 2s ;;
  esac
done

# The end-to-end ratio scripts (each on fresh DynamoDB Local instances) print a summary.
summaries=$(mktemp)
if [[ -z "$filter" || "$filter" == e2e ]]; then
  for script in scripts/bench-snapshot.sh scripts/bench-restore.sh; do
    echo "== $script" >&2
    "$script" | tee -a "$summaries" >&2
  done
fi

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)
table=$(mktemp)
{
  echo "Machine: $(nproc) cores ($cpu), $mem, $(go version | cut -d' ' -f3), $(date -u +%Y-%m-%d)."
  echo
  echo "| benchmark | metric | value |"
  echo "| --- | --- | --- |"
  awk '/^Benchmark/ {
      name=$1; sub(/-[0-9]+$/, "", name)
      for (i = 3; i < NF; i += 2) printf "| %s | %s | %s |\n", name, $(i+1), $i
    }' "$out"
  if [[ -s "$summaries" ]]; then
    echo
    echo "End-to-end ratio scripts:"
    echo
    echo '```'
    grep -v '^$' "$summaries"
    echo '```'
  fi
} > "$table"
rm -f "$summaries"

if [[ -z "$filter" ]]; then
  awk -v table="$table" '
    /<!-- results:begin -->/ { print; while ((getline line < table) > 0) print line; skip=1; next }
    /<!-- results:end -->/ { skip=0 }
    !skip { print }' BENCHMARKS.md > BENCHMARKS.md.new && mv BENCHMARKS.md.new BENCHMARKS.md
  echo "wrote the results table into BENCHMARKS.md" >&2
else
  cat "$table"
fi
rm -f "$table"
