#!/usr/bin/env bash
# servesim's one build script.
#
#   ./build.sh            build everything into dist/ (CLI, wasm binaries, page assets)
#   ./build.sh serve      build, then serve dist/ and the API on http://127.0.0.1:8080
#   ./build.sh test       every check CI runs: gofmt, go vet, staticcheck, the import
#                         rule for engine/, all Go tests, brief fuzzing, wasm and browser tests
#   ./build.sh bench      benchmarks (native; wasm in Node and headless Chromium)
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH)/bin"
STATICCHECK_VERSION=v0.8.2

build() {
	rm -rf dist dist-cf
	mkdir -p dist/build dist-cf
	go build -o dist/servesim ./cmd/servesim
	# The API in a Web Worker (browser runtime) and on Cloudflare (cloudflare runtime): one wasm.
	# (workers-assets-gen empties its output folder, so the wasm goes in after it)
	go tool workers-assets-gen -mode=go -runtime=browser -o dist/build
	# The page's worker.js keeps one Go instance (wasm/worker/persistent_js.go)
	# with syumai's runtime.mjs and wasm_exec.js; its per-request worker.mjs is not used.
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
	cp index.html web/assets/app.js web/assets/worker.js web/assets/style.css dist/
	cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" dist/wasm_exec.js
	if [ ! -f node_modules/echarts/dist/echarts.min.js ]; then npm ci --no-audit --no-fund; fi
	cp node_modules/echarts/dist/echarts.min.js dist/
	# The service worker caches every asset; its cache name changes with their content.
	local assets hash
	assets=$(cd dist && find . -type f ! -name servesim ! -name sw.js | sed 's#^\./##' | sort)
	hash=$(cd dist && cat $assets | sha256sum | cut -c1-16)
	local list
	list=$( (echo "./"; echo "$assets") | sed 's#.*#"&"#' | paste -sd, -)
	sed -e "s#__HASH__#$hash#" -e "s#__ASSETS__#[$list]#" web/assets/sw.js > dist/sw.js
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

run_tests() {
	echo "== gofmt"
	local unformatted
	unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*'))
	if [ -n "$unformatted" ]; then echo "not gofmt-ed: $unformatted" >&2; exit 1; fi
	echo "== go vet"
	go vet ./...
	echo "== staticcheck"
	command -v staticcheck >/dev/null || go install honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION
	staticcheck ./...
	echo "== engine import rule"
	check_imports
	echo "== fuzz (brief)"
	go test ./engine/workload -run '^$' -fuzz '^FuzzLoad$' -fuzztime 15s
	local f
	for f in FuzzMooncake FuzzBailian FuzzVLLMCustom FuzzBurstGPT FuzzAzure FuzzSplitwise; do
		go test ./engine/workload -run '^$' -fuzz "^$f\$" -fuzztime 4s
	done
	go test ./engine/predict -run '^$' -fuzz '^FuzzParseEngineSpec$' -fuzztime 5s
	go test ./internal/realrun -run '^$' -fuzz '^FuzzParseVLLM$' -fuzztime 5s
	go test ./internal/realrun -run '^$' -fuzz '^FuzzParseAIPerf$' -fuzztime 5s
	go test ./internal/compare -run '^$' -fuzz '^FuzzLoadStepLog$' -fuzztime 5s
	# issue 14: config+workload through runner.Run with limits, the API's parsing, profile sets,
	# compare.Load, prompts.jsonl, strict JSON
	go test ./internal/runner -run '^$' -fuzz '^FuzzRun$' -fuzztime 5s
	go test ./api -run '^$' -fuzz '^FuzzHandler$' -fuzztime 5s
	go test ./engine/predict -run '^$' -fuzz '^FuzzProfileSet$' -fuzztime 4s
	go test ./internal/compare -run '^$' -fuzz '^FuzzLoad$' -fuzztime 4s
	go test ./engine/workload -run '^$' -fuzz '^FuzzPromptsJSONL$' -fuzztime 4s
	go test ./engine/strictjson -run '^$' -fuzz '^FuzzDecode$' -fuzztime 4s
	echo "== go test"
	go test -count=1 ./...
	echo "== load: ~200 concurrent mixed requests against servesim serve on 127.0.0.1 (issue 14)"
	SERVESIM_LOAD=1 go test -count=1 -run '^TestLoad_BurstAgainstServe$' -v ./cmd/servesim
	echo "== engine under GOOS=js in Node (outputs byte-identical to native: same golden files)"
	PATH="$PATH:$(go env GOROOT)/lib/wasm" GOOS=js GOARCH=wasm go test -count=1 -short ./engine/...
	echo "== build, then the page in headless Chromium and the Workers build in workerd"
	build
	if ! git diff --quiet -- web/ui 2>/dev/null; then
		echo "web/ui/*_gen.go are stale: commit what ./build.sh regenerated" >&2
		git diff --stat -- web/ui >&2
		exit 1
	fi
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
test) run_tests ;;
bench)
	go test -run '^$' -bench . -benchtime 1x ./engine/
	build
	SERVESIM_E2E=1 go test -run '^$' -bench . -benchtime 1x ./web/e2e
	;;
*) echo "usage: $0 [build|serve|test|bench]" >&2; exit 2 ;;
esac
