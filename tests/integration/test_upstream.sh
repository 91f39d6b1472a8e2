#!/usr/bin/env bash
# The upstream ACME CA backend (backends/acme/) against a real upstream:
# Debian's pebble, validating for real (http-01 against enrolld's own
# plain-HTTP listener, dns-01 through a hook into pebble-challtestsrv,
# which also resolves every test name to 127.0.0.1).  Real clients talk
# only to enrolld: scepclient, curl + openssl for EST, lego for ACME; each
# ends up with a certificate that chains to pebble's root.  Then the
# failures: the upstream down (a clear error now, success on a later
# retry), the upstream refusing a name (each protocol's own error), and
# enrolld killed with an order in flight (the certificate still arrives,
# from the one upstream order).

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for tool in pebble pebble-challtestsrv scepclient lego jq openssl; do
	command -v "$tool" >/dev/null || {
		echo "test_upstream: $tool is missing (deploy/install-deps.sh)" >&2
		exit 1
	}
done

W=$T_DIR/work
D=$T_DIR/inst
mkdir -p "$W"
DNS=$(lib_free_port)
DNSMGMT=$(lib_free_port)
PEB=$(lib_free_port)
PEBMGMT=$(lib_free_port)
HTTP=$(lib_free_port)
PORT=$(lib_free_port)
LEGO_HTTP=$(lib_free_port)
CHALLENGE=up-$(openssl rand -hex 6)
EST_PW=pw-$(openssl rand -hex 6)
BLOCKED=blocked.example.com
CURLE="$CURL --cacert $D/ca.pem -u est:$EST_PW"

if ! lib_start_challtestsrv "$DNS" "$DNSMGMT"; then
	lib_fail "pebble-challtestsrv did not come up"
	lib_summary
fi
export CHALLTESTSRV_URL=http://127.0.0.1:$DNSMGMT

# ------------------------------------------------------------- pebble
# Its listener needs a certificate; Debian ships none.  A fresh root and
# intermediate are made at each start: fetched from the management port.
bash "$SRC_DIR/tests/integration/pebble-tls.sh" "$W" || exit 1
cat >"$W/pebble.json" <<EOF
{"pebble": {"listenAddress": "127.0.0.1:$PEB",
  "managementListenAddress": "127.0.0.1:$PEBMGMT",
  "certificate": "$W/peb.pem", "privateKey": "$W/peb.key",
  "httpPort": $HTTP, "tlsPort": $(lib_free_port), "ocspResponderURL": "",
  "externalAccountBindingRequired": false,
  "domainBlocklist": ["$BLOCKED"]}}
EOF

PEBBLE_PID=
start_pebble()
{
	local i
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
	    pebble -config "$W/pebble.json" -dnsserver "127.0.0.1:$DNS" \
	    >"$W/pebble.log" 2>&1 &
	PEBBLE_PID=$!
	lib_track "$PEBBLE_PID"
	for i in $(seq 100); do
		grep -q 'Listening on' "$W/pebble.log" && break
		sleep 0.1
	done
	$CURL -k -o "$W/root.pem" "https://127.0.0.1:$PEBMGMT/roots/0" &&
	    $CURL -k -o "$W/int.pem" \
		"https://127.0.0.1:$PEBMGMT/intermediates/0"
}

# chains FILE: the first certificate in FILE chains to pebble's root
# (the intermediate taken from FILE itself when it has it, else from
# pebble).
chains()
{
	openssl verify -CAfile "$W/root.pem" -untrusted "$W/int.pem" \
	    "$1" 2>&1 | grep -q ': OK$'
}

# ------------------------------------------------------------ enrolld
# The default profile issues through the upstream with http-01.  A second
# backend and profile ("slow") use dns-01 through a hook that takes its
# time, so that requests wait (PENDING, 202, "processing") and an order
# is in flight long enough to kill enrolld.
if ! "$ENROLLD" init --dir "$D" --port "$PORT" --http-port "$HTTP" \
    --scep-challenge "$CHALLENGE" --est-user "est:$EST_PW" \
    --allow-domain example.com --http01-port "$LEGO_HTTP" \
    --acme-resolver "127.0.0.1:$DNS" --allow-private-targets \
    --upstream-acme "https://127.0.0.1:$PEB/dir" \
    --upstream-ca-bundle "$W/peb-ca.pem" >"$W/init.out" 2>&1; then
	cat "$W/init.out" >&2
	exit 1
