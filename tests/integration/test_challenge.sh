#!/usr/bin/env bash
# Challenge publication for the upstream ACME backend.
#  - http-01: answers written into the store (here with the sqlite3 CLI,
#    as another node would) are served by two enrolld nodes sharing that
#    store on plain HTTP at /.well-known/acme-challenge/TOKEN: 200 with
#    the exact key authorization, 404 for unknown, expired or malformed
#    tokens, 405 for POST.
#  - dns-01: tests/integration/dns01-challtestsrv-hook.sh sets and clears
#    a TXT record in a real pebble-challtestsrv (checked with dig), and
#    deploy/hooks/dns01-nsupdate.sh builds the right nsupdate script
#    (checked with a stand-in nsupdate) and refuses bad input.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for tool in sqlite3 dig pebble-challtestsrv; do
	command -v "$tool" >/dev/null 2>&1 || {
		echo "test_challenge: $tool missing (deploy/install-deps.sh)" >&2
		exit 1
	}
done

D=$T_DIR/inst
PORT=$(lib_free_port)
HPORT=$(lib_free_port)
"$ENROLLD" init --dir "$D" --port "$PORT" --http-port "$HPORT" \
    >"$T_DIR/init.out" 2>&1 || {
	cat "$T_DIR/init.out" >&2
	exit 1
}
CFG=$D/enrolld.json
# A second node on the same store: same directory, other ports.
PORT2=$(lib_free_port)
HPORT2=$(lib_free_port)
CFG2=$D/node2.json
jq --arg l "127.0.0.1:$PORT2" --arg h "127.0.0.1:$HPORT2" \
    '.listen = [$l] | .http_listen = [$h]' "$CFG" >"$CFG2"

lib_start "$CFG" node1 || {
	lib_fail "enrolld node1 did not come up"
	lib_summary
}
lib_start "$CFG2" node2 || {
	lib_fail "enrolld node2 did not come up"
	lib_summary
}

TOKEN=evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA
KEYAUTH=$TOKEN.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI
OLD=LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0

# put_answer TOKEN KEYAUTH EXPIRES-OFFSET: the row chal_store_txn_put
# writes (core/chal_store.h), from outside the server.
put_answer()
{
	sqlite3 -cmd '.timeout 5000' "$D/enrolld.db" \
	    "INSERT INTO objects(kind, id, json, created, expires, version)
	     VALUES ('upstream.http01', '$1', '{\"keyauth\":\"$2\"}',
	     strftime('%s', 'now'), strftime('%s', 'now') + $3, 1)"
}

lib_check "an answer is stored with the sqlite3 CLI" \
    put_answer "$TOKEN" "$KEYAUTH" 3600
lib_check "an expired answer is stored" \
    put_answer "$OLD" "$OLD.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI" -10

CH=/.well-known/acme-challenge
for hp in "$HPORT" "$HPORT2"; do
	base=http://127.0.0.1:$hp$CH
	st=$($CURL -o "$T_DIR/body" -D "$T_DIR/hdr" -w '%{http_code}' \
	    "$base/$TOKEN")
	lib_check "GET a stored token on :$hp -> 200 (got $st)" test "$st" = 200
	lib_check "its body is exactly the key authorization" \
	    cmp -s "$T_DIR/body" <(printf '%s' "$KEYAUTH")
	lib_check "its media type is application/octet-stream" \
	    grep -qi '^content-type: application/octet-stream' "$T_DIR/hdr"
done
BASE=http://127.0.0.1:$HPORT$CH

st=$($CURL -I -o "$T_DIR/hdr" -w '%{http_code}' "$BASE/$TOKEN")
lib_check "HEAD a stored token -> 200 (got $st)" test "$st" = 200
st=$($CURL -o /dev/null -w '%{http_code}' "$BASE/unknownToken123")
lib_check "an unknown token -> 404 (got $st)" test "$st" = 404
st=$($CURL -o /dev/null -w '%{http_code}' "$BASE/$OLD")
lib_check "an expired answer -> 404 (got $st)" test "$st" = 404
st=$($CURL -o /dev/null -w '%{http_code}' "$BASE/")
lib_check "no token -> 404 (got $st)" test "$st" = 404
st=$($CURL -o /dev/null -w '%{http_code}' "$BASE/$TOKEN%2Fx")
lib_check "a token with an encoded slash -> 404 (got $st)" test "$st" = 404
st=$($CURL -o /dev/null -w '%{http_code}' "$BASE/$TOKEN.x")
lib_check "a token with a dot -> 404 (got $st)" test "$st" = 404
st=$($CURL -o /dev/null -D "$T_DIR/hdr" -w '%{http_code}' -X POST \
    -d x "$BASE/$TOKEN")
lib_check "POST -> 405 (got $st)" test "$st" = 405
lib_check "the 405 names GET and HEAD in Allow" \
    grep -qi '^allow: GET, HEAD' "$T_DIR/hdr"
st=$($CURL -k -o "$T_DIR/body" -w '%{http_code}' \
    "https://127.0.0.1:$PORT$CH/$TOKEN")
lib_check "over HTTPS too -> 200 (got $st)" test "$st" = 200

sqlite3 -cmd '.timeout 5000' "$D/enrolld.db" \
    "DELETE FROM objects WHERE kind = 'upstream.http01' AND id = '$TOKEN'"
