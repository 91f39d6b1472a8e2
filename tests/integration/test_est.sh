#!/usr/bin/env bash
# End-to-end EST (RFC 7030) against a fresh enrolld, with curl and openssl
# as the only clients: the positive flow (cacerts, csrattrs, simpleenroll,
# simplereenroll, serverkeygen, CRL), then a table of bad inputs, each
# asserting an exact status and that the server still answers afterwards,
# then a half-sent request that the read timeout must end.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

D=$T_DIR/inst		# the instance (init --dir)
W=$T_DIR/work		# client-side files
mkdir -p "$W"
EST_USER=estuser
EST_PASS='est-pass-7f3c9a'
READ_TIMEOUT_MS=2000
CA=$D/ca.pem

PORT=$(lib_free_port)
if ! "$ENROLLD" init --dir "$D" --port "$PORT" \
    --est-user "$EST_USER:$EST_PASS" --allow-domain example.com \
    >"$W/init.out" 2>&1; then
	echo "enrolld init failed:" >&2
	cat "$W/init.out" >&2
	exit 1
fi
CFG=$D/enrolld.json

# A short read timeout so the half-sent request case ends quickly; the
# "limits" object goes wherever the generated config keeps it.
lpath=$(lib_json_path "$CFG" limits)
[ -n "$lpath" ] || lpath='["limits"]'
lib_json_edit "$CFG" 'setpath($p + ["read_timeout_ms"]; $t)' \
    --argjson p "$lpath" --argjson t "$READ_TIMEOUT_MS"

# Label "iot" routed to a second profile: the default one, but with at
# most two SANs, so a request tells which profile judged it.
cp "$CFG" "$W/cfg.noiot"
lib_json_edit "$CFG" \
    '.profiles.iot = (.profiles.default | .max_sans = 2) |
     .est.labels.iot = "iot"'
HAVE_IOT=1
if ! "$ENROLLD" check-config "$CFG" >"$W/check.out" 2>&1; then
	lib_fail "config with label iot rejected: $(head -c 300 "$W/check.out")"
	cp "$W/cfg.noiot" "$CFG"
	HAVE_IOT=0
fi

if ! lib_start "$CFG" enrolld; then
	lib_fail "enrolld run did not come up"
	lib_summary
fi
BASE=https://127.0.0.1:$LIB_PORT/.well-known/est
C=($CURL --cacert "$CA")

# ---------------------------------------------------------------- helpers

# mkcsr NAME KEYSPEC SUBJECT SANS: a new key in $W/NAME.key and its CSR
# as DER ($W/NAME.der), PEM ($W/NAME.csr) and one-line base64 ($W/NAME.b64).
# KEYSPEC is p256, rsa2048 or rsa1024; SANS an openssl subjectAltName
# value or "".
mkcsr()
{
	local name=$1 spec=$2 subj=$3 sans=$4 kargs ext=()
	case $spec in
	p256) kargs=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
	rsa*) kargs=(-newkey "rsa:${spec#rsa}") ;;
	esac
	[ -n "$sans" ] && ext=(-addext "subjectAltName=$sans")
	openssl req -new "${kargs[@]}" -nodes -keyout "$W/$name.key" \
	    -subj "$subj" "${ext[@]}" -out "$W/$name.csr" 2>/dev/null &&
	    openssl req -in "$W/$name.csr" -outform DER -out "$W/$name.der" &&
	    openssl base64 -A -in "$W/$name.der" >"$W/$name.b64"
}

# est OUT METHOD PATH [curl args...]: one request to $BASE/PATH; body in
# $W/OUT.body, headers in $W/OUT.hdr; prints the status (000 when no
# HTTP answer came).
est()
{
	local out=$1 method=$2 path=$3
	shift 3
	"${C[@]}" -o "$W/$out.body" -D "$W/$out.hdr" -w '%{http_code}' \
	    -X "$method" "$@" "$BASE/$path" 2>"$W/$out.err"
}

# enroll OUT PATH CSRNAME [curl args...]: POST a CSR with the right
# credentials and media type.
enroll()
{
	local out=$1 path=$2 csr=$3
	shift 3
	est "$out" POST "$path" -u "$EST_USER:$EST_PASS" \
	    -H 'Content-Type: application/pkcs10' \
	    --data-binary "@$W/$csr.b64" "$@"
}

