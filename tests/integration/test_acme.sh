#!/usr/bin/env bash
# End-to-end ACME (RFC 8555) against a fresh enrolld with real clients and
# real validation: lego over http-01, tls-alpn-01 and dns-01 (a wildcard,
# TXT records published in pebble-challtestsrv's DNS by an exec hook),
# lego renew and revoke, certbot certonly/renew/revoke, the CRL naming
# the revoked serials, an ACME profile path with a 7-day validity, and
# External Account Binding after a restart that requires it.  Every name
# resolves through pebble-challtestsrv to 127.0.0.1, where the clients'
# own challenge listeners run.

# Importing acme_client.py must leave no __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

D=$T_DIR/inst
W=$T_DIR/work
mkdir -p "$W"
CA=$D/ca.pem
EMAIL=acme-test@example.com
# Upper bound for one client run (issuance takes seconds).
CLIENT_TIMEOUT=180

for tool in pebble-challtestsrv lego certbot jq openssl; do
	if ! command -v "$tool" >/dev/null; then
		echo "test_acme: $tool is missing (deploy/install-deps.sh)" >&2
		exit 1
	fi
done

PORT=$(lib_free_port)
HTTP01=$(lib_free_port)
TLSALPN=$(lib_free_port)
DNS=$(lib_free_port)
MGMT=$(lib_free_port)

if ! "$ENROLLD" init --dir "$D" --port "$PORT" --est-user u:p-acme \
    --http01-port "$HTTP01" --tlsalpn01-port "$TLSALPN" \
    --acme-resolver "127.0.0.1:$DNS" --allow-private-targets \
    --allow-domain example.com >"$W/init.out" 2>&1; then
	echo "enrolld init failed:" >&2
	cat "$W/init.out" >&2
	exit 1
fi
CFG=$D/enrolld.json
# Wildcards for the dns-01 case; a "short" profile (7 days) reachable at
# /acme/short/directory.
lib_json_edit "$CFG" '.profiles.default.dns.allow_wildcards = true |
    .profiles.short = (.profiles.default | .validity_days = 7) |
    .acme.profiles += ["short"]'

if ! lib_start_challtestsrv "$DNS" "$MGMT"; then
	lib_fail "pebble-challtestsrv did not come up"
	lib_summary
fi
if ! lib_start "$CFG" enrolld; then
	lib_fail "enrolld run did not come up"
	lib_summary
fi
URL=https://127.0.0.1:$LIB_PORT/acme/directory

# The lego exec DNS provider calls this as `hook present|cleanup FQDN
# VALUE`; it publishes the TXT record in challtestsrv's DNS.
cat >"$W/dns-hook.sh" <<EOF
#!/bin/sh
case \$1 in
present) path=set-txt; body="{\"host\":\"\$2\",\"value\":\"\$3\"}" ;;
cleanup) path=clear-txt; body="{\"host\":\"\$2\"}" ;;
*) exit 0 ;;
esac
exec curl -sS --max-time 10 -d "\$body" "http://127.0.0.1:$MGMT/\$path"
EOF
chmod +x "$W/dns-hook.sh"

# ---------------------------------------------------------------- helpers

# lego_cmd LOG PATHDIR [lego args...]: one lego run with the test's CA,
# bounded; output in $W/LOG.log.
lego_cmd()
{
	local log=$1 path=$2
	shift 2
	LEGO_CA_CERTIFICATES=$CA EXEC_PATH=$W/dns-hook.sh \
	    EXEC_POLLING_INTERVAL=1 EXEC_PROPAGATION_TIMEOUT=30 \
	    EXEC_SEQUENCE_INTERVAL=1 \
	    timeout "$CLIENT_TIMEOUT" lego --accept-tos --email "$EMAIL" \
	    --path "$path" "$@" >"$W/$log.log" 2>&1
}

certbot_cmd()
{
	local log=$1
	shift
	REQUESTS_CA_BUNDLE=$CA timeout "$CLIENT_TIMEOUT" certbot "$@" \
	    --non-interactive --config-dir "$W/cb/config" \
	    --work-dir "$W/cb/work" --logs-dir "$W/cb/logs" \
	    >"$W/$log.log" 2>&1
}

