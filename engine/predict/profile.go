package predict

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/model"
)

// Meta describes a profile set (its profile.json).
type Meta struct {
	Name          string `json:"name"`           // e.g. "a100/qwen3-0.6b"
	Model         string `json:"model"`          // e.g. "Qwen/Qwen3-0.6B"
	Device        string `json:"device"`         // device SKU, e.g. "a100"
	NetworkDevice string `json:"network_device"` // default node for network profiles
	// Kind is "measured" (timed on the named GPU) or "synthesized"
	// (derived without that GPU); PROVENANCE.md says how, per file.
	Kind string `json:"kind"`
	// Summary is one line: source, method and validated error.
	Summary string `json:"summary"`
	// CPUOverheadEngine names the serving engine cpu_overheads.csv models,
	// if the set has one.
	CPUOverheadEngine string `json:"cpu_overhead_engine,omitempty"`
	// Choice says why the set was used when it was chosen for the run's
	// model and device rather than named (a run's, not a profile.json's).
	Choice string `json:"choice,omitempty"`
	// WeightDtype and KVCacheDtype are the dtypes the set's times are for
	// (replica.weight_dtype, replica.kv_cache_dtype): "" is bf16, what
	// every measured set was timed at.
	WeightDtype  string `json:"weight_dtype,omitempty"`
	KVCacheDtype string `json:"kv_cache_dtype,omitempty"`
}

// Set is a profile set: a folder holding mlp.csv, attention.csv, optional
// cpu_overheads.csv, optional engine.json and host_overheads.csv,
// profile.json and PROVENANCE.md.
type Set struct {
	Meta       Meta
	Provenance string      // PROVENANCE.md
	Engine     *EngineSpec // engine.json; nil when the set has none
	FS         fs.FS       // rooted at the set's folder
	Origin     string      // where it came from, for messages ("embedded:a100/qwen3-0.6b" or a path)
	// Network, when set, holds network profiles that came with the set (one
	// folder per node, as the embedded ones); nil: use the embedded ones.
	Network fs.FS
	cache   *tableCache
}

// KindEstimated marks a set of roofline estimates (engine/roofline):
// no GPU was timed for its model and device.
const KindEstimated = "estimated"

// KindUser marks a set a user brought (a folder of Vidur-schema CSVs
// without profile.json): its times are the user's, not vetted by servesim.
const KindUser = "user"

// NewSet makes a set of the CSVs in fsys with the given metadata and
// provenance text (a user's folder, which has no profile.json). Its tables
// are parsed once per load options, as Open's.
func NewSet(fsys fs.FS, origin string, meta Meta, provenance string) (*Set, error) {
	s := &Set{FS: fsys, Origin: origin, Meta: meta, Provenance: provenance, cache: &tableCache{m: map[string]*tables{}}}
	if _, err := model.Lookup(meta.Model); err != nil {
		return nil, fmt.Errorf("profile set %s: %w", origin, err)
	}
	var err error
	if s.Engine, err = loadEngineSpec(fsys, origin); err != nil {
		return nil, err
	}
	return s, nil
}

// NewGenerated makes a set of CSVs a program generated for meta's model,
// which need not be in the model table (an estimate for a model read from
// its config.json): the caller vouches for the shape. Its tables are
// parsed once per load options, as Open's.
func NewGenerated(fsys fs.FS, origin string, meta Meta, provenance string) *Set {
	return &Set{FS: fsys, Origin: origin, Meta: meta, Provenance: provenance, cache: &tableCache{m: map[string]*tables{}}}
}

// tableCache keeps a Set's parsed tables by load options. A Set built
// without Open has none and parses its CSVs for every Predictor.
type tableCache struct {
	mu sync.Mutex
	m  map[string]*tables
}

func (c *tableCache) get(key string) *tables {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key]
}

func (c *tableCache) put(key string, t *tables) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[key] = t
}