# p7certs BODY OUT: the certificates of a base64 certs-only PKCS#7 body,
# decoded the way REAL-CLIENTS.md says real clients must.
p7certs()
{
	tr -d '\r\n' <"$1" | openssl base64 -d -A |
	    openssl pkcs7 -inform DER -print_certs -out "$2" 2>/dev/null
}

ncerts()
{
	grep -c 'BEGIN CERTIFICATE' "$1" 2>/dev/null
}

fingerprints()
{
	local f=$1
	# Split a PEM bundle and print each certificate's SHA-256, sorted.
	awk -v d="$W/fp." '/BEGIN CERTIFICATE/ { n++ }
	    n { print > (d n) }' "$f"
	for c in "$W"/fp.*; do
		[ -f "$c" ] || continue
		openssl x509 -in "$c" -noout -fingerprint -sha256
		rm -f "$c"
	done | sort
}

verify_ok()
{
	openssl verify -CAfile "$CA" "$1" 2>&1 | grep -q ': OK$'
}

san_has()
{
	openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null |
	    grep -q "$2"
}

same_key()
{
	[ -n "$(lib_pubkey "$1")" ] &&
	    [ "$(lib_pubkey "$1")" = "$(lib_pubkey "$2")" ]
}

# expect_status WHAT WANT GOT OUT: count one case, showing the answer
# on failure.
expect_status()
{
	if [ "$3" = "$2" ]; then
		lib_ok "$1 -> $3"
		return 0
	fi
	lib_fail "$1: want $2, got $3: $(head -c 200 "$W/$4.body" \
	    2>/dev/null | tr -d '\r' | tr '\n' ' ') $(cat "$W/$4.err" 2>/dev/null)"
	return 1
}

# ----------------------------------------------------------- positive flow

# cacerts (RFC 7030 4.1): no authentication, certs-only PKCS#7 whose
# certificates are exactly those of ca.pem.
st=$(est cacerts GET cacerts)
if expect_status "GET cacerts" 200 "$st" cacerts; then
	lib_check "cacerts media type application/pkcs7-mime" \
	    grep -qi '^content-type: *application/pkcs7-mime' "$W/cacerts.hdr"
	if p7certs "$W/cacerts.body" "$W/cacerts.pem"; then
		lib_check "cacerts equals ca.pem ($(ncerts "$W/cacerts.pem") cert)" \
		    [ "$(fingerprints "$W/cacerts.pem")" = "$(fingerprints "$CA")" ]
	else
		lib_fail "cacerts body is not base64 PKCS#7"
	fi
fi

# csrattrs (RFC 7030 4.5): base64 of a DER SEQUENCE.
st=$(est csrattrs GET csrattrs)
if expect_status "GET csrattrs" 200 "$st" csrattrs; then
	tr -d '\r\n' <"$W/csrattrs.body" | openssl base64 -d -A \
	    >"$W/csrattrs.der"
	lib_check "csrattrs decodes to DER asn1parse accepts" \
	    eval '[ -s "$W/csrattrs.der" ] &&
	    openssl asn1parse -inform DER -in "$W/csrattrs.der" >/dev/null'
fi

# simpleenroll (RFC 7030 4.2.1) with a P-256 and an RSA-2048 key.
enroll_one()
{
	local name=$1 spec=$2 host=$3
	mkcsr "$name" "$spec" "/CN=$host" "DNS:$host" || {
		lib_fail "openssl req for $name"
		return 1
	}
	st=$(enroll "$name" simpleenroll "$name")
	expect_status "simpleenroll $spec $host" 200 "$st" "$name" || return 1
	if ! p7certs "$W/$name.body" "$W/$name.pem"; then
		lib_fail "simpleenroll $spec: reply is not base64 PKCS#7"
		return 1
	fi
	lib_check "simpleenroll $spec: one certificate" \
	    [ "$(ncerts "$W/$name.pem")" = 1 ]
	lib_check "simpleenroll $spec: openssl verify -CAfile ca.pem OK" \
	    verify_ok "$W/$name.pem"
	lib_check "simpleenroll $spec: SAN has DNS:$host" \
	    san_has "$W/$name.pem" "DNS:$host"
	lib_check "simpleenroll $spec: certificate holds the CSR's key" \
	    same_key "$W/$name.pem" "$W/$name.key"
}
enroll_one a p256 a.example.com
HAVE_A=$?
enroll_one b rsa2048 b.example.com

