#!/usr/bin/env bash
# End-to-end SCEP (RFC 8894) against fresh enrolld instances, with real
# clients only: scepclient (micromdm) for the flows a device runs, curl
# and openssl for the HTTP side, and scep_msg.py (python `cryptography`
# plus `openssl cms`) for the pkiMessages no client sends.  Four
# instances:
#   A  RSA CA, the generated config: discovery, enrollment, renewal and
#      the table of bad inputs;
#   B  ECDSA CA (the default): enrollment encrypted to the RA by
#      fingerprint;
#   C  RSA CA whose caps lack POSTPKIOperation and SCEPStandard, so
#      scepclient sends PKIOperation by GET, and whose policy allows
#      example.com names only;
#   X  RSA CA with allow_des=false.
# Every table row asserts an HTTP status or a CertRep failInfo, and that
# a following GetCACaps still answers 200.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MSG="python3 $LIB_DIR/scep_msg.py"
W=$T_DIR/work		# client-side files
mkdir -p "$W"
CHALLENGE='scep-chal-51e0b7'
SCEPC_TIMEOUT=60

for tool in scepclient jq; do
	if ! command -v "$tool" >/dev/null; then
		echo "test_scep.sh: $tool is not installed" >&2
		exit 2
	fi
done

# ------------------------------------------------------------- instances

# mkinst NAME [init args...]: `enrolld init` into $T_DIR/NAME with a
# fresh HTTPS and plain HTTP port; sets the globals NAME_DIR and
# NAME_HTTP.
mkinst()
{
	local name=$1 dir=$T_DIR/$1 port hport
	shift
	port=$(lib_free_port)
	hport=$(lib_free_port)
	if ! "$ENROLLD" init --dir "$dir" --port "$port" --http-port "$hport" \
	    --scep-challenge "$CHALLENGE" --est-user "u:p-$name" "$@" \
	    >"$W/init.$name" 2>&1; then
		echo "enrolld init $name failed:" >&2
		cat "$W/init.$name" >&2
		exit 1
	fi
	printf -v "${name}_DIR" '%s' "$dir"
	printf -v "${name}_HTTP" '%s' "$hport"
}

# startinst NAME: run the instance; sets NAME_PID and NAME_PORT (HTTPS).
startinst()
{
	local name=$1 dir=$T_DIR/$1
	if ! "$ENROLLD" check-config "$dir/enrolld.json" >"$W/check.$name" 2>&1
	then
		lib_fail "instance $name: config rejected: $(head -c 300 "$W/check.$name")"
		return 1
	fi
	if ! lib_start "$dir/enrolld.json" "$name"; then
		lib_fail "instance $name did not come up"
		return 1
	fi
	printf -v "${name}_PID" '%s' "$LIB_PID"
	printf -v "${name}_PORT" '%s' "$LIB_PORT"
}

mkinst A --ca-key rsa2048
mkinst B
lib_json_edit "$B_DIR/enrolld.json" \
    '.profiles.default.dns.allow_suffixes = ["example.com"]'
mkinst C --ca-key rsa2048
lib_json_edit "$C_DIR/enrolld.json" \
    '.scep.caps = ["AES", "Renewal", "SHA-256"]'
mkinst X --ca-key rsa2048
lib_json_edit "$X_DIR/enrolld.json" '.scep.allow_des = false'

startinst A || lib_summary
startinst B
HAVE_B=$?
startinst C
HAVE_C=$?
startinst X
HAVE_X=$?

SA=http://127.0.0.1:$A_HTTP/scep

# ---------------------------------------------------------------- helpers

# get OUT URL [curl args...]: prints the status (000 when no HTTP answer);
# body in $W/OUT.body, headers in $W/OUT.hdr.
get()
{
	local out=$1 url=$2
	shift 2
	$CURL -o "$W/$out.body" -D "$W/$out.hdr" -w '%{http_code}' "$@" \
	    "$url" 2>"$W/$out.err"
}

# pkiop OUT BASE DERFILE: POST a pkiMessage to BASE; prints the status.
pkiop()
{
	get "$1" "$2?operation=PKIOperation" --data-binary "@$3" \
	    -H 'Content-Type: application/x-pki-message'
}

