#!/usr/bin/env bash
# Capture benchmark: `ddbtape capture` of a stream backlog against a bare drain of the same
# backlog (benchtool drain: every shard at once, records discarded). Each figure runs on a
# fresh DynamoDB Local loaded with the same writes, as its own process under
# benchtool measure; rounds alternate so drift hits both alike. Capture's wall time runs
# from its launch to its last stored segment (it then waits until its coverage passes
# the backlog, a stamp margin of a minute, before --until-idle lets it exit);
# CPU is user + system time of the whole process. The figures are medians and their
# ratios (targets: wall <= 1.1x, CPU <= 1.5x, peak RSS <= 100 MB).
#
#   scripts/bench-capture.sh                       20,000 records of ~300 bytes, 3 rounds
#   RECORDS=50000 ROUNDS=5 scripts/bench-capture.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
readonly ROOT

RECORDS="${RECORDS:-20000}"
SIZE="${SIZE:-300}"
ROUNDS="${ROUNDS:-3}"
# The last segment rolls as its last record arrives when RECORDS is a multiple of ROLL
# (--roll-records, default 10,000 as capture's); otherwise it waits for the exit.
ROLL="${ROLL:-10000}"
readonly CACHE="$ROOT/.cache/dynamodb-local"

die() {
	echo "bench-capture: $*" >&2
	exit 1
}

((RECORDS % ROLL == 0)) || die "RECORDS ($RECORDS) must be a multiple of ROLL ($ROLL), so that the last segment rolls with the last record"
command -v curl >/dev/null 2>&1 || die "curl not found: install curl (apt-get install -y curl)"
scripts/dynamodb-local.sh install

work="$(mktemp -d)"
java_pid=""
stop_ddb() {
	if [[ -n "$java_pid" ]]; then
		kill "$java_pid" 2>/dev/null || true
		wait "$java_pid" 2>/dev/null || true
		java_pid=""
	fi
}
cleanup() {
	stop_ddb
	rm -rf "$work"
}
trap cleanup EXIT

echo "building ddbtape and benchtool" >&2
go build -o "$work/ddbtape" ./cmd/ddbtape
go build -o "$work/benchtool" ./internal/cmd/benchtool
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench

# fresh_ddb starts an empty DynamoDB Local of our own (DynamoDB Local slows down as it
# fills, and a warm JVM would favour whichever ran second) and writes the backlog.
fresh_ddb() {
	stop_ddb
	local port="" p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			port="$p"
			break
		fi
	done
	[[ -n "$port" ]] || die "no free TCP port"
	rm -rf "$work/ddb" && mkdir -p "$work/ddb"
	(cd "$work/ddb" && exec java -Djava.library.path="$CACHE/DynamoDBLocal_lib" -jar "$CACHE/DynamoDBLocal.jar" \
		-inMemory -sharedDb -disableTelemetry -port "$port" >"$work/dynamodb-local.log" 2>&1) &
	java_pid=$!
	endpoint="http://127.0.0.1:$port"
	for ((i = 0; i < 300; i++)); do
		curl -s -o /dev/null --max-time 2 "$endpoint/" && break
		kill -0 "$java_pid" 2>/dev/null || die "DynamoDB Local exited: $(tail -n 5 "$work/dynamodb-local.log")"
		sleep 0.2
	done
	"$work/benchtool" stream -endpoint "$endpoint" -table bench -records "$RECORDS" -size "$SIZE" >&2
}

# field N of a benchtool measure line: 1 wall seconds, 2 CPU seconds (user + system, to the
# microsecond: GNU time's hundredths are too coarse for runs of a fifth of a CPU second), 3
# peak RSS in KB.
field() { cut -d' ' -f"$2" "$1"; }
median() {
	sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

for f in bare.wall bare.cpu bare.rss cap.wall cap.cpu cap.rss; do : >"$work/$f"; done
for ((r = 1; r <= ROUNDS; r++)); do
	fresh_ddb
	"$work/benchtool" measure -o "$work/bare.$r" -- "$work/benchtool" drain -endpoint "$endpoint" -table bench -records "$RECORDS" >&2
	field "$work/bare.$r" 1 >>"$work/bare.wall"
	field "$work/bare.$r" 2 >>"$work/bare.cpu"
	field "$work/bare.$r" 3 >>"$work/bare.rss"

	fresh_ddb
	dest="$work/dest.$r"
	began="$(date +%s.%N)"
	"$work/benchtool" measure -o "$work/cap.$r" -- "$work/ddbtape" capture --table bench --dest "$dest" --endpoint-url "$endpoint" \
		--roll-records "$ROLL" --until-idle 2s --log-level warn >/dev/null 2>"$work/cap.$r.err" ||
		die "ddbtape capture failed: $(cat "$work/cap.$r.err")"
	grep -h "captured" "$work/cap.$r.err" >&2 || true
	got="$(sed -n 's/^captured \([0-9,]*\) record.*/\1/p' "$work/cap.$r.err" | tr -d ,)"
	[[ "$got" == "$RECORDS" ]] || die "capture stored ${got:-no} records, want $RECORDS: $(cat "$work/cap.$r.err")"
	last="$(find "$dest" -name '*.parquet' -path '*/changes/*' -printf '%T@\n' | sort -g | tail -n 1)"
	[[ -n "$last" ]] || die "no segment under $dest"
	echo "$last - $began" | bc -l >>"$work/cap.wall"
	field "$work/cap.$r" 2 >>"$work/cap.cpu"
	field "$work/cap.$r" 3 >>"$work/cap.rss"
	printf "round %d: bare drain %.3fs (%.3fs CPU), capture %.3fs to its last segment (%.3fs CPU)\n" "$r" \
		"$(tail -n 1 "$work/bare.wall")" "$(tail -n 1 "$work/bare.cpu")" "$(tail -n 1 "$work/cap.wall")" "$(tail -n 1 "$work/cap.cpu")" >&2
done
stop_ddb

bw="$(median <"$work/bare.wall")" bc_="$(median <"$work/bare.cpu")"
cw="$(median <"$work/cap.wall")" cc="$(median <"$work/cap.cpu")"
br="$(sort -g "$work/bare.rss" | tail -n 1)" cr="$(sort -g "$work/cap.rss" | tail -n 1)"
echo
echo "capture benchmark: $RECORDS records of ~$SIZE bytes, $ROUNDS rounds, a fresh DynamoDB Local per figure (medians)"
printf "  bare drain     : %8.3fs wall  %7.3fs CPU  peak RSS %6.1f MB\n" "$bw" "$bc_" "$(echo "$br / 1024" | bc -l)"
printf "  ddbtape capture: %8.3fs wall  %7.3fs CPU  peak RSS %6.1f MB\n" "$cw" "$cc" "$(echo "$cr / 1024" | bc -l)"
printf "  ratios capture/bare: wall %.2fx (target <= 1.1x), CPU %.2fx (target <= 1.5x); peak RSS %.0f MB (target <= 100 MB)\n" \
	"$(echo "$cw / $bw" | bc -l)" "$(echo "$cc / $bc_" | bc -l)" "$(echo "$cr / 1024" | bc -l)"
echo "  machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(go version | cut -d' ' -f3), Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
