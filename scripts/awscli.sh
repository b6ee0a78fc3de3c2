#!/usr/bin/env bash
# The aws CLI, for the test that runs the `aws dynamodb import-table` command restore
# --to-s3 prints, as printed (the CLI checks its parameters against the API's model).
#
#   scripts/awscli.sh install    make sure an aws CLI that knows import-table is on PATH
#
# One already on PATH is used as it is (the machine image has one); otherwise Debian's
# awscli package is installed with apt-get (as root).
set -euo pipefail

die() {
	echo "awscli: $*" >&2
	exit 1
}

usable() {
	command -v aws >/dev/null 2>&1 && aws dynamodb import-table help >/dev/null 2>&1
}

install() {
	usable && return 0
	[[ "$(id -u)" == 0 ]] || die "no aws CLI with dynamodb import-table on PATH: install one (apt-get install -y awscli, or pip install awscli)"
	echo "awscli: installing Debian's awscli package" >&2
	if ! apt-get install -y -q awscli >/dev/null 2>&1; then
		apt-get update >/dev/null 2>&1 || true
		apt-get install -y -q awscli >/dev/null 2>&1 || die "apt-get install awscli failed: install an aws CLI by hand (pip install awscli)"
	fi
	usable || die "the installed aws CLI does not know dynamodb import-table: install a newer one"
}

case "${1:-}" in
install) install ;;
*)
	echo "usage: $0 install" >&2
	exit 2
	;;
esac