# scepc NAME URL [scepclient args...]: scepclient in $W/NAME (created if
# missing, kept so a second run renews); key k.pem, certificate c.pem;
# output in $W/NAME.out.
scepc()
{
	local name=$1 url=$2
	shift 2
	mkdir -p "$W/$name"
	(cd "$W/$name" && timeout "$SCEPC_TIMEOUT" scepclient \
	    -server-url "$url" -private-key k.pem -certificate c.pem "$@") \
	    >"$W/$name.out" 2>&1
}

verify_with()
{
	openssl verify -CAfile "$1" "$2" 2>&1 | grep -q ': OK$'
}

serial_of()
{
	openssl x509 -in "$1" -noout -serial 2>/dev/null | cut -d= -f2
}

# store_protocol DIR SERIAL: the protocol column of that certificate.
store_protocol()
{
	python3 - "$1/enrolld.db" "$2" <<-'EOF'
	import sqlite3, sys
	c = sqlite3.connect(sys.argv[1])
	r = c.execute("SELECT protocol FROM certificates "
	              "WHERE upper(serial) = upper(?)", (sys.argv[2],)).fetchone()
	print(r[0] if r else "")
	EOF
}

# caps_alive BASE: GetCACaps answers 200 with a caps list.
caps_alive()
{
	[ "$(get alive "$1?operation=GetCACaps")" = 200 ] &&
	    grep -qx 'Renewal' "$W/alive.body"
}

# repstatus FILE: "pkiStatus failInfo" of a CertRep ("- -" if none).
repstatus()
{
	$MSG status "$1" 2>/dev/null || echo "unparsable reply"
}

# rep_certs REPLY SIGNERCERT SIGNERKEY OUT: the certificates of a SUCCESS
# CertRep (outer signature checked, envelope opened) as PEM; also checks
# the reply is signed by RA.
rep_certs()
{
	local rep=$1 ra=$2 cert=$3 key=$4 out=$5
	openssl cms -verify -noverify -binary -inform DER -in "$rep" \
	    -signer "$W/rep.signer" -out "$W/rep.inner" 2>/dev/null &&
	    [ "$(openssl x509 -in "$W/rep.signer" -noout -fingerprint)" = \
	    "$(openssl x509 -in "$ra" -noout -fingerprint)" ] &&
	    openssl cms -decrypt -binary -inform DER -in "$W/rep.inner" \
	    -recip "$cert" -inkey "$key" -out "$W/rep.p7" 2>/dev/null &&
	    openssl pkcs7 -inform DER -in "$W/rep.p7" -print_certs \
	    -out "$out" 2>/dev/null && grep -q 'BEGIN CERT' "$out"
}

# ---------------------------------------------------- 1. GetCACaps/Cert

st=$(get caps "$SA?operation=GetCACaps")
lib_check "GetCACaps over plain HTTP -> 200 ($st)" [ "$st" = 200 ]
for cap in AES POSTPKIOperation SHA-256 Renewal SCEPStandard; do
	lib_check "GetCACaps lists $cap" grep -qx "$cap" "$W/caps.body"
done

# cacert_ok OUT URL DIR [curl args]: GetCACert gives the RA+CA PKCS#7.
cacert_ok()
{
	local out=$1 url=$2 dir=$3 st
	shift 3
	st=$(get "$out" "$url?operation=GetCACert" "$@")
	if [ "$st" != 200 ]; then
		lib_fail "GetCACert $url: status $st $(cat "$W/$out.err")"
		return 1
	fi
	lib_check "GetCACert $url: application/x-x509-ca-ra-cert" \
	    grep -qi '^content-type: *application/x-x509-ca-ra-cert' \
	    "$W/$out.hdr"
	openssl pkcs7 -inform DER -in "$W/$out.body" -print_certs \
	    -out "$W/$out.pem" 2>/dev/null
	local fps
	fps=$(for f in "$dir/ra.pem" "$dir/ca.pem"; do
		openssl x509 -in "$f" -noout -fingerprint -sha256
	done | sort)
	local got
	got=$(awk -v d="$W/$out.c." '/BEGIN CERT/ { n++ } n { print > (d n) }' \
	    "$W/$out.pem"; for c in "$W/$out".c.*; do
		[ -f "$c" ] && openssl x509 -in "$c" -noout -fingerprint -sha256
	done | sort)
	lib_check "GetCACert $url: exactly the RA and the CA certificate" \
	    [ -n "$got" ] && [ "$got" = "$fps" ]
}
cacert_ok cacert "$SA" "$A_DIR"
cacert_ok cacert_tls "https://127.0.0.1:$A_PORT/scep" "$A_DIR" \
    --cacert "$A_DIR/ca.pem"