# The last lines of a client's log, on one line, for a failure message.
why()
{
	tail -5 "$W/$1.log" 2>/dev/null | tr '\n' ' ' | cut -c1-400
}

verify_ok()
{
	openssl verify -CAfile "$CA" "$1" 2>&1 | grep -q ': OK$'
}

# The DNS names of a certificate's SAN, sorted, one line.
cert_names()
{
	openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null |
	    tr ',' '\n' | sed -n 's/^ *DNS://p' | sort | tr '\n' ' '
}

serial_of()
{
	openssl x509 -in "$1" -noout -serial 2>/dev/null | sed 's/^serial=//'
}

# check_cert WHAT FILE NAME...: verifies with ca.pem and names exactly
# NAME... in its SAN.
check_cert()
{
	local what=$1 file=$2 want got
	shift 2
	if [ ! -s "$file" ]; then
		lib_fail "$what: no certificate at $file"
		return 1
	fi
	lib_check "$what: openssl verify -CAfile ca.pem OK" verify_ok "$file"
	want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
	got=$(cert_names "$file")
	if [ "$got" = "$want" ]; then
		lib_ok "$what: SAN is exactly $want"
	else
		lib_fail "$what: SAN is '$got', want '$want'"
	fi
}

# crl_reason SERIAL: polls /crl (cached for 5 s) for up to 10 s; prints
# the reason of SERIAL's entry; fails when the serial never appears.
crl_reason()
{
	local serial=$1 i
	for i in $(seq 22); do
		if $CURL --cacert "$CA" -o "$W/crl.der" \
		    "https://127.0.0.1:$LIB_PORT/crl" 2>/dev/null &&
		    openssl crl -inform DER -in "$W/crl.der" -noout -text \
		    >"$W/crl.txt" 2>/dev/null &&
		    grep -qi "Serial Number: *$serial\$" "$W/crl.txt"; then
			awk -v s="$serial" '
			    toupper($0) ~ "SERIAL NUMBER: *" toupper(s) "$" {
				    on = 1; next }
			    on && /Serial Number/ { exit }
			    on && /Reason Code/ { getline; gsub(/^ +/, "");
				    print; exit }' "$W/crl.txt"
			return 0
		fi
		sleep 0.5
	done
	return 1
}

# check_revoked WHAT SERIAL REASON: SERIAL is in the CRL with REASON.
check_revoked()
{
	local what=$1 serial=$2 want=$3 got
	if ! got=$(crl_reason "$serial"); then
		lib_fail "$what: serial $serial not in the CRL within 10 s"
	elif [ "$got" = "$want" ]; then
		lib_ok "$what: serial $serial in the CRL, reason $got"
	else
		lib_fail "$what: serial $serial in the CRL with reason '$got', want '$want'"
	fi
}

# ------------------------------------------------------------------ lego

LEGO=$W/lego
HTTP_ARGS=(--http --http.port "127.0.0.1:$HTTP01")
if lego_cmd lego-http "$LEGO" --server "$URL" -d www.example.com \
    -d api.example.com "${HTTP_ARGS[@]}" run; then
	lib_ok "lego http-01 run"
else
	lib_fail "lego http-01 run: $(why lego-http)"
fi
check_cert "lego http-01" "$LEGO/certificates/www.example.com.crt" \
    www.example.com api.example.com

if lego_cmd lego-tls "$LEGO" --server "$URL" -d tls.example.com \
    --tls --tls.port "127.0.0.1:$TLSALPN" run; then
	lib_ok "lego tls-alpn-01 run"
else
	lib_fail "lego tls-alpn-01 run: $(why lego-tls)"
fi
check_cert "lego tls-alpn-01" "$LEGO/certificates/tls.example.com.crt" \
    tls.example.com

if lego_cmd lego-dns "$LEGO" --server "$URL" -d '*.wild.example.com' \
    --dns exec --dns.resolvers "127.0.0.1:$DNS" --dns.disable-cp run; then
	lib_ok "lego dns-01 wildcard run"
else
	lib_fail "lego dns-01 wildcard run: $(why lego-dns)"
