#!/usr/bin/env bash
# One command for a new machine: install what is missing, build twice
# (release and ASan+UBSan), check the format, and run every test in both
# builds.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/deploy/install-deps.sh"

"$top/deploy/build.sh" "$top/build"
cmake --build "$top/build" --target format-check

"$top/deploy/build.sh" "$top/build-asan" -DENROLLD_SANITIZE=ON

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for dir in build build-asan; do
	echo "== ctest in $dir"
	(cd "$top/$dir" && ctest --output-on-failure --timeout 600 -j2) ||
	    status=1
done
exit $status
