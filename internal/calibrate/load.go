package calibrate

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/internal/compare"
	"github.com/servesim/servesim/internal/realrun"
)

// LoadRun reads one real run from a folder (servesim metric files, the
// reference engine's step_log.csv too, an AIPerf profile_export.jsonl or a
// vLLM result *.json): its result, its steps and, from the result itself,
// the workload it replayed (arrivals and lengths).
func LoadRun(fsys fs.FS, name, split string, cfg engine.Config) (Run, error) {
	res, err := realrun.ReadFS(fsys, name)
	if err != nil {
		return Run{}, err
	}
	r := Run{Name: name, Split: split, Real: res.Run(), Config: cfg}
	if r.Workload, err = res.Workload(); err != nil {
		return Run{}, err
	}
	if hasFile(fsys, "step_log.csv") || hasFile(fsys, "step_log.csv.gz") {
		if r.Steps, err = compare.LoadStepLogFS(fsys, "step_log.csv", path.Join(name, "step_log.csv")); err != nil {
			return Run{}, err
		}
	}
	return r, nil
}

// LoadPath is LoadRun for a directory or a single result file on disk.
func LoadPath(p, split string, cfg engine.Config) (Run, error) {
	st, err := os.Stat(p)
	if err != nil {
		return Run{}, err
	}
	if st.IsDir() {
		return LoadRun(os.DirFS(p), p, split, cfg)
	}
	res, err := realrun.ReadFile(p)
	if err != nil {
		return Run{}, err
	}
	r := Run{Name: filepath.Base(p), Split: split, Real: res.Run(), Config: cfg}
	if r.Workload, err = res.Workload(); err != nil {
		return Run{}, fmt.Errorf("%s: %w", p, err)
	}
	return r, nil
}

func hasFile(fsys fs.FS, name string) bool {
	st, err := fs.Stat(fsys, name)
	return err == nil && !st.IsDir()
}