fi
CFG=$D/enrolld.json
cat >"$W/slow-hook.sh" <<EOF
#!/bin/sh
if [ "\$1" = add ]; then
	touch "$W/hook-add-\$2"
	sleep 3
fi
exec "$SRC_DIR/tests/integration/dns01-challtestsrv-hook.sh" "\$@"
EOF
chmod +x "$W/slow-hook.sh"
lib_json_edit "$CFG" '
    .backends.upstream.wait_seconds = 8 |
    .backends.upstream.revoke_interval = 1 |
    .backends.slow = (.backends.upstream + {challenge: "dns-01",
        dns_hook: $hook, wait_seconds: 1}) |
    .profiles.slow = (.profiles.default + {backend: "slow"}) |
    .est.labels = {slow: "slow"} | .acme.profiles = ["default", "slow"]' \
    --arg hook "$W/slow-hook.sh"
lib_check "the upstream config is accepted" \
    "$ENROLLD" check-config "$CFG"
lib_start "$CFG" || {
	lib_fail "enrolld run did not come up"
	lib_summary
}
ENR_LOG=$LIB_LOG
EST=https://127.0.0.1:$PORT/.well-known/est
SCEP=http://127.0.0.1:$HTTP/scep

# csr NAME: a P-256 key and a CSR naming NAME.example.com (CN and SAN),
# as base64 DER in NAME.b64.
csr()
{
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$W/$1.key" -subj "/CN=$1.example.com" \
	    -addext "subjectAltName=DNS:$1.example.com" -outform DER \
	    2>/dev/null | base64 -w0 >"$W/$1.b64"
}

# est NAME [LABEL]: simpleenroll with NAME's CSR; prints the status; the
# body in NAME.out (as PEM in NAME.pem on 200), headers in NAME.hdr.
est()
{
	local base=$EST status
	[ -n "${2:-}" ] && base=$EST/$2
	status=$($CURLE -H 'Content-Type: application/pkcs10' \
	    --data-binary @"$W/$1.b64" -D "$W/$1.hdr" -o "$W/$1.out" \
	    -w '%{http_code}' "$base/simpleenroll")
	if [ "$status" = 200 ]; then
		tr -d '\r\n' <"$W/$1.out" | base64 -d |
		    openssl pkcs7 -inform DER -print_certs \
		    -out "$W/$1.pem" 2>/dev/null
	fi
	echo "$status"
}

# est_until NAME LABEL SECONDS: retry simpleenroll as a client told 202
# would (every second here) until 200; prints the last status.
est_until()
{
	local i st
	for i in $(seq "$3"); do
		st=$(est "$1" "$2")
		[ "$st" = 202 ] || break
		sleep 1
	done
	echo "$st"
}

# scep NAME [URL]: scepclient enrolls NAME.example.com in its own
# directory.  The CSR is made beforehand (scepclient uses a csr.pem it
# finds): pebble wants the names as subjectAltName, and scepclient puts
# the name in the CN only.  The key stays the device's.
scep()
{
	local dir=$W/scep-$1
	mkdir -p "$dir"
	openssl genrsa -traditional -out "$dir/k.pem" 2048 2>/dev/null
	cat >"$dir/req.cnf" <<EOF
[req]
prompt = no
distinguished_name = dn
attributes = attrs
req_extensions = ext
[dn]
CN = $1.example.com
[attrs]
challengePassword = $CHALLENGE
[ext]
subjectAltName = DNS:$1.example.com
EOF
	openssl req -new -key "$dir/k.pem" -config "$dir/req.cnf" \
	    -out "$dir/csr.pem" 2>/dev/null
	(cd "$dir" && timeout 90 scepclient -server-url "${2:-$SCEP}" \
	    -challenge "$CHALLENGE" -private-key k.pem -certificate c.pem \
	    -cn "$1.example.com" >"$W/scep-$1.log" 2>&1)
}

# lego_run NAME [DIRECTORY]: lego through enrolld's ACME front end;
# enrolld validates lego's own http-01 answer, then the upstream issues.
lego_run()
{
	LEGO_CA_CERTIFICATES=$D/ca.pem timeout 120 lego \
	    --server "${2:-https://127.0.0.1:$PORT/acme/directory}" \
	    --accept-tos --email "ops@example.com" --path "$W/lego-$1" \
	    --domains "$1.example.com" --http --http.port "127.0.0.1:$LEGO_HTTP" \
	    run >"$W/lego-$1.log" 2>&1 || {
		local rc=$?
		tail -5 "$W/lego-$1.log" | sed 's/^/    lego: /'
		return $rc
	}
}

