#!/usr/bin/env bash
# DuckDB, for the test that reads restore --to-s3 files back with read_json as an analyst
# would (and for looking at a backup's Parquet by hand).
#
#   scripts/duckdb.sh install      put it under .cache/duckdb/ (idempotent)
#   scripts/duckdb.sh query SQL    run one query and print each row as a JSON object, a line each
#
# It comes from the npm package @duckdb/node-api, whose platform package ships DuckDB's
# library (nothing is downloaded at install time besides the packages), fetched with the
# ordinary npm client, and runs with node.
set -euo pipefail

readonly VERSION=1.5.6-r.1
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
readonly ROOT
readonly DIR="$ROOT/.cache/duckdb"

die() {
	echo "duckdb: $*" >&2
	exit 1
}

installed() {
	[[ -f "$DIR/node_modules/@duckdb/node-api/package.json" ]] &&
		grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/@duckdb/node-api/package.json"
}

install() {
	installed && return 0
	command -v node >/dev/null 2>&1 || die "node not found: install Node.js with npm (apt-get install -y nodejs npm)"
	command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js with npm (apt-get install -y npm)"
	mkdir -p "$DIR"
	# Several test binaries may install at once from a fresh clone; one does the work.
	exec 9>"$DIR/.lock"
	flock 9
	if installed; then
		exec 9>&-
		return 0
	fi
	echo "duckdb: fetching @duckdb/node-api@$VERSION with npm" >&2
	(cd "$DIR" && npm install --no-audit --no-fund --no-save --silent "@duckdb/node-api@$VERSION" >"$DIR/npm.log" 2>&1) ||
		die "npm install @duckdb/node-api@$VERSION failed ($(tail -n 1 "$DIR/npm.log")): check npm's registry access"
	exec 9>&-
	installed || die "@duckdb/node-api is not in $DIR/node_modules after npm install"
	echo "duckdb: installed @duckdb/node-api@$VERSION in $DIR" >&2
}

query() {
	install
	cd "$DIR"
	node --input-type=module -e '
import { DuckDBInstance } from "@duckdb/node-api";
const db = await DuckDBInstance.create(":memory:");
const c = await db.connect();
const r = await c.runAndReadAll(process.argv[1]);
for (const row of r.getRowObjectsJson()) console.log(JSON.stringify(row));
' "$1"
}

case "${1:-}" in
install) install ;;
query)
	[[ $# == 2 ]] || die "usage: $0 query SQL"
	query "$2"
	;;
*)
	echo "usage: $0 install | query SQL" >&2
	exit 2
	;;
esac