fi
check_cert "lego dns-01 wildcard" "$LEGO/certificates/_.wild.example.com.crt" \
    '*.wild.example.com'

# Renew: --days 1000 makes a 90-day certificate due at once.
OLD=$(serial_of "$LEGO/certificates/www.example.com.crt")
if lego_cmd lego-renew "$LEGO" --server "$URL" -d www.example.com \
    -d api.example.com "${HTTP_ARGS[@]}" renew --days 1000 \
    --no-random-sleep; then
	lib_ok "lego renew"
else
	lib_fail "lego renew: $(why lego-renew)"
fi
NEW=$(serial_of "$LEGO/certificates/www.example.com.crt")
lib_check "lego renew: new serial ($OLD -> $NEW)" \
    eval '[ -n "$NEW" ] && [ "$NEW" != "$OLD" ]'
check_cert "lego renewed" "$LEGO/certificates/www.example.com.crt" \
    www.example.com api.example.com

# Revoke (keyCompromise) the renewed certificate.
if lego_cmd lego-revoke "$LEGO" --server "$URL" -d www.example.com \
    -d api.example.com revoke --keep --reason 1; then
	lib_ok "lego revoke --reason 1"
	check_revoked "lego revoke" "$NEW" "Key Compromise"
else
	lib_fail "lego revoke: $(why lego-revoke)"
fi

# A profile path: /acme/short/directory issues from the 7-day profile.
if lego_cmd lego-short "$W/lego-short" \
    --server "https://127.0.0.1:$LIB_PORT/acme/short/directory" \
    -d short.example.com "${HTTP_ARGS[@]}" run; then
	lib_ok "lego via /acme/short/directory"
else
	lib_fail "lego via /acme/short/directory: $(why lego-short)"
fi
SHORT=$W/lego-short/certificates/short.example.com.crt
check_cert "profile short" "$SHORT" short.example.com
if [ -s "$SHORT" ]; then
	nb=$(date -d "$(openssl x509 -in "$SHORT" -noout -startdate |
	    cut -d= -f2)" +%s)
	na=$(date -d "$(openssl x509 -in "$SHORT" -noout -enddate |
	    cut -d= -f2)" +%s)
	life=$((na - nb))
	# 7 days, with up to two hours of back-dating either way.
	lib_check "profile short: validity ${life}s is about 7 days" \
	    eval '[ "$life" -ge $((7 * 86400 - 7200)) ] &&
	    [ "$life" -le $((7 * 86400 + 7200)) ]'
fi

# --------------------------------------------------------------- certbot

CB_LIVE=$W/cb/config/live/cb.example.com
CB_ARGS=(--standalone --http-01-address 127.0.0.1 --http-01-port "$HTTP01")
if certbot_cmd cb-issue certonly --agree-tos -m "$EMAIL" --server "$URL" \
    "${CB_ARGS[@]}" -d cb.example.com; then
	lib_ok "certbot certonly standalone"
else
	lib_fail "certbot certonly: $(why cb-issue)"
fi
check_cert "certbot" "$CB_LIVE/cert.pem" cb.example.com
OLD=$(serial_of "$CB_LIVE/cert.pem")

# Not on a terminal certbot renew first sleeps up to 8 minutes unless told
# not to.
if certbot_cmd cb-renew renew --force-renewal --no-random-sleep-on-renew \
    "${CB_ARGS[@]}"; then
	lib_ok "certbot renew --force-renewal"
else
	lib_fail "certbot renew: $(why cb-renew)"
fi
NEW=$(serial_of "$CB_LIVE/cert.pem")
lib_check "certbot renew: new serial ($OLD -> $NEW)" \
    eval '[ -n "$NEW" ] && [ "$NEW" != "$OLD" ]'
check_cert "certbot renewed" "$CB_LIVE/cert.pem" cb.example.com

if certbot_cmd cb-revoke revoke --cert-path "$CB_LIVE/cert.pem" \
    --server "$URL" --reason superseded --no-delete-after-revoke; then
	lib_ok "certbot revoke --reason superseded"
	check_revoked "certbot revoke" "$NEW" "Superseded"
