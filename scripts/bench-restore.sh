#!/usr/bin/env bash
# Restore benchmark, two parts, each command run as its own process under /usr/bin/time -v
# for wall time and peak RSS:
#
#  1. restore --to-file from a synthetic backup written with the writer package (no
#     DynamoDB): a snapshot of ITEMS items and CHANGES changes after it. Figures: items
#     written per second, backup rows (snapshot items + changes) read per second.
#  2. restore --to-table --create against the baseline, a bare parallel BatchWriteItem of
#     the same items (the to-file output of a smaller backup), each on a fresh DynamoDB
#     Local: ratio of median wall times, the table's creation included in both (target 1.1x or less).
#
#   scripts/bench-restore.sh
#   ITEMS=1000000 CHANGES=10000000 PARTS=file scripts/bench-restore.sh      # only part 1
#   TABLE_ITEMS=16000 TABLE_CHANGES=20000 ROUNDS=5 PARTS=table scripts/bench-restore.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
readonly ROOT

ITEMS="${ITEMS:-200000}"
CHANGES="${CHANGES:-1000000}"
SIZE="${SIZE:-300}"
TABLE_ITEMS="${TABLE_ITEMS:-16000}"
TABLE_CHANGES="${TABLE_CHANGES:-20000}"
WORKERS="${WORKERS:-8}"
ROUNDS="${ROUNDS:-3}"
PARTS="${PARTS:-file table}"
readonly CACHE="$ROOT/.cache/dynamodb-local"

die() {
	echo "bench-restore: $*" >&2
	exit 1
}

[[ -x /usr/bin/time ]] || die "/usr/bin/time not found: install GNU time (apt-get install -y time)"
command -v curl >/dev/null 2>&1 || die "curl not found: install curl (apt-get install -y curl)"

work="$(mktemp -d)"
java_pid=""
stop_local() {
	if [[ -n "$java_pid" ]]; then
		kill "$java_pid" 2>/dev/null || true
		wait "$java_pid" 2>/dev/null || true
		java_pid=""
	fi
}
cleanup() {
	stop_local
	rm -rf "$work"
}
trap cleanup EXIT

wall_seconds() {
	awk -F': ' '/Elapsed \(wall clock\)/ {
		n = split($2, p, ":"); s = 0
		for (i = 1; i <= n; i++) s = s * 60 + p[i]
		printf "%.3f\n", s
	}' "$1"
}
max_rss_mb() {
	awk -F': ' '/Maximum resident set size/ {printf "%.1f\n", $2 / 1024}' "$1"
}
median() {
	sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}
machine() {
	echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/ {print $2}') GB RAM, $(go version | cut -d' ' -f3), Linux $(uname -r)"
}

echo "building ddbtape and benchtool" >&2
go build -o "$work/ddbtape" ./cmd/ddbtape
go build -o "$work/benchtool" ./internal/cmd/benchtool

if [[ " $PARTS " == *" file "* ]]; then
	"$work/benchtool" gen -dir "$work/backup" -items "$ITEMS" -changes "$CHANGES" -size "$SIZE" >&2
	: >"$work/file.times"
	: >"$work/file.rss"
	for ((r = 1; r <= ROUNDS; r++)); do
		rm -f "$work/out.json"
		/usr/bin/time -v -o "$work/file.$r" "$work/ddbtape" restore --source "$work/backup" --table bench --at latest \
			--to-file "$work/out.json" --temp-dir "$work" >"$work/file.$r.out" 2>"$work/file.$r.err" ||
			die "restore --to-file failed: $(cat "$work/file.$r.err")"
		wall_seconds "$work/file.$r" >>"$work/file.times"
		max_rss_mb "$work/file.$r" >>"$work/file.rss"
		echo "round $r: $(tail -n 1 "$work/file.times")s, peak RSS $(tail -n 1 "$work/file.rss") MB" >&2
	done
	out_items="$(wc -l <"$work/out.json")"
	secs="$(median <"$work/file.times")"
	echo
	echo "restore --to-file: backup of $ITEMS snapshot items + $CHANGES changes (~$SIZE-byte items, $(du -sh "$work/backup" | cut -f1) stored), $ROUNDS rounds (median)"
	printf "  wall %.2fs, %d items written (%.0f items/s), %.0f backup rows read/s, peak RSS %s MB (max of rounds)\n" \
		"$secs" "$out_items" "$(echo "$out_items / $secs" | bc -l)" "$(echo "($ITEMS + $CHANGES) / $secs" | bc -l)" "$(sort -g "$work/file.rss" | tail -n 1)"
	echo "  command: ddbtape restore --source DIR --table bench --at latest --to-file OUT"
	echo "  $(machine)"
	rm -rf "$work/backup" "$work/out.json"