st=$($CURL -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HPORT2$CH/$TOKEN")
lib_check "a withdrawn answer -> 404 on the other node (got $st)" \
    test "$st" = 404
# Other front ends keep their plain-HTTP rules.
st=$($CURL -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$HPORT/.well-known/est/cacerts")
lib_check "EST stays HTTPS-only -> 403 (got $st)" test "$st" = 403

lib_check "node2 stops cleanly" lib_stop "$LIB_PID"
lib_check "node1 stops cleanly" lib_stop "${LIB_PIDS[0]}"

# dns-01 through the test hook and a real pebble-challtestsrv.
DNS=$(lib_free_port)
MGMT=$(lib_free_port)
HOOK=$LIB_DIR/dns01-challtestsrv-hook.sh
VALUE=LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo
if lib_start_challtestsrv "$DNS" "$MGMT"; then
	export CHALLTESTSRV_URL=http://127.0.0.1:$MGMT
	NAME=_acme-challenge.dns.example.com
	txt()
	{
		dig +short +time=2 +tries=2 -p "$DNS" @127.0.0.1 TXT "$NAME" |
		    tr -d '"'
	}
	lib_check "hook add exits 0" "$HOOK" add "$NAME" "$VALUE"
	got=$(txt)
	lib_check "challtestsrv serves the TXT record (got '$got')" \
	    test "$got" = "$VALUE"
	lib_check "hook del exits 0" "$HOOK" del "$NAME." "$VALUE"
	got=$(txt)
	lib_check "the TXT record is gone (got '$got')" test -z "$got"
	! "$HOOK" add "$NAME" 'bad"value' 2>/dev/null
	lib_check "hook refuses a value that is not base64url" test $? -eq 0
	! "$HOOK" frob "$NAME" "$VALUE" 2>/dev/null
	lib_check "hook refuses an unknown verb" test $? -eq 0
	! CHALLTESTSRV_URL=http://127.0.0.1:$(lib_free_port) \
	    "$HOOK" add "$NAME" "$VALUE" 2>/dev/null
	lib_check "hook fails when nobody answers" test $? -eq 0
	! CHALLTESTSRV_URL=$CHALLTESTSRV_URL/nowhere \
	    "$HOOK" add "$NAME" "$VALUE" 2>/dev/null
	lib_check "hook fails on an HTTP error" test $? -eq 0
else
	lib_fail "pebble-challtestsrv did not start"
fi

# The nsupdate hook, with a stand-in nsupdate that records what it got.
NSU=$SRC_DIR/deploy/hooks/dns01-nsupdate.sh
mkdir -p "$T_DIR/bin"
cat >"$T_DIR/bin/nsupdate" <<EOF
#!/bin/sh
echo "\$*" >"$T_DIR/nsu.args"
cat >"$T_DIR/nsu.in"
[ -z "\${FAKE_NSUPDATE_FAIL:-}" ] || { echo "update failed: REFUSED"; exit 2; }
EOF
chmod +x "$T_DIR/bin/nsupdate"
printf 'key "enrolld" { algorithm hmac-sha256; secret "c2VjcmV0"; };\n' \
    >"$T_DIR/tsig.key"
nsu()
{
	PATH=$T_DIR/bin:$PATH NSUPDATE_SERVER=192.0.2.53 \
	    NSUPDATE_KEYFILE=$T_DIR/tsig.key "$@"
}
nsu "$NSU" add _acme-challenge.www.example.org. "$VALUE"
lib_check "nsupdate hook add exits 0" test $? -eq 0
lib_check "it runs nsupdate -k KEYFILE" \
    test "$(cat "$T_DIR/nsu.args")" = "-k $T_DIR/tsig.key -t 10"
lib_check "it sends server, update add and send" \
    test "$(cat "$T_DIR/nsu.in")" = \
    "server 192.0.2.53 53
update add _acme-challenge.www.example.org. 60 TXT \"$VALUE\"
send"
nsu env NSUPDATE_PORT=5353 NSUPDATE_TTL=5 NSUPDATE_ZONE=example.org \
    "$NSU" del _acme-challenge.www.example.org "$VALUE"
lib_check "nsupdate hook del exits 0" test $? -eq 0
lib_check "it deletes that one record, in the named zone" \
    test "$(cat "$T_DIR/nsu.in")" = "server 192.0.2.53 5353
zone example.org.
update delete _acme-challenge.www.example.org. TXT \"$VALUE\"
send"
out=$(nsu env FAKE_NSUPDATE_FAIL=1 "$NSU" add x.example.org "$VALUE" 2>&1)
rc=$?
lib_check "a refused update exits non-zero ($rc)" test "$rc" -ne 0
case $out in
*"nsupdate failed"*REFUSED*) lib_ok "and says why" ;;
*) lib_fail "and says why: $out" ;;
esac
rm -f "$T_DIR/nsu.in"
nsu "$NSU" add "$(printf 'x.example.org.\nsend')" "$VALUE" 2>/dev/null
lib_check "a name with a newline is refused" test $? -ne 0
nsu "$NSU" add x.example.org 'v" ; x' 2>/dev/null
lib_check "a value with a quote is refused" test $? -ne 0
nsu env NSUPDATE_KEYFILE="$T_DIR/nokey" "$NSU" add x.example.org "$VALUE" \
    2>/dev/null
lib_check "a missing key file is refused" test $? -ne 0
nsu "$NSU" add x.example.org 2>/dev/null
lib_check "a missing value is refused" test $? -ne 0
lib_check "nsupdate never ran for refused input" test ! -e "$T_DIR/nsu.in"
if command -v shellcheck >/dev/null 2>&1; then
	lib_check "the hooks are shellcheck-clean" shellcheck "$NSU" "$HOOK"
fi

lib_summary
