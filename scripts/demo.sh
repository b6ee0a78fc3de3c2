#!/usr/bin/env bash
# The README's demo on embedded defaults: starts DynamoDB Local, creates a table with a
# stream, writes to it, backs it up into ./demo-backup (a local directory, with the file
# checkpoint store beside the data), and shows what was stored. Needs Go, Java and npm.
set -euo pipefail
cd "$(dirname "$0")/.."

table=demo-orders
dest=./demo-backup
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-demo} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-demo}

echo "== starting DynamoDB Local (installed into .cache/ on first use)"
endpoint=$(scripts/dynamodb-local.sh start)
trap 'scripts/dynamodb-local.sh stop >/dev/null 2>&1 || true' EXIT
echo "   $endpoint"

echo "== building ddbtape"
mkdir -p bin
go build -o bin/ddbtape ./cmd/ddbtape

rm -rf "$dest"
echo "== creating $table and writing to it"
go run ./internal/cmd/demo-load --endpoint-url "$endpoint" --table "$table" --writes 400

echo "== ddbtape capture (until the stream is idle for 3s and the backup covers it: about a minute, as DynamoDB Local stamps records to the minute)"
bin/ddbtape capture --table "$table" --dest "$dest" --until-idle 3s --endpoint-url "$endpoint"

echo "== ddbtape snapshot (a parallel Scan into Parquet parts, with a manifest)"
bin/ddbtape snapshot --table "$table" --dest "$dest" --endpoint-url "$endpoint"

echo "== more writes, and a second capture that resumes from its checkpoint"
go run ./internal/cmd/demo-load --endpoint-url "$endpoint" --table "$table" --writes 100
bin/ddbtape capture --table "$table" --dest "$dest" --until-idle 3s --endpoint-url "$endpoint"

echo "== ddbtape status"
bin/ddbtape status --source "$dest" --table "$table"

echo "== ddbtape verify (the backup at its latest time against a live Scan)"
bin/ddbtape verify --source "$dest" --table "$table" --endpoint-url "$endpoint"

echo "== ddbtape restore --at latest into a file and into a new table"
bin/ddbtape restore --source "$dest" --table "$table" --at latest --to-file ./demo-restored.json.gz --force
bin/ddbtape restore --source "$dest" --table "$table" --at latest --to-table "$table-restored" --create --endpoint-url "$endpoint"

echo "== what is stored in $dest"
find "$dest" -type f | sort
