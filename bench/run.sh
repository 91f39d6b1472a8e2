#!/usr/bin/env bash
# One command for the EST benchmark (bench/README.md):
#   bench/run.sh [BUILD_DIR]          (default: build)
# Inits a fresh instance in a temporary directory, starts it, runs
# bench_est at c=1, 4 and 16, stops it (SIGTERM, must exit 0) and removes
# the instance.  Environment: N (enrollments per run, default 2000),
# CA_KEY (p256), CSR_KEY (p256), LEVELS ("1 4 16").

set -u

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$SRC/build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
N=${N:-2000}
CA_KEY=${CA_KEY:-p256}
CSR_KEY=${CSR_KEY:-p256}
LEVELS=${LEVELS:-1 4 16}
ENROLLD=${ENROLLD:-$BUILD/enrolld}
BENCH=${BENCH:-$BUILD/bench/bench_est}

for f in "$ENROLLD" "$BENCH"; do
	if [ ! -x "$f" ]; then
		echo "run.sh: $f not built (cmake --build $BUILD)" >&2
		exit 2
	fi
done

DIR=$(mktemp -d "${TMPDIR:-/tmp}/enrolld-bench.XXXXXX")
PID=
cleanup()
{
	[ -n "$PID" ] && kill -KILL "$PID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PORT=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PASS=bench-$(openssl rand -hex 8)
"$ENROLLD" init --dir "$DIR/inst" --port "$PORT" --ca-key "$CA_KEY" \
    --est-user "bench:$PASS" >"$DIR/init.log" 2>&1 || {
	cat "$DIR/init.log" >&2
	exit 1
}

# The request log goes to a file: one line per request is part of the
# cost measured, a terminal would not be.
"$ENROLLD" run --config "$DIR/inst/enrolld.json" >"$DIR/run.log" 2>&1 &
PID=$!
for i in $(seq 300); do
	grep -q 'listening on' "$DIR/run.log" && break
	if ! kill -0 "$PID" 2>/dev/null || [ "$i" = 300 ]; then
		echo "run.sh: enrolld did not start:" >&2
		cat "$DIR/run.log" >&2
		exit 1
	fi
	sleep 0.1
done

echo "# enrolld $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null ||
    echo '(no commit)'), CA key $CA_KEY, CSR key $CSR_KEY, $(nproc) CPUs," \
    "$(openssl version | cut -d' ' -f1-2)"
status=0
for c in $LEVELS; do
	"$BENCH" --url "https://127.0.0.1:$PORT" --cacert "$DIR/inst/ca.pem" \
	    --user "bench:$PASS" -n "$N" -c "$c" --key "$CSR_KEY" \
	    --ca-key "$CA_KEY" || status=1
done

kill -TERM "$PID"
for i in $(seq 300); do
	kill -0 "$PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$PID" 2>/dev/null; then
	echo "run.sh: enrolld ignored SIGTERM" >&2
	status=1
else
	wait "$PID"
	rc=$?
	PID=
	if [ "$rc" != 0 ]; then
		echo "run.sh: enrolld exited $rc on SIGTERM" >&2
		status=1
	fi
fi
exit $status
