package main

import (
	"fmt"
	"strings"

	"github.com/servesim/servesim/engine/workload"
)

// arrivalFlags set the generated arrival process and request count; a
// workload that keeps its own arrivals (a trace replay) does not read them.
var arrivalFlags = []string{
	"synthetic_request_generator_config_num_requests",
	"synthetic_request_generator_config_duration",
	"interval_generator_config_type",
	"poisson_request_interval_generator_config_qps",
	"gamma_request_interval_generator_config_cv",
	"truncate_poisson",
}

// lengthFlags set the generated lengths, which only the synthetic workload
// has (every file gives its own lengths).
var lengthFlags = []string{
	"length_generator_config_type",
	"fixed_request_length_generator_config_prefill_tokens",
	"fixed_request_length_generator_config_decode_tokens",
	"length_generator_config_min_tokens",
	"length_generator_config_prefill_to_decode_ratio",
	"zipf_request_length_generator_config_theta",
}

// unusedWorkloadFlags is the error for generator flags given on the command
// line that the loaded workload does not read (nil if every one is read),
// so that a --qps on a trace replay, or lengths on the seed, is never
// silently dropped. name is how the workload was chosen.
func unusedWorkloadFlags(fs *cliFlags, w *workload.Workload, lengthsOnly bool, name string) error {
	flagName := func(long string) string {
		if a := fs.alias[long]; a != "" {
			return "--" + a
		}
		return "--" + long
	}
	var arr, lens []string
	if !w.ArrivalsGenerated(lengthsOnly) {
		for _, f := range arrivalFlags {
			if fs.given(f) {
				arr = append(arr, flagName(f))
			}
		}
	}
	if w.Format != workload.FormatSynthetic {
		for _, f := range lengthFlags {
			if fs.given(f) {
				lens = append(lens, flagName(f))
			}
		}
	}
	if len(arr) == 0 && len(lens) == 0 {
		return nil
	}
	var why []string
	if len(arr) > 0 {
		fix := "add --trace_lengths_only to replay its lengths with generated arrivals, or drop the flag"
		if w.Format != workload.FormatVidurTrace {
			fix = "only a length trace, a Vidur trace with --trace_lengths_only or --preset synthetic generates arrivals; drop the flag"
		}
		why = append(why, fmt.Sprintf("%s not used: %s, a %s, replays its own arrival times and request count; %s",
			strings.Join(arr, ", "), name, w.Format, fix))
	}
	if len(lens) > 0 {
		why = append(why, fmt.Sprintf("%s not used: %s, a %s, gives its own prompt and output lengths; only --preset synthetic generates them",
			strings.Join(lens, ", "), name, w.Format))
	}
	return fmt.Errorf("%s", strings.Join(why, "; and "))
}