# simplereenroll (RFC 7030 4.2.2): the issued certificate as TLS client
# certificate, same subject and SAN, new key.
if [ "$HAVE_A" = 0 ]; then
	mkcsr re p256 /CN=a.example.com DNS:a.example.com
	st=$(enroll re simplereenroll re --cert "$W/a.pem" --key "$W/a.key")
	if expect_status "simplereenroll with the issued cert" 200 "$st" re &&
	    p7certs "$W/re.body" "$W/re.pem"; then
		lib_check "simplereenroll: verify OK" verify_ok "$W/re.pem"
		lib_check "simplereenroll: new key certified" \
		    same_key "$W/re.pem" "$W/re.key"
		lib_check "simplereenroll: SAN kept" \
		    san_has "$W/re.pem" DNS:a.example.com
	fi
else
	lib_fail "simplereenroll skipped: no certificate from simpleenroll"
fi

# serverkeygen (RFC 7030 4.4.2): multipart/mixed, one application/pkcs8
# part (base64 PKCS#8) and one certs-only PKCS#7 part.
split_multipart()
{
	local body=$1 boundary=$2
	rm -f "$W"/part.*
	tr -d '\r' <"$body" | awk -v b="--$boundary" -v d="$W/part." '
	    $0 == b "--" { inpart = 0; next }
	    $0 == b { n++; inpart = 1; inhdr = 1; next }
	    !inpart { next }
	    inhdr && $0 == "" { inhdr = 0; next }
	    inhdr { print > (d n ".hdr"); next }
	    { print > (d n ".body") }'
}
mkcsr kg p256 /CN=kg.example.com DNS:kg.example.com
st=$(enroll kg serverkeygen kg)
if expect_status "serverkeygen" 200 "$st" kg; then
	ctype=$(grep -i '^content-type:' "$W/kg.hdr" | tail -1 | tr -d '\r')
	boundary=$(echo "$ctype" | sed -n 's/.*boundary="\{0,1\}\([^";]*\)"\{0,1\}.*/\1/p')
	lib_check "serverkeygen is multipart/mixed with a boundary" \
	    eval 'echo "$ctype" | grep -qi multipart/mixed && [ -n "$boundary" ]'
	split_multipart "$W/kg.body" "$boundary"
	keypart= certpart=
	for h in "$W"/part.*.hdr; do
		[ -f "$h" ] || continue
		if grep -qi '^content-type: *application/pkcs8' "$h"; then
			keypart=${h%.hdr}.body
		elif grep -qi '^content-type: *application/pkcs7-mime' "$h"; then
			certpart=${h%.hdr}.body
		fi
	done
	if [ -n "$keypart" ] && [ -n "$certpart" ]; then
		tr -d '\r\n' <"$keypart" | openssl base64 -d -A >"$W/kg.p8"
		lib_check "serverkeygen key is unencrypted PKCS#8" \
		    eval 'openssl pkcs8 -nocrypt -inform DER -in "$W/kg.p8" \
		    -out "$W/kg.newkey" 2>/dev/null'
		p7certs "$certpart" "$W/kg.pem"
		lib_check "serverkeygen cert verifies" verify_ok "$W/kg.pem"
		lib_check "serverkeygen cert key = private key" \
		    eval '[ "$(openssl pkey -inform DER -in "$W/kg.p8" -pubout)" = \
		    "$(openssl x509 -in "$W/kg.pem" -noout -pubkey)" ]'
	else
		lib_fail "serverkeygen: parts missing (key '${keypart}', cert '${certpart}'): $(head -c 300 "$W/kg.body")"
	fi
fi

# CRL (DER) of the default profile's CA.
st=$("${C[@]}" -o "$W/crl.body" -D "$W/crl.hdr" -w '%{http_code}' \
    "https://127.0.0.1:$LIB_PORT/crl" 2>"$W/crl.err")