else
	lib_fail "certbot revoke: $(why cb-revoke)"
fi

lib_check "enrolld exits 0 on SIGTERM" lib_stop "$LIB_PID"
FIRST_LOG=$LIB_LOG

# ------------------------------------------------------------------- EAB
#
# The same instance restarted with external_account_required; the key
# made with `enrolld eab add` binds exactly one account.

lib_json_edit "$CFG" '.acme.external_account_required = true'
if "$ENROLLD" eab add --config "$CFG" >"$W/eab.out" 2>"$W/eab.err"; then
	lib_ok "enrolld eab add"
else
	lib_fail "enrolld eab add: $(cat "$W/eab.err")"
fi
KID=$(sed -n 's/^kid: //p' "$W/eab.out")
HMAC=$(sed -n 's/^hmac_key: //p' "$W/eab.out")
lib_check "eab add prints kid and hmac_key" \
    eval '[ -n "$KID" ] && [ -n "$HMAC" ]'

if ! lib_start "$CFG" enrolld-eab; then
	lib_fail "enrolld with EAB required did not come up"
	lib_summary
fi
URL=https://127.0.0.1:$LIB_PORT/acme/directory
lib_check "directory meta says externalAccountRequired" \
    eval '$CURL --cacert "$CA" "$URL" |
    jq -e ".meta.externalAccountRequired == true" >/dev/null'

# lego reads meta.externalAccountRequired and refuses by itself ("Server
# requires External Account Binding"), so it never shows the server's
# problem; acme_client.py asks the server directly.
if lego_cmd eab-none "$W/lego-eab0" --server "$URL" -d eab0.example.com \
    "${HTTP_ARGS[@]}" run; then
	lib_fail "lego without EAB succeeded"
else
	lib_check "lego without EAB fails: requires External Account Binding" \
	    grep -qi 'external account' "$W/eab-none.log"
fi
PYTHONPATH=$LIB_DIR timeout 60 python3 - "$CA" "$URL" >"$W/eab-raw.out" \
    2>&1 <<-'EOF'
	import sys
	from acme_client import Account, Server
	r = Account(Server(sys.argv[2], sys.argv[1])).new_account()
	print(r)
	sys.exit(0 if r.status == 400 and r.type == "externalAccountRequired"
	    and r.ctype == "application/problem+json"
	    and r.header("Replay-Nonce") else 1)
	EOF
if [ $? = 0 ]; then
	lib_ok "newAccount without EAB -> 400 externalAccountRequired"
else
	lib_fail "newAccount without EAB: $(head -c 300 "$W/eab-raw.out")"
fi

if lego_cmd eab-good "$W/lego-eab1" --server "$URL" --eab --kid "$KID" \
    --hmac "$HMAC" -d eab1.example.com "${HTTP_ARGS[@]}" run; then
	lib_ok "lego with --eab --kid --hmac"
else
	lib_fail "lego with EAB: $(why eab-good)"
fi
check_cert "lego with EAB" "$W/lego-eab1/certificates/eab1.example.com.crt" \
    eab1.example.com

# A second account (new key, new --path) with the same kid.
if lego_cmd eab-reuse "$W/lego-eab2" --server "$URL" --eab --kid "$KID" \
    --hmac "$HMAC" -d eab2.example.com "${HTTP_ARGS[@]}" run; then
	lib_fail "a second account with the same EAB kid was accepted"
else
	lib_ok "a second account with the same EAB kid is refused: $(grep -o \
	    'urn:ietf:params:acme:error:[A-Za-z]*[^"]*' "$W/eab-reuse.log" |
	    head -1 | cut -c1-120)"
fi
lib_check "no certificate for the reused kid" \
    [ ! -e "$W/lego-eab2/certificates/eab2.example.com.crt" ]

lib_check "enrolld (EAB) exits 0 on SIGTERM" lib_stop "$LIB_PID"
if [ "$T_FAIL" -gt 0 ]; then
	echo "--- enrolld logs (last 30 lines each) ---"
	tail -n 30 "$FIRST_LOG" "$LIB_LOG"
fi
lib_summary
