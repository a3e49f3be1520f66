// Package profiles embeds servesim's profile sets and network profiles and
// lists them with their provenance.
//
// A profile set is a folder <device>/<model>/ holding mlp.csv and
// attention.csv in Vidur's schemas, an optional cpu_overheads.csv,
// profile.json and PROVENANCE.md. The tools that produce each set live in
// tools/ beside the data.
package profiles

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/model"
	"github.com/servesim/servesim/engine/predict"
)

// Every CSV of the embedded sets and network profiles (the a100 set's
// attention.csv: 860 KB, 10,606 rows; the network tables: 2.4 MB) is
// embedded as its packed form (engine/csvin: lossless, columnar), which the
// page's worker loads without splitting or parsing text, and from which the
// CSVs' bytes are served (TestEmbedded_Packed checks both against the
// committed CSVs). Packed, they compress to about 110 KB less in the page's
// download than as text. Regenerate them after a CSV changes:
//
//go:generate go run ./internal/packcsv a100 h100 h200 network
//go:embed a100/*/*.json a100/*/*.md a100/*/*.csv.pack
//go:embed h100/*/*.json h100/*/*.md h100/*/*.csv.pack
//go:embed h200/*/*.json h200/*/*.md h200/*/*.csv.pack
//go:embed network/*.md network/LICENSE-vidur network/*/*.csv.pack
var embedded embed.FS

// Registry serves embedded profile sets. The zero value is not usable; use
// Embedded.
type Registry struct {
	fsys fs.FS
}

// Embedded returns the registry of the sets compiled into the binary.
func Embedded() Registry { return Registry{fsys: csvin.PackedFS(embedded)} }

// FS holds the embedded sets' files, each under its set's name, a packed
// CSV served as its CSV too.
func (r Registry) FS() fs.FS { return r.fsys }

// Names lists the embedded set names ("a100/qwen3-0.6b", …), sorted.
func (r Registry) Names() []string {
	var names []string
	_ = fs.WalkDir(r.fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && path.Base(p) == "profile.json" {
			names = append(names, path.Dir(p))
		}
		return nil
	})
	sort.Strings(names)
	return names
}

// Open opens an embedded set by name.
func (r Registry) Open(name string) (*predict.Set, error) {
	// A set is a folder holding profile.json (Names lists them all, which
	// walks every embedded file: the page's worker opens its set at start).
	if fs.ValidPath(name) && name != "." {
		if st, err := fs.Stat(r.fsys, path.Join(name, "profile.json")); err == nil && !st.IsDir() {
			sub, err := fs.Sub(r.fsys, name)
			if err != nil {
				return nil, err
			}
			return predict.Open(sub, "embedded:"+name)
		}
	}
	return nil, fmt.Errorf("unknown profile set %q (embedded: %s; or give a directory)", name, strings.Join(r.Names(), ", "))
}

// Network returns the root of the embedded network profiles (one folder per
// node, e.g. a100_pairwise_nvlink/all_reduce.csv).
func (r Registry) Network() fs.FS {
	sub, _ := fs.Sub(r.fsys, "network")
	return sub
}

// OpenDir opens a profile set from a directory on disk.
func OpenDir(dir string) (*predict.Set, error) {
	return predict.Open(os.DirFS(dir), dir)
}

// Resolve opens a set by embedded name or, if the name is an existing
// directory, from disk.
func (r Registry) Resolve(nameOrDir string) (*predict.Set, error) {
	if st, err := os.Stat(nameOrDir); err == nil && st.IsDir() {
		return OpenDir(nameOrDir)
	}
	return r.Open(nameOrDir)
}

// Check loads every table a set carries (mlp.csv, attention.csv and, where
// present, cpu_overheads.csv, host_overheads.csv and the emb/lm_head
// extensions engine timing reads) for its own model at TP 1, so that a
// broken file is reported with its position before any run uses it.
func Check(set *predict.Set, network fs.FS) error {
	m, err := model.Lookup(set.Meta.Model)
	if err != nil {
		return fmt.Errorf("profile set %s: %w", set.Origin, err)
	}
	node, _ := model.LookupNode(set.Meta.NetworkDevice)
	_, err = predict.New(set, network, predict.Options{Model: m, Node: node, TP: 1, PP: 1, HeadDim: m.HeadDim,
		KVCachePredictionGranularity: 64, CPUOverhead: set.HasCPUOverheads(), HostOverheads: set.HasHostOverheads(),
		LMHead: true, Embedding: true})
	return err
}
