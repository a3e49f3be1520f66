// Package workload reads and generates the request streams that servesim
// simulates.
//
// Read first: read.go (format detection, servesim's and Vidur's CSVs), then
// traces.go (the shared trace formats: Mooncake/AIPerf, Bailian and vLLM
// custom JSONL, BurstGPT, Azure and Splitwise CSV, detected by content, with
// their hash_ids and sessions; jsonline.go reads one JSON line without
// reflection), summary.go (what a host shows before running) and generate.go
// (synthetic arrival and length processes). Every reader takes an io.Reader
// plus the file name used in messages and streams it; every problem with
// user input is reported as a *csvin.Error naming file, line, column (or
// field) and what was expected. Nothing is silently dropped or changed:
// clipping, scaling and small timestamp jitter are applied only as stated
// and are counted in Workload.Notes.
package workload