if expect_status "GET /crl" 200 "$st" crl; then
	lib_check "CRL parses as DER and verifies with ca.pem" \
	    eval 'openssl crl -inform DER -in "$W/crl.body" -CAfile "$CA" \
	    -noout 2>&1 | grep -q "verify OK"'
fi

# ------------------------------------------------ certificates for the table

# A foreign CA and a certificate for a.example.com it signed.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$W/fca.key" -out "$W/fca.pem" -subj /CN=Foreign-CA -days 30 \
    2>/dev/null
mkcsr foreign p256 /CN=a.example.com DNS:a.example.com
openssl x509 -req -in "$W/foreign.csr" -CA "$W/fca.pem" -CAkey "$W/fca.key" \
    -CAcreateserial -days 30 -out "$W/foreign.pem" \
    -extfile <(echo subjectAltName=DNS:a.example.com) 2>/dev/null ||
	lib_fail "could not make the foreign-CA certificate"

# An expired certificate issued by enrolld's own CA: `openssl ca` is the
# one OpenSSL 3.0 tool that accepts a start date in the past.
CAKEY=$(lib_ca_key "$D")
if [ -n "$CAKEY" ]; then
	mkdir -p "$W/oca/new"
	: >"$W/oca/index.txt"
	echo 1000 >"$W/oca/serial"
	cat >"$W/oca/ca.cnf" <<-EOF
	[ca]
	default_ca = d
	[d]
	database = $W/oca/index.txt
	new_certs_dir = $W/oca/new
	serial = $W/oca/serial
	default_md = sha256
	policy = any
	copy_extensions = copy
	unique_subject = no
	[any]
	commonName = supplied
	EOF
	mkcsr expired p256 /CN=a.example.com DNS:a.example.com
	openssl ca -batch -config "$W/oca/ca.cnf" -cert "$CA" -keyfile "$CAKEY" \
	    -in "$W/expired.csr" -out "$W/expired.pem" -notext \
	    -startdate 20200101000000Z -enddate 20200102000000Z \
	    >"$W/oca/log" 2>&1 ||
		lib_fail "openssl ca (expired cert): $(tail -3 "$W/oca/log")"
else
	lib_fail "CA key not found in $D (needed for the expired-cert case)"
fi

# ----------------------------------------------------------- table bodies

printf 'this is *not* base64 !!!\n' >"$W/garbage.b64"
head -c 300 /dev/urandom | openssl base64 -A >"$W/garbder.b64"
mkcsr good p256 /CN=a.example.com DNS:a.example.com
# Flip a byte inside the signature's last INTEGER: the DER stays well
# formed, the signature no longer verifies.
python3 - "$W/good.der" "$W/badsig.der" <<-'EOF'
	import sys
	d = bytearray(open(sys.argv[1], "rb").read())
	d[len(d) - 4] ^= 0x5a
	open(sys.argv[2], "wb").write(d)
	EOF
openssl base64 -A -in "$W/badsig.der" >"$W/badsig.b64"
mkcsr rsa1024 rsa1024 /CN=a.example.com DNS:a.example.com
mkcsr outside p256 /CN=a.example.org DNS:a.example.org
mkcsr suffix p256 /CN=evilexample.com DNS:evilexample.com
sans10=$(for i in $(seq 10); do printf 'DNS:h%d.example.com,' "$i"; done)
mkcsr sans10 p256 /CN=h1.example.com "${sans10%,}"
mkcsr sans11 p256 /CN=h1.example.com "${sans10}DNS:h11.example.com"
head -c 10000000 /dev/zero | tr '\0' 'A' >"$W/big.b64"
mkcsr other p256 /CN=c.example.com DNS:c.example.com
mkcsr wild p256 /CN=w.example.com 'DNS:*.example.com'
mkcsr ipout p256 /CN=ip.example.com DNS:ip.example.com,IP:10.1.2.3
mkcsr ipin p256 /CN=ip.example.com DNS:ip.example.com,IP:127.0.0.5
mkcsr two p256 /CN=t1.example.com DNS:t1.example.com,DNS:t2.example.com
mkcsr three p256 /CN=t1.example.com \
    DNS:t1.example.com,DNS:t2.example.com,DNS:t3.example.com
