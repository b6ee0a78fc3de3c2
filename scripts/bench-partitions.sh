#!/usr/bin/env bash
# Partitioned restore benchmark: one process against N partitions (restore --partition
# I/N, run at once, as N pods of an Indexed Job would on one machine), both to files, from
# the same synthetic backup written with the writer package (no DynamoDB): a snapshot of
# ITEMS items and CHANGES changes after it. Each process runs under /usr/bin/time -v for
# its wall time, CPU time (user + system) and peak RSS; the N files together must hold exactly the single restore's
# items, which the script checks. The machine is printed with the figures.
#
#   scripts/bench-partitions.sh                                  # 10M items, 3 partitions
#   ITEMS=200000 CHANGES=100000 N=3 scripts/bench-partitions.sh  # a quick run
set -euo pipefail
cd "$(dirname "$0")/.."

ITEMS="${ITEMS:-10000000}"
CHANGES="${CHANGES:-1000000}"
SIZE="${SIZE:-300}"
N="${N:-3}"
WORK="${WORK:-}"

die() {
	echo "bench-partitions: $*" >&2
	exit 1
}

[[ -x /usr/bin/time ]] || die "/usr/bin/time not found: install GNU time (apt-get install -y time)"
if [[ -z "$WORK" ]]; then
	WORK="$(mktemp -d)"
	trap 'rm -rf "$WORK"' EXIT
fi

wall_seconds() {
	awk -F': ' '/Elapsed \(wall clock\)/ {
		n = split($2, p, ":"); s = 0
		for (i = 1; i <= n; i++) s = s * 60 + p[i]
		printf "%.1f\n", s
	}' "$1"
}
cpu_seconds() {
	awk -F': ' '/User time|System time/ {s += $2} END {printf "%.1f\n", s}' "$1"
}
max_rss_mb() {
	awk -F': ' '/Maximum resident set size/ {printf "%.0f\n", $2 / 1024}' "$1"
}
machine() {
	echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/ {print $2}') GB RAM, $(go version | cut -d' ' -f3), Linux $(uname -r), load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
}

echo "building ddbtape and benchtool" >&2
go build -o "$WORK/ddbtape" ./cmd/ddbtape
go build -o "$WORK/benchtool" ./internal/cmd/benchtool
if [[ ! -d "$WORK/backup" ]]; then
	"$WORK/benchtool" gen -dir "$WORK/backup" -items "$ITEMS" -changes "$CHANGES" -size "$SIZE" >&2
fi
load="$(machine)"

restore() { # restore NAME [ARGS...]: one restore to $WORK/NAME.json under time -v
	local name="$1"
	shift
	mkdir -p "$WORK/spill-$name"
	/usr/bin/time -v -o "$WORK/$name.time" "$WORK/ddbtape" restore --source "$WORK/backup" --table bench --at latest \
		--to-file "$WORK/$name.json" --force --temp-dir "$WORK/spill-$name" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" ||
		die "restore $name failed: $(tail -n 3 "$WORK/$name.err")"
}

echo "one process" >&2
restore whole
echo "$N partitions at once" >&2
start=$(date +%s.%N)
pids=()
for ((i = 0; i < N; i++)); do
	restore "p$i" --partition "$i/$N" &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || die "a partition failed"
done
all=$(echo "$(date +%s.%N) - $start" | bc -l)

whole_items="$(wc -l <"$WORK/whole.json")"
part_items=0
for ((i = 0; i < N; i++)); do
	part_items=$((part_items + $(wc -l <"$WORK/p$i.json")))
done
cat "$WORK"/p*.json | sort >"$WORK/union.sorted"
sort "$WORK/whole.json" | cmp -s - "$WORK/union.sorted" ||
	die "the partitions' files ($part_items items) differ from one restore's ($whole_items items)"

echo
echo "restore --to-file, one process vs $N partitions at once: backup of $ITEMS snapshot items + $CHANGES changes (~$SIZE-byte items, $(du -sh "$WORK/backup" | cut -f1) stored), $whole_items items restored"
printf "  one process:        wall %6.1fs, cpu %6.1fs, peak RSS %5s MB\n" "$(wall_seconds "$WORK/whole.time")" "$(cpu_seconds "$WORK/whole.time")" "$(max_rss_mb "$WORK/whole.time")"
for ((i = 0; i < N; i++)); do
	printf "  partition %d/%d:      wall %6.1fs, cpu %6.1fs, peak RSS %5s MB, %d items\n" "$i" "$N" "$(wall_seconds "$WORK/p$i.time")" "$(cpu_seconds "$WORK/p$i.time")" "$(max_rss_mb "$WORK/p$i.time")" "$(wc -l <"$WORK/p$i.json")"
done
printf "  %d partitions, all:  wall %6.1fs (until the last one ended)\n" "$N" "$all"
echo "  the partitions' files together equal the one process's: yes"
echo "  $load"
