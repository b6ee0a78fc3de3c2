#!/usr/bin/env bash
# A long chaos run for manual use: capture is killed with SIGKILL many more times than in
# CI while a workload writes to DynamoDB Local behind the fault proxy, then the backup is
# snapshotted, restored and verified through the proxy (TestChaos_* in cmd/ddbtape).
#
#   scripts/soak.sh                 # 200 kills, once
#   scripts/soak.sh 500 3           # 500 kills, three runs with different seeds
#   DDBTAPE_CHAOS_SEED=42 scripts/soak.sh 200   # rerun a failure's seed (printed by the test)
#
# It also repeats the disk-full/read-only test (SOAK_DISK_ROUNDS, default 3). Needs what the
# CLI tests need: Go, Java 17 for DynamoDB Local, and root or user namespaces for the tmpfs.
# The verbose log of each run is kept in SOAK_LOG_DIR (default: a new temporary directory).
set -euo pipefail

kills=${1:-${DDBTAPE_CHAOS_KILLS:-200}}
rounds=${2:-1}
disk_rounds=${SOAK_DISK_ROUNDS:-3}
case $kills$rounds$disk_rounds in
*[!0-9]*)
	echo "usage: scripts/soak.sh [KILLS] [ROUNDS]   (whole numbers)" >&2
	exit 2
	;;
esac

cd "$(dirname "$0")/.."
logs=${SOAK_LOG_DIR:-$(mktemp -d -t ddbtape-soak-XXXXXX)}
mkdir -p "$logs"
# Each kill costs about 2.5 s; the rest (snapshot, restores, verify) a few minutes.
timeout="$((10 + kills * 6 / 60))m"
echo "soak: $rounds chaos run(s) of $kills kills (timeout $timeout each), $disk_rounds disk-full run(s); logs in $logs"

failed=0
for i in $(seq 1 "$rounds"); do
	log="$logs/chaos-$i.log"
	start=$(date +%s)
	if DDBTAPE_CHAOS_KILLS=$kills go test -count=1 -timeout "$timeout" -run '^TestChaos_' -v ./cmd/ddbtape/ >"$log" 2>&1; then
		echo "soak: chaos run $i passed in $(($(date +%s) - start))s: $(grep -o '[0-9]* writes, .*' "$log" | head -1)"
	else
		failed=$((failed + 1))
		echo "soak: chaos run $i FAILED after $(($(date +%s) - start))s (seed: $(grep -o 'DDBTAPE_CHAOS_SEED=[0-9]*' "$log" | head -1)); see $log" >&2
		grep -E -- '--- FAIL|_test.go:[0-9]+:' "$log" | head -20 >&2 || true
	fi
done
if [ "$disk_rounds" -gt 0 ]; then
	log="$logs/diskfull.log"
	if go test -count="$disk_rounds" -timeout 30m -run '^TestCapture_FullOrReadOnlyDestination' -v ./cmd/ddbtape/ >"$log" 2>&1; then
		echo "soak: disk-full/read-only test passed $disk_rounds times"
	else
		failed=$((failed + 1))
		echo "soak: disk-full/read-only test FAILED; see $log" >&2
		grep -E -- '--- FAIL|_test.go:[0-9]+:' "$log" | head -20 >&2 || true
	fi
fi
if [ $failed -gt 0 ]; then
	echo "soak: $failed failure(s)" >&2
	exit 1
fi
echo "soak: all passed"
