#!/usr/bin/env bash
# device_tree.sh hide|restore|size
#
# The device tool copies the tracked working tree to the GPU machine and refuses
# more than 64 MiB. The recorded real runs (bench/gpu/*/<run>/) and the README's
# screenshots are most of the tree and none of them is read on the GPU: the probes
# and workloads need only profiles/tools/gpu and the measured engine tables
# (bench/gpu/*/engine). `hide` marks the rest skip-worktree and removes it from
# the working tree; `restore` brings it back unchanged from HEAD. `size` prints
# what the device would receive.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
list=.git/device-hidden.txt
[ -f .git ] && list="$(git rev-parse --git-dir)/device-hidden.txt"

hidden() {
	git ls-files -- 'bench/gpu/*/*' 'docs/*.png' | grep -v '^bench/gpu/[^/]*/engine/' | grep -v '^bench/gpu/[^/]*/[^/]*\.md$' || true
}

case "${1:-}" in
hide)
	hidden >"$list"
	xargs -d '\n' -r git update-index --skip-worktree <"$list"
	xargs -d '\n' -r rm -f <"$list"
	echo "hid $(wc -l <"$list") files; run '$0 restore' after the device call"
	;;
restore)
	[ -f "$list" ] || { echo "nothing hidden ($list missing)" >&2; exit 1; }
	xargs -d '\n' -r git update-index --no-skip-worktree <"$list"
	xargs -d '\n' -r git checkout -- <"$list"
	rm -f "$list"
	git status --short | head
	;;
size)
	git ls-files -z | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {printf "%.1f MiB in the working tree (device limit 64 MiB)\n", s/1048576}'
	;;
*)
	echo "usage: $0 hide|restore|size" >&2
	exit 2
	;;
esac
