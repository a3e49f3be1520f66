#!/usr/bin/env bash
# fresh-clone-check: the README's two commands, run the way a newcomer runs
# them. Clones this checkout's HEAD commit (uncommitted changes are not part
# of it) into a temporary folder beside a copy of ../shared, then runs, from
# the clone and timing each:
#
#   go run ./cmd/servesim simulate --out out/seed   (its CSVs must equal the engine's golden files)
#   ./build.sh test                                 (--quick: ./build.sh test quick)
#
# The clone has no node_modules, dist/ or out/: build.sh's own set-up has to
# fetch and check everything. Go's module and build caches are the user's
# unless --cold-cache (a fresh, empty GOCACHE: every package compiles).
#
# Usage: scripts/fresh-clone-check.sh [--quick] [--cold-cache] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
mode=full cold=0 keep=0
for a in "$@"; do
	case "$a" in
	--quick) mode=quick ;;
	--cold-cache) cold=1 ;;
	--keep) keep=1 ;;
	-h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "fresh-clone-check: unknown argument $a (try --help)" >&2; exit 2 ;;
	esac
done
shared=$(cd "$repo/.." && pwd)/shared
if [ ! -d "$shared" ]; then
	echo "fresh-clone-check: the steering repo's shared folder must be at $shared (beside the checkout)" >&2
	exit 1
fi
export PATH="$PATH:/usr/local/go/bin"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/servesim-fresh.XXXXXX")
if [ "$keep" = 0 ]; then trap 'rm -rf "$tmp"' EXIT; fi
if [ "$cold" = 1 ]; then export GOCACHE="$tmp/gocache"; fi

commit=$(git rev-parse HEAD)
git clone -q --no-checkout "$repo" "$tmp/servesim"
git -C "$tmp/servesim" checkout -q "$commit"
cp -R "$shared" "$tmp/shared"
echo "fresh-clone-check: commit $(git rev-parse --short HEAD) cloned into $tmp/servesim, ../shared copied beside it"
cd "$tmp/servesim"

results=()
failed=0
# step NAME CMD...: runs CMD in the clone, logging to $tmp/NAME.log, timed.
step() {
	local name=$1
	shift
	local t0 t1 rc=0
	echo "fresh-clone-check: running $* (log: $tmp/$name.log)"
	t0=$(date +%s.%N)
	"$@" >"$tmp/$name.log" 2>&1 || rc=$?
	t1=$(date +%s.%N)
	local secs
	secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	if [ "$rc" = 0 ]; then
		results+=("$(printf '%-52s ok     %8s s' "$*" "$secs")")
	else
		results+=("$(printf '%-52s FAILED %8s s (exit %d)' "$*" "$secs" "$rc")")
		failed=1
		echo "--- last lines of $name.log:" >&2
		tail -n 25 "$tmp/$name.log" >&2
	fi
}

step simulate go run ./cmd/servesim simulate --out out/seed
if [ "$failed" = 0 ]; then
	for f in request_metrics.csv token_metrics.csv batch_metrics.csv; do
		if ! cmp -s "out/seed/$f" "engine/report/testdata/seed/$f"; then
			results+=("out/seed/$f differs from engine/report/testdata/seed/$f")
			failed=1
		fi
	done
fi
if [ "$mode" = quick ]; then
	step test ./build.sh test quick
else
	step test ./build.sh test
fi

echo
echo "fresh-clone-check: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null), Go cache $([ "$cold" = 1 ] && echo cold || echo the user\'s)"
printf '  %s\n' "${results[@]}"
exit "$failed"
