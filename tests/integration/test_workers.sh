#!/usr/bin/env bash
# Connections are dealt to the workers in turn (core/server.c): N
# keep-alive TLS connections held open together, on a server with W
# workers, are served N/W per worker, whatever the kernel's hash of their
# ports would have said (with a listening socket per worker, four
# connections on two workers split 2:2 only three times in eight).  The
# worker is read from each request's id in the log (core/http.c: prefix,
# worker index, counter).  Then SIGTERM still exits 0.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

D=$T_DIR/inst
W=$T_DIR/work
mkdir -p "$W"

# spread WORKERS CONNS ROUNDS: start a server with WORKERS workers, hold
# CONNS connections open at once and send ROUNDS requests on each (path
# /spread/ROUND/CONN), stop it.  The log is $T_DIR/workersWORKERS.log.
spread()
{
	local workers=$1 conns=$2 rounds=$3
	rm -rf "$D"
	"$ENROLLD" init --dir "$D" --port "$(lib_free_port)" \
	    --est-user "w:w-pass-$RANDOM" >"$W/init.out" 2>&1 || {
		cat "$W/init.out" >&2
		return 1
	}
	lib_json_edit "$D/enrolld.json" '.workers = $n' --argjson n "$workers"
	lib_start "$D/enrolld.json" "workers$workers" || return 1
	timeout 60 python3 - "$LIB_PORT" "$D/ca.pem" "$conns" "$rounds" \
	    >"$W/client$workers.out" 2>&1 <<'EOF'
import socket, ssl, sys
port, ca, conns, rounds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ctx = ssl.create_default_context(cafile=ca)
socks = []
for c in range(conns):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20),
                        server_hostname="localhost")
    socks.append(s)
for r in range(rounds):
    for c, s in enumerate(socks):
        s.sendall(("GET /spread/%d/%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % (r, c)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                sys.exit("connection %d closed" % c)
            head += chunk
        hdr, _, body = head.partition(b"\r\n\r\n")
        length = 0
        for line in hdr.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        while len(body) < length:
            body += s.recv(4096)
print("done")
EOF
	lib_stop
}

# conn_workers LOG CONNS: for each connection, the worker ids (sorted,
# unique) that served its requests, one line per connection.
conn_workers()
{
	local log=$1 conns=$2 c
	for c in $(seq 0 $((conns - 1))); do
		grep -E "path=\"/spread/[0-9]+/$c\"" "$log" |
		    sed -E 's/.*req=[0-9a-f]{8}([0-9a-f]{2}).*/\1/' | sort -u |
		    tr '\n' ' '
		echo
	done
}

# check WORKERS CONNS ROUNDS
check()
{
	local workers=$1 conns=$2 rounds=$3 log per
	if ! spread "$workers" "$conns" "$rounds"; then
		lib_fail "$workers workers, $conns connections: server or client failed"
		cat "$W/client$workers.out" >&2
		return
	fi
	log=$T_DIR/workers$workers.log
	lib_check "$workers workers: all $((conns * rounds)) requests answered" \
	    [ "$(grep -c 'path="/spread/' "$log")" = $((conns * rounds)) ]
	conn_workers "$log" "$conns" >"$W/map$workers"
	lib_check "$workers workers: each connection stays on one worker" \
	    [ "$(awk 'NF != 1' "$W/map$workers" | wc -l)" = 0 ]
	# "N W" lines: N connections on worker W.
	per=$(sort "$W/map$workers" | uniq -c | awk '{print $1 " " $2}')
	even=no
	[ "$(echo "$per" | wc -l)" = "$workers" ] &&
	    [ "$(echo "$per" | awk -v n=$((conns / workers)) '$1 != n' |
		wc -l)" = 0 ] && even=yes
	lib_check "$workers workers, $conns connections: $((conns / workers)) on each worker (got: $(echo $per))" \
	    [ "$even" = yes ]
}

check 2 4 3
check 3 6 2

lib_summary
