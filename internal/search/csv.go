package search

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
)

func f64(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// WriteCSV writes one row per point.
func WriteCSV(w io.Writer, res *Result) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"index", "replicas", "tp", "pp", "scheduler", "chunk_size", "batch_cap", "gpus", "found", "max_qps", "fail_qps",
		"goodput_rps", "goodput_tokens_per_s", "goodput_rps_per_gpu", "goodput_tokens_per_s_per_gpu", "cost_per_1m_tokens_usd",
		"ttft_p90_ms", "tbt_p90_ms", "e2e_p90_ms", "pareto", "trials", "error"})
	for i, p := range res.Points {
		q := p.Point
		cw.Write([]string{strconv.Itoa(i), strconv.Itoa(q.Replicas), strconv.Itoa(q.TP), strconv.Itoa(q.PP), q.Scheduler, strconv.Itoa(q.ChunkSize),
			strconv.Itoa(q.BatchCap), strconv.Itoa(p.GPUs), strconv.FormatBool(p.Found), f64(p.MaxQPS), f64(p.FailQPS),
			f64(p.GoodputRPS), f64(p.GoodputTokensPerS), f64(p.GoodputRPSPerGPU), f64(p.GoodputTokensPerSPerGPU), f64(p.CostPer1MTokensUSD),
			f64(p.TTFTP90Ms), f64(p.TBTP90Ms), f64(p.E2EP90Ms), strconv.FormatBool(p.Pareto), strconv.Itoa(len(p.Curve)), p.Error})
	}
	cw.Flush()
	return cw.Error()
}

// WriteCurveCSV writes every trial: the attainment-vs-QPS curve of each
// point, its pilot trials (fewer requests) first.
func WriteCurveCSV(w io.Writer, res *Result) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"index", "qps", "met", "attainment", "goodput_rps", "goodput_tokens_per_s", "overloaded", "e2e_p90_ms", "stopped_early", "requests"})
	for i, p := range res.Points {
		for _, trials := range []struct {
			probes   []Probe
			requests int
		}{{p.Pilot, res.Spec.PilotRequests}, {p.Curve, res.Spec.Requests}} {
			for _, c := range trials.probes {
				cw.Write([]string{strconv.Itoa(i), f64(c.QPS), strconv.FormatBool(c.Met), f64(c.Attainment), f64(c.GoodputRPS),
					f64(c.GoodputTokensPerS), strconv.FormatBool(c.Overloaded), f64(c.E2EP90Ms), strconv.FormatBool(c.StoppedEarly), strconv.Itoa(trials.requests)})
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// File is one of a search's output files.
type File struct {
	Name string `json:"name"`
	Data []byte `json:"-"`
}

// Files are a search's output files: search.json (the result, indented),
// search.csv (a row per point) and search_curve.csv (every trial), the
// bytes `servesim search --out` writes and the page downloads.
func Files(res *Result) ([]File, error) {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	var pts, curve bytes.Buffer
	if err := WriteCSV(&pts, res); err != nil {
		return nil, err
	}
	if err := WriteCurveCSV(&curve, res); err != nil {
		return nil, err
	}
	return []File{{"search.json", append(b, '\n')}, {"search.csv", pts.Bytes()}, {"search_curve.csv", curve.Bytes()}}, nil
}
