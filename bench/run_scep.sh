#!/usr/bin/env bash
# One command for the SCEP enrollment benchmark (bench/README.md):
#   bench/run_scep.sh [BUILD_DIR]          (default: build)
# Builds nothing: expects BUILD_DIR/enrolld and BUILD_DIR/bench/bench_scep,
# Debian's scepserver (package scep), unshare and ip (run as root).
# Makes a fresh enrolld instance with an RSA-2048 CA, runs bench_scep
# against it at c=1 and c=8 and stops it; then makes a scepserver depot
# with an RSA-2048 CA and, in a private network namespace (scepserver
# listens on every interface), runs scepserver and the same two
# bench_scep runs.  Prints a summary with the enrolld/scepserver ratio of
# successful enrollments/s at c=8, stops everything by PID and removes
# the temporary directory.  Both servers get the same enrollments: the
# enrolld runs write their request keys (one fresh RSA-2048 key per
# request) to a file, the scepserver runs read them.  Exit status 1 when any enrolld enrollment
# failed or a run did not finish; scepserver's failures are reported,
# not fatal.
# Environment: N1 (100), N8 (200), CIPHER (aes; or 3des: the request
# envelope).

set -u

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$SRC/build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
ENROLLD=${ENROLLD:-$BUILD/enrolld}
BENCH=${BENCH:-$BUILD/bench/bench_scep}
N1=${N1:-100}
N8=${N8:-200}
CIPHER=${CIPHER:-aes}

for f in "$ENROLLD" "$BENCH" "$(command -v scepserver)" \
    "$(command -v unshare)" "$(command -v ip)" "$(command -v curl)"; do
	if [ ! -x "$f" ]; then
		echo "run_scep.sh: missing $f (cmake --build $BUILD;" \
		    "apt-get install scep iproute2 curl)" >&2
		exit 2
	fi
done

