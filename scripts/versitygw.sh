#!/usr/bin/env bash
# versitygw: a real S3 gateway over a local directory, for the tests of the S3 backend.
#
#   scripts/versitygw.sh install    build it into .cache/bin/versitygw (idempotent)
#   scripts/versitygw.sh path       print the binary's path (installing first if needed)
#
# It is built from source with `go install` through the ordinary Go module proxy. The
# version is recorded in a stamp file beside the binary, so a changed pin rebuilds it and
# an unchanged one costs nothing. Go tests do not start it through this script:
# internal/s3local launches the binary itself so every test binary gets its own server.
set -euo pipefail

readonly VERSITYGW_VERSION=v1.8.0
readonly MODULE=github.com/versity/versitygw/cmd/versitygw
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
readonly ROOT
readonly BIN_DIR="$ROOT/.cache/bin"
readonly BIN="$BIN_DIR/versitygw"
readonly STAMP="$BIN_DIR/versitygw.version"

die() {
	echo "versitygw: $*" >&2
	exit 1
}

installed() {
	[[ -x "$BIN" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSITYGW_VERSION" ]]
}

install() {
	installed && return 0
	command -v go >/dev/null 2>&1 ||
		die "go not found: install the Go toolchain (the one that builds ddbtape) to build versitygw $VERSITYGW_VERSION"
	mkdir -p "$BIN_DIR"
	# Several test binaries may install at once from a fresh clone; one builds, the others
	# wait and then find it done.
	exec 9>"$BIN_DIR/.versitygw.lock"
	flock 9
	if installed; then
		exec 9>&-
		return 0
	fi
	echo "versitygw: building $MODULE@$VERSITYGW_VERSION (takes a few minutes the first time)" >&2
	local tmp
	tmp="$(mktemp -d "$BIN_DIR/.install.XXXXXX")"
	# shellcheck disable=SC2064 # expand now: tmp is local
	trap "rm -rf '$tmp'" EXIT
	# Outside the module: its go.mod must not steer the tool's build. GOFLAGS from the
	# caller (e.g. -mod=vendor) would break a module-mode install, so it is cleared.
	(cd "$tmp" && GOFLAGS= GOBIN="$tmp" go install "$MODULE@$VERSITYGW_VERSION") ||
		die "go install $MODULE@$VERSITYGW_VERSION failed: check access to the Go module proxy ($(go env GOPROXY))"
	# The binary moves first and the stamp last, so a half-done install is rebuilt.
	rm -f "$STAMP"
	mv "$tmp/versitygw" "$BIN"
	echo "$VERSITYGW_VERSION" >"$STAMP"
	rm -rf "$tmp"
	trap - EXIT
	exec 9>&-
	echo "versitygw: installed $VERSITYGW_VERSION at $BIN" >&2
}

usage() {
	echo "usage: $0 install | path" >&2
	exit 2
}

case "${1:-}" in
install) install ;;
path)
	install
	echo "$BIN"
	;;
*) usage ;;
esac
