#!/usr/bin/env bash
# pebble-tls.sh DIR: what Debian's pebble needs to listen and does not
# ship: a throw-away CA (DIR/peb-ca.pem, the file clients trust) and a
# certificate for localhost and 127.0.0.1 it issued (DIR/peb.pem,
# DIR/peb.key).  Used by the tests and bench/run_acme.sh.
set -u
dir=${1:?usage: pebble-tls.sh DIR}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$dir/peb-ca.key" -out "$dir/peb-ca.pem" -days 2 \
    -subj /CN=throw-away-pebble-tls-ca >/dev/null 2>&1 &&
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$dir/peb.key" -out "$dir/peb.csr" -subj /CN=localhost \
	>/dev/null 2>&1 &&
    openssl x509 -req -in "$dir/peb.csr" -CA "$dir/peb-ca.pem" \
	-CAkey "$dir/peb-ca.key" -CAcreateserial -days 2 -out "$dir/peb.pem" \
	-extfile <(echo "subjectAltName=DNS:localhost,IP:127.0.0.1") \
	>/dev/null 2>&1 || {
	echo "pebble-tls.sh: openssl failed" >&2
	exit 1
}