cacert_ok cacert_pk "$SA/pkiclient.exe" "$A_DIR"
cacert_ok cacert_cgi "http://127.0.0.1:$A_HTTP/cgi-bin/pkiclient.exe" \
    "$A_DIR"
cacert_ok cacert_def "$SA/default" "$A_DIR"
[ "$HAVE_B" = 0 ] &&
    cacert_ok cacert_b "http://127.0.0.1:$B_HTTP/scep" "$B_DIR"

# ------------------------------------------------ 2./3. scepclient flows

# enroll_ok NAME DIR URL CN [args]: scepclient enrolls; the certificate
# verifies against DIR/ca.pem and the store records it as scep.
enroll_ok()
{
	local name=$1 dir=$2 url=$3 cn=$4 sn
	shift 4
	if ! scepc "$name" "$url" -challenge "$CHALLENGE" -cn "$cn" "$@"; then
		lib_fail "scepclient $name ($cn): $(tail -c 300 "$W/$name.out")"
		return 1
	fi
	lib_check "scepclient $name: certificate verifies" \
	    verify_with "$dir/ca.pem" "$W/$name/c.pem"
	lib_check "scepclient $name: CN=$cn" eval "openssl x509 -in \
	    '$W/$name/c.pem' -noout -subject | grep -q 'CN *= *$cn'"
	sn=$(serial_of "$W/$name/c.pem")
	lib_check "scepclient $name: store has serial $sn with protocol scep" \
	    [ "$(store_protocol "$dir" "$sn")" = scep ]
}

enroll_ok rsa "$A_DIR" "$SA" device1
HAVE_RSA=$?
if [ "$HAVE_B" = 0 ]; then
	fp=$(openssl x509 -in "$B_DIR/ra.pem" -outform DER | sha256sum |
	    cut -d' ' -f1)
	enroll_ok ecdsa "$B_DIR" "http://127.0.0.1:$B_HTTP/scep" \
	    device2.example.com \
	    -ca-fingerprint "$fp"
	lib_check "ECDSA instance: the CA key really is EC" eval \
	    "openssl x509 -in '$B_DIR/ca.pem' -noout -text |
	    grep -q 'id-ecPublicKey'"
fi

# Renewal (RenewalReq 17): same directory, same key, no challenge.
if [ "$HAVE_RSA" = 0 ]; then
	old=$(serial_of "$W/rsa/c.pem")
	cp "$W/rsa/c.pem" "$W/rsa.first.pem"
	if scepc rsa "$SA" -cn device1; then
		new=$(serial_of "$W/rsa/c.pem")
		lib_check "renewal: new serial ($old -> $new)" \
		    [ -n "$new" ] && [ "$new" != "$old" ]
		lib_check "renewal: certificate verifies" \
		    verify_with "$A_DIR/ca.pem" "$W/rsa/c.pem"
		lib_check "renewal: same key" [ \
		    "$(lib_pubkey "$W/rsa/c.pem")" = "$(lib_pubkey "$W/rsa.first.pem")" ]
		lib_check "renewal: store has $new as scep" \
		    [ "$(store_protocol "$A_DIR" "$new")" = scep ]
	else
		lib_fail "renewal: $(tail -c 300 "$W/rsa.out")"
	fi
else
	lib_fail "renewal skipped: no first certificate"
fi

# -------------------------------------------- 4. PKIOperation by GET (C)

if [ "$HAVE_C" = 0 ]; then
	SC=http://127.0.0.1:$C_HTTP/scep
	enroll_ok getop "$C_DIR" "$SC" device5
	lib_check "caps without POSTPKIOperation: scepclient used GET only" \
	    eval "grep -q 'method=GET' '$T_DIR/C.log' &&
	    ! grep -q 'method=POST' '$T_DIR/C.log'"
fi

# ------------------------------------------ 5. HTTP/1.0 without Host