: >"$W/empty.b64"

# The client certificate a reenroll case presents (file stem in $W).
cp "$W/a.key" "$W/issued.key" 2>/dev/null
cp "$W/a.pem" "$W/issued.pem" 2>/dev/null

# ------------------------------------------------------------------ table
#
# status | case | method | path under /.well-known/est | credentials
# (good, bad, none) | TLS client certificate (-, issued, foreign,
# expired) | Content-Type (pkcs10, text, -) | body file stem in $W (-)
CASES='
400|garbage base64|POST|simpleenroll|good|-|pkcs10|garbage
400|base64 of garbage DER|POST|simpleenroll|good|-|pkcs10|garbder
400|CSR signature does not verify|POST|simpleenroll|good|-|pkcs10|badsig
403|RSA-1024 key|POST|simpleenroll|good|-|pkcs10|rsa1024
403|name outside --allow-domain|POST|simpleenroll|good|-|pkcs10|outside
403|suffix without a dot boundary|POST|simpleenroll|good|-|pkcs10|suffix
200|10 SANs (the maximum)|POST|simpleenroll|good|-|pkcs10|sans10
403|11 SANs|POST|simpleenroll|good|-|pkcs10|sans11
413|10 MB body|POST|simpleenroll|good|-|pkcs10|big
401|wrong password|POST|simpleenroll|bad|-|pkcs10|good
401|no credentials|POST|simpleenroll|none|-|pkcs10|good
403|reenroll, cert from a foreign CA|POST|simplereenroll|good|foreign|pkcs10|good
403|reenroll, expired cert|POST|simplereenroll|good|expired|pkcs10|good
401|reenroll without client cert|POST|simplereenroll|good|-|pkcs10|good
403|reenroll, different subject|POST|simplereenroll|good|issued|pkcs10|other
404|unknown label|POST|nosuchlabel/simpleenroll|good|-|pkcs10|good
404|unknown operation|POST|frobnicate|good|-|pkcs10|good
415|wrong media type|POST|simpleenroll|good|-|text|good
405|GET on simpleenroll|GET|simpleenroll|good|-|-|-
403|wildcard DNS name|POST|simpleenroll|good|-|pkcs10|wild
403|IP outside 127.0.0.0/8 and ::1|POST|simpleenroll|good|-|pkcs10|ipout
200|IP 127.0.0.5 (allowed)|POST|simpleenroll|good|-|pkcs10|ipin
400|empty body|POST|simpleenroll|good|-|pkcs10|empty
'
IOT_CASES='
200|label iot, 2 SANs|POST|iot/simpleenroll|good|-|pkcs10|two
403|label iot, 3 SANs (iot max_sans 2)|POST|iot/simpleenroll|good|-|pkcs10|three
200|label iot cacerts|GET|iot/cacerts|none|-|-|-
'

# run_case STATUS NAME METHOD PATH CREDS CERT CTYPE BODY: one table row.
# Passes when the status is exactly STATUS (and a 401 carries
# WWW-Authenticate) and a following GET cacerts answers 200.
run_case()
{
	local want=$1 name=$2 method=$3 path=$4 creds=$5 cert=$6 ctype=$7
	local body=$8 args=() got after
	case $creds in
	good) args+=(-u "$EST_USER:$EST_PASS") ;;
	bad) args+=(-u "$EST_USER:wrong-$EST_PASS") ;;
	esac
	[ "$cert" != - ] && args+=(--cert "$W/$cert.pem" --key "$W/$cert.key")
	case $ctype in
	pkcs10) args+=(-H 'Content-Type: application/pkcs10') ;;
	text) args+=(-H 'Content-Type: text/plain') ;;
	esac
	[ "$body" != - ] && args+=(--data-binary "@$W/$body.b64")
	got=$(est case "$method" "$path" "${args[@]}")
	after=$("${C[@]}" -o /dev/null -w '%{http_code}' "$BASE/cacerts" \
	    2>/dev/null)
	if [ "$got" != "$want" ]; then
		expect_status "$name" "$want" "$got" case
	elif [ "$want" = 401 ] &&
	    ! grep -qi '^www-authenticate:' "$W/case.hdr"; then
		lib_fail "$name: 401 without WWW-Authenticate"
	elif [ "$want" = 403 ] && { [ ! -s "$W/case.body" ] ||
	    ! grep -qi '^content-type: *text/plain' "$W/case.hdr"; }; then
		lib_fail "$name: 403 without a text/plain reason"
	elif [ "$after" != 200 ]; then
		lib_fail "$name: got $got, but the next GET cacerts got $after"
	elif [ "$want" = 200 ]; then
		lib_ok "$name -> $got"
	else
		lib_ok "$name -> $got: $(head -c 90 "$W/case.body" |
		    tr -d '\r' | tr '\n' ' ')"
	fi
}

