#!/usr/bin/env bash
# DynamoDB Local (the real one, with Streams) for tests and the README demo.
#
#   scripts/dynamodb-local.sh install        fetch it into .cache/dynamodb-local/ (idempotent)
#   scripts/dynamodb-local.sh start [PORT]   start one in-memory instance in the background and
#                                            print its endpoint (http://127.0.0.1:PORT), only that
#   scripts/dynamodb-local.sh stop           stop the instance started by `start`
#
# It comes from the npm package amplify-dynamodb-simulator, which ships AWS's DynamoDBLocal.jar
# with its native SQLite libraries; `npm pack` fetches it through the ordinary npm client, so
# whatever registry or proxy npm is configured with is honoured. Go tests do not use `start`:
# internal/ddblocal launches java itself so every test binary gets its own instance.
set -euo pipefail

readonly SIMULATOR_VERSION=2.9.30
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
readonly ROOT
readonly CACHE="$ROOT/.cache/dynamodb-local"
readonly JAR="$CACHE/DynamoDBLocal.jar"
readonly LIB="$CACHE/DynamoDBLocal_lib"
readonly RUN="$CACHE/run"
readonly START_TIMEOUT_SECONDS=60

die() {
	echo "dynamodb-local: $*" >&2
	exit 1
}

need_java() {
	command -v java >/dev/null 2>&1 ||
		die "java not found: install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)"
	java -version >/dev/null 2>&1 ||
		die "java is installed but 'java -version' fails: reinstall OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)"
}

need_npm() {
	command -v npm >/dev/null 2>&1 ||
		die "npm not found: install Node.js with npm (apt-get install -y npm) to fetch DynamoDB Local"
}

installed() {
	[[ -f "$JAR" && -d "$LIB" ]]
}

install() {
	need_java
	installed && return 0
	need_npm
	mkdir -p "$CACHE"
	# Several test binaries may install at once from a fresh clone; one does the work, the
	# others wait and then find it done.
	exec 9>"$CACHE/.install.lock"
	flock 9
	if installed; then
		exec 9>&-
		return 0
	fi
	local tmp
	tmp="$(mktemp -d "$CACHE/.install.XXXXXX")"
	# shellcheck disable=SC2064 # expand now: tmp is local
	trap "rm -rf '$tmp'" EXIT
	echo "dynamodb-local: fetching amplify-dynamodb-simulator@$SIMULATOR_VERSION with npm" >&2
	(cd "$tmp" && npm pack --silent "amplify-dynamodb-simulator@$SIMULATOR_VERSION" >/dev/null) ||
		die "npm pack amplify-dynamodb-simulator@$SIMULATOR_VERSION failed: check network access to the npm registry ($(npm config get registry 2>/dev/null))"
	tar -xzf "$tmp"/amplify-dynamodb-simulator-*.tgz -C "$tmp" ||
		die "unpacking amplify-dynamodb-simulator failed"
	[[ -f "$tmp/package/emulator/DynamoDBLocal.jar" && -d "$tmp/package/emulator/DynamoDBLocal_lib" ]] ||
		die "amplify-dynamodb-simulator@$SIMULATOR_VERSION has no emulator/DynamoDBLocal.jar: the package layout changed"
	# The jar is what marks the install done, so it moves last; a lib left by an interrupted
	# install is replaced.
	rm -rf "$LIB"
	mv "$tmp/package/emulator/DynamoDBLocal_lib" "$LIB"
	mv "$tmp/package/emulator/DynamoDBLocal.jar" "$JAR"
	rm -rf "$tmp"
	trap - EXIT
	exec 9>&-
	local version
	version="$(cd "$CACHE" && java -jar "$JAR" -version 2>&1 | head -n 1)" ||
		die "java cannot run $JAR: $version"
	echo "dynamodb-local: installed DynamoDB Local $version in $CACHE" >&2
}

# free_port picks a random high port that nothing answers on. Another process could take it
# before java binds it; java then exits at once and start says so.
free_port() {
	local port tries
	for ((tries = 0; tries < 200; tries++)); do
		port=$((20000 + RANDOM % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	die "no free TCP port found on 127.0.0.1"
}

# ours tells whether a pid is a live DynamoDB Local, so a recycled pid is never killed.
ours() {
	local pid="$1"
	[[ -n "$pid" && -r "/proc/$pid/cmdline" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q DynamoDBLocal.jar
}

answers_http() {
	# Any HTTP status means the server is up (an unsigned GET gets 400).
	curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" 2>/dev/null
}

start() {
	local want="${1:-}"
	if [[ -n "$want" && ! "$want" =~ ^[0-9]+$ ]]; then
		die "port must be a number, got '$want'"
	fi
	command -v curl >/dev/null 2>&1 || die "curl not found: install curl (apt-get install -y curl)"
	install
	mkdir -p "$RUN"
	local pid port
	pid="$(cat "$RUN/pid" 2>/dev/null || true)"
	if ours "$pid"; then
		port="$(cat "$RUN/port")"
		if [[ -n "$want" && "$want" != "$port" ]]; then
			die "already running on port $port (pid $pid): run '$0 stop' first"
		fi
		echo "http://127.0.0.1:$port"
		return 0
	fi
	port="${want:-$(free_port)}"
	# -sharedDb: one database whatever the credentials and region, so a ddbtape subprocess
	# with other credentials sees the same tables. -disableTelemetry: no calls out to AWS.
	# stdout and stderr go to the log, so `$(start)` in a caller does not wait on java.
	(cd "$RUN" && exec setsid java -Djava.library.path="$LIB" -jar "$JAR" \
		-inMemory -sharedDb -disableTelemetry -port "$port" \
		</dev/null >"$RUN/dynamodb-local.log" 2>&1) &
	pid=$!
	local deadline=$((SECONDS + START_TIMEOUT_SECONDS))
	until answers_http "$port"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$RUN/dynamodb-local.log" >&2 || true
			die "DynamoDB Local exited during start-up (log: $RUN/dynamodb-local.log)"
		fi
		if ((SECONDS >= deadline)); then
			kill "$pid" 2>/dev/null || true
			die "DynamoDB Local did not answer on port $port within ${START_TIMEOUT_SECONDS}s (log: $RUN/dynamodb-local.log)"
		fi
		sleep 0.2
	done
	echo "$pid" >"$RUN/pid"
	echo "$port" >"$RUN/port"
	echo "http://127.0.0.1:$port"
}

stop() {
	local pid
	pid="$(cat "$RUN/pid" 2>/dev/null || true)"
	if ours "$pid"; then
		kill "$pid"
		local i
		for ((i = 0; i < 50; i++)); do
			ours "$pid" || break
			sleep 0.2
		done
		if ours "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
		echo "dynamodb-local: stopped pid $pid" >&2
	else
		echo "dynamodb-local: not running" >&2
	fi
	rm -f "$RUN/pid" "$RUN/port"
}

usage() {
	echo "usage: $0 install | start [PORT] | stop" >&2
	exit 2
}

case "${1:-}" in
install) install ;;
start) start "${2:-}" ;;
stop) stop ;;
*) usage ;;
esac
