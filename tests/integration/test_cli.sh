#!/usr/bin/env bash
# The command line: init (fresh, refused, --force, key types, names),
# check-config on a good file and on broken ones (each message must name
# the bad key), run/SIGTERM, and the usage errors.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

W=$T_DIR/work
mkdir -p "$W"

# run_rc OUT CMD...: run with a bound on time, output to $W/OUT; prints
# the exit status (124 means it hung).
run_rc()
{
	local out=$1
	shift
	timeout "${RUN_TIMEOUT:-60}" "$@" >"$W/$out" 2>&1
	echo $?
}

# failed RC: 0 when RC says the command failed by itself (not 0, and
# not timeout's 124).
failed()
{
	[ "$1" != 0 ] && [ "$1" != 124 ]
}

# --------------------------------------------------------------- init

D=$T_DIR/one
PORT=$(lib_free_port)
rc=$(run_rc init1 "$ENROLLD" init --dir "$D" --port "$PORT" \
    --est-user cliuser:clipass-123)
lib_check "init on a new dir exits 0 (rc $rc)" [ "$rc" = 0 ]
lib_check "init writes ca.pem with a CA certificate" \
    eval 'openssl x509 -in "$D/ca.pem" -noout -ext basicConstraints \
    2>/dev/null | grep -q "CA:TRUE"'
lib_check "init writes enrolld.json as JSON" \
    jq -e . "$D/enrolld.json" >/dev/null
lib_check "init prints the EST URL" grep -q '/.well-known/est' "$W/init1"
lib_check "init prints the EST user" grep -q cliuser "$W/init1"
lib_check "config carries the chosen port" grep -q "$PORT" "$D/enrolld.json"
CAKEY=$(lib_ca_key "$D")
if [ -n "$CAKEY" ]; then
	mode=$(lib_file_mode "$CAKEY")
	lib_check "CA key $(basename "$CAKEY") has mode 0600 (is $mode)" \
	    [ "$mode" = 600 ]
else
	lib_fail "no CA private key matching ca.pem in $D"
