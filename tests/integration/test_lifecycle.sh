#!/usr/bin/env bash
# Certificate life cycle and server life cycle, with curl and openssl:
#   - an issued certificate is in the store (serial, subject, SANs, PEM)
#     with an audit trail of the decision;
#   - `enrolld revoke` marks it revoked; the CRL at /crl lists it with its
#     reason; re-enrolling with it is refused (403);
#   - SIGTERM while requests are in flight: they complete with 200, the
#     process exits 0 (graceful shutdown).

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

D=$T_DIR/inst
W=$T_DIR/work
mkdir -p "$W"
USER_NAME=life
USER_PASS='life-pass-31c9'
PORT=$(lib_free_port)
"$ENROLLD" init --dir "$D" --port "$PORT" --est-user "$USER_NAME:$USER_PASS" \
    >"$W/init.out" 2>&1 || {
	cat "$W/init.out" >&2
	exit 1
}
CFG=$D/enrolld.json
CA=$D/ca.pem

# A second user whose hash takes ~1 s to check: its requests are in
# flight long enough to send SIGTERM in the middle of them.
SLOW_PASS='slow-pass-5e2a'
SLOW_HASH=$(python3 - "$SLOW_PASS" <<'EOF'
import base64, hashlib, os, sys
it = 3000000
salt = os.urandom(16)
dk = hashlib.pbkdf2_hmac("sha256", sys.argv[1].encode(), salt, it, 32)
print("$pbkdf2-sha256$%d$%s$%s" % (it, base64.b64encode(salt).decode(),
      base64.b64encode(dk).decode()))
EOF
)
# Under ASan on a loaded machine one such hash has taken 20 s: give the
# in-flight requests and the drain room, so that only a real loss fails.
lib_json_edit "$CFG" '.est.users += [{"name": "slow", "password_hash": $h}] |
    .limits.shutdown_timeout_ms = 120000' --arg h "$SLOW_HASH"

lib_start "$CFG" || {
	lib_fail "enrolld run did not come up"
	lib_summary
}
BASE=https://127.0.0.1:$LIB_PORT

# csr NAME: key and base64 DER CSR for NAME.example.com in $W.
csr()
{
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$W/$1.key" -subj "/CN=$1.example.com" \
	    -addext "subjectAltName=DNS:$1.example.com" -outform DER \
	    2>/dev/null | openssl base64 -A >"$W/$1.b64"
}

# enroll NAME USER:PASS: simpleenroll; the certificate in $W/NAME.pem;
# prints the HTTP status.
enroll()
{
	local st
	st=$(${ENROLL_CURL:-$CURL} --cacert "$CA" -u "$2" \
	    -H 'Content-Type: application/pkcs10' \
	    --data-binary @"$W/$1.b64" -o "$W/$1.resp" -w '%{http_code}' \
	    "$BASE/.well-known/est/simpleenroll")
	if [ "$st" = 200 ]; then
		tr -d '\r\n' <"$W/$1.resp" | openssl base64 -d -A |
		    openssl pkcs7 -inform DER -print_certs -out "$W/$1.pem"
	fi
	echo "$st"
}

db()
{
	python3 - "$D/enrolld.db" "$1" <<'EOF'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
for row in con.execute(sys.argv[2]):
    print("|".join("" if v is None else str(v) for v in row))
EOF
}

# ------------------------------------------------------------ stored
csr one
st=$(enroll one "$USER_NAME:$USER_PASS")
lib_check "simpleenroll one -> 200 (got $st)" test "$st" = 200
SERIAL=$(openssl x509 -in "$W/one.pem" -noout -serial | cut -d= -f2)
row=$(db "select subject, sans, protocol, requester, status, profile from certificates where serial = '$SERIAL'")
lib_check "certificate $SERIAL is in the store" test -n "$row"
case $row in
*one.example.com*"|DNS:one.example.com|est|$USER_NAME|0|default") lib_ok "stored row: $row" ;;
*) lib_fail "stored row unexpected: '$row'" ;;
esac
pem_db=$(db "select pem from certificates where serial = '$SERIAL'" | openssl x509 -noout -fingerprint -sha256)
pem_client=$(openssl x509 -in "$W/one.pem" -noout -fingerprint -sha256)
lib_check "stored PEM is the certificate the client got" test "$pem_db" = "$pem_client"
audit=$(db "select event from audit where serial = '$SERIAL' or request_id = (select request_id from certificates where serial = '$SERIAL') order by id")
lib_check "audit trail has allow then issued ($(echo $audit))" \
    test "$(echo $audit)" = "allow issued"