# ------------------------------------------------ the upstream is down
csr down1
st=$(est down1)
lib_check "EST with the upstream down -> 503 (got $st)" test "$st" = 503
grep -qi '^retry-after:' "$W/down1.hdr"
lib_check "... with Retry-After" test $? -eq 0
grep -q 'upstream CA is unavailable' "$W/down1.out"
lib_check "... saying the upstream CA is unavailable" test $? -eq 0
scep down2
lib_check "SCEP with the upstream down -> FAILURE" \
    grep -q 'failInfo: badRequest' "$W/scep-down2.log"

start_pebble
lib_check "pebble is up, its root fetched" test -s "$W/root.pem"

st=$(est down1)
lib_check "the EST retry, upstream back -> 200 (got $st)" test "$st" = 200
lib_check "... a certificate chaining to pebble's root" chains "$W/down1.pem"

# ------------------------------------------- real clients, real issuance
csr est1
st=$(est est1)
lib_check "EST simpleenroll -> 200 at once (got $st)" test "$st" = 200
lib_check "... chains to pebble's root" chains "$W/est1.pem"
[ "$(openssl x509 -in "$W/est1.pem" -noout -pubkey)" = \
    "$(openssl pkey -in "$W/est1.key" -pubout)" ]
lib_check "... for the device's own key" test $? -eq 0
st=$($CURL --cacert "$D/ca.pem" -o "$W/cacerts.b64" -w '%{http_code}' \
    "$EST/cacerts")
tr -d '\r\n' <"$W/cacerts.b64" | base64 -d 2>/dev/null |
    openssl pkcs7 -inform DER -print_certs 2>/dev/null |
    grep -q "subject=CN = Pebble Intermediate"
lib_check "EST cacerts serves the learned upstream chain ($st)" test $? -eq 0

# Re-enrollment with the upstream's certificate as the TLS client
# certificate (RFC 7030 §4.2.2): a new key, the same names.
cp "$W/down1.key" "$W/down1-old.key"
cp "$W/down1.pem" "$W/down1-old.pem"
csr down1
st=$($CURL --cacert "$D/ca.pem" --cert "$W/down1-old.pem" \
    --key "$W/down1-old.key" -H 'Content-Type: application/pkcs10' \
    --data-binary @"$W/down1.b64" -o "$W/reenroll.out" -w '%{http_code}' \
    "$EST/simplereenroll")
lib_check "EST simplereenroll with the upstream certificate -> 200 (got $st)" \
    test "$st" = 200
tr -d '\r\n' <"$W/reenroll.out" | base64 -d 2>/dev/null |
    openssl pkcs7 -inform DER -print_certs -out "$W/reenroll.pem" 2>/dev/null
lib_check "... a new certificate chaining to pebble's root" \
    chains "$W/reenroll.pem"
[ "$(openssl x509 -in "$W/reenroll.pem" -noout -serial)" != \
    "$(openssl x509 -in "$W/down1-old.pem" -noout -serial)" ] &&
    [ "$(openssl x509 -in "$W/reenroll.pem" -noout -pubkey)" = \
	"$(openssl pkey -in "$W/down1.key" -pubout)" ]
lib_check "... for the new key" test $? -eq 0

scep dev1
lib_check "scepclient enrolls through the upstream" \
    grep -q 'SUCCESS' "$W/scep-dev1.log"
lib_check "... chains to pebble's root" chains "$W/scep-dev1/c.pem"

lego_run web1
lib_check "lego obtains a certificate through enrolld's ACME" test $? -eq 0
lib_check "... chaining to pebble's root" \
    chains "$W/lego-web1/certificates/web1.example.com.crt"

# --------------------------------------------- revocation goes upstream
SERIAL=$(openssl x509 -in "$W/est1.pem" -noout -serial | cut -d= -f2)
"$ENROLLD" revoke --config "$CFG" --serial "$SERIAL" --reason 1 \
    >"$W/revoke.out" 2>&1
lib_check "enrolld revoke of an upstream certificate exits 0" test $? -eq 0
for i in $(seq 100); do
	$CURL -k "https://127.0.0.1:$PEBMGMT/cert-status-by-serial/$SERIAL" \
	    2>/dev/null | grep -q '"Status": *"Revoked"' && break
	sleep 0.2