python3 - "$A_HTTP" >"$W/http10.out" 2>&1 <<-'EOF'
	import socket, sys
	s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 10)
	s.settimeout(10)
	s.sendall(b"GET /scep?operation=GetCACaps HTTP/1.0\r\n\r\n")
	d = b""
	c = s.recv(4096)
	while c:
	    d += c
	    c = s.recv(4096)
	sys.stdout.write(d.decode("latin-1"))
	EOF
lib_check "HTTP/1.0 without Host: 200 with the caps" eval \
    "head -1 '$W/http10.out' | grep -q '^HTTP/1.[01] 200' &&
    grep -q '^POSTPKIOperation' '$W/http10.out'"

# --------------------------------------------------- positive hand-built

# The signer scep_msg.py uses: a throw-away self-signed RSA certificate,
# like scepclient's "SCEP SIGNER".
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/self.key" \
    -out "$W/self.pem" -subj /CN=SCEP-SIGNER -days 2 2>/dev/null
# mkcsr NAME CN [CHALLENGE]: an RSA CSR (DER) with a challengePassword.
mkcsr()
{
	{
		printf '[req]\nprompt = no\ndistinguished_name = dn\n'
		printf 'attributes = at\n[dn]\nCN = %s\n[at]\n' "$2"
		[ -n "${3:-}" ] && printf 'challengePassword = %s\n' "$3"
	} >"$W/$1.cnf"
	openssl req -new -newkey rsa:2048 -nodes -keyout "$W/$1.key" \
	    -config "$W/$1.cnf" -outform DER -out "$W/$1.csr" 2>/dev/null
}
mkcsr hand hand1 "$CHALLENGE"
mkcsr nochal hand2
# msg OUT [scep_msg.py build args]: a message from $W/self.* to A's RA.
msg()
{
	local out=$1
	shift
	$MSG build --cert "$W/self.pem" --key "$W/self.key" \
	    --recip "$A_DIR/ra.pem" --out "$W/$out.der" "$@"
}

# The builder's own control: a hand-built PKCSReq (AES, SHA-256) must be
# accepted, or the rows built the same way below prove nothing.
msg good --type 19 --content "$W/hand.csr"
st=$(pkiop good "$SA" "$W/good.der")
lib_check "hand-built PKCSReq -> 200 SUCCESS (pkiStatus 0)" \
    [ "$st" = 200 ] && [ "$(repstatus "$W/good.body")" = "0 -" ]
if rep_certs "$W/good.body" "$A_DIR/ra.pem" "$W/self.pem" "$W/self.key" \
    "$W/good.pem"; then
	lib_check "hand-built PKCSReq: reply signed by the RA, cert verifies" \
	    verify_with "$A_DIR/ca.pem" "$W/good.pem"
	# GetCert (21) for a serial we issued: SUCCESS with that certificate.
	$MSG ias "$W/good.pem" >"$W/ias_known.der"
	msg getcert --type 21 --content "$W/ias_known.der"
	pkiop getcert "$SA" "$W/getcert.der" >/dev/null
	lib_check "GetCert for an issued serial -> SUCCESS, same certificate" \
	    eval "rep_certs '$W/getcert.body' '$A_DIR/ra.pem' '$W/self.pem' \
	    '$W/self.key' '$W/getcert.pem' && [ \"\$(serial_of '$W/getcert.pem')\" = \
	    \"\$(serial_of '$W/good.pem')\" ]"
else
	lib_fail "hand-built PKCSReq: cannot open the CertRep"
fi
msg good3des --type 19 --content "$W/hand.csr" --cipher des3 --md sha1
pkiop good3des "$SA" "$W/good3des.der" >/dev/null
lib_check "hand-built PKCSReq (3DES, SHA-1) -> SUCCESS" \
    [ "$(repstatus "$W/good3des.body")" = "0 -" ]
msg nowtime --type 19 --content "$W/hand.csr" \
    --signing-time "$(date -u +%y%m%d%H%M%SZ)"
pkiop nowtime "$SA" "$W/nowtime.der" >/dev/null
lib_check "hand-built PKCSReq with a current signingTime -> SUCCESS" \
    [ "$(repstatus "$W/nowtime.body")" = "0 -" ]

# ------------------------------------------------------ bad-input bodies

head -c 2000 /dev/urandom >"$W/garbage.bin"
head -c 1200000 /dev/urandom >"$W/big.bin"
: >"$W/empty.bin"
# Encrypted to a throw-away RSA certificate instead of the RA.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/other.key" \
    -out "$W/other.pem" -subj /CN=not-the-RA -days 2 2>/dev/null
