# Shared helpers for the integration tests (sourced, never run).
#
# What a test gets from here:
#   - $ENROLLD: the binary under test ($ENROLLD, else $ENROLLD_BUILD_DIR/enrolld,
#     else build/enrolld at the top of the tree);
#   - $T_DIR: a private temporary directory, removed on any exit;
#   - lib_free_port, lib_start, lib_stop: run one enrolld on loopback, wait
#     for its `listening on` line with a bounded timeout, stop it with SIGTERM
#     and check it exits 0; whatever was started is killed on any exit;
#   - lib_ok / lib_fail / lib_check / lib_summary: the `N passed, M failed`
#     bookkeeping every test ends with.
# Every wait here is bounded; nothing listens beyond 127.0.0.1.

set -u

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC_DIR=${ENROLLD_SOURCE_DIR:-$(cd "$LIB_DIR/../.." && pwd)}
if [ -z "${ENROLLD:-}" ]; then
	if [ -n "${ENROLLD_BUILD_DIR:-}" ]; then
		ENROLLD=$ENROLLD_BUILD_DIR/enrolld
	else
		ENROLLD=$SRC_DIR/build/enrolld
	fi
fi
if [ ! -x "$ENROLLD" ]; then
	echo "lib.sh: no enrolld binary at $ENROLLD (set ENROLLD)" >&2
	exit 2
fi

# How long a server may take to say it listens, and to stop (seconds).
LIB_START_TIMEOUT=${LIB_START_TIMEOUT:-30}
LIB_STOP_TIMEOUT=${LIB_STOP_TIMEOUT:-30}
# Every curl a test runs goes through $CURL so none can hang.
CURL="curl -sS --max-time 20"

T_PASS=0
T_FAIL=0
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/enrolld-it.XXXXXX")
LIB_PIDS=()
LIB_PID=
LIB_LOG=
LIB_PORT=

# Kill everything this test started, then remove its files.  TERM first
# so servers can flush, KILL whatever is left after two seconds.
lib_cleanup()
{
	local pid i
	for pid in "${LIB_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null
	done
	for i in $(seq 20); do
		local alive=0
		for pid in "${LIB_PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for pid in "${LIB_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	rm -rf "$T_DIR"
}
trap lib_cleanup EXIT
trap 'exit 130' INT TERM

lib_ok()
{
	T_PASS=$((T_PASS + 1))
	echo "ok   - $*"
}

lib_fail()
{
	T_FAIL=$((T_FAIL + 1))
	echo "FAIL - $*"
}

# lib_check DESCRIPTION COMMAND...: one case that passes when the command
# succeeds.
lib_check()
{
	local what=$1
	shift
	if "$@"; then
		lib_ok "$what"
	else
		lib_fail "$what"
	fi
}

# lib_rows FILE: each "ok   - " / "FAIL - " line a helper script wrote to
# FILE counts as one case of this test; LIB_ROWS says how many there were.
lib_rows()
{
	local line
	LIB_ROWS=0
	while IFS= read -r line; do
		case $line in
		"ok   - "*) lib_ok "${line#ok   - }" ;;
		"FAIL - "*) lib_fail "${line#FAIL - }" ;;
		*) continue ;;
		esac
		LIB_ROWS=$((LIB_ROWS + 1))
	done <"$1"
}

# Print the summary line and leave with the test's verdict.
lib_summary()
{
	echo "$T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ] || exit 1
	exit 0
}

