#!/usr/bin/env bash
# A dns-01 hook for the tests, with the interface of
# deploy/hooks/dns01-nsupdate.sh: pebble-challtestsrv's management API
# stands in for the DNS provider.
#
#   dns01-challtestsrv-hook.sh add FQDN VALUE   POST /set-txt
#   dns01-challtestsrv-hook.sh del FQDN [VALUE] POST /clear-txt
#
# CHALLTESTSRV_URL names the management API (http://127.0.0.1:PORT).
# Exits non-zero with a sentence on stderr unless the answer is 200.
# challtestsrv keeps one value per name, so `del` clears them all.
set -u

me=dns01-challtestsrv-hook

die()
{
	echo "$me: $*" >&2
	exit 1
}

{ [ $# -ge 2 ] && [ $# -le 3 ]; } || die "usage: $me add|del FQDN [VALUE]"
url=${CHALLTESTSRV_URL:-}
[ -n "$url" ] || die "CHALLTESTSRV_URL is unset"
fqdn=${2%.}
value=${3:-}
# Both go into a JSON string: refuse what would need escaping.
[[ $fqdn =~ ^[A-Za-z0-9._-]+$ ]] || die "bad FQDN"
[[ $value =~ ^[A-Za-z0-9_-]*$ ]] || die "bad TXT value (want base64url)"

case $1 in
add)
	[ -n "$value" ] || die "add needs a VALUE"
	path=set-txt
	body="{\"host\":\"$fqdn.\",\"value\":\"$value\"}"
	;;
del)
	path=clear-txt
	body="{\"host\":\"$fqdn.\"}"
	;;
*) die "unknown verb \"$1\" (want add or del)" ;;
esac

code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
    -X POST --data-binary "$body" "$url/$path" 2>&1) ||
	die "POST $url/$path failed: $code"
[ "$code" = 200 ] || die "POST $url/$path answered $code"
exit 0
