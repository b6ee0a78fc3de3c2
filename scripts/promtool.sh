#!/usr/bin/env bash
# promtool: Prometheus's rule checker and rule unit tester, for the tests of deploy/alerts.yaml.
#
#   scripts/promtool.sh install    put it at .cache/bin/promtool (idempotent)
#   scripts/promtool.sh path       print the binary's path (installing first if needed)
#
# It comes from Debian's `prometheus` package, fetched with `apt-get download` (so whatever
# mirror apt is configured with is honoured) and unpacked with `dpkg -x` into .cache/: only
# promtool is kept. Installing the package itself would pull in a web UI's dependencies and
# start a Prometheus server, which the tests do not want. A promtool already on PATH (the
# package installed by hand) is used as it is.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
readonly ROOT
readonly BIN_DIR="$ROOT/.cache/bin"
readonly BIN="$BIN_DIR/promtool"

die() {
	echo "promtool: $*" >&2
	exit 1
}

installed() {
	[[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1
}

install() {
	installed && return 0
	if command -v promtool >/dev/null 2>&1; then
		mkdir -p "$BIN_DIR"
		ln -sf "$(command -v promtool)" "$BIN"
		return 0
	fi
	command -v apt-get >/dev/null 2>&1 ||
		die "apt-get not found: install Prometheus's promtool by hand (Debian package prometheus) and put it on PATH"
	command -v dpkg >/dev/null 2>&1 || die "dpkg not found: install promtool by hand (Debian package prometheus)"
	mkdir -p "$BIN_DIR"
	# Several test binaries may install at once from a fresh clone; one does the work.
	exec 9>"$BIN_DIR/.promtool.lock"
	flock 9
	if installed; then
		exec 9>&-
		return 0
	fi
	local tmp
	tmp="$(mktemp -d "$BIN_DIR/.promtool.XXXXXX")"
	# shellcheck disable=SC2064 # expand now: tmp is local
	trap "rm -rf '$tmp'" EXIT
	echo "promtool: fetching Debian's prometheus package with apt-get download" >&2
	if ! (cd "$tmp" && apt-get download prometheus >/dev/null 2>"$tmp/apt.err"); then
		# A fresh machine has no package lists yet; read them once and try again.
		if [[ "$(id -u)" == 0 ]]; then
			apt-get update >/dev/null 2>&1 || true
		fi
		(cd "$tmp" && apt-get download prometheus >/dev/null 2>"$tmp/apt.err") ||
			die "apt-get download prometheus failed ($(tail -n 1 "$tmp/apt.err")): run 'apt-get update' as root, or install the package prometheus"
	fi
	dpkg -x "$tmp"/prometheus_*.deb "$tmp/root" || die "unpacking the prometheus package failed"
	[[ -x "$tmp/root/usr/bin/promtool" ]] || die "the prometheus package has no usr/bin/promtool: its layout changed"
	mv "$tmp/root/usr/bin/promtool" "$BIN"
	rm -rf "$tmp"
	trap - EXIT
	exec 9>&-
	installed || die "$BIN does not run"
	echo "promtool: installed $("$BIN" --version 2>&1 | head -n 1) at $BIN" >&2
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