csr bad
$CURL --cacert "$CA" -u "$USER_NAME:wrong" -o /dev/null \
    -H 'Content-Type: application/pkcs10' --data-binary @"$W/bad.b64" \
    "$BASE/.well-known/est/simpleenroll"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/far.key" -subj "/CN=far" -addext "subjectAltName=IP:10.1.2.3" \
    -outform DER 2>/dev/null | openssl base64 -A >"$W/far.b64"
st=$(enroll far "$USER_NAME:$USER_PASS")
lib_check "IP outside the profile -> 403 (got $st)" test "$st" = 403
deny=$(db "select reason from audit where event = 'deny' order by id desc limit 1")
lib_check "the denial is audited with its reason ($deny)" test "$deny" = ipForbidden

# ------------------------------------------------------------ revoked
out=$("$ENROLLD" revoke --config "$CFG" --serial "$SERIAL" --reason 1 2>&1)
lib_check "enrolld revoke exits 0 ($out)" test $? -eq 0
"$ENROLLD" revoke --config "$CFG" --serial "$SERIAL" >/dev/null 2>&1
lib_check "revoking twice fails" test $? -ne 0
listed=
for i in $(seq 40); do
	$CURL --cacert "$CA" -o "$W/crl.der" "$BASE/crl"
	if openssl crl -inform DER -in "$W/crl.der" -noout -text 2>/dev/null |
	    grep -q "Serial Number: $SERIAL"; then
		listed=1
		break
	fi
	sleep 0.25
done
lib_check "CRL lists $SERIAL within 10 s" test -n "$listed"
openssl crl -inform DER -in "$W/crl.der" -noout -text 2>/dev/null |
    grep -A6 "Serial Number: $SERIAL" | grep -q "Key Compromise"
lib_check "CRL entry carries reason keyCompromise" test $? -eq 0
openssl crl -inform DER -in "$W/crl.der" -CAfile "$CA" -noout 2>"$W/crl.verify"
lib_check "CRL signature verifies with ca.pem" grep -q "verify OK" "$W/crl.verify"

csr again
cp "$W/again.b64" "$W/re.b64"
openssl req -new -key "$W/again.key" -subj "/CN=one.example.com" \
    -addext "subjectAltName=DNS:one.example.com" -outform DER 2>/dev/null |
    openssl base64 -A >"$W/re.b64"
st=$($CURL --cacert "$CA" --cert "$W/one.pem" --key "$W/one.key" \
    -H 'Content-Type: application/pkcs10' --data-binary @"$W/re.b64" \
    -o "$W/re.out" -w '%{http_code}' "$BASE/.well-known/est/simplereenroll")
lib_check "simplereenroll with the revoked certificate -> 403 (got $st)" \
    test "$st" = 403

# ------------------------------------------------------------ limits
big=$(head -c 20000 /dev/zero | tr '\0' 'a')
st=$($CURL --cacert "$CA" -H "X-Padding: $big" -o /dev/null -w '%{http_code}' \
    "$BASE/.well-known/est/cacerts")
lib_check "a 20 kB header (limit 16 kB) -> 400 (got $st)" test "$st" = 400
st=$($CURL --cacert "$CA" -o /dev/null -w '%{http_code}' \
    "$BASE/.well-known/est/cacerts")
lib_check "the next request is served (got $st)" test "$st" = 200
st=$($CURL --cacert "$CA" --tls-max 1.2 -o /dev/null -w '%{http_code}' \
    "$BASE/healthz")
lib_check "TLS 1.2 is served (got $st)" test "$st" = 200
st=$($CURL --cacert "$CA" --tlsv1.3 -o /dev/null -w '%{http_code}' \
    "$BASE/healthz")
lib_check "TLS 1.3 is served (got $st)" test "$st" = 200
# Keep-alive: two requests on one connection, one TLS handshake.
n=$($CURL --cacert "$CA" -v -o /dev/null -o /dev/null "$BASE/healthz" \
    "$BASE/healthz" 2>&1 | grep -c 'Re-using existing connection')
lib_check "keep-alive: the second request reuses the connection" \
    test "$n" -ge 1

# ------------------------------------------------------------ shutdown
for i in 1 2 3; do
	csr "slow$i"
	( ENROLL_CURL="curl -sS --max-time 150" enroll "slow$i" \
	    "slow:$SLOW_PASS" >"$W/slow$i.status" ) &
	lib_track $!
done
sleep 0.5 # the three requests are connected and hashing
LIB_STOP_TIMEOUT=150
lib_check "SIGTERM with requests in flight: exit 0" lib_stop "$LIB_PID"
wait
for i in 1 2 3; do
	st=$(cat "$W/slow$i.status")
	lib_check "in-flight request $i completed with 200 (got $st)" \
	    test "$st" = 200
done
grep -q 'signal 15' "$LIB_LOG"
lib_check "the log shows the signal before the last replies" test $? -eq 0

lib_summary