msg wrongrecip --type 19 --content "$W/hand.csr" --recip "$W/other.pem"
msg tamper --type 19 --content "$W/hand.csr" --tamper
msg md5 --type 19 --content "$W/hand.csr" --md md5
msg nochal --type 19 --content "$W/nochal.csr"
msg badtype --type 99 --content "$W/hand.csr"
msg renewforeign --type 17 --content "$W/hand.csr"
$MSG ias "$A_DIR/ca.pem" 0DEADBEEF0 >"$W/ias_unknown.der"
msg getcertunk --type 21 --content "$W/ias_unknown.der"
$MSG ais "$W/self.pem" >"$W/ais.der"
msg certpoll --type 20 --content "$W/ais.der"
# signingTime years off: RFC 8894 badTime.
msg oldtime --type 19 --content "$W/hand.csr" --signing-time 100101000000Z

# ------------------------------------------------------------------ table
#
# Rows: want | case | kind | argument
#   want  HTTP status (3 digits), or fail:N for a CertRep failInfo N
#   kind  post (body file stem, URL $SA), url (GET that URL),
#         postto (URL|stem)
TABLE="
400|garbage POST body|post|garbage
400|empty POST body|post|empty
400|a bare CSR, not a pkiMessage|post|hand.csr
400|base64 garbage in message=|url|$SA?operation=PKIOperation&message=%21x%21
400|GET PKIOperation without message=|url|$SA?operation=PKIOperation
400|unknown operation|url|$SA?operation=GetNothing
400|missing operation|url|$SA
404|unknown profile /scep/nosuch|url|$SA/nosuch?operation=GetCACaps
404|/scepx|url|http://127.0.0.1:$A_HTTP/scepx?operation=GetCACaps
413|POST above max_body_bytes (1.2 MB)|post|big
fail:1|envelope for the wrong recipient|post|wrongrecip
fail:1|tampered signature|post|tamper
fail:0|MD5 digest|post|md5
fail:2|PKCSReq without challengePassword|post|nochal
fail:2|unknown messageType 99|post|badtype
fail:1|RenewalReq signed by a self-signed cert (hand-built)|post|renewforeign
fail:4|GetCert for an unknown serial|post|getcertunk
fail:4|CertPoll (nothing is pending)|post|certpoll
fail:3|signingTime years before now (badTime)|post|oldtime
"

# check_row WANT NAME OUT STATUS: compare; then GetCACaps of BASE.
check_row()
{
	local want=$1 name=$2 out=$3 st=$4 base=$5 got
	case $want in
	fail:*)
		got=$(repstatus "$W/$out.body")
		if [ "$st" = 200 ] && [ "$got" = "2 ${want#fail:}" ]; then
			lib_ok "$name -> FAILURE failInfo ${want#fail:}"
		else
			lib_fail "$name: want FAILURE failInfo ${want#fail:}," \
			    "got HTTP $st, status/failInfo '$got'" \
			    "$(head -c 150 "$W/$out.body" | tr -cd '[:print:]')"
		fi
		;;
	*)
		if [ "$st" = "$want" ]; then
			lib_ok "$name -> $st"
		else
			lib_fail "$name: want $want, got $st:" \
			    "$(head -c 150 "$W/$out.body" | tr -cd '[:print:]')" \
			    "$(cat "$W/$out.err")"
		fi
		;;
	esac
	lib_check "  ... and GetCACaps still answers 200" caps_alive "$base"
}

n=0
while IFS='|' read -r want name kind arg; do
	[ -n "$want" ] || continue
	n=$((n + 1))
	case $kind in
	post)
		f=$W/$arg
		[ -f "$f" ] || f=$W/$arg.der
		[ -f "$f" ] || f=$W/$arg.bin
		st=$(pkiop "row$n" "$SA" "$f")
		;;
	url)
		st=$(get "row$n" "$arg")
		;;
	esac
	check_row "$want" "$name" "row$n" "$st" "$SA"
done <<<"$TABLE"

# GET form of a valid message still works after all that (and proves the
# base64 path the 400 rows above exercise does decode good input).
msg goodget --type 19 --content "$W/hand.csr"
st=$(get goodget "$SA?operation=PKIOperation&message=$(openssl base64 -A \
    -in "$W/goodget.der" | sed 's/+/%2B/g; s/\//%2F/g; s/=/%3D/g')")