fi

# start_local starts a fresh, empty DynamoDB Local of our own and sets endpoint.
start_local() {
	local port="" p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			port="$p"
			break
		fi
	done
	[[ -n "$port" ]] || die "no free TCP port"
	mkdir -p "$work/local"
	(cd "$work/local" && exec java -Djava.library.path="$CACHE/DynamoDBLocal_lib" -jar "$CACHE/DynamoDBLocal.jar" \
		-inMemory -sharedDb -disableTelemetry -port "$port" >"$work/dynamodb-local.log" 2>&1) &
	java_pid=$!
	endpoint="http://127.0.0.1:$port"
	for ((i = 0; i < 300; i++)); do
		curl -s -o /dev/null --max-time 2 "$endpoint/" && return 0
		kill -0 "$java_pid" 2>/dev/null || die "DynamoDB Local exited: $(tail -n 5 "$work/dynamodb-local.log")"
		sleep 0.2
	done
	die "DynamoDB Local did not answer at $endpoint"
}

if [[ " $PARTS " == *" table "* ]]; then
	scripts/dynamodb-local.sh install
	export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
	"$work/benchtool" gen -dir "$work/tbackup" -items "$TABLE_ITEMS" -changes "$TABLE_CHANGES" -size "$SIZE" >&2
	"$work/ddbtape" restore --source "$work/tbackup" --table bench --at latest --to-file "$work/items.json" 2>/dev/null >&2
	n="$(wc -l <"$work/items.json")"
	for f in bare.times bare.rss restore.times restore.rss; do : >"$work/$f"; done
	run_bare() {
		start_local
		/usr/bin/time -v -o "$work/bare.$r" "$work/benchtool" load -endpoint "$endpoint" -table bench -file "$work/items.json" -workers "$WORKERS" >&2
		stop_local
		wall_seconds "$work/bare.$r" >>"$work/bare.times"
		max_rss_mb "$work/bare.$r" >>"$work/bare.rss"
	}
	run_restore() {
		start_local
		/usr/bin/time -v -o "$work/restore.$r" "$work/ddbtape" restore --source "$work/tbackup" --table bench --at latest \
			--to-table bench --create --endpoint-url "$endpoint" --write-workers "$WORKERS" >"$work/restore.$r.out" 2>"$work/restore.$r.err" ||
			die "restore --to-table failed: $(cat "$work/restore.$r.err")"
		stop_local
		wall_seconds "$work/restore.$r" >>"$work/restore.times"
		max_rss_mb "$work/restore.$r" >>"$work/restore.rss"
	}
	for ((r = 1; r <= ROUNDS; r++)); do
		# Alternate the order so that drift hits both alike.
		if ((r % 2)); then run_bare; run_restore; else run_restore; run_bare; fi
		echo "round $r: bare BatchWriteItem $(tail -n 1 "$work/bare.times")s, restore --to-table --create $(tail -n 1 "$work/restore.times")s" >&2
	done
	bare="$(median <"$work/bare.times")"
	rest="$(median <"$work/restore.times")"
	echo
	echo "restore --to-table --create: $n items (backup of $TABLE_ITEMS snapshot items + $TABLE_CHANGES changes), $WORKERS writers, fresh DynamoDB Local each run, $ROUNDS rounds (medians)"
	printf "  bare parallel BatchWriteItem : %7.2fs  %7.0f items/s  peak RSS %s MB\n" "$bare" "$(echo "$n / $bare" | bc -l)" "$(sort -g "$work/bare.rss" | tail -n 1)"
	printf "  ddbtape restore --to-table   : %7.2fs  %7.0f items/s  peak RSS %s MB\n" "$rest" "$(echo "$n / $rest" | bc -l)" "$(sort -g "$work/restore.rss" | tail -n 1)"
	printf "  ratio restore/bare: %.2fx (target <= 1.1x, table creation included)\n" "$(echo "$rest / $bare" | bc -l)"
	echo "  command: ddbtape restore --source DIR --table bench --at latest --to-table bench --create --endpoint-url URL"
	echo "  $(machine)"
fi
