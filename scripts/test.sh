#!/usr/bin/env bash
# Runs every test. Installs what the tests need first (DynamoDB Local from npm, versitygw
# from the Go module proxy) into .cache/; the Go test helpers start and stop instances.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/dynamodb-local.sh install
scripts/versitygw.sh install
go vet ./...
go test -count=1 -timeout 45m "$@" ./...
