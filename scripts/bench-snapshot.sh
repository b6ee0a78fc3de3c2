#!/usr/bin/env bash
# Snapshot benchmark: `ddbtape snapshot` against a bare parallel Scan that discards the rows,
# both with the same segment count, on a fresh DynamoDB Local loaded with a fixed table.
# Each is run as its own process under /usr/bin/time -v for wall time and peak RSS; rounds
# alternate so drift hits both alike. The figure is the ratio of median wall times
# (snapshot / bare scan; the target is 1.1 or less).
#
#   scripts/bench-snapshot.sh                      40,000 items of ~1 KB, 4 segments, 3 rounds
#   ITEMS=100000 SIZE=2000 SEGMENTS=8 ROUNDS=5 scripts/bench-snapshot.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
readonly ROOT

ITEMS="${ITEMS:-40000}"
SIZE="${SIZE:-1000}"
SEGMENTS="${SEGMENTS:-4}"
ROUNDS="${ROUNDS:-3}"
readonly CACHE="$ROOT/.cache/dynamodb-local"

die() {
	echo "bench-snapshot: $*" >&2
	exit 1
}

[[ -x /usr/bin/time ]] || die "/usr/bin/time not found: install GNU time (apt-get install -y time)"
command -v curl >/dev/null 2>&1 || die "curl not found: install curl (apt-get install -y curl)"
scripts/dynamodb-local.sh install

work="$(mktemp -d)"
java_pid=""
cleanup() {
	if [[ -n "$java_pid" ]]; then
		kill "$java_pid" 2>/dev/null || true
		wait "$java_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

echo "building ddbtape and benchtool" >&2
go build -o "$work/ddbtape" ./cmd/ddbtape
go build -o "$work/benchtool" ./internal/cmd/benchtool

# A fresh instance of our own (not scripts/dynamodb-local.sh start, which reuses a running
# one): DynamoDB Local slows down as it fills, so every benchmark starts empty.
port=""
for ((i = 0; i < 200; i++)); do
	p=$((20000 + RANDOM % 40000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		port="$p"
		break
	fi
done
[[ -n "$port" ]] || die "no free TCP port"
# From the work directory: DynamoDB Local leaves a metadata file in its working directory.
(cd "$work" && exec java -Djava.library.path="$CACHE/DynamoDBLocal_lib" -jar "$CACHE/DynamoDBLocal.jar" \
	-inMemory -sharedDb -disableTelemetry -port "$port" >"$work/dynamodb-local.log" 2>&1) &
java_pid=$!
endpoint="http://127.0.0.1:$port"
for ((i = 0; i < 300; i++)); do
	curl -s -o /dev/null --max-time 2 "$endpoint/" && break
	kill -0 "$java_pid" 2>/dev/null || die "DynamoDB Local exited: $(tail -n 5 "$work/dynamodb-local.log")"
	sleep 0.2
done

export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
"$work/benchtool" fill -endpoint "$endpoint" -table bench -items "$ITEMS" -size "$SIZE" >&2

# wall_seconds and max_rss_kb read a /usr/bin/time -v report.
wall_seconds() {
	awk -F': ' '/Elapsed \(wall clock\)/ {
		n = split($2, p, ":"); s = 0
		for (i = 1; i <= n; i++) s = s * 60 + p[i]
		printf "%.3f\n", s
	}' "$1"
}
max_rss_kb() {
	awk -F': ' '/Maximum resident set size/ {print $2}' "$1"
}
median() {
	sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

: >"$work/bare.times"
: >"$work/snap.times"
: >"$work/bare.rss"
: >"$work/snap.rss"
for ((r = 1; r <= ROUNDS; r++)); do
	/usr/bin/time -v -o "$work/bare.$r" "$work/benchtool" scan -endpoint "$endpoint" -table bench -segments "$SEGMENTS" >&2
	rm -rf "$work/dest"
	/usr/bin/time -v -o "$work/snap.$r" "$work/ddbtape" snapshot --table bench --dest "$work/dest" \
		--endpoint-url "$endpoint" --segments "$SEGMENTS" --workers "$SEGMENTS" --progress-interval 1h >/dev/null 2>"$work/snap.$r.err" ||
		die "ddbtape snapshot failed: $(cat "$work/snap.$r.err")"
	grep -h "done," "$work/snap.$r.err" >&2 || true
	wall_seconds "$work/bare.$r" >>"$work/bare.times"
	wall_seconds "$work/snap.$r" >>"$work/snap.times"
	max_rss_kb "$work/bare.$r" >>"$work/bare.rss"
	max_rss_kb "$work/snap.$r" >>"$work/snap.rss"
	echo "round $r: bare scan $(tail -n 1 "$work/bare.times")s, snapshot $(tail -n 1 "$work/snap.times")s" >&2
done

bare="$(median <"$work/bare.times")"
snap="$(median <"$work/snap.times")"
parts_bytes="$(du -sb "$work/dest" | cut -f1)"
echo
echo "snapshot benchmark: $ITEMS items of ~$SIZE bytes, $SEGMENTS segments, $ROUNDS rounds (medians)"
printf "  bare parallel Scan : %8.3fs  %8.0f items/s  peak RSS %6.1f MB\n" "$bare" "$(echo "$ITEMS / $bare" | bc -l)" "$(echo "$(sort -g "$work/bare.rss" | tail -n 1) / 1024" | bc -l)"
printf "  ddbtape snapshot   : %8.3fs  %8.0f items/s  peak RSS %6.1f MB  (%s of Parquet)\n" "$snap" "$(echo "$ITEMS / $snap" | bc -l)" "$(echo "$(sort -g "$work/snap.rss" | tail -n 1) / 1024" | bc -l)" "$(numfmt --to=iec "$parts_bytes")"
printf "  ratio snapshot/bare: %.2fx (target <= 1.1x)\n" "$(echo "$snap / $bare" | bc -l)"
echo "  machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(go version | cut -d' ' -f3), Linux $(uname -r)"