# A port nobody listens on right now, chosen by the kernel.
lib_free_port()
{
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Remember a background process so the exit trap stops it.
lib_track()
{
	LIB_PIDS+=("$1")
}

# lib_start CONFIG [NAME]: run `enrolld run --config CONFIG` in the
# background (stdout and stderr to $T_DIR/NAME.log), wait until it prints
# `listening on https://ADDR:PORT`.  Sets LIB_PID, LIB_LOG and LIB_PORT
# (taken from that line).  Returns 1 if it exits or stays silent too long.
lib_start()
{
	local config=$1 name=${2:-enrolld} i line
	LIB_LOG=$T_DIR/$name.log
	: >"$LIB_LOG"
	"$ENROLLD" run --config "$config" >>"$LIB_LOG" 2>&1 &
	LIB_PID=$!
	lib_track "$LIB_PID"
	for i in $(seq $((LIB_START_TIMEOUT * 10))); do
		line=$(grep -m1 -o 'listening on https://[^ ]*' "$LIB_LOG")
		if [ -n "$line" ]; then
			LIB_PORT=${line##*:}
			LIB_PORT=${LIB_PORT%%/*}
			return 0
		fi
		if ! kill -0 "$LIB_PID" 2>/dev/null; then
			echo "lib_start: enrolld exited early; log:" >&2
			sed 's/^/    /' "$LIB_LOG" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "lib_start: no 'listening on' line in ${LIB_START_TIMEOUT}s" >&2
	sed 's/^/    /' "$LIB_LOG" >&2
	return 1
}

# lib_stop [PID]: SIGTERM, wait (bounded), and return 0 only if the
# process exited with status 0.  A process that does not stop is killed
# and counts as a failure.
lib_stop()
{
	local pid=${1:-$LIB_PID} i rc
	kill -TERM "$pid" 2>/dev/null || return 1
	for i in $(seq $((LIB_STOP_TIMEOUT * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "lib_stop: $pid ignored SIGTERM for ${LIB_STOP_TIMEOUT}s" >&2
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 1
	fi
	wait "$pid"
	rc=$?
	[ "$rc" -eq 0 ] || echo "lib_stop: $pid exited with $rc" >&2
	return "$rc"
}

# lib_json_path FILE KEY: the jq path (JSON array) of the first object
# member named KEY anywhere in FILE, or nothing.
lib_json_path()
{
	jq -c --arg k "$2" \
	    '[paths | select(.[-1] == $k)] | first // empty' "$1"
}

# lib_json_edit FILE JQ-FILTER [jq args...]: rewrite FILE in place.
lib_json_edit()
{
	local file=$1 filter=$2
	shift 2
	jq "$@" "$filter" "$file" >"$file.new" && mv "$file.new" "$file"
}

# lib_pubkey FILE: the SubjectPublicKeyInfo (PEM) of a certificate or of
# a private key, so the two can be compared.
lib_pubkey()
{
	if grep -q 'BEGIN CERTIFICATE' "$1" 2>/dev/null; then
		openssl x509 -in "$1" -noout -pubkey 2>/dev/null
	else
		openssl pkey -in "$1" -pubout 2>/dev/null
	fi
}

# lib_ca_key DIR: the path of the CA private key of the instance in DIR.
# Looks first at the file names in the config's "backends" section (the
# documented place), then at every file in DIR; either way the key must
# match DIR/ca.pem's public key.
lib_ca_key()
{
	local dir=$1 want f
	want=$(lib_pubkey "$dir/ca.pem")
	[ -n "$want" ] || return 1
	for f in $(jq -r '.backends // {} | .. | strings' \
	    "$dir/enrolld.json" 2>/dev/null) "$dir"/* "$dir"/*/*; do
		case $f in
		/*) ;;
		*) f=$dir/$f ;;
		esac
		[ -f "$f" ] || continue
		grep -q 'PRIVATE KEY' "$f" 2>/dev/null || continue
		if [ "$(lib_pubkey "$f")" = "$want" ]; then
			echo "$f"
			return 0
		fi
	done
	return 1
}

# lib_file_mode FILE: the permission bits in octal, e.g. 600.
lib_file_mode()
{
	stat -c '%a' "$1"
}

# lib_start_challtestsrv DNS_PORT MGMT_PORT: Pebble's mock DNS (every name
# resolves to 127.0.0.1; TXT records set over its management API) in the
# background, tracked; waits (bounded) until its management port answers.
lib_start_challtestsrv()
{
	local dns=$1 mgmt=$2 i
	pebble-challtestsrv -dns01 "127.0.0.1:$dns" -http01 "" -https01 "" \
	    -tlsalpn01 "" -management "127.0.0.1:$mgmt" \
	    -defaultIPv4 127.0.0.1 -defaultIPv6 "" >"$T_DIR/cts.log" 2>&1 &
	lib_track $!
	for i in $(seq 100); do
		curl -s --max-time 2 -o /dev/null "http://127.0.0.1:$mgmt/" \
		    2>/dev/null && return 0
		sleep 0.1
	done
	echo "pebble-challtestsrv did not answer on $mgmt:" >&2
	cat "$T_DIR/cts.log" >&2
	return 1
}
