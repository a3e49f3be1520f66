#!/usr/bin/env bash
# Runs servesim and BLIS (inference-sim/inference-sim) side by side on the same
# requests and prints one table row per case: CPU time (user + system) and
# peak RSS of each whole process, the processes alternating, median of REPEAT
# runs. CPU time, not wall time: on a shared machine the wall time measures
# the neighbours.
#
#   bench/blis/compare.sh BLIS_SRC_DIR [REPEAT]
#   CASES='1000 4,10000 32' bench/blis/compare.sh ...   (requests and QPS per case)
#
# BLIS_SRC_DIR is a checkout of inference-sim/inference-sim (any commit; its
# go.mod modules come from the Go module proxy). The requests: splitwise_conv.csv
# lengths (presets/data/traces), Poisson arrivals at the case's QPS, generated
# by servesim (seed 0) and handed to BLIS as a TraceV2 trace with the same
# arrival times (µs) and lengths. servesim: Sarathi on the embedded A100
# Qwen3-0.6B set, writing request_metrics.csv, run_meta.json and summary.md
# (and, in the +token column, token_metrics.csv). BLIS: `blis replay` with its
# default latency model for qwen/qwen3-14b and --cache-signal-delay 0 (its
# fastest setting), writing its per-request results JSON (--results-path).
# The two simulate different models, so their iteration counts differ; the
# comparison is of simulation cost per run of identical requests.
set -euo pipefail
blis_src=${1:?usage: $0 BLIS_SRC_DIR [REPEAT]}
repeat=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/servesim" ./cmd/servesim)
(cd "$blis_src" && go build -o "$work/blis" .)
blis_dir=$(cd "$blis_src" && pwd)

# lengths.csv: splitwise_conv's rows repeated to 1M requests (each case
# reads its first n).
awk -F, 'NR>1 {l[n++]=$2","$3} END {print "num_prefill_tokens,num_decode_tokens"; for (i=0;i<1000000;i++) print l[i%n]}' \
	"$root/presets/data/traces/splitwise_conv.csv" > "$work/lengths.csv"

# measure CMD...: prints "cpu_s rss_kib" of one run.
measure() {
	/usr/bin/time -f "%U %S %M" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
	awk '{print $1 + $2, $3}' "$work/time"
}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

printf '| run (CPU s) | servesim | servesim +token | BLIS | servesim/BLIS | servesim peak RSS | BLIS peak RSS |\n|---|---:|---:|---:|---:|---:|---:|\n'
IFS=, read -ra cases <<< "${CASES:-10000 32,100000 32,10000 4,100000 4,100000 2}"
for c in "${cases[@]}"; do
	set -- $c
	n=$1 qps=$2
	head -n $((n + 1)) "$work/lengths.csv" > "$work/l.csv"
	# The requests, once: servesim's arrivals, as BLIS's trace.
	"$work/servesim" simulate --workload "$work/l.csv" --num-requests "$n" --qps "$qps" --out "$work/gen" --outputs request --quiet
	printf 'trace_version: 3\ntime_unit: microseconds\nmode: generated\nwarm_up_requests: 0\nworkload_seed: 0\n' > "$work/t.yaml"
	awk -F, 'NR==1 {print "request_id,client_id,tenant_id,slo_class,session_id,round_index,prefix_group,prefix_length,streaming,input_tokens,output_tokens,text_tokens,image_tokens,audio_tokens,video_tokens,reason_ratio,model,deadline_us,server_input_tokens,arrival_time_us,send_time_us,first_chunk_time_us,last_chunk_time_us,num_chunks,status,error_message,finish_reason"; next}
		{us=int($2/1000); printf "%d,c,,,,0,,0,false,%d,%d,0,0,0,0,0,,0,0,%d,%d,0,0,0,ok,,\n", $1, $6, $7, us, us}' \
		"$work/gen/request_metrics.csv" > "$work/t.csv"
	: > "$work/s"; : > "$work/st"; : > "$work/b"; : > "$work/srss"; : > "$work/brss"
	for _ in $(seq "$repeat"); do
		read -r w m < <(measure "$work/servesim" simulate --workload "$work/l.csv" --num-requests "$n" --qps "$qps" --out "$work/s_out" --outputs request,meta,summary --quiet)
		echo "$w" >> "$work/s"; echo "$m" >> "$work/srss"
		read -r w m < <(cd "$blis_dir" && measure "$work/blis" replay --trace-header "$work/t.yaml" --trace-data "$work/t.csv" --model qwen/qwen3-14b --cache-signal-delay 0 --horizon 9223372036854775807 --results-path "$work/b_out.json")
		echo "$w" >> "$work/b"; echo "$m" >> "$work/brss"
		read -r w m < <(measure "$work/servesim" simulate --workload "$work/l.csv" --num-requests "$n" --qps "$qps" --out "$work/st_out" --outputs request,token,meta,summary --quiet)
		echo "$w" >> "$work/st"
	done
	s=$(median < "$work/s"); st=$(median < "$work/st"); b=$(median < "$work/b")
	srss=$(median < "$work/srss"); brss=$(median < "$work/brss")
	awk -v n="$n" -v q="$qps" -v s="$s" -v st="$st" -v b="$b" -v sr="$srss" -v br="$brss" 'BEGIN {
		printf "| %s at %g QPS | %.2f s | %.2f s | %.2f s | %.3f | %.0f MiB | %.0f MiB |\n", (n >= 1000 ? n/1000 "k" : n), q, s, st, b, s/b, sr/1024, br/1024 }'
done