DIR=$(mktemp -d "${TMPDIR:-/tmp}/enrolld-scep-bench.XXXXXX")
PIDS=()
cleanup()
{
	local p
	[ -s "$DIR/scepserver.pid" ] && PIDS+=("$(cat "$DIR/scepserver.pid")")
	for p in "${PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 0.3
	for p in "${PIDS[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port()
{
	python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ENR=$(port) ENRHTTP=$(port) SCEPPORT=$(port)
CHALLENGE=$(openssl rand -hex 12)

REV=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?')
git -C "$SRC" diff --quiet HEAD -- 2>/dev/null || REV="$REV+dirty"
echo "# $(date -u +%Y-%m-%dT%H:%MZ), enrolld $REV," \
    "$(nproc) CPUs, $(openssl version | cut -d' ' -f1-2)," \
    "scep $(dpkg-query -W -f '${Version}' scep 2>/dev/null)," \
    "cipher $CIPHER, N $N1/$N8"

status=0
OUT=$DIR/results
: >"$OUT"

# ---------------------------------------------------------------- enrolld

"$ENROLLD" init --dir "$DIR/inst" --port "$ENR" --http-port "$ENRHTTP" \
    --scep-challenge "$CHALLENGE" --est-user "bench:$(openssl rand -hex 8)" \
    --ca-key rsa2048 >"$DIR/init.log" 2>&1 || {
	cat "$DIR/init.log" >&2
	exit 1
}
# The request log goes to a file: a line per request is part of the
# cost measured, a terminal would not be.
"$ENROLLD" run --config "$DIR/inst/enrolld.json" >"$DIR/enrolld.log" 2>&1 &
ENRPID=$!
PIDS+=("$ENRPID")
for i in $(seq 300); do
	grep -q "listening on http://" "$DIR/enrolld.log" && break
	if ! kill -0 "$ENRPID" 2>/dev/null || [ "$i" = 300 ]; then
		echo "run_scep.sh: enrolld did not start:" >&2
		cat "$DIR/enrolld.log" >&2
		exit 1
	fi
	sleep 0.1
done

# bench_enrolld C N: one run; its line goes to stdout and $OUT.
bench_enrolld()
{
	"$BENCH" --url "http://127.0.0.1:$ENRHTTP/scep" \
	    --challenge "$CHALLENGE" -n "$2" -c "$1" --cipher "$CIPHER" \
	    --keys "$DIR/keys.c$1.pem" --label enrolld | tee -a "$OUT"
}
bench_enrolld 1 "$N1"
bench_enrolld 8 "$N8"

kill -TERM "$ENRPID"
for i in $(seq 100); do
	kill -0 "$ENRPID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$ENRPID" 2>/dev/null; then
	echo "run_scep.sh: enrolld did not stop on SIGTERM" >&2
	status=1
elif ! wait "$ENRPID"; then
	echo "run_scep.sh: enrolld exited non-zero:" >&2
	tail -5 "$DIR/enrolld.log" >&2
	status=1
fi
# Anything enrolld said above info level, in case enrollments failed.
grep -E 'level=(warn|error)' "$DIR/enrolld.log" | head -10 >&2

# ------------------------------------------------------------- scepserver

scepserver ca -init -depot "$DIR/depot" -keySize 2048 \
    >"$DIR/depot.log" 2>&1 || {
	cat "$DIR/depot.log" >&2
	exit 1
}
# Runs inside `unshare -n`: loopback up, scepserver (its PID in a file,
# for the outer cleanup: the PID namespace is shared), the two runs.
cat >"$DIR/ns.sh" <<'EOF'
set -u
DIR=$1 BENCH=$2 PORT=$3 CHALLENGE=$4 N1=$5 N8=$6 CIPHER=$7
ip link set lo up || exit 1
scepserver -depot "$DIR/depot" -port "$PORT" -challenge "$CHALLENGE" \
    -allowrenew 0 >"$DIR/scepserver.log" 2>&1 &
S=$!
echo "$S" >"$DIR/scepserver.pid"
trap 'kill -TERM "$S" 2>/dev/null; wait "$S"' EXIT
trap 'exit 130' INT TERM
i=0
until curl -sf -o /dev/null \
    "http://127.0.0.1:$PORT/scep?operation=GetCACaps"; do
	i=$((i + 1))
	if ! kill -0 "$S" 2>/dev/null || [ "$i" -ge 100 ]; then
		echo "run_scep.sh: scepserver did not start:" >&2
		cat "$DIR/scepserver.log" >&2
		exit 1
	fi
	sleep 0.1
done
for c in 1 8; do
	if [ "$c" = 1 ]; then n=$N1; else n=$N8; fi
	"$BENCH" --url "http://127.0.0.1:$PORT/scep" \
	    --challenge "$CHALLENGE" -n "$n" -c "$c" --cipher "$CIPHER" \
	    --keys "$DIR/keys.c$c.pem" --label scepserver
done
EOF
unshare -n sh "$DIR/ns.sh" "$DIR" "$BENCH" "$SCEPPORT" "$CHALLENGE" \
    "$N1" "$N8" "$CIPHER" | tee -a "$OUT"
# Why scepserver's failed enrollments failed, as it logged them.
grep -v 'err=null' "$DIR/scepserver.log" | grep -o 'err="[^"]*"' |
    sort | uniq -c | head -5 >&2

# ---------------------------------------------------------------- summary

# field NAME C KEY: the value of KEY in that run's line ("enroll/s" is
# the number before it, the others KEY=value).
field()
{
	awk -v l="scep enroll $1 c=$2 " -v k="$3" 'index($0, l) == 1 {
		for (i = 1; i <= NF; i++) {
			if (k == "rate" && $i == "enroll/s") print $(i - 1)
			if (index($i, k "=") == 1) print substr($i, length(k) + 2)
		} }' "$OUT"
}
for c in 1 8; do
	for s in enrolld scepserver; do
		if [ -z "$(field $s $c rate)" ]; then
			echo "run_scep.sh: no result for $s c=$c" >&2
			status=1
		fi
	done
	f=$(field enrolld $c failed)
	[ "${f:-1}" = 0 ] || status=1
done
en=$(field enrolld 8 rate)
sc=$(field scepserver 8 rate)
echo "# summary: c=8 enrolld ${en:-?} enroll/s" \
    "(failed $(field enrolld 8 failed)), scepserver ${sc:-?} enroll/s" \
    "(failed $(field scepserver 8 failed)), ratio" \
    "$(awk -v a="${en:-0}" -v b="${sc:-0}" \
	'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "n/a" }')"
exit $status
