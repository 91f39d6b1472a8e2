#!/usr/bin/env bash
# SCEP one-time challenge passwords with Debian's scepclient: a password
# from `enrolld scep-otp add` enrolls once; the same password again, an
# unknown one and an expired one are refused with failInfo badRequest;
# the static challenge still works next to them.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

D=$T_DIR/inst
PORT=$(lib_free_port)
HPORT=$(lib_free_port)
"$ENROLLD" init --dir "$D" --port "$PORT" --http-port "$HPORT" \
    --scep-challenge static-secret --est-user u:p --ca-key rsa2048 \
    >"$T_DIR/init.out" 2>&1 || {
	cat "$T_DIR/init.out" >&2
	exit 1
}
CFG=$D/enrolld.json
OTP1=$("$ENROLLD" scep-otp add --config "$CFG" 2>"$T_DIR/otp.err")
lib_check "scep-otp add prints a password" test -n "$OTP1"
OTP2=$("$ENROLLD" scep-otp add --config "$CFG" --ttl 1 2>>"$T_DIR/otp.err")
lib_check "scep-otp add --ttl 1 prints a password" test -n "$OTP2"
"$ENROLLD" scep-otp frobnicate --config "$CFG" >/dev/null 2>&1
lib_check "scep-otp with a bad verb exits non-zero" test $? -ne 0
db=$(python3 - "$D/enrolld.db" "$OTP1" <<'PY'
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "select id from objects where kind = 'scep.otp'").fetchall()
print("clear" if any(sys.argv[2] in r[0] for r in rows) else "hashed")
PY
)
lib_check "one-time passwords are stored hashed ($db)" test "$db" = hashed

lib_start "$CFG" || {
	lib_fail "enrolld run did not come up"
	lib_summary
}
URL=http://127.0.0.1:$HPORT/scep
st=$($CURL -o /dev/null -w '%{http_code}' "$URL?operation=GetNextCACert")
lib_check "GetNextCACert without a rollover -> 404 (got $st)" test "$st" = 404

# enroll NAME CHALLENGE: scepclient in a fresh directory; prints its
# last line, the certificate is $T_DIR/NAME/c.pem.
enroll()
{
	mkdir -p "$T_DIR/$1"
	(cd "$T_DIR/$1" && timeout 60 scepclient -server-url "$URL" \
	    -challenge "$2" -private-key k.pem -certificate c.pem -cn "$1" \
	    2>&1 | tail -1)
}

out=$(enroll dev1 "$OTP1")
case $out in
*SUCCESS*) lib_ok "one-time password enrolls" ;;
*) lib_fail "one-time password enrolls: $out" ;;
esac
openssl verify -CAfile "$D/ca.pem" "$T_DIR/dev1/c.pem" >/dev/null 2>&1
lib_check "its certificate verifies" test $? -eq 0

out=$(enroll dev2 "$OTP1")
case $out in
*"badRequest (2)"*) lib_ok "the same password again -> badRequest" ;;
*) lib_fail "reused one-time password: $out" ;;
esac

out=$(enroll dev3 "not-a-password")
case $out in
*"badRequest (2)"*) lib_ok "an unknown password -> badRequest" ;;
*) lib_fail "unknown password: $out" ;;
esac

sleep 2 # OTP2 had a one-second lifetime
out=$(enroll dev4 "$OTP2")
case $out in
*"badRequest (2)"*) lib_ok "an expired one-time password -> badRequest" ;;
*) lib_fail "expired one-time password: $out" ;;
esac

out=$(enroll dev5 static-secret)
case $out in
*SUCCESS*) lib_ok "the static challenge still enrolls" ;;
*) lib_fail "static challenge: $out" ;;
esac

lib_check "enrolld exits 0 on SIGTERM" lib_stop "$LIB_PID"
lib_summary
