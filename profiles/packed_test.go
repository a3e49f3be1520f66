package profiles_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/presets"
	"github.com/servesim/servesim/profiles"
)

// TestEmbedded_Packed: every file of the embedded sets on disk is embedded
// with its exact bytes, a packed CSV's served from its pack, and each
// committed pack is what go generate ./profiles writes for its CSV today
// (a CSV edited without regenerating fails here).
func TestEmbedded_Packed(t *testing.T) {
	emb := profiles.Embedded().FS()
	packs := 0
	for _, root := range []string{"a100", "h100", "h200", "network"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			name := filepath.ToSlash(p)
			disk, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got, err := fs.ReadFile(emb, name)
			if err != nil {
				t.Errorf("%s is not embedded: %v", name, err)
				return nil
			}
			if !bytes.Equal(got, disk) {
				t.Errorf("%s: embedded %d bytes differ from the %d on disk", name, len(got), len(disk))
			}
			if strings.HasSuffix(name, csvin.PackSuffix) {
				packs++
				csv, err := os.ReadFile(strings.TrimSuffix(p, csvin.PackSuffix))
				if err != nil {
					t.Fatal(err)
				}
				want, err := csvin.Pack(csv, strings.TrimSuffix(name, csvin.PackSuffix))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(want, disk) {
					t.Errorf("%s is stale: run go generate ./profiles", name)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if packs == 0 {
		t.Fatal("no packed CSV embedded (the default set's attention table should be)")
	}
}

// TestEmbedded_PackedSameRuns: the default set loaded from its pack and
// from its CSV on disk give the same runs, every output byte for byte (the
// result's JSON), for each scheduler on the page's default workload and
// the seed run.
func TestEmbedded_PackedSameRuns(t *testing.T) {
	packed, err := profiles.Embedded().Open(engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	fromCSV, err := predict.Open(os.DirFS(engine.DefaultProfile), "embedded:"+engine.DefaultProfile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Stat(fromCSV.FS, "attention.csv"); err != nil {
		t.Fatal(err)
	}
	run := func(cfg engine.Config, w *workload.Workload, set *predict.Set) []byte {
		t.Helper()
		res, err := engine.Run(context.Background(), cfg, engine.Inputs{Workload: w, Profile: set, Network: profiles.Embedded().Network()}, engine.Options{KeepMembers: true})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	p, err := presets.Lookup("splitwise-conv-2qps")
	if err != nil {
		t.Fatal(err)
	}
	for _, sched := range []string{"sarathi", "vllm", "orca", "lightllm", "faster_transformer", "vllm_v1"} {
		t.Run(sched, func(t *testing.T) {
			cfg := engine.DefaultConfig()
			p.Apply(&cfg)
			cfg.Workload.NumRequests = 200
			cfg.Scheduler.Type = sched
			if sched == "lightllm" {
				cfg.Scheduler.BlockSize = 1
			}
			cfg.Predictor.Extrapolate = true
			files, err := p.Open()
			if err != nil {
				t.Fatal(err)
			}
			w, err := workload.Load(files, cfg.WorkloadOptions())
			if err != nil {
				t.Fatal(err)
			}
			a, b := run(cfg, w, packed), run(cfg, w, fromCSV)
			if !bytes.Equal(a, b) {
				t.Fatalf("%s: the packed set's run (%d bytes of JSON) differs from the CSV's (%d)", sched, len(a), len(b))
			}
		})
	}
}
