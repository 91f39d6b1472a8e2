#!/bin/sh
# enrolld dns-01 hook: publish the TXT record of an upstream ACME CA's
# dns-01 challenge (RFC 8555 §8.4) by an RFC 2136 dynamic update signed
# with a TSIG key (RFC 8945), through BIND's nsupdate.
#
#   dns01-nsupdate.sh add FQDN VALUE   add "VALUE" to the TXT records of FQDN
#   dns01-nsupdate.sh del FQDN VALUE   remove that one record again
#
# enrolld passes FQDN = _acme-challenge.NAME (a final dot is optional) and
# VALUE = the base64url TXT value.  Only that record is touched: a name
# and its wildcard share one FQDN and may have two values at once.
#
# Settings, from the environment:
#   NSUPDATE_SERVER   the primary server that takes updates (required)
#   NSUPDATE_PORT     its port (default 53)
#   NSUPDATE_KEYFILE  the TSIG key for `nsupdate -k`, e.g. made by
#                     `tsig-keygen -a hmac-sha256 enrolld` (required)
#   NSUPDATE_TTL      the record's TTL in seconds (default 60)
#   NSUPDATE_ZONE     the zone to update (default: the server finds it)
#   NSUPDATE_TIMEOUT  seconds nsupdate may wait for the server (default 10)
#
# Exits 0 when the server accepted the update, else non-zero with a
# sentence on stderr (enrolld logs it).  The record may take a while to
# reach the zone's secondaries: the CA asks any of them.
set -eu

me=dns01-nsupdate

die()
{
	echo "$me: $*" >&2
	exit 1
}

# only VALUE GLOB: 0 when VALUE is non-empty and no character of it
# matches GLOB (a bracket expression of the refused characters).
only()
{
	case $1 in
	'' | *$2*) return 1 ;;
	esac
	return 0
}

[ $# -eq 3 ] || die "usage: $me add|del FQDN VALUE"
verb=$1
fqdn=${2%.}
value=$3

# Both end up inside the nsupdate script: a newline or a quote there
# would be a command of its own.
only "$fqdn" '[!A-Za-z0-9._-]' || die "bad FQDN \"$fqdn\""
[ ${#fqdn} -le 253 ] || die "FQDN longer than 253 characters"
only "$value" '[!A-Za-z0-9_-]' || die "bad TXT value (want base64url)"
[ ${#value} -le 255 ] || die "TXT value longer than 255 characters"

server=${NSUPDATE_SERVER:-}
port=${NSUPDATE_PORT:-53}
keyfile=${NSUPDATE_KEYFILE:-}
ttl=${NSUPDATE_TTL:-60}
zone=${NSUPDATE_ZONE:-}
timeout=${NSUPDATE_TIMEOUT:-10}

only "$server" '[!A-Za-z0-9.:_-]' ||
	die "NSUPDATE_SERVER is unset or not a host name or address"
only "$port" '[!0-9]' || die "NSUPDATE_PORT is not a number"
only "$ttl" '[!0-9]' || die "NSUPDATE_TTL is not a number"
only "$timeout" '[!0-9]' || die "NSUPDATE_TIMEOUT is not a number"
[ -z "$zone" ] || only "$zone" '[!A-Za-z0-9._-]' ||
	die "NSUPDATE_ZONE is not a zone name"
[ -n "$keyfile" ] || die "NSUPDATE_KEYFILE is unset"
[ -r "$keyfile" ] || die "cannot read the TSIG key file $keyfile"
command -v nsupdate >/dev/null 2>&1 ||
	die "nsupdate not found (Debian package bind9-dnsutils)"

case $verb in
add) update="update add $fqdn. $ttl TXT \"$value\"" ;;
del) update="update delete $fqdn. TXT \"$value\"" ;;
*) die "unknown verb \"$verb\" (want add or del)" ;;
esac

script="server $server $port"
[ -z "$zone" ] || script="$script
zone ${zone%.}."
script="$script
$update
send"

if ! out=$(printf '%s\n' "$script" |
	nsupdate -k "$keyfile" -t "$timeout" 2>&1); then
	die "nsupdate failed for $verb $fqdn at $server:$port: $out"
fi
exit 0
