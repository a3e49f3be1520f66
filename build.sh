#!/usr/bin/env bash
# servesim's one build script.
#
#   ./build.sh            build everything into dist/ (CLI, wasm binaries, page assets)
#   ./build.sh serve      build, then serve dist/ and the API on http://127.0.0.1:8080
#   ./build.sh test       every check CI runs: gofmt, go vet, staticcheck, the import
#                         rule for engine/, all Go tests, brief fuzzing, the GPU tools' Python
#                         unit tests, wasm and browser tests. It first sets up what they need
#                         (Go modules, staticcheck, npm packages, Chromium through apt when it
#                         can, else one line saying the command) before any test runs.
#   ./build.sh test quick every check but the browser and workerd suites (no dist/ build, no
#                         npm or Chromium needed); unchanged packages reuse Go's cached results
#   ./build.sh bench      benchmarks (native; wasm in Node and headless Chromium)
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"
STATICCHECK_VERSION=v0.8.2

# can_apt says whether this shell may install Debian packages (root or
# password-less sudo, with apt-get present).
can_apt() {
	command -v apt-get >/dev/null || return 1
	[ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null
}

apt_install() {
	local sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo -n"
	echo "   installing $* with apt-get"
	$sudo apt-get update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

# need CMD PKG WHY: CMD must be on PATH; installs Debian's PKG when it can,
# else fails with one line naming the command that would.
need() {
	local cmd=$1 pkg=$2 why=$3
	if command -v "$cmd" >/dev/null; then return; fi
	if can_apt; then apt_install "$pkg"; fi
	if ! command -v "$cmd" >/dev/null; then
		echo "build.sh: $cmd is missing ($why): install it with: sudo apt-get install -y $pkg" >&2
		exit 1
	fi
}

# find_chromium sets CHROMIUM (read by the browser tests) to a Chromium or
# Chrome binary, installing Debian's chromium when it can.
find_chromium() {
	local c
	for c in "${CHROMIUM:-}" chromium chromium-browser google-chrome-stable google-chrome /usr/bin/chromium; do
		if [ -n "$c" ] && command -v "$c" >/dev/null; then
			CHROMIUM=$(command -v "$c")
			export CHROMIUM
			return
		fi
	done
	if can_apt; then
		apt_install chromium
		if command -v chromium >/dev/null; then
			CHROMIUM=$(command -v chromium)
			export CHROMIUM
			return
		fi
	fi
	echo "build.sh: Chromium is missing (the browser tests drive it): install it with: sudo apt-get install -y chromium (or set CHROMIUM=/path/to/chrome; ./build.sh test quick skips the browser)" >&2
	exit 1
}

# gpu_python_tests lists the GPU tools' Python unit tests.
gpu_python_tests() { find profiles/tools/gpu -name 'test_*.py' 2>/dev/null | sort; }

# setup fetches and checks everything the tests need, before any runs:
# full mode also the npm packages (ECharts, workerd) and Chromium.
setup() {
	local mode=$1
	local what="Go modules, staticcheck, Node, Python"
	[ "$mode" = full ] && what="$what, npm packages, Chromium"
	echo "== set-up ($mode): $what"
	command -v go >/dev/null || { echo "build.sh: go is missing: install Go $(sed -n 's/^go //p' go.mod) or newer from https://go.dev/dl/" >&2; exit 1; }
	go mod download
	if ! staticcheck -version 2>/dev/null | grep -q "(${STATICCHECK_VERSION#v})"; then
		echo "   installing staticcheck $STATICCHECK_VERSION"
		go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
	fi
	need node nodejs "the engine's tests under GOOS=js run in Node"
	if [ -n "$(gpu_python_tests)" ] && ! command -v python3 >/dev/null; then
		echo "build.sh: python3 is missing (the GPU tools' unit tests in profiles/tools/gpu need it): install it with: sudo apt-get install -y python3" >&2
		exit 1
	fi
	if [ "$mode" = full ]; then
		need npm npm "the page's ECharts and workerd come from npm"
		npm_packages
		find_chromium
		echo "   chromium: $CHROMIUM"
	fi
}

# npm_packages installs the pinned npm packages unless node_modules matches
# package-lock.json already.
npm_packages() {
	if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
		[ ! -f node_modules/echarts/dist/echarts.min.js ] || [ ! -x node_modules/@cloudflare/workerd-linux-64/bin/workerd ]; then
		npm ci --no-audit --no-fund
	fi
}

build() {
	rm -rf dist dist-cf
	mkdir -p dist/build dist-cf
	go build -buildvcs=auto -o dist/servesim ./cmd/servesim # --version names the commit
	# The API in a Web Worker (browser runtime) and on Cloudflare (cloudflare runtime): one wasm.
	# (workers-assets-gen empties its output folder, so the wasm goes in after it)
	go tool workers-assets-gen -mode=go -runtime=browser -o dist/build
	# The page's worker.js keeps one Go instance (wasm/worker/host_js.go)
	# with syumai's wasm_exec.js (compiling app.wasm as runtime.mjs would); worker.mjs is not used.
	rm dist/build/worker.mjs
	GOOS=js GOARCH=wasm go build -trimpath -ldflags="-s -w" -o dist/build/app.wasm ./wasm/worker
	mkdir -p dist-cf/build
	go tool workers-assets-gen -mode=go -runtime=cloudflare -o dist-cf/build
	cp dist/build/app.wasm dist-cf/build/app.wasm
	cp wasm/cloudflare/entry.mjs wasm/cloudflare/workerd.capnp dist-cf/
	build_page
}

build_page() {
	go tool vugugen -skip-go-mod -skip-main ./web/ui
	gofmt -w web/ui/*_gen.go
	GOOS=js GOARCH=wasm go build -trimpath -ldflags="-s -w" -o dist/ui.wasm ./wasm/ui
	# The default run's result, computed now by the same engine (natively):
	# a cold visit shows it while the engine starts (web/ui/prebuilt.go).
	go run ./web/defaultrun -o dist/default-run.servesim.json
	cp index.html web/assets/app.js web/assets/search.js web/assets/worker.js web/assets/style.css dist/
	cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" dist/wasm_exec.js
	if [ ! -f node_modules/echarts/dist/echarts.min.js ]; then npm_packages; fi
	# ECharts' "common" build has every chart and component the page uses
	# (line, bar, scatter, dataZoom, toolbox, markLine, log axes): ~400 KB
	# smaller than the full one.
	# Its first line asks V8 to compile every function at once, on the thread
	# that streams the script in while the page loads, instead of on the main
	# thread at first use (the first chart of a fresh visit waited ~170 ms of
	# CPU for it): V8's explicit compile hints, a magic comment.
	{ echo '//# allFunctionsCalledOnLoad'; cat node_modules/echarts/dist/echarts.common.min.js; } > dist/echarts.min.js
	# The service worker caches every asset; its cache name changes with their content.
	local assets hash
	assets=$(cd dist && find . -type f ! -name servesim ! -name sw.js | sed 's#^\./##' | sort)
	hash=$(cd dist && cat $assets | sha256sum | cut -c1-16)
	local list
	list=$( (echo "./"; echo "$assets") | sed 's#.*#"&"#' | paste -sd, -)
	sed -e "s#__HASH__#$hash#" -e "s#__ASSETS__#[$list]#" web/assets/sw.js > dist/sw.js
}

check_generated() {
	if ! git diff --quiet -- web/ui 2>/dev/null; then
		echo "web/ui/*_gen.go are stale: commit what ./build.sh regenerated" >&2
		git diff --stat -- web/ui >&2
		exit 1
	fi
}

check_imports() {
	# The engine does no I/O of its own and never touches the browser.
	local bad
	bad=$(go list -f '{{.ImportPath}}: {{join .Imports " "}}' ./engine/... | grep -E ': .*\b(os|net|net/http|syscall/js|log|log/slog)( |$)' || true)
	if [ -n "$bad" ]; then
		echo "engine packages must not import os, net, syscall/js or log:" >&2
		echo "$bad" >&2
		exit 1
	fi
}

# fuzz_brief PKG TARGET TIME: one fuzz target for a short while. New interesting
# inputs are minimized for at most 1 s (Go's default of 60 s can outlast a
# 4 s run on a loaded machine, which then fails with "context deadline
# exceeded" without any failing input); that message alone earns one retry. A
# real failure writes its input under testdata/fuzz and fails again.
fuzz_brief() {
	local out
	if out=$(go test "$1" -run '^$' -fuzz "$2" -fuzztime "$3" -fuzzminimizetime 1s 2>&1); then
		echo "$out" | tail -2
		return 0
	fi
	echo "$out" | tail -20
	if echo "$out" | grep -q 'context deadline exceeded' && ! echo "$out" | grep -q 'Failing input written'; then
		echo "== RETRY fuzz $1 $2: the fuzzing engine ran out of time, no failing input" >&2
		go test "$1" -run '^$' -fuzz "$2" -fuzztime "$3" -fuzzminimizetime 1s
		return
	fi
	return 1
}

run_tests() {
	local mode=${1:-full} count=-count=1
	case "$mode" in
	full) ;;
	quick) count="" ;; # Go's test cache: unchanged packages are not run again
	*) echo "usage: $0 test [quick]" >&2; exit 2 ;;
	esac
	setup "$mode"
	echo "== gofmt"
	local unformatted
	unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
	if [ -n "$unformatted" ]; then echo "not gofmt-ed: $unformatted" >&2; exit 1; fi
	echo "== go vet"
	go vet ./...
	echo "== staticcheck"
	staticcheck ./...
	echo "== engine import rule"
	check_imports
	echo "== fuzz (brief)"
	fuzz_brief ./engine/workload '^FuzzLoad$' 15s
	local f
	for f in FuzzMooncake FuzzBailian FuzzVLLMCustom FuzzBurstGPT FuzzAzure FuzzSplitwise; do
		fuzz_brief ./engine/workload "^$f\$" 4s
	done
	fuzz_brief ./engine/predict '^FuzzParseEngineSpec$' 5s
	fuzz_brief ./engine/model '^FuzzParseHFConfig$' 4s
	fuzz_brief ./internal/realrun '^FuzzParseVLLM$' 5s
	fuzz_brief ./internal/realrun '^FuzzParseAIPerf$' 5s
	fuzz_brief ./internal/compare '^FuzzLoadStepLog$' 5s
	fuzz_brief ./bench/gpu/fidelity '^FuzzParseSamples$' 3s
	# issue 14: config+workload through runner.Run with limits, the API's parsing, profile sets,
	# compare.Load, prompts.jsonl, strict JSON
	fuzz_brief ./internal/runner '^FuzzRun$' 5s
	fuzz_brief ./api '^FuzzHandler$' 5s
	fuzz_brief ./api '^FuzzSearch$' 4s
	fuzz_brief ./engine/predict '^FuzzProfileSet$' 4s
	fuzz_brief ./internal/compare '^FuzzLoad$' 4s
	fuzz_brief ./engine/workload '^FuzzPromptsJSONL$' 4s
	fuzz_brief ./engine/strictjson '^FuzzDecode$' 4s
	fuzz_brief ./engine/csvin '^FuzzTable$' 4s
	fuzz_brief ./engine/csvin '^FuzzParseNumbers$' 3s
	fuzz_brief ./engine/csvin '^FuzzReadPacked$' 4s
	fuzz_brief ./engine/csvin '^FuzzPack$' 3s
	echo "== go test"
	go test $count ./...
	echo "== load: ~200 concurrent mixed requests against servesim serve on 127.0.0.1 (issue 14)"
	SERVESIM_LOAD=1 go test $count -run '^TestLoad_BurstAgainstServe$' -v ./cmd/servesim
	echo "== engine under GOOS=js in Node (outputs byte-identical to native: same golden files)"
	PATH="$PATH:$(go env GOROOT)/lib/wasm" GOOS=js GOARCH=wasm go test $count -short ./engine/...
	echo "== Python unit tests of the GPU tools (profiles/tools/gpu/test_*.py, stdlib only)"
	if [ -n "$(gpu_python_tests)" ]; then
		PYTHONDONTWRITEBYTECODE=1 python3 -m unittest discover -s profiles/tools/gpu -p 'test_*.py'
	else
		echo "   none in profiles/tools/gpu"
	fi
	if [ "$mode" = quick ]; then
		echo "== the wasm binaries compile; web/ui's generated code is current (quick: no dist/, no browser, no workerd)"
		GOOS=js GOARCH=wasm go build -o /dev/null ./wasm/worker
		GOOS=js GOARCH=wasm go build -o /dev/null ./wasm/ui
		go tool vugugen -skip-go-mod -skip-main ./web/ui
		gofmt -w web/ui/*_gen.go
		check_generated
		echo "== quick: all passed (the browser and workerd suites did not run: ./build.sh test runs them)"
		return
	fi
	echo "== build, then the page in headless Chromium and the Workers build in workerd"
	build
	check_generated
	SERVESIM_E2E=1 go test -count=1 ./wasm/cloudflare
	# The browser suite has shown a rare hang (a run that never answers; see the
	# closing notes): one loud retry, so a flake is visible but does not hide a
	# real failure, which fails twice.
	if ! SERVESIM_E2E=1 go test -count=1 -timeout 30m ./web/e2e; then
		echo "== RETRY: the browser tests failed once; running them again" >&2
		SERVESIM_E2E=1 go test -count=1 -timeout 30m -v ./web/e2e
	fi
}

case "${1:-build}" in
build) build ;;
serve) build; exec ./dist/servesim serve --addr "${ADDR:-127.0.0.1:8080}" --dist dist ;;
test) run_tests "${2:-full}" ;;
bench)
	find_chromium
	go test -run '^$' -bench . -benchtime 1x ./engine/
	build
	SERVESIM_E2E=1 go test -run '^$' -bench . -benchtime 1x ./web/e2e
	;;
*) echo "usage: $0 [build|serve|test [quick]|bench]" >&2; exit 2 ;;
esac
