#!/usr/bin/env bash
# SCEP challenge webhook (scep.webhook) with Debian's scepclient and a
# small python http.server as the webhook: it answers 200 to the
# challenge "hook-ok", 403 to anything else, and records every body.
# The static challenge never reaches the webhook; a refused challenge,
# a webhook that is down and one that never answers give failInfo
# badRequest; a bad `scep.webhook` fails check-config naming the key.

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

for tool in scepclient jq; do
	if ! command -v "$tool" >/dev/null; then
		echo "test_scep_webhook.sh: $tool is not installed" >&2
		exit 2
	fi
done

D=$T_DIR/inst
PORT=$(lib_free_port)
HPORT=$(lib_free_port)
WPORT=$(lib_free_port)
BODIES=$T_DIR/bodies.jsonl
: >"$BODIES"
"$ENROLLD" init --dir "$D" --port "$PORT" --http-port "$HPORT" \
    --scep-challenge static-secret --ca-key rsa2048 \
    >"$T_DIR/init.out" 2>&1 || {
	cat "$T_DIR/init.out" >&2
	exit 1
}
CFG=$D/enrolld.json

# ----------------------------------------------------------- check-config
# (the bad copies sit next to the config: its paths are relative)

cp "$CFG" "$D/bad.json"
lib_json_edit "$D/bad.json" '.scep.webhook = {"url": 5}'
"$ENROLLD" check-config "$D/bad.json" >"$T_DIR/bad.out" 2>&1
lib_check "check-config refuses a non-string webhook url" test $? -ne 0
lib_check "... and names scep.webhook.url" \
    grep -q 'scep\.webhook\.url' "$T_DIR/bad.out"
cp "$CFG" "$D/bad2.json"
lib_json_edit "$D/bad2.json" \
    '.scep.webhook = {"url": "http://hooks.example/x"}'
"$ENROLLD" check-config "$D/bad2.json" >"$T_DIR/bad2.out" 2>&1
lib_check "check-config refuses a host name (no DNS on the loop)" \
    grep -q 'scep\.webhook\.url' "$T_DIR/bad2.out"
cp "$CFG" "$D/bad3.json"
lib_json_edit "$D/bad3.json" \
    '.scep.webhook = {"url": "http://127.0.0.1/", "retries": 2}'
"$ENROLLD" check-config "$D/bad3.json" >"$T_DIR/bad3.out" 2>&1
lib_check "check-config refuses an unknown webhook key" \
    grep -q 'scep\.webhook\.retries' "$T_DIR/bad3.out"

lib_json_edit "$CFG" '.scep.webhook = {"url": $u, "timeout_ms": 2000}' \
    --arg u "http://127.0.0.1:$WPORT/check"
"$ENROLLD" check-config "$CFG" >"$T_DIR/good.out" 2>&1
lib_check "check-config accepts the webhook" test $? -eq 0

# ---------------------------------------------------------------- webhook

# start_hook: the webhook on 127.0.0.1:$WPORT, tracked; waits (bounded)
# until it answers.  Sets HOOK_PID.
start_hook()
{
	python3 - "$WPORT" "$BODIES" >"$T_DIR/hook.log" 2>&1 <<'PY' &
import http.server, json, sys

port, bodies = int(sys.argv[1]), sys.argv[2]

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        with open(bodies, "a") as f:
            f.write(json.dumps({"path": self.path,
                "type": self.headers.get("Content-Type"),
                "body": raw.decode("utf-8", "replace")}) + "\n")
        try:
            ok = json.loads(raw).get("challenge") == "hook-ok"
        except ValueError:
            ok = False
        self.send_response(200 if ok else 403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        self.send_response(204)
        self.end_headers()

http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
	HOOK_PID=$!
	lib_track "$HOOK_PID"
	local i
	for i in $(seq 100); do
		$CURL -o /dev/null "http://127.0.0.1:$WPORT/" 2>/dev/null &&
		    return 0
		sleep 0.1
	done
	return 1
}

lib_check "the webhook comes up" start_hook
lib_start "$CFG" || {
	lib_fail "enrolld run did not come up"
	lib_summary
}
URL=http://127.0.0.1:$HPORT/scep

# enroll NAME CHALLENGE: scepclient in a fresh directory; prints its
# last line, the certificate is $T_DIR/NAME/c.pem.
enroll()
{
	mkdir -p "$T_DIR/$1"
	(cd "$T_DIR/$1" && timeout 60 scepclient -server-url "$URL" \
	    -challenge "$2" -private-key k.pem -certificate c.pem -cn "$1" \
	    2>&1 | tail -1)
}

# hook_calls: how many requests the webhook has seen.
hook_calls()
{
	wc -l <"$BODIES" | tr -d ' '
}

out=$(enroll dev1 hook-ok)
case $out in
*SUCCESS*) lib_ok "a challenge the webhook allows enrolls" ;;
*) lib_fail "webhook-allowed challenge: $out" ;;
esac
openssl verify -CAfile "$D/ca.pem" "$T_DIR/dev1/c.pem" >/dev/null 2>&1
lib_check "its certificate verifies" test $? -eq 0
lib_check "the webhook saw one request" test "$(hook_calls)" = 1
seen=$(tail -1 "$BODIES" | jq -r '[.path, .type,
    (.body | fromjson | .challenge, (.csr | length > 100),
    (.transaction_id | length > 0), .profile)] | join(" ")')
