// Package predict turns a batch's shape into a predicted GPU (and optional
// CPU) execution time, from profiles in Vidur's CSV schemas.
//
// Read first: predictor.go (the per-iteration composition of Vidur §6.1-6.4),
// then interp.go (how times between profiled points are predicted) and
// profile.go (loading and validation). Unlike Vidur, nothing is fitted at
// run time: predictions interpolate linearly between profiled points, so they
// are deterministic, exact at measured points and cheap in wasm. A key outside
// the profiled grid is an error naming the file and the grid, unless
// Options.Extrapolate is set.
package predict