run_table()
{
	local line
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		IFS='|' read -r -a f <<<"$line"
		run_case "${f[@]}"
	done <<<"$1"
}

run_table "$CASES"
if [ "$HAVE_IOT" = 1 ]; then
	run_table "$IOT_CASES"
fi

# ------------------------------------------------------ half-sent request
#
# Headers promise 1000 bytes, 10 arrive.  While that connection hangs,
# the server must go on answering others, and it must close it once
# read_timeout_ms has passed (a 408 before closing is fine).
half_sent()
{
	python3 - "$LIB_PORT" "$CA" "$READ_TIMEOUT_MS" \
	    "$(printf '%s' "$EST_USER:$EST_PASS" | openssl base64 -A)" <<-'EOF'
	import socket, ssl, sys, time
	port, ca, tmo, auth = int(sys.argv[1]), sys.argv[2], \
	    int(sys.argv[3]) / 1000.0, sys.argv[4]
	ctx = ssl.create_default_context(cafile=ca)
	s = socket.create_connection(("127.0.0.1", port), timeout=10)
	t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
	t.sendall(b"POST /.well-known/est/simpleenroll HTTP/1.1\r\n"
	    b"Host: 127.0.0.1\r\nAuthorization: Basic " + auth.encode() +
	    b"\r\nContent-Type: application/pkcs10\r\n"
	    b"Content-Length: 1000\r\n\r\n" + b"A" * 10)
	start = time.monotonic()
	t.settimeout(tmo + 5)
	data = b""
	try:
	    while True:
	        chunk = t.recv(4096)
	        if not chunk:
	            break
	        data += chunk
	except socket.timeout:
	    print("still open %.1f s after the last byte" % (tmo + 5))
	    sys.exit(1)
	except (ssl.SSLError, OSError):
	    pass
	took = time.monotonic() - start
	status = data.split(b" ")[1].decode() if data.startswith(b"HTTP/") \
	    else "none"
	print("closed after %d ms, status %s" % (took * 1000, status))
	if took < tmo * 0.5:
	    print("closed before the read timeout")
	    sys.exit(1)
	sys.exit(0 if status in ("none", "408") else 1)
	EOF
}
half_sent >"$W/half.out" 2>&1 &
HALF_PID=$!
lib_track "$HALF_PID"
sleep 0.5
st=$(est during GET cacerts)
expect_status "GET cacerts while a request hangs half-sent" 200 "$st" during
mkcsr during p256 /CN=d.example.com DNS:d.example.com
st=$(enroll during2 simpleenroll during)
expect_status "simpleenroll while a request hangs half-sent" 200 "$st" during2
if wait "$HALF_PID"; then
	lib_ok "half-sent request dropped by the server: $(tail -1 "$W/half.out")"
else
	lib_fail "half-sent request: $(tr '\n' ' ' <"$W/half.out")"
fi

# ------------------------------------------------------------------ stop

lib_check "request log names simpleenroll" \
    grep -q '/.well-known/est/simpleenroll' "$LIB_LOG"
lib_check "the EST password never reaches the log" \
    eval '! grep -qF -e "$EST_PASS" -e \
    "$(printf %s "$EST_USER:$EST_PASS" | openssl base64 -A)" "$LIB_LOG"'
lib_check "enrolld exits 0 on SIGTERM" lib_stop "$LIB_PID"
if [ "$T_FAIL" -gt 0 ]; then
	echo "--- enrolld log (last 40 lines) ---"
	tail -40 "$LIB_LOG"
fi
lib_summary