lib_check "GET PKIOperation with a valid message= -> SUCCESS" \
    [ "$st" = 200 ] && [ "$(repstatus "$W/goodget.body")" = "0 -" ]

# The same in the URL-safe alphabet scepclient uses for GET (RFC 4648
# section 5: '-' and '_' for '+' and '/').
msg goodgeturl --type 19 --content "$W/hand.csr"
st=$(get goodgeturl "$SA?message=$(openssl base64 -A -in "$W/goodgeturl.der" |
    tr '+/' '-_' | sed 's/=/%3D/g')&operation=PKIOperation")
lib_check "GET PKIOperation, URL-safe base64 message= -> SUCCESS (got $st)" \
    [ "$st" = 200 ] && [ "$(repstatus "$W/goodgeturl.body")" = "0 -" ]

# Rows a real client produces.

# scep_row WANTFAIL NAME DIR URL [args]: scepclient must report failInfo.
scep_row()
{
	local want=$1 name=$2 dir=$3 url=$4
	shift 4
	if scepc "$dir" "$url" "$@"; then
		lib_fail "$name: scepclient succeeded"
	elif grep -q "failInfo: .*($want)" "$W/$dir.out"; then
		lib_ok "$name -> failInfo $want (scepclient)"
	else
		lib_fail "$name: want failInfo $want: $(tail -c 300 "$W/$dir.out")"
	fi
	lib_check "  ... and GetCACaps still answers 200" caps_alive "$url"
}

scep_row 2 "wrong challenge" wrongchal "$SA" -challenge "x$CHALLENGE" \
    -cn device3
# RenewalReq signed by a foreign self-signed certificate: scepclient
# renews whenever -certificate exists.
mkdir -p "$W/foreign"
openssl genrsa -traditional -out "$W/foreign/k.pem" 2048 2>/dev/null
openssl req -x509 -new -key "$W/foreign/k.pem" -subj /CN=device1 -days 2 \
    -out "$W/foreign/c.pem" 2>/dev/null
scep_row 1 "RenewalReq with a foreign self-signed cert" foreign "$SA" \
    -cn device1
# RenewalReq signed by a certificate we issued and then revoked.
if [ "$HAVE_RSA" = 0 ]; then
	mkdir -p "$W/revoked"
	cp "$W/rsa/k.pem" "$W/rsa/c.pem" "$W/revoked/"
	if "$ENROLLD" revoke --config "$A_DIR/enrolld.json" \
	    --serial "$(serial_of "$W/revoked/c.pem")" >"$W/revoke.out" 2>&1
	then
		scep_row 1 "RenewalReq signed by a revoked cert" revoked "$SA" \
		    -cn device1
	else
		lib_fail "enrolld revoke: $(tail -c 300 "$W/revoke.out")"
	fi
fi
if [ "$HAVE_B" = 0 ]; then
	scep_row 2 "CN evil.org, policy allows example.com only" evil \
	    "http://127.0.0.1:$B_HTTP/scep" -challenge "$CHALLENGE" \
	    -cn evil.org -ca-fingerprint "$fp"
fi
if [ "$HAVE_X" = 0 ]; then
	SX=http://127.0.0.1:$X_HTTP/scep
	# scepclient always encrypts with single DES.
	scep_row 0 "single DES with allow_des=false" des "$SX" \
	    -challenge "$CHALLENGE" -cn device4
	$MSG build --type 19 --cert "$W/self.pem" --key "$W/self.key" \
	    --recip "$X_DIR/ra.pem" --content "$W/hand.csr" \
	    --out "$W/xaes.der"
	pkiop xaes "$SX" "$W/xaes.der" >/dev/null
	lib_check "allow_des=false still takes AES -> SUCCESS" \
	    [ "$(repstatus "$W/xaes.body")" = "0 -" ]
fi
# Not implemented in this version: one-time challenges (a reused one).
echo "skip - reused one-time challenge (not implemented)"

# ------------------------------------------------------------------ stop

for i in A B C X; do
	pid=${i}_PID
	[ -n "${!pid:-}" ] || continue
	lib_check "instance $i stops cleanly on SIGTERM" lib_stop "${!pid}"
done
lib_summary