// Open reads a set's metadata. The CSVs are read when a Predictor is built.
func Open(fsys fs.FS, origin string) (*Set, error) {
	s := &Set{FS: fsys, Origin: origin, cache: &tableCache{m: map[string]*tables{}}}
	b, err := fs.ReadFile(fsys, "profile.json")
	if err != nil {
		return nil, fmt.Errorf("profile set %s: %w", origin, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s.Meta); err != nil {
		return nil, fmt.Errorf("profile set %s: profile.json: %w", origin, err)
	}
	if s.Meta.Kind != "measured" && s.Meta.Kind != "synthesized" && s.Meta.Kind != KindEstimated {
		return nil, fmt.Errorf("profile set %s: profile.json: kind must be \"measured\", \"synthesized\" or \"estimated\", got %q", origin, s.Meta.Kind)
	}
	if _, err := model.Lookup(s.Meta.Model); err != nil {
		return nil, fmt.Errorf("profile set %s: profile.json: %w", origin, err)
	}
	p, err := fs.ReadFile(fsys, "PROVENANCE.md")
	if err != nil {
		return nil, fmt.Errorf("profile set %s: every profile set needs a PROVENANCE.md: %w", origin, err)
	}
	s.Provenance = string(p)
	if s.Engine, err = loadEngineSpec(fsys, origin); err != nil {
		return nil, err
	}
	return s, nil
}

// HasCPUOverheads reports whether the set carries cpu_overheads.csv.
func (s *Set) HasCPUOverheads() bool {
	_, err := fs.Stat(s.FS, cpuFile)
	return err == nil
}

// TensorParallelSizes lists, ascending, the tensor-parallel degrees the
// set's mlp.csv has rows for: the only ones a run with it can use.
func (s *Set) TensorParallelSizes() ([]int, error) {
	seen := map[int]bool{}
	var out []int
	err := scan(s.FS, s.Origin, mlpFile, nil, []string{"num_tensor_parallel_workers"}, func(t *csvin.Table) error {
		n, err := t.IntAtLeast("num_tensor_parallel_workers", 1)
		if err != nil {
			return err
		}
		if !seen[int(n)] {
			seen[int(n)] = true
			out = append(out, int(n))
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

const (
	mlpFile  = "mlp.csv"
	attnFile = "attention.csv"
	cpuFile  = "cpu_overheads.csv"
)

func median(op string) string { return "time_stats." + op + ".median" }

// rowFilter keeps rows whose shape columns equal the wanted values.
type rowFilter []struct {
	col  string
	want string
}

func (f rowFilter) cols() []string {
	var c []string
	for _, x := range f {
		c = append(c, x.col)
	}
	return c
}

func (f rowFilter) match(t *csvin.Table) bool {
	for _, x := range f {
		got, _ := t.Field(x.col)
		if !sameValue(got, x.want) {
			return false
		}
	}
	return true
}

func (f rowFilter) String() string {
	var s []string
	for _, x := range f {
		s = append(s, x.col+"="+x.want)
	}
	return strings.Join(s, ", ")
}

// sameValue compares CSV cells numerically when both parse ("1024" equals
// "1024.0"), and case-insensitively otherwise ("True" equals "true").
func sameValue(a, b string) bool {
	if a == b { // the common case, and no float parsing per row
		return true
	}
	fa, ea := strconv.ParseFloat(a, 64)
	fb, eb := strconv.ParseFloat(b, 64)
	if ea == nil && eb == nil {
		return fa == fb
	}
	return strings.EqualFold(a, b)
}

func itoa(v int) string { return strconv.Itoa(v) }

// scan opens a CSV in fsys (from its pack where the set has one,
// csvin.PackedFS), checks the required columns and calls row for every row
// that passes the filter. It fails if no row passes.
func scan(fsys fs.FS, origin, name string, filter rowFilter, required []string, row func(t *csvin.Table) error) error {
	t, closeFile, err := openTable(fsys, origin, name)
	if err != nil {
		return err
	}
	defer closeFile()
	return scanTable(t, filter, required, row)
}

// openTable opens a profile CSV after its header.
func openTable(fsys fs.FS, origin, name string) (*csvin.Table, func() error, error) {
	t, closeFile, err := csvin.OpenTable(fsys, name, path.Join(origin, name))
	var ce *csvin.Error
	var pe *fs.PathError
	if err != nil && errors.As(err, &pe) && !errors.As(err, &ce) { // the file's open, not its header
		return nil, nil, &csvin.Error{File: path.Join(origin, name), Want: "the profile file (a profile set needs it for this configuration)", Got: err.Error()}
	}
	return t, closeFile, err
}

// scanTable is scan of a table opened after its header.
func scanTable(t *csvin.Table, filter rowFilter, required []string, row func(t *csvin.Table) error) error {
	if err := t.Require(append(filter.cols(), required...)...); err != nil {
		return err
	}
	// A column that holds one value in every row (a packed table knows)
	// is matched once, not per row.
	var perRow rowFilter
	none := false
	for _, x := range filter {
		if got, ok := t.Constant(x.col); ok {
			none = none || !sameValue(got, x.want)
			continue
		}
		perRow = append(perRow, x)
	}
	n := 0
	for {
		err := t.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if none || !perRow.match(t) {
			continue
		}
		n++
		if err := row(t); err != nil {
			return err
		}
	}
	if n == 0 {
		return &csvin.Error{File: t.File(), Line: t.Line() + 1, Want: "a row matching " + filter.String(), Got: "no row matches"}
	}
	return nil
}
