#!/usr/bin/env bash
# ACME (RFC 8555) error paths against a fresh enrolld: the table of broken
# requests in acme_bad_cases.py (driven by acme_client.py), each asserting
# an exact status and problem type, a problem+json body with a
# Replay-Nonce, and that the next good request still works.  Validation
# is real: names resolve through pebble-challtestsrv's DNS to 127.0.0.1,
# where the test's own http-01 responder listens.

# Importing acme_client.py must leave no __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

D=$T_DIR/inst
W=$T_DIR/work
mkdir -p "$W"

for tool in pebble-challtestsrv python3 jq; do
	if ! command -v "$tool" >/dev/null; then
		echo "test_acme_bad: $tool is missing (deploy/install-deps.sh)" >&2
		exit 1
	fi
done
if ! python3 -c 'import cryptography' 2>/dev/null; then
	echo "test_acme_bad: python3-cryptography is missing" >&2
	exit 1
fi

PORT=$(lib_free_port)
HTTP01=$(lib_free_port)
TLSALPN=$(lib_free_port)
DNS=$(lib_free_port)
MGMT=$(lib_free_port)

if ! "$ENROLLD" init --dir "$D" --port "$PORT" --est-user u:p-acme-bad \
    --http01-port "$HTTP01" --tlsalpn01-port "$TLSALPN" \
    --acme-resolver "127.0.0.1:$DNS" --allow-private-targets \
    --allow-domain example.com >"$W/init.out" 2>&1; then
	echo "enrolld init failed:" >&2
	cat "$W/init.out" >&2
	exit 1
fi
CFG=$D/enrolld.json
# The wildcard row needs wildcards allowed (and then offered dns-01 only).
lib_json_edit "$CFG" '.profiles.default.dns.allow_wildcards = true'
# The rate-limit rows: per-account limits only their own accounts reach
# (FAILED_VALIDATIONS_PER_HOUR and ORDERS_PER_HOUR in acme_bad_cases.py).
lib_json_edit "$CFG" '.acme.failed_validations_per_hour = 3 |
    .acme.orders_per_hour = 40'

if ! lib_start_challtestsrv "$DNS" "$MGMT"; then
	lib_fail "pebble-challtestsrv did not come up"
	lib_summary
fi
if ! lib_start "$CFG" enrolld; then
	lib_fail "enrolld run did not come up"
	lib_summary
fi

# The table: one "ok   - " or "FAIL - " line per row, counted here.
timeout 600 python3 "$LIB_DIR/acme_bad_cases.py" "$D/ca.pem" \
    "https://127.0.0.1:$LIB_PORT/acme/directory" "$HTTP01" \
    "$D/enrolld.db" >"$W/cases.out" 2>&1
rc=$?
lib_rows "$W/cases.out"
if [ "$rc" -gt 1 ] || [ "$LIB_ROWS" -lt 56 ]; then
	lib_fail "acme_bad_cases.py exited $rc after $LIB_ROWS rows: $(tail -5 \
	    "$W/cases.out" | tr '\n' ' ')"
fi

lib_check "enrolld exits 0 on SIGTERM" lib_stop "$LIB_PID"
if [ "$T_FAIL" -gt 0 ]; then
	echo "--- acme_bad_cases.py output (last 20 lines) ---"
	tail -20 "$W/cases.out"
	echo "--- enrolld log (last 40 lines) ---"
	tail -40 "$LIB_LOG"
fi
lib_summary