lib_check "it got path, JSON, challenge, csr, transaction_id, profile" \
    test "$seen" = "/check application/json hook-ok true true default"
csr_ok=$(tail -1 "$BODIES" | jq -r '.body | fromjson | .csr' |
    base64 -d 2>/dev/null | openssl req -inform DER -noout -subject \
    2>/dev/null)
case $csr_ok in
*dev1*) lib_ok "the csr is the device's, base64 DER" ;;
*) lib_fail "csr in the webhook body: $csr_ok" ;;
esac

out=$(enroll dev2 hook-no)
case $out in
*"badRequest (2)"*) lib_ok "a challenge the webhook refuses -> badRequest" ;;
*) lib_fail "webhook-refused challenge: $out" ;;
esac
lib_check "the webhook saw it" test "$(hook_calls)" = 2
lib_check "the refusal is logged with the status" \
    grep -q 'refused by the webhook (status=403)' "$LIB_LOG"

out=$(enroll dev3 static-secret)
case $out in
*SUCCESS*) lib_ok "the static challenge enrolls" ;;
*) lib_fail "static challenge: $out" ;;
esac
lib_check "... without calling the webhook" test "$(hook_calls)" = 2

kill -TERM "$HOOK_PID" 2>/dev/null
wait "$HOOK_PID" 2>/dev/null
start=$(date +%s)
out=$(enroll dev4 hook-ok)
took=$(($(date +%s) - start))
case $out in
*"badRequest (2)"*) lib_ok "webhook down -> badRequest (${took}s)" ;;
*) lib_fail "webhook down: $out" ;;
esac
lib_check "... within the timeout" test "$took" -lt 15

# A listener that never accepts: the connection opens (backlog), no
# answer comes, timeout_ms (2 s) ends the wait.
python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
time.sleep(120)' "$WPORT" &
lib_track $!
sleep 0.5
start=$(date +%s)
out=$(enroll dev5 hook-ok)
took=$(($(date +%s) - start))
case $out in
*"badRequest (2)"*) lib_ok "silent webhook -> badRequest (${took}s)" ;;
*) lib_fail "silent webhook: $out" ;;
esac
lib_check "... after timeout_ms, not long after" test "$took" -lt 15
lib_check "the timeout is logged" \
    grep -q 'refused by the webhook (timeout)' "$LIB_LOG"

lib_check "the refused challenges never reach the log" \
    test "$(grep -c 'hook-no\|hook-ok' "$LIB_LOG")" = 0
code=$($CURL -o /dev/null -w '%{http_code}' "$URL?operation=GetCACaps")
lib_check "GetCACaps still answers 200" test "$code" = 200

lib_check "enrolld exits 0 on SIGTERM" lib_stop "$LIB_PID"

# ------------------------------------------------------------------ https

# An https webhook whose certificate (IP:127.0.0.1) ca_bundle trusts,
# then the same webhook with the RA certificate as the only trust.
SPORT=$(lib_free_port)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T_DIR/hook.key" -out "$D/hookca.pem" -days 2 -subj /CN=hook \
    -addext "subjectAltName=IP:127.0.0.1" >/dev/null 2>&1
python3 - "$SPORT" "$D/hookca.pem" "$T_DIR/hook.key" \
    >"$T_DIR/shook.log" 2>&1 <<'PY' &
import http.server, json, ssl, sys

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ok = json.loads(raw).get("challenge") == "hook-ok"
        self.send_response(200 if ok else 403)
        self.send_header("Content-Length", "0")
        self.end_headers()

s = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
c.load_cert_chain(sys.argv[2], sys.argv[3])
s.socket = c.wrap_socket(s.socket, server_side=True)
s.serve_forever()
PY
lib_track $!
sleep 0.5
for ca in hookca.pem ra.pem; do
	lib_json_edit "$CFG" '.scep.webhook = {"url": $u, "ca_bundle": $ca}' \
	    --arg u "https://127.0.0.1:$SPORT/check" --arg ca "$ca"
	lib_start "$CFG" "enrolld-$ca" || {
		lib_fail "enrolld run ($ca) did not come up"
		lib_summary
	}
	out=$(enroll "tls-$ca" hook-ok)
	case $ca:$out in
	hookca.pem:*SUCCESS*) lib_ok "https webhook, trusted -> enrolls" ;;
	ra.pem:*"badRequest (2)"*)
		lib_ok "https webhook, untrusted -> badRequest"
		;;
	*) lib_fail "https webhook with ca_bundle $ca: $out" ;;
	esac
	lib_check "enrolld ($ca) exits 0 on SIGTERM" lib_stop "$LIB_PID"
done
lib_check "the TLS failure is logged" \
    grep -q 'refused by the webhook (TLS: certificate verify failed)' \
    "$T_DIR/enrolld-ra.pem.log"
lib_summary