fi
# The TLS server certificate names the defaults.
srv=$(grep -l 'BEGIN CERTIFICATE' "$D"/* 2>/dev/null | while read -r f; do
	openssl x509 -in "$f" -noout -ext subjectAltName 2>/dev/null |
	    grep -q 'DNS:localhost' && echo "$f"
done | head -1)
lib_check "a TLS server cert for localhost, 127.0.0.1, ::1" \
    eval '[ -n "$srv" ] && openssl x509 -in "$srv" -noout \
    -ext subjectAltName | tr -d " \n" |
    grep -q "DNS:localhost,IPAddress:127.0.0.1,IPAddress:0:0:0:0:0:0:0:1"'
lib_check "the TLS server cert chains to ca.pem" \
    eval '[ -n "$srv" ] && openssl verify -CAfile "$D/ca.pem" "$srv" \
    >/dev/null 2>&1'

sum_before=$(sha256sum "$D/ca.pem" "$D/enrolld.json")
rc=$(run_rc init2 "$ENROLLD" init --dir "$D")
lib_check "init refuses an existing dir without --force (rc $rc)" \
    failed "$rc"
lib_check "the refused init left the files alone" \
    [ "$(sha256sum "$D/ca.pem" "$D/enrolld.json")" = "$sum_before" ]
rc=$(run_rc init3 "$ENROLLD" init --dir "$D" --force --port "$PORT")
lib_check "init --force on an existing dir exits 0 (rc $rc)" [ "$rc" = 0 ]
lib_check "init --force made a new CA" \
    [ "$(sha256sum "$D/ca.pem" "$D/enrolld.json")" != "$sum_before" ]

# Each CA key type gives a CA certificate of that type.
for kt in p256:prime256v1 p384:secp384r1 rsa2048:2048 rsa3072:3072 \
    ed25519:ED25519; do
	dir=$T_DIR/ca-${kt%%:*}
	rc=$(run_rc "init-${kt%%:*}" "$ENROLLD" init --dir "$dir" \
	    --ca-key "${kt%%:*}")
	lib_check "init --ca-key ${kt%%:*} (rc $rc) gives a ${kt#*:} CA" \
	    eval '[ "$rc" = 0 ] && openssl x509 -in "$dir/ca.pem" -noout \
	    -text | grep -q "${kt#*:}"'
done
rc=$(run_rc init-badkey "$ENROLLD" init --dir "$T_DIR/badkey" --ca-key dsa512)
lib_check "init --ca-key dsa512 fails (rc $rc)" failed "$rc"

rc=$(run_rc init-names "$ENROLLD" init --dir "$T_DIR/names" \
    --name gw.example.net --name 127.0.0.2)
lib_check "init --name twice exits 0 (rc $rc)" [ "$rc" = 0 ]
lib_check "the server cert carries the --name values" \
    eval 'grep -l "BEGIN CERTIFICATE" "$T_DIR/names"/* | while read -r f; do
	openssl x509 -in "$f" -noout -ext subjectAltName 2>/dev/null; done |
	tr -d " \n" | grep -q "DNS:gw.example.net,IPAddress:127.0.0.2"'

# --------------------------------------------------------- check-config

GOOD=$D/enrolld.json
rc=$(run_rc cc-good "$ENROLLD" check-config "$GOOD")
lib_check "check-config on init's file exits 0 (rc $rc)" [ "$rc" = 0 ]

# broken NAME KEY JQ-FILTER: a copy of the good file changed by FILTER
# must be refused, and the message must name KEY.  The copy sits next to
# the good one: the config's file names are relative to its directory.
broken()
{
	local name=$1 key=$2 filter=$3 f=$D/bad-$1.json rc
	jq "$filter" "$GOOD" >"$f" || {
		lib_fail "check-config $name: jq could not build the case"
		return
	}
	rc=$(run_rc "cc-$name" "$ENROLLD" check-config "$f")
	if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then
		lib_fail "check-config $name: exit $rc, want non-zero"
	elif ! grep -q -- "$key" "$W/cc-$name"; then
		lib_fail "check-config $name: message lacks '$key': $(head -c 300 "$W/cc-$name")"
	else
		lib_ok "check-config $name -> rc $rc, names $key"
	fi
}

# Where the generated file keeps rsa_min_bits (a profile member).
rpath=$(lib_json_path "$GOOD" rsa_min_bits)
[ -n "$rpath" ] || rpath='["profiles","default","rsa_min_bits"]'
broken wrong-type max_sans '.profiles.default.max_sans = "ten"'
broken unknown-key bogus_knob '.bogus_knob = 1'
broken unknown-profile-key frobnicate '.profiles.default.frobnicate = true'
broken rsa-1024 rsa_min_bits "setpath($rpath; 1024)"
broken missing-profile default_profile '.est.default_profile = "nosuchprofile"'
broken label-to-missing-profile labels '.est.labels = {"x": "nosuchprofile"}'
broken listen-type listen '.listen = 8443'
broken limits-type read_timeout_ms '.limits.read_timeout_ms = "soon"'

printf '{ "profiles": ' >"$W/truncated.json"
rc=$(run_rc cc-trunc "$ENROLLD" check-config "$W/truncated.json")
lib_check "check-config on truncated JSON fails (rc $rc)" \
    failed "$rc"
rc=$(run_rc cc-missing "$ENROLLD" check-config "$W/does-not-exist.json")
lib_check "check-config on a missing file fails (rc $rc)" \
    failed "$rc"

# ---------------------------------------------------------------- usage

rc=$(run_rc noargs "$ENROLLD")
lib_check "enrolld without arguments fails (rc $rc)" \
    failed "$rc"
rc=$(run_rc badcmd "$ENROLLD" frobnicate)
lib_check "enrolld frobnicate fails (rc $rc)" failed "$rc"
rc=$(run_rc badopt "$ENROLLD" init --dir "$T_DIR/x" --no-such-option)
lib_check "init with an unknown option fails (rc $rc)" \
    failed "$rc"
rc=$(run_rc runnocfg "$ENROLLD" run)
lib_check "run without --config fails (rc $rc)" failed "$rc"

# ------------------------------------------------------------ run / stop

if lib_start "$GOOD" run1; then
	lib_ok "run prints 'listening on' (port $LIB_PORT)"
	lib_check "listens on the configured port" [ "$LIB_PORT" = "$PORT" ]
	st=$($CURL --cacert "$D/ca.pem" -o /dev/null -w '%{http_code}' \
	    "https://127.0.0.1:$LIB_PORT/.well-known/est/cacerts")
	lib_check "answers GET cacerts (got $st)" [ "$st" = 200 ]
	st=$($CURL --cacert "$D/ca.pem" -o /dev/null -w '%{http_code}' \
	    "https://localhost:$LIB_PORT/.well-known/est/cacerts")
	lib_check "server cert valid for localhost (got $st)" [ "$st" = 200 ]
	# A second instance on the same port must fail, and promptly.
	rc=$(RUN_TIMEOUT=10 run_rc run-busy "$ENROLLD" run --config "$GOOD")
	lib_check "a second run on a busy port fails (rc $rc)" \
	    failed "$rc"
	lib_check "run exits 0 on SIGTERM" lib_stop "$LIB_PID"
else
	lib_fail "run did not come up"
fi

lib_summary
