package presets_test

import (
	"bytes"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/presets"
)

// TestEmbedded_Packed: every workload file on disk is served by FS with
// its exact bytes (a packed trace's CSV from its pack), and each committed
// pack is what go generate ./presets writes for its CSV today.
func TestEmbedded_Packed(t *testing.T) {
	packs := 0
	err := filepath.WalkDir("data", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		disk, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(filepath.ToSlash(p), "data/")
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
				t.Errorf("%s is stale: run go generate ./presets", name)
			}
			return nil
		}
		got, err := fs.ReadFile(presets.FS(), name)
		if err != nil {
			t.Errorf("%s is not served: %v", name, err)
		} else if !bytes.Equal(got, disk) {
			t.Errorf("%s: served %d bytes differ from the %d on disk", name, len(got), len(disk))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if packs == 0 {
		t.Fatal("no packed trace (the default workload's should be)")
	}
	// The page's default workload goes to the loader as its pack.
	p, err := presets.Lookup("splitwise-conv-2qps")
	if err != nil {
		t.Fatal(err)
	}
	files, err := p.Open()
	if err != nil {
		t.Fatal(err)
	}
	head := make([]byte, csvin.PackedPrefix)
	if _, err := files[0].R.Read(head); err != nil || !csvin.IsPacked(head) {
		t.Errorf("%s opens as %q, not its pack", files[0].Name, head)
	}
}

// TestPresets_PackedSameWorkload: every preset's workload read from the
// embedded files (packed traces as packs) is the one read from the CSVs on
// disk, request for request, lengths-only or not.
func TestPresets_PackedSameWorkload(t *testing.T) {
	for _, p := range presets.All() {
		t.Run(p.Name, func(t *testing.T) {
			cfg := engine.DefaultConfig()
			p.Apply(&cfg)
			for _, lengthsOnly := range []bool{false, true} {
				opt := cfg.WorkloadOptions()
				opt.LengthsOnly = lengthsOnly
				files, err := p.Open()
				if err != nil {
					t.Fatal(err)
				}
				got, gerr := workload.Load(files, opt)
				var disk []workload.File
				for _, f := range p.Files {
					r, err := os.Open(path.Join("data", f))
					if err != nil {
						t.Fatal(err)
					}
					defer r.Close()
					disk = append(disk, workload.File{Name: path.Base(f), R: r})
				}
				want, werr := workload.Load(disk, opt)
				if (gerr == nil) != (werr == nil) || gerr != nil && gerr.Error() != werr.Error() {
					t.Fatalf("lengths only %t: embedded %v, disk %v", lengthsOnly, gerr, werr)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("lengths only %t: the embedded workload differs from the CSVs' on disk", lengthsOnly)
				}
			}
		})
	}
}
