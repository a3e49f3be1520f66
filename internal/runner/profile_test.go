package runner_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/servesim/servesim/engine/csvin"
	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/engine/workload"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/profiles"
)

// userFolder writes the embedded A100 set's two Vidur CSVs (and extra
// files) to a folder without profile.json: a user's own profile.
func userFolder(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"mlp.csv", "attention.csv"} {
		b, err := os.ReadFile(filepath.Join("../../profiles/a100/qwen3-0.6b", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range extra {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestUserProfileDir: a folder of the same CSVs gives the same run as the
// embedded set (CPU overhead off, as by default), with the user's
// provenance and kind "user".
func TestUserProfileDir(t *testing.T) {
	cfg, err := runner.Config("seed")
	if err != nil {
		t.Fatal(err)
	}
	want, err := runner.Run(context.Background(), runner.Job{Preset: "seed", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Predictor.Profile = userFolder(t, map[string]string{"PROVENANCE.md": "Timed by me on my A100, vLLM 0.9.\nDetails follow."})
	got, err := runner.Run(context.Background(), runner.Job{Preset: "seed", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := want.File("request_metrics.csv")
	b, _ := got.File("request_metrics.csv")
	if !bytes.Equal(a, b) {
		t.Errorf("request_metrics.csv differs from the embedded set's")
	}
	if m := got.Result.Profile; m.Kind != predict.KindUser || m.Model != cfg.Replica.Model || m.Device != "a100" ||
		m.Summary != "USER-SUPPLIED: Timed by me on my A100, vLLM 0.9." {
		t.Errorf("profile meta %+v", m)
	}
	meta, _ := got.File("run_meta.json")
	if !bytes.Contains(meta, []byte(`"kind": "user"`)) {
		t.Errorf("run_meta.json does not say kind user:\n%s", meta)
	}
}

// TestUserProfile_BadInput: a user's folder is validated as the embedded
// sets are, with file, line and column, before any run.
func TestUserProfile_BadInput(t *testing.T) {
	cfg, _ := runner.Config("seed")
	dir := userFolder(t, nil)
	b, _ := os.ReadFile(filepath.Join(dir, "attention.csv"))
	lines := strings.SplitN(string(b), "\n", 4)
	cells := strings.Split(lines[2], ",")
	cells[1] = "fast" // time_stats.attn_prefill.median
	lines[2] = strings.Join(cells, ",")
	os.WriteFile(filepath.Join(dir, "attention.csv"), []byte(strings.Join(lines, "\n")), 0o644)
	cfg.Predictor.Profile = dir
	_, err := runner.OpenProfile(cfg)
	var ie *csvin.Error
	if !errors.As(err, &ie) || ie.File != filepath.Join(dir, "attention.csv") || ie.Line != 3 || ie.Col != 2 || runner.Classify(err) != runner.KindInput {
		t.Errorf("broken cell: %v (%+v)", err, ie)
	}
	os.Remove(filepath.Join(dir, "mlp.csv"))
	if _, err := runner.OpenProfile(cfg); !errors.As(err, &ie) || !strings.Contains(err.Error(), "mlp.csv and attention.csv in Vidur's schemas") {
		t.Errorf("missing mlp.csv: %v", err)
	}
	if _, err := profiles.OpenUserFiles(map[string][]byte{"notes.docx": nil}, runner.UserProfileFor(cfg)); err == nil || !strings.Contains(err.Error(), "notes.docx") {
		t.Errorf("unknown upload: %v", err)
	}
}

// TestUserProfileFiles: uploaded files make the same set as the folder.
func TestUserProfileFiles(t *testing.T) {
	cfg, _ := runner.Config("seed")
	files := map[string][]byte{}
	for _, f := range []string{"mlp.csv", "attention.csv"} {
		b, err := os.ReadFile(filepath.Join("../../profiles/a100/qwen3-0.6b", f))
		if err != nil {
			t.Fatal(err)
		}
		files["myprof/"+f] = b
	}
	set, err := profiles.OpenUserFiles(files, runner.UserProfileFor(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if set.Provenance != profiles.NoProvenance {
		t.Errorf("provenance %q", set.Provenance)
	}
	if err := fstest.TestFS(set.FS, "mlp.csv", "attention.csv"); err != nil {
		t.Fatal(err)
	}
	out, err := runner.Run(context.Background(), runner.Job{Preset: "seed", Config: cfg, Profile: set})
	if err != nil {
		t.Fatal(err)
	}
	if out.Result.Profile.Kind != predict.KindUser {
		t.Errorf("kind %s", out.Result.Profile.Kind)
	}
}

// TestRealResultIsAWorkload: a vllm bench serve result JSON or an AIPerf
// profile_export.jsonl given as the workload replays its requests (arrivals
// from their start times, measured lengths; failed ones kept, not run).
func TestRealResultIsAWorkload(t *testing.T) {
	cfg, _ := runner.Config("seed")
	for _, name := range []string{"vllm_bench_serve.json", "profile_export.jsonl"} {
		b, err := os.ReadFile(filepath.Join("../realrun/testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		files := []workload.File{{Name: name, R: bytes.NewReader(b)}}
		out, err := runner.Run(context.Background(), runner.Job{Files: files, Config: cfg})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w := out.Workload
		if w.Format != workload.FormatRealResult || len(w.Requests) == 0 || !strings.Contains(strings.Join(w.Notes, " "), name) {
			t.Errorf("%s: format %s, %d requests, notes %q", name, w.Format, len(w.Requests), w.Notes)
		}
		if name == "vllm_bench_serve.json" {
			// input_lens 100, 50, 30, 80; the third failed (0 output tokens).
			if w.Requests[0].Prefill != 100 || w.Requests[3].Prefill != 80 || w.Requests[2].Rejected == "" || out.Result.Requests[2].Status == "ok" {
				t.Errorf("requests %+v", w.Requests)
			}
		}
	}
	// Keys sorted (jq -S) with itls over the 64 KiB head: still a result.
	var itls []string
	for range 2000 {
		itls = append(itls, "[0.001,0.001,0.001,0.001,0.001,0.001,0.001,0.001,0.001,0.001]")
	}
	n := len(itls)
	list := func(v string) string { return "[" + strings.TrimSuffix(strings.Repeat(v+",", n), ",") + "]" }
	sortedKeys := `{"backend":"vllm","errors":` + list(`""`) + `,"input_lens":` + list("10") + `,"itls":[` + strings.Join(itls, ",") +
		`],"num_prompts":2000,"output_lens":` + list("11") + `,"start_times":` + list("1.5") + `,"ttfts":` + list("0.01") + `}`
	files := []workload.File{{Name: "sorted.json", R: strings.NewReader(sortedKeys)}}
	if w, err := runner.LoadWorkload(context.Background(), runner.Job{Files: files, Config: cfg}); err != nil || w.Format != workload.FormatRealResult || len(w.Requests) != n {
		t.Errorf("vllm result with sorted keys: %v", err)
	}
	// A Mooncake trace is still a trace.
	files = []workload.File{{Name: "t.jsonl", R: strings.NewReader(`{"timestamp":0,"input_length":5,"output_length":2}` + "\n")}}
	if w, err := runner.LoadWorkload(context.Background(), runner.Job{Files: files, Config: cfg}); err != nil || w.Format != workload.FormatMooncake {
		t.Errorf("mooncake: %v", err)
	}
}
