#!/usr/bin/env bash
# One command for a new machine: install what is missing, build, create a
# demo instance (fresh local CA, SQLite) in ./demo and run it in the
# foreground.  Ctrl-C stops it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/deploy/install-deps.sh"
"$top/deploy/build.sh" "$top/build"
if [ ! -f "$top/demo/enrolld.json" ]; then
	"$top/build/enrolld" init --dir "$top/demo" \
	    --est-user "${ENROLLD_DEMO_USER:-demo:demo-password}"
fi
exec "$top/build/enrolld" run --config "$top/demo/enrolld.json"
