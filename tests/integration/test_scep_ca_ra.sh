#!/usr/bin/env bash
# SCEP configuration variants: an RSA CA as its own RA (no separate RA
# certificate): GetCACert answers the CA alone (RFC 8894 §4.2.1.1) and
# scepclient enrolls against it; GetCACaps per profile.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

D=$T_DIR/inst
PORT=$(lib_free_port)
HPORT=$(lib_free_port)
"$ENROLLD" init --dir "$D" --port "$PORT" --http-port "$HPORT" \
    --scep-challenge s3cret --est-user u:p --ca-key rsa2048 \
    >"$T_DIR/init.out" 2>&1 || {
	cat "$T_DIR/init.out" >&2
	exit 1
}
lib_json_edit "$D/enrolld.json" '.scep.ra_cert = "ca.pem" | .scep.ra_key = "ca.key"'
# Next to the instance, so its relative paths resolve.
cp "$D/enrolld.json" "$D/bad.json"
lib_json_edit "$D/bad.json" '.scep.profile_caps = {"nosuch": ["AES"]}'
msg=$("$ENROLLD" check-config "$D/bad.json" 2>&1)
case $msg in
*scep.profile_caps.nosuch*) lib_ok "profile_caps for an unknown profile is refused" ;;
*) lib_fail "profile_caps for an unknown profile: $msg" ;;
esac
lib_json_edit "$D/enrolld.json" \
    '.profiles.iot = .profiles.default | .scep.profile_caps = {"iot": ["AES", "SHA-256"]}'
# A CA rollover under way: the next CA certificate, for GetNextCACert.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T_DIR/next.key" \
    -out "$D/next-ca.pem" -subj "/CN=enrolld next CA" -days 30 2>/dev/null
lib_json_edit "$D/enrolld.json" '.scep.next_ca_cert = "next-ca.pem"'
lib_start "$D/enrolld.json" || {
	lib_fail "enrolld run did not come up"
	lib_summary
}
caps=$($CURL "http://127.0.0.1:$HPORT/scep/iot?operation=GetCACaps" | tr '\n' ' ')
lib_check "GetCACaps of profile iot is its own list ($caps)" \
    test "$caps" = "AES SHA-256 "
caps=$($CURL "http://127.0.0.1:$HPORT/scep?operation=GetCACaps" | tr '\n' ' ')
case $caps in
*POSTPKIOperation*) lib_ok "the default profile keeps the instance's caps" ;;
*) lib_fail "default caps: $caps" ;;
esac
ct=$($CURL -o "$T_DIR/next.der" -w '%{content_type}' \
    "http://127.0.0.1:$HPORT/scep?operation=GetNextCACert")
lib_check "GetNextCACert answers ($ct)" \
    test "$ct" = application/x-x509-next-ca-cert
openssl cms -verify -binary -inform DER -in "$T_DIR/next.der" \
    -CAfile "$D/ca.pem" -out "$T_DIR/next-inner.der" >/dev/null 2>&1
lib_check "it is signed by the current CA (RA)" test $? -eq 0
openssl pkcs7 -inform DER -in "$T_DIR/next-inner.der" -print_certs 2>/dev/null |
    grep -q "enrolld next CA"
lib_check "and holds the next CA certificate" test $? -eq 0
$CURL "http://127.0.0.1:$HPORT/scep/iot?operation=GetCACaps" >/dev/null
caps=$($CURL "http://127.0.0.1:$HPORT/scep?operation=GetCACaps")
case $caps in
*GetNextCACert*) lib_ok "GetCACaps advertises GetNextCACert" ;;
*) lib_fail "GetCACaps without GetNextCACert: $caps" ;;
esac
ct=$($CURL -o "$T_DIR/ca.der" -w '%{content_type}' \
    "http://127.0.0.1:$HPORT/scep?operation=GetCACert")
lib_check "GetCACert is the CA alone ($ct)" \
    test "$ct" = application/x-x509-ca-cert
want=$(openssl x509 -in "$D/ca.pem" -outform DER | sha256sum)
got=$(sha256sum <"$T_DIR/ca.der")
lib_check "and it is ca.pem" test "$want" = "$got"
mkdir -p "$T_DIR/c1"
out=$(cd "$T_DIR/c1" && timeout 60 scepclient -server-url \
    "http://127.0.0.1:$HPORT/scep" -challenge s3cret -private-key k.pem \
    -certificate c.pem -cn dev1 2>&1 | tail -1)
case $out in
*SUCCESS*) lib_ok "scepclient enrolls with the CA as RA" ;;
*) lib_fail "scepclient with the CA as RA: $out" ;;
esac
openssl verify -CAfile "$D/ca.pem" "$T_DIR/c1/c.pem" >/dev/null 2>&1
lib_check "its certificate verifies" test $? -eq 0
lib_check "enrolld exits 0 on SIGTERM" lib_stop "$LIB_PID"
lib_summary