done
$CURL -k "https://127.0.0.1:$PEBMGMT/cert-status-by-serial/$SERIAL" \
    >"$W/status.json" 2>/dev/null
lib_check "... and pebble learns of it" \
    grep -q '"Status": *"Revoked"' "$W/status.json"

# --------------------------------------------- the upstream refuses a name
cp "$W/est1.key" "$W/blocked.key"
openssl req -new -key "$W/blocked.key" -subj "/CN=$BLOCKED" \
    -addext "subjectAltName=DNS:$BLOCKED" -outform DER 2>/dev/null |
    base64 -w0 >"$W/blocked.b64"
st=$(est blocked)
lib_check "EST for a name the upstream refuses -> 403 (got $st)" \
    test "$st" = 403
grep -q 'upstream CA refused' "$W/blocked.out"
lib_check "... saying the upstream CA refused" test $? -eq 0
st=$(est blocked)
lib_check "... and so does the retry, from the queue (got $st)" \
    test "$st" = 403
scep blocked
lib_check "SCEP for that name -> FAILURE badRequest" \
    grep -q 'failInfo: badRequest' "$W/scep-blocked.log"
lego_run blocked
lib_check "lego for that name fails" test $? -ne 0
lib_check "... with rejectedIdentifier" \
    grep -q 'rejectedIdentifier' "$W/lego-blocked.log"

# ------------------------------- dns-01, and clients told to come back
# scepclient sleeps 30 s after PENDING: run it beside the others.
scep slow1 "$SCEP/slow" &
SCEP_SLOW=$!
lib_track "$SCEP_SLOW"
csr slow2
st=$(est slow2 slow)
lib_check "EST on the slow profile -> 202 first (got $st)" test "$st" = 202
grep -qi '^retry-after:' "$W/slow2.hdr"
lib_check "... with Retry-After" test $? -eq 0
st=$(est_until slow2 slow 40)
lib_check "... the retried request gets it (got $st)" test "$st" = 200
lib_check "... through dns-01, chaining to pebble's root" \
    chains "$W/slow2.pem"
lego_run slow3 "https://127.0.0.1:$PORT/acme/slow/directory"
lib_check "lego waits through \"processing\" and gets it" test $? -eq 0
lib_check "... chaining to pebble's root" \
    chains "$W/lego-slow3/certificates/slow3.example.com.crt"
wait "$SCEP_SLOW"
lib_check "scepclient is told PENDING" grep -q PENDING "$W/scep-slow1.log"
lib_check "... and its poll gets the certificate" \
    grep -q SUCCESS "$W/scep-slow1.log"
lib_check "... chaining to pebble's root" chains "$W/scep-slow1/c.pem"

# ------------------------ enrolld killed while an upstream order is open
orders_before=$(grep -c 'Added order' "$W/pebble.log")
csr crash
st=$(est crash slow)
lib_check "EST on the slow profile -> 202 (got $st)" test "$st" = 202
# Kill once the order is placed and its dns-01 hook runs.
for i in $(seq 200); do
	[ -e "$W/hook-add-_acme-challenge.crash.example.com" ] && break
	sleep 0.1
done
kill -KILL "$LIB_PID"
wait "$LIB_PID" 2>/dev/null
CRASH_KEY=est:$(base64 -d "$W/crash.b64" | sha256sum | cut -d' ' -f1)
lib_check "its upstream order was started before the kill" \
    grep -q "upstream order started\" key=$CRASH_KEY" "$ENR_LOG"
cp "$ENR_LOG" "$W/enrolld-before-kill.log"
lib_start "$CFG" enrolld2 || {
	lib_fail "enrolld did not come back up"
	lib_summary
}
st=$(est_until crash slow 40)
lib_check "after the restart the retry gets the certificate (got $st)" \
    test "$st" = 200
lib_check "... chaining to pebble's root" chains "$W/crash.pem"
lib_check "the restarted enrolld resumed the order" \
    grep -q "upstream order resumed\" key=$CRASH_KEY" "$LIB_LOG"
grep -q 'upstream order started' "$LIB_LOG"
lib_check "... and started none anew" test $? -ne 0
orders_after=$(grep -c 'Added order' "$W/pebble.log")
lib_check "pebble saw exactly one order for it ($orders_before -> $orders_after)" \
    test $((orders_after - orders_before)) -eq 1

lib_check "enrolld exits 0 on SIGTERM" lib_stop "$LIB_PID"
lib_summary
