#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for DURATION each and fails if any crashes.
#
#   scripts/fuzz.sh 30s            # every target, 30 s each (what CI runs)
#   scripts/fuzz.sh 5m ./writer/   # only the targets of some packages
#
# Targets are found with `go test -list '^Fuzz'` in the packages whose test files declare
# one (listing every package would start the DynamoDB Local that some TestMains launch).
# A crash leaves its input under the package's testdata/fuzz/<Target>/: commit it as a
# regression seed once the bug is fixed. Environment:
#   FUZZ_MINIMIZE_TIME  how long a new interesting or crashing input is minimised (default
#                       5s; Go's 60 s default stalls a short run on large Parquet inputs)
#   FUZZ_PARALLEL       fuzzing workers per target (default: GOMAXPROCS)
set -uo pipefail

usage() {
	echo "usage: scripts/fuzz.sh DURATION [PACKAGE...]   (e.g. scripts/fuzz.sh 30s)" >&2
	exit 2
}
[ $# -ge 1 ] || usage
duration=$1
shift
case $duration in
*[0-9]s | *[0-9]m | *[0-9]h | *[0-9]x) ;;
*) usage ;;
esac

cd "$(dirname "$0")/.." || exit 1
minimize=${FUZZ_MINIMIZE_TIME:-5s}
parallel=()
[ -n "${FUZZ_PARALLEL:-}" ] && parallel=(-parallel "$FUZZ_PARALLEL")

if [ $# -gt 0 ]; then
	pkgs=("$@")
else
	mapfile -t pkgs < <(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
		grep -v '/testdata/' | xargs -r -n1 dirname | sort -u)
fi
if [ ${#pkgs[@]} -eq 0 ]; then
	echo "fuzz: no package declares a fuzz target" >&2
	exit 1
fi

targets=()
for pkg in "${pkgs[@]}"; do
	if ! out=$(go test -list '^Fuzz' "$pkg" 2>&1); then
		echo "fuzz: cannot list the fuzz targets of $pkg:" >&2
		echo "$out" >&2
		exit 1
	fi
	while read -r name; do
		[[ $name == Fuzz* ]] && targets+=("$pkg $name")
	done <<<"$out"
done
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets found in ${pkgs[*]}" >&2
	exit 1
fi
echo "fuzz: ${#targets[@]} targets, $duration each"

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
summary=()
failed=0
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	out="$log/$name.log"
	start=$(date +%s)
	for attempt in 1 2; do
		go test -timeout 0 -run '^$' -fuzz "^${name}\$" -fuzztime "$duration" -fuzzminimizetime "$minimize" "${parallel[@]}" "$pkg" >"$out" 2>&1
		code=$?
		# Go's fuzzing engine can end a run that found nothing with "context deadline
		# exceeded" when -fuzztime expires mid-step (no failing input is written). That is
		# the tool, not the target: run the target once more; a second such end fails.
		if [ $code -ne 0 ] && ! grep -q 'testdata/fuzz/' "$out" && grep -q '^    context deadline exceeded$' "$out" && [ $attempt -eq 1 ]; then
			echo "fuzz: $pkg $name ended with the fuzzing engine's deadline race and no failing input; running it again" >&2
			continue
		fi
		break
	done
	secs=$(($(date +%s) - start))
	execs=$(grep -o 'execs: [0-9]*' "$out" | tail -1 | cut -d' ' -f2)
	interesting=$(grep -o 'new interesting: [0-9]*' "$out" | tail -1 | cut -d' ' -f3)
	if [ $code -eq 0 ]; then
		result=ok
	else
		result=FAIL
		failed=$((failed + 1))
		echo "--- FAIL: $pkg $name" >&2
		tail -40 "$out" >&2
		crasher=$(grep -o 'testdata/fuzz/[^ ]*' "$out" | head -1)
		[ -n "$crasher" ] && echo "    failing input: $pkg/$crasher (rerun: go test -run '$name/$(basename "$crasher")' $pkg)" >&2
	fi
	line=$(printf '%-4s %-24s %-28s %6ss %10s execs %5s new' "$result" "$pkg" "$name" "$secs" "${execs:-0}" "${interesting:-0}")
	echo "$line"
	summary+=("$line")
done

echo
echo "fuzz summary ($duration per target):"
printf '  %s\n' "${summary[@]}"
# The closing line in the plain "N passed, N failed" form that CI reads.
echo "fuzz: $((${#targets[@]} - failed)) passed, $failed failed"
if [ $failed -gt 0 ]; then
	exit 1
fi
