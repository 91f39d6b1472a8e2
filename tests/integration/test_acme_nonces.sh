#!/usr/bin/env bash
# ACME nonces (RFC 8555 §6.5) and acme.nonce_scope, with two enrolld nodes
# on one database, node B reached with node A's Host as through a load
# balancer (acme_nonce_scope.py):
#  - "node" (the default): a nonce is good only on the node that handed
#    it out, and not after that node restarts; the nonces table stays
#    empty, since nothing about nonces is written;
#  - "shared": any node takes any node's nonce, once, across nodes and
#    across a restart, since nonces live in the store.

export PYTHONDONTWRITEBYTECODE=1

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for tool in sqlite3 python3 jq; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "test_acme_nonces: $tool missing (deploy/install-deps.sh)" >&2
		exit 1
	}
done
if ! python3 -c 'import cryptography' 2>/dev/null; then
	echo "test_acme_nonces: python3-cryptography is missing" >&2
	exit 1
fi

D=$T_DIR/inst
PORT=$(lib_free_port)
"$ENROLLD" init --dir "$D" --port "$PORT" >"$T_DIR/init.out" 2>&1 || {
	cat "$T_DIR/init.out" >&2
	exit 1
}
CFG=$D/enrolld.json
PORT2=$(lib_free_port)
CFG2=$D/node2.json
URL=https://127.0.0.1:$PORT/acme/directory

# table_rows OUT: the rows acme_nonce_scope.py wrote to OUT; at least one.
table_rows()
{
	lib_rows "$1"
	[ "$LIB_ROWS" -gt 0 ] || lib_fail "no result in $1: $(tail -3 "$1")"
}

# scope SCOPE: both nodes with acme.nonce_scope = SCOPE, the two checks,
# then how many nonces the store holds in $STORED.
scope()
{
	local a b
	lib_json_edit "$CFG" ".acme.nonce_scope = \"$1\""
	jq --arg l "127.0.0.1:$PORT2" '.listen = [$l]' "$CFG" >"$CFG2"
	lib_start "$CFG" "a-$1" || {
		lib_fail "$1: node A did not come up"
		return
	}
	a=$LIB_PID
	lib_start "$CFG2" "b-$1" || {
		lib_fail "$1: node B did not come up"
		return
	}
	b=$LIB_PID
	timeout 60 python3 "$LIB_DIR/acme_nonce_scope.py" nodes "$D/ca.pem" \
	    "$URL" "$PORT2" "$1" >"$T_DIR/nodes-$1.out" 2>&1
	table_rows "$T_DIR/nodes-$1.out"
	lib_check "$1: node A exits 0 on SIGTERM" lib_stop "$a"
	lib_start "$CFG" "a2-$1" || {
		lib_fail "$1: node A did not come up again"
		return
	}
	a=$LIB_PID
	timeout 60 python3 "$LIB_DIR/acme_nonce_scope.py" restart "$D/ca.pem" \
	    "$URL" "$(sed -n 's/^nonce: //p' "$T_DIR/nodes-$1.out")" "$1" \
	    >"$T_DIR/restart-$1.out" 2>&1
	table_rows "$T_DIR/restart-$1.out"
	lib_check "$1: node A exits 0 on SIGTERM after the restart" \
	    lib_stop "$a"
	lib_check "$1: node B exits 0 on SIGTERM" lib_stop "$b"
	STORED=$(sqlite3 "$D/enrolld.db" 'SELECT count(*) FROM nonces')
}

scope node
lib_check "node: the store holds no nonce (got $STORED)" \
    test "$STORED" = 0
scope shared
lib_check "shared: the store holds the nonces handed out (got $STORED)" \
    test "$STORED" -gt 3

lib_summary
