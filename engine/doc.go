// Package engine is servesim's discrete-event simulator of LLM serving,
// following Vidur's semantics (shared docs: vidur-semantics.md).
//
// Read first: run.go (the event loop and request lifecycle), then
// scheduler.go (the replica schedulers and the KV-block allocator) and
// config.go (every option, its default and the memory planner). The engine
// does no I/O, reads no clock and holds no globals: workloads come from
// engine/workload, profiles from engine/predict behind an fs.FS, and output
// files are written by engine/report. Time is integer nanoseconds.
package engine
