// Package workload reads and generates the request streams that servesim
// simulates.
//
// Read first: read.go (format detection and the three file formats), then
// generate.go (synthetic arrival and length processes). Every reader takes
// an io.Reader plus the file name used in messages; every problem with user
// input is reported as an *InputError naming file, line, column and what was
// expected. Nothing is silently dropped or changed: clipping and scaling are
// applied only when configured and are counted in Workload.Notes.
package workload
