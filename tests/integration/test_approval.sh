#!/usr/bin/env bash
# The approval queue of the common pipeline (core/approval.h), through the
# three protocols with real clients: a profile with require_approval
# answers EST with 202 + Retry-After, SCEP with PENDING and ACME with an
# order "processing"; `enrolld pending` lists, approves and rejects; the
# client's retry then gets its certificate (the same one however often it
# asks) or a refusal.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

D=$T_DIR/inst
W=$T_DIR/work
mkdir -p "$W"
PORT=$(lib_free_port)
HPORT=$(lib_free_port)
DNS=$(lib_free_port)
LEGO_HTTP=$(lib_free_port)
"$ENROLLD" init --dir "$D" --port "$PORT" --http-port "$HPORT" \
    --scep-challenge s3cret --est-user u:p --ca-key rsa2048 \
    --acme-resolver "127.0.0.1:$DNS" --http01-port "$LEGO_HTTP" \
    --allow-private-targets \
    >"$W/init.out" 2>&1 || {
	cat "$W/init.out" >&2
	exit 1
}
CFG=$D/enrolld.json
lib_json_edit "$CFG" '.profiles.default.require_approval = true'
lib_start "$CFG" || {
	lib_fail "enrolld run did not come up"
	lib_summary
}
EST=https://127.0.0.1:$LIB_PORT/.well-known/est/simpleenroll
pending() { "$ENROLLD" pending "$@" --config "$CFG" 2>"$W/pending.err"; }

# est NAME: POST the CSR of NAME; status on stdout, headers in NAME.hdr.
est()
{
	$CURL --cacert "$D/ca.pem" -u u:p -H 'Content-Type: application/pkcs10' \
	    --data-binary @"$W/$1.b64" -D "$W/$1.hdr" -o "$W/$1.out" \
	    -w '%{http_code}' "$EST"
}
csr()
{
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$W/$1.key" -subj "/CN=$1.example.com" \
	    -addext "subjectAltName=DNS:$1.example.com" -outform DER \
	    2>/dev/null | openssl base64 -A >"$W/$1.b64"
}
serial()
{
	tr -d '\r\n' <"$W/$1.out" | openssl base64 -d -A |
	    openssl pkcs7 -inform DER -print_certs 2>/dev/null |
	    openssl x509 -noout -serial 2>/dev/null
}

# ---------------------------------------------------------- EST, approved
csr ok
st=$(est ok)
lib_check "EST on an approval profile -> 202 (got $st)" test "$st" = 202
grep -qi '^retry-after: *[0-9]' "$W/ok.hdr"
lib_check "the 202 carries Retry-After" test $? -eq 0
st=$(est ok)
lib_check "asking again before a decision -> 202 (got $st)" test "$st" = 202
KEY=$(pending list | awk '$2 == "pending" && $1 ~ /^est:/ {print $1}')
lib_check "enrolld pending list shows the request" test -n "$KEY"
pending list | grep -q "ok.example.com"
lib_check "the list names what was asked for" test $? -eq 0
pending approve "$KEY" >/dev/null
lib_check "enrolld pending approve exits 0" test $? -eq 0
pending approve "$KEY" >/dev/null
lib_check "approving twice fails" test $? -ne 0
st=$(est ok)
lib_check "the retry after approval -> 200 (got $st)" test "$st" = 200
s1=$(serial ok)
st=$(est ok)
s2=$(serial ok)
lib_check "asking once more -> 200 with the same certificate" \
    test "$st" = 200 -a -n "$s1" -a "$s1" = "$s2"
n=$(python3 -c 'import sqlite3,sys
print(sqlite3.connect(sys.argv[1]).execute(
 "select count(*) from certificates").fetchone()[0])' "$D/enrolld.db")
lib_check "exactly one certificate was issued ($n)" test "$n" = 1

# ---------------------------------------------------------- EST, rejected
csr no
st=$(est no)
lib_check "a second request -> 202 (got $st)" test "$st" = 202
KEY=$(pending list | awk '$2 == "pending" && $1 ~ /^est:/ {print $1}')
pending reject "$KEY" >/dev/null
lib_check "enrolld pending reject exits 0" test $? -eq 0
st=$(est no)
lib_check "the retry after rejection -> 403 (got $st)" test "$st" = 403
pending approve nosuchkey >/dev/null
lib_check "approving an unknown key fails" test $? -ne 0

# ---------------------------------------------------------- SCEP
# scepclient sleeps 30 s after PENDING, then sends its request again.
mkdir -p "$W/scep"
(cd "$W/scep" && timeout 120 scepclient -server-url \
    "http://127.0.0.1:$HPORT/scep" -challenge s3cret -private-key k.pem \
    -certificate c.pem -cn dev1 >"$W/scep.log" 2>&1) &
SCEP_PID=$!
lib_track "$SCEP_PID"
KEY=
for i in $(seq 100); do
	KEY=$(pending list | awk '$2 == "pending" && $1 ~ /^scep:/ {print $1}')
	[ -n "$KEY" ] && break
	sleep 0.2
done
lib_check "the SCEP request is queued (key $KEY)" test -n "$KEY"
grep -q "PENDING" "$W/scep.log"
lib_check "scepclient was told PENDING" test $? -eq 0
pending approve "$KEY" >/dev/null
wait "$SCEP_PID"
lib_check "scepclient's retry gets the certificate" grep -q SUCCESS \
    "$W/scep.log"
openssl verify -CAfile "$D/ca.pem" "$W/scep/c.pem" >/dev/null 2>&1
lib_check "it verifies with ca.pem" test $? -eq 0

# ---------------------------------------------------------- ACME
# lego waits for the order through "processing" (polling 30 s at most).
if lib_start_challtestsrv "$DNS" "$(lib_free_port)"; then
	(LEGO_CA_CERTIFICATES=$D/ca.pem timeout 90 lego \
	    --server "https://127.0.0.1:$LIB_PORT/acme/directory" \
	    --accept-tos --email ops@example.com --path "$W/lego" \
	    --domains web.example.com --http \
	    --http.port "127.0.0.1:$LEGO_HTTP" run >"$W/lego.log" 2>&1) &
	LEGO_PID=$!
	lib_track "$LEGO_PID"
	KEY=
	for i in $(seq 150); do
		KEY=$(pending list |
		    awk '$2 == "pending" && $1 ~ /^acme:/ {print $1}')
		[ -n "$KEY" ] && break
		sleep 0.2
	done
	lib_check "the ACME finalize is queued (key $KEY)" test -n "$KEY"
	pending approve "$KEY" >/dev/null
	wait "$LEGO_PID"
	lib_check "lego gets the certificate once approved" test $? -eq 0
	openssl verify -CAfile "$D/ca.pem" \
	    "$W/lego/certificates/web.example.com.crt" >/dev/null 2>&1
	lib_check "it verifies with ca.pem" test $? -eq 0
	grep -q "Wait for certificate" "$W/lego.log"
	lib_check "lego waited for the order" test $? -eq 0
else
	lib_fail "pebble-challtestsrv did not come up"
fi

lib_check "enrolld exits 0 on SIGTERM" lib_stop "$LIB_PID"
lib_summary
