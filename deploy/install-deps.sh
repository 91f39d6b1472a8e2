#!/usr/bin/env bash
# Install the Debian 12 packages enrolld needs to build, test and run.
# Idempotent: asks apt only for what is missing.
set -euo pipefail

packages=(
	build-essential cmake pkg-config clang-format
	libssl-dev openssl libevent-dev libjansson-dev libsqlite3-dev
	libcurl4-openssl-dev libxml2-dev libpq-dev libcmocka-dev libunbound-dev
	pebble lego certbot python3-cryptography scep netcat-openbsd
	curl python3 jq ca-certificates wrk sqlite3 bind9-dnsutils
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
	    grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all packages present"
	exit 0
fi

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
	--no-install-recommends "${missing[@]}"
