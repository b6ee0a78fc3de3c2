#!/usr/bin/env bash
# Runs every test, then every fuzz target for 30 s. Installs what the tests need first
# (DynamoDB Local from npm, versitygw from the Go module proxy, promtool from Debian's
# prometheus package, DuckDB from npm) into .cache/, and makes sure
# an aws CLI is on PATH; the Go test helpers start and stop instances.
#
#   scripts/test.sh                 # everything (what CI runs)
#   FUZZTIME=0 scripts/test.sh      # skip the fuzzing stage (for a quick local run)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/dynamodb-local.sh install
scripts/versitygw.sh install
scripts/promtool.sh install
scripts/duckdb.sh install
scripts/awscli.sh install
go vet ./...
# -parallel 4: most end-to-end tests spend their time waiting (DynamoDB Local stamps
# records to the minute), not computing; on a 2-core machine the default (2) left the
# cmd package at over 30 minutes with both cores busy.
go test -count=1 -timeout 60m -parallel 4 "$@" ./...
fuzztime=${FUZZTIME:-30s}
if [[ "$fuzztime" != 0 ]]; then
  scripts/fuzz.sh "$fuzztime"
fi
