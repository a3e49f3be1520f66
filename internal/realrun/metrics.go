package realrun

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"

	"github.com/servesim/servesim/engine/csvin"
)

// ReadMetrics reads servesim's request_metrics.csv and token_metrics.csv
// (what servesim and the reference engine write) from fsys; name prefixes
// positions in messages. Requests keep their request_id; arrivals and
// lengths make the run replayable (Workload).
func ReadMetrics(fsys fs.FS, name string) (*Result, error) {
	res := &Result{Name: name, Format: FormatServesim, HasArrivals: true}
	byID := map[int]int{}
	err := scanCSV(fsys, name, "request_metrics.csv", func(t *csvin.Table) error {
		id, err := t.IntAtLeast("request_id", 0)
		if err != nil {
			return err
		}
		if _, dup := byID[int(id)]; dup {
			return t.ErrAt("request_id", "unique request ids", fmt.Sprint(id))
		}
		a, err := t.IntAtLeast("arrival_time_ns", 0)
		if err != nil {
			return err
		}
		p, err := t.IntAtLeast("num_prefill_tokens", 0)
		if err != nil {
			return err
		}
		d, err := t.IntAtLeast("num_decode_tokens", 0)
		if err != nil {
			return err
		}
		q := Request{ID: int(id), ArrivalNs: a, Prompt: int(p), Output: int(d)}
		if st, _ := t.Field("status"); st == "ok" {
			f, err := t.IntAtLeast("first_token_time_ns", a)
			if err != nil {
				return err
			}
			c, err := t.IntAtLeast("completion_time_ns", f)
			if err != nil {
				return err
			}
			q.OK, q.TTFTNs, q.E2ENs = true, float64(f-a), float64(c-a)
		}
		byID[q.ID] = len(res.Requests)
		res.Requests = append(res.Requests, q)
		return nil
	}, "request_id", "arrival_time_ns", "first_token_time_ns", "completion_time_ns", "num_prefill_tokens", "num_decode_tokens", "status")
	if err != nil {
		return nil, err
	}
	err = scanCSV(fsys, name, "token_metrics.csv", func(t *csvin.Table) error {
		id, err := t.IntAtLeast("request_id", 0)
		if err != nil {
			return err
		}
		k, err := t.IntAtLeast("token_index", 0)
		if err != nil || k == 0 {
			return err
		}
		v, err := t.NonNegFloat("token_latency_ns")
		if err != nil {
			return err
		}
		i, ok := byID[int(id)]
		if !ok {
			return t.ErrAt("request_id", "a request_id of request_metrics.csv", fmt.Sprint(id))
		}
		res.Requests[i].GapsNs = append(res.Requests[i].GapsNs, v)
		return nil
	}, "request_id", "token_index", "token_latency_ns")
	if err != nil {
		return nil, err
	}
	sort.SliceStable(res.Requests, func(i, j int) bool { return res.Requests[i].ID < res.Requests[j].ID })
	return res, nil
}

// scanCSV reads file, or file+".gz" when only that exists (real runs keep
// their per-token files compressed).
func scanCSV(fsys fs.FS, dir, file string, row func(*csvin.Table) error, cols ...string) error {
	var in io.Reader
	f, err := fsys.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		if g, gerr := fsys.Open(file + ".gz"); gerr == nil {
			zr, zerr := gzip.NewReader(g)
			if zerr != nil {
				g.Close()
				return fmt.Errorf("%s: %w", path.Join(dir, file+".gz"), zerr)
			}
			f, err, file, in = g, nil, file+".gz", zr
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path.Join(dir, file), err)
	}
	defer f.Close()
	if in == nil {
		in = f
	}
	return csvin.Scan(in, path.Join(dir, file), row, cols...)
}

// ReadFS reads a real run from a folder: servesim metric files, an AIPerf
// profile_export.jsonl, or a single vLLM result JSON (*.json).
func ReadFS(fsys fs.FS, name string) (*Result, error) {
	if _, err := fs.Stat(fsys, "request_metrics.csv"); err == nil {
		return ReadMetrics(fsys, name)
	}
	if b, err := fs.ReadFile(fsys, "profile_export.jsonl"); err == nil {
		return ParseAIPerf(b, path.Join(name, "profile_export.jsonl"))
	}
	ents, _ := fs.ReadDir(fsys, ".")
	for _, e := range ents {
		if !e.IsDir() && path.Ext(e.Name()) == ".json" && e.Name() != "run.json" {
			b, err := fs.ReadFile(fsys, e.Name())
			if err != nil {
				return nil, err
			}
			if len(b) > MaxBytes {
				return nil, fmt.Errorf("%s: over the %d-byte limit for a result file", path.Join(name, e.Name()), MaxBytes)
			}
			return Parse(b, path.Join(name, e.Name()))
		}
	}
	return nil, fmt.Errorf("%s: expected request_metrics.csv and token_metrics.csv, an AIPerf profile_export.jsonl or a vllm bench serve result *.json", name)
}
