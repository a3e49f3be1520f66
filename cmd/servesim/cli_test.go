package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/servesim/servesim/engine"
	"github.com/servesim/servesim/internal/runner"
	"github.com/servesim/servesim/presets"
	"github.com/servesim/servesim/profiles"
)

// TestSimulateHelp_Grouped: -h prints to stdout, exit 0, the five groups in
// order, every flag exactly once under one of them, each short alias on the
// line of the Vidur name it stands for, and examples.
func TestSimulateHelp_Grouped(t *testing.T) {
	code, out, errs := runCLI(t, "simulate", "-h")
	if code != exitOK || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	at := -1
	for _, g := range []string{"Workload", "Replica scheduler", "Cluster", "Predictor", "Outputs", "Examples:"} {
		i := strings.Index(out, "\n"+g)
		if i < 0 || i < at {
			t.Fatalf("group %q missing or out of order in:\n%s", g, out)
		}
		at = i
	}
	cfg := engine.DefaultConfig()
	fs, _ := simulateFlags(&cfg)
	grouped := map[string]int{}
	for _, g := range fs.groups {
		for _, n := range g.names {
			grouped[n]++
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if _, isAlias := fs.long[f.Name]; isAlias {
			return
		}
		if grouped[f.Name] != 1 {
			t.Errorf("flag --%s is in %d groups, want 1", f.Name, grouped[f.Name])
		}
		if !regexp.MustCompile(`(?m)^  --(\S+ )?` + regexp.QuoteMeta(f.Name) + `\b|\(Vidur: --` + regexp.QuoteMeta(f.Name) + `\)`).MatchString(out) {
			t.Errorf("help does not list --%s", f.Name)
		}
	})
	for alias, long := range map[string]string{
		"qps": "poisson_request_interval_generator_config_qps", "num-requests": "synthetic_request_generator_config_num_requests",
		"scheduler": "replica_scheduler_config_type", "chunk-size": "sarathi_scheduler_config_chunk_size",
		"batch-cap": "replica_scheduler_config_batch_size_cap", "replicas": "cluster_config_num_replicas",
		"tp": "replica_config_tensor_parallel_size", "pp": "replica_config_num_pipeline_stages", "device": "replica_config_device",
	} {
		if !regexp.MustCompile(`(?m)^  --` + regexp.QuoteMeta(alias) + `( [A-Z]+)?   \(Vidur: --` + long + `\)$`).MatchString(out) {
			t.Errorf("help has no line for --%s beside --%s", alias, long)
		}
	}
}

// TestSimulate_AliasesSetVidurNames: each short alias sets exactly what its
// Vidur name sets, and nothing else.
func TestSimulate_AliasesSetVidurNames(t *testing.T) {
	tests := []struct{ alias, long, value string }{
		{"qps", "poisson_request_interval_generator_config_qps", "3.5"},
		{"num-requests", "synthetic_request_generator_config_num_requests", "17"},
		{"scheduler", "replica_scheduler_config_type", "vllm"},
		{"chunk-size", "sarathi_scheduler_config_chunk_size", "256"},
		{"batch-cap", "replica_scheduler_config_batch_size_cap", "64"},
		{"replicas", "cluster_config_num_replicas", "3"},
		{"tp", "replica_config_tensor_parallel_size", "2"},
		{"pp", "replica_config_num_pipeline_stages", "2"},
		{"device", "replica_config_device", "h100"},
	}
	parsed := func(args ...string) engine.Config {
		cfg := engine.DefaultConfig()
		fs, _ := simulateFlags(&cfg)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	for _, tc := range tests {
		t.Run(tc.alias, func(t *testing.T) {
			a, l := parsed("--"+tc.alias, tc.value), parsed("--"+tc.long, tc.value)
			if !reflect.DeepEqual(a, l) {
				t.Errorf("--%s %s gives %+v, --%s gives %+v", tc.alias, tc.value, a, tc.long, l)
			}
			if reflect.DeepEqual(a, engine.DefaultConfig()) {
				t.Errorf("--%s %s changed nothing", tc.alias, tc.value)
			}
		})
	}
	// Later wins, whichever name it uses.
	if c := parsed("--qps", "1", "--poisson_request_interval_generator_config_qps", "2"); c.Workload.QPS != 2 {
		t.Errorf("qps %v, want the later 2", c.Workload.QPS)
	}
	if c := parsed("--poisson_request_interval_generator_config_qps", "2", "--qps", "1"); c.Workload.QPS != 1 {
		t.Errorf("qps %v, want the later 1", c.Workload.QPS)
	}
	// End to end: the same run, byte for byte, with either spelling.
	short, long := t.TempDir(), t.TempDir()
	common := []string{"simulate", "--quiet", "--preset", "synthetic", "--fixed_request_length_generator_config_prefill_tokens", "100",
		"--fixed_request_length_generator_config_decode_tokens", "10"}
	if code, _, errs := runCLI(t, append(common, "--out", short, "--qps", "4", "--num-requests", "30", "--scheduler", "vllm", "--batch-cap", "16")...); code != exitOK {
		t.Fatal(errs)
	}
	if code, _, errs := runCLI(t, append(common, "--out", long, "--poisson_request_interval_generator_config_qps", "4",
		"--synthetic_request_generator_config_num_requests", "30", "--replica_scheduler_config_type", "vllm", "--replica_scheduler_config_batch_size_cap", "16")...); code != exitOK {
		t.Fatal(errs)
	}
	for _, f := range []string{"request_metrics.csv", "run_meta.json"} {
		a, _ := os.ReadFile(filepath.Join(short, f))
		b, _ := os.ReadFile(filepath.Join(long, f))
		if len(a) == 0 || !bytes.Equal(bytes.ReplaceAll(a, []byte(short), nil), bytes.ReplaceAll(b, []byte(long), nil)) {
			t.Errorf("%s differs between short and Vidur flag names", f)
		}
	}
}

// TestSimulate_UnknownFlagOneLine: a mistyped flag is answered with exactly
// one line naming the closest flag, exit 2, and nothing on stdout.
func TestSimulate_UnknownFlagOneLine(t *testing.T) {
	tests := []struct{ typed, want string }{
		{"--qsp", "did you mean --qps?"},
		{"--chunk_size", "did you mean --chunk-size?"},
		{"--num_requests", "did you mean --num-requests?"},
		{"--replica_config_devic", "did you mean --replica_config_device?"},
		{"--schedular", "did you mean --scheduler?"},
		{"--chunk", "did you mean --chunk-size?"},
		{"--zzzzzzzzzzzz", "unknown flag --zzzzzzzzzzzz ("},
	}
	for _, tc := range tests {
		code, out, errs := runCLI(t, "simulate", tc.typed, "1")
		if code != exitUsage || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q (want one line with %q)", tc.typed, code, out, errs, tc.want)
		}
	}
	if _, _, errs := runCLI(t, "simulate", "--zzzzzzzzzzzz"); strings.Contains(errs, "did you mean") {
		t.Errorf("nothing is near, yet: %q", errs)
	}
	// A bad value is one line too, with the flag's name.
	if code, _, errs := runCLI(t, "simulate", "--qps", "fast"); code != exitUsage || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, `invalid value "fast" for flag --qps`) {
		t.Errorf("bad value: exit %d, %q", code, errs)
	}
	if code, _, errs := runCLI(t, "serve", "--adr", ":0"); code != exitUsage || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "did you mean --addr?") {
		t.Errorf("serve: exit %d, %q", code, errs)
	}
}

func TestClosestFlag(t *testing.T) {
	names := []string{"qps", "poisson_request_interval_generator_config_qps", "out", "tp", "pp", "chunk-size", "sarathi_scheduler_config_chunk_size", "seed"}
	for typed, want := range map[string]string{
		"qps": "qps", "QPS": "qps", "qsp": "qps", "ot": "out", "chunk_size": "chunk-size", "chunk": "chunk-size",
		"poisson_request_interval_generator_config_qpss": "poisson_request_interval_generator_config_qps",
		"sed": "seed", "xyzzy_plugh": "", "": "",
	} {
		if got := closestFlag(typed, names); got != want {
			t.Errorf("closestFlag(%q) = %q, want %q", typed, got, want)
		}
	}
	for _, tc := range []struct {
		a, b string
		d    int
	}{{"", "", 0}, {"abc", "", 3}, {"qps", "qsp", 1}, {"kitten", "sitting", 3}, {"flaw", "lawn", 2}} {
		if got := editDistance(tc.a, tc.b); got != tc.d {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}

// otherDevice returns an embedded set made for another device than the
// default's (whatever it is called on main now).
func otherDevice(t *testing.T) (name, device, node string) {
	t.Helper()
	name = otherDeviceSet()
	if name == "" {
		t.Skip("no embedded profile set of another device")
	}
	set, err := profiles.Embedded().Open(name)
	if err != nil {
		t.Fatal(err)
	}
	return name, set.Meta.Device, set.Meta.NetworkDevice
}

func runMetaReplica(t *testing.T, dir string) (device, node string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "run_meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Config struct {
			Replica struct {
				Device        string `json:"device"`
				NetworkDevice string `json:"network_device"`
			} `json:"replica"`
		} `json:"config"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m.Config.Replica.Device, m.Config.Replica.NetworkDevice
}

// TestSimulate_ProfileImpliesDevice: a profile set alone sets the replica's
// device and node to the set's; a device given by flag or config file that
// contradicts the set is still a configuration error (exit 2).
func TestSimulate_ProfileImpliesDevice(t *testing.T) {
	name, device, node := otherDevice(t)
	def := engine.DefaultConfig().Replica

	dir := t.TempDir()
	code, _, errs := runCLI(t, "simulate", "--out", dir, "--profile", name)
	if code != exitOK {
		t.Fatalf("--profile %s alone: exit %d: %s", name, code, errs)
	}
	if d, n := runMetaReplica(t, dir); d != device || n != node {
		t.Errorf("run_meta.json replica device %q node %q, want the set's %q %q", d, n, device, node)
	}
	if !strings.Contains(errs, "note: device "+device) {
		t.Errorf("no note of the implied device: %q", errs)
	}
	// Given and agreeing: fine, and quiet says nothing.
	if code, _, errs := runCLI(t, "simulate", "--quiet", "--out", t.TempDir(), "--profile", name, "--device", device); code != exitOK || errs != "" {
		t.Errorf("--device %s --profile %s: exit %d, %q", device, name, code, errs)
	}
	// Given and contradicting, by flag or by config file: exit 2 naming both.
	cfgFile := filepath.Join(t.TempDir(), "c.json")
	os.WriteFile(cfgFile, []byte(`{"replica": {"device": "`+def.Device+`"}}`), 0o644)
	for _, args := range [][]string{
		{"--profile", name, "--device", def.Device},
		{"--profile", name, "--replica_config_device", def.Device},
		{"--config", cfgFile, "--profile", name},
	} {
		code, _, errs := runCLI(t, append([]string{"simulate", "--quiet", "--out", t.TempDir()}, args...)...)
		if code != exitUsage || !strings.Contains(errs, name) || !strings.Contains(errs, device) {
			t.Errorf("%v: exit %d (want 2), %q", args, code, errs)
		}
	}
	// A node given is kept.
	dir = t.TempDir()
	if code, _, errs := runCLI(t, "simulate", "--quiet", "--out", dir, "--profile", name, "--replica_config_network_device", def.NetworkDevice); code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if d, n := runMetaReplica(t, dir); d != device || n != def.NetworkDevice {
		t.Errorf("device %q node %q, want %q %q", d, n, device, def.NetworkDevice)
	}
	// No profile given: the default stays as it was.
	dir = t.TempDir()
	if code, _, _ := runCLI(t, "simulate", "--quiet", "--out", dir); code != exitOK {
		t.Fatal("default run failed")
	}
	if d, n := runMetaReplica(t, dir); d != def.Device || n != def.NetworkDevice {
		t.Errorf("default run: device %q node %q", d, n)
	}
}

// TestSimulateHelp_ExamplesRun runs every example the help prints.
func TestSimulateHelp_ExamplesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a few simulations")
	}
	lines := strings.Split(strings.TrimSpace(strings.SplitN(simulateExamples(), "\n", 2)[1]), "\n")
	if len(lines) < 5 {
		t.Fatalf("only %d examples", len(lines))
	}
	for _, l := range lines {
		l, _, _ = strings.Cut(l, "#")
		args := strings.Fields(l)[1:]
		for i := range args {
			switch {
			case i > 0 && args[i-1] == "--out":
				args[i] = t.TempDir()
			case i > 0 && args[i-1] == "--workload":
				args[i] = filepath.Join("../..", args[i])
			}
		}
		if code, _, errs := runCLI(t, append(args, "--quiet")...); code != exitOK {
			t.Errorf("%s: exit %d: %s", l, code, errs)
		}
	}
}

// TestPresets_OneLineEach: one line per preset in the table's order, the
// default first and the synthetic generators last; -v adds descriptions.
func TestPresets_OneLineEach(t *testing.T) {
	code, out, _ := runCLI(t, "presets")
	if code != exitOK {
		t.Fatal(code)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	all := presets.All()
	if len(lines) != len(all) {
		t.Fatalf("%d lines for %d presets:\n%s", len(lines), len(all), out)
	}
	for i, p := range all {
		if f := strings.Fields(lines[i]); f[0] != p.Name || !strings.HasSuffix(lines[i], p.Title) {
			t.Errorf("line %d %q, want %s and its title", i, lines[i], p.Name)
		}
	}
	if all[0].Name != presets.Default || all[len(all)-1].Name != "synthetic" {
		t.Errorf("order: first %s, last %s", all[0].Name, all[len(all)-1].Name)
	}
	idx := map[string]int{}
	for i, p := range all {
		idx[p.Name] = i
	}
	if idx["arxiv-1qps"] > idx["arxiv-4qps"] || idx["splitwise-conv-2qps"] > idx["splitwise-conv-8qps"] {
		t.Errorf("loads of one trace out of order: %v", idx)
	}
	if _, out, _ := runCLI(t, "presets", "-v"); !strings.Contains(out, all[0].Description) {
		t.Errorf("-v lacks the descriptions")
	}
}

func TestVersionLine(t *testing.T) {
	info := &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-01T07:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	want := runner.Version + " (commit 0123456789ab of 2026-12-01T07:00:00Z, with uncommitted changes; go1.26.8)"
	if got := versionLine(info, true); got != want {
		t.Errorf("got %q", got)
	}
	if got := versionLine(&debug.BuildInfo{GoVersion: "go1.26.8"}, true); !strings.Contains(got, "commit unknown") {
		t.Errorf("no VCS: %q", got)
	}
	if code, out, _ := runCLI(t, "--version"); code != exitOK || !strings.HasPrefix(out, runner.Version) || !strings.Contains(out, "commit") {
		t.Errorf("--version: %d %q", code, out)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// serveFor starts servesim serve with args, runs fetch against its URL and
// returns what it logged once stopped.
func serveFor(t *testing.T, args []string, fetch func(base string)) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--dist", ""}, args...), pw, &errb)
		pw.Close()
	}()
	br := bufio.NewReader(pr)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "servesim: serving on ")
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("first line %q does not give the URL", line)
	}
	fetch(base)
	cancel()
	rest, _ := io.ReadAll(br)
	if code := <-done; code != exitOK {
		t.Errorf("exit %d", code)
	}
	return line + string(rest), errb.String()
}

// TestServe_LogsRequests: one line per request with method, path, status,
// duration and size; --quiet logs none.
func TestServe_LogsRequests(t *testing.T) {
	get := func(base string) {
		for _, p := range []string{"/api/presets", "/api/nope"} {
			resp, err := http.Get(base + p)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	out, logs := serveFor(t, nil, get)
	if !strings.HasSuffix(out, "servesim: stopped\n") {
		t.Errorf("stdout %q does not say it stopped", out)
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	re := regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d{3} GET (\S+) (\d{3}) \S+s (\d+) B$`)
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines, got %q", logs)
	}
	for i, want := range []struct{ path, status string }{{"/api/presets", "200"}, {"/api/nope", "404"}} {
		m := re.FindStringSubmatch(lines[i])
		if m == nil || m[1] != want.path || m[2] != want.status || m[3] == "0" {
			t.Errorf("log line %q, want %s %s with a size", lines[i], want.path, want.status)
		}
	}
	if _, logs := serveFor(t, []string{"--quiet"}, get); logs != "" {
		t.Errorf("--quiet logged %q", logs)
	}
}

// TestLogRequests_Line checks one line's fields with a fixed clock.
func TestLogRequests_Line(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 7, 8, 9, 10_000_000, time.UTC)
	calls := 0
	now := func() time.Time { calls++; return t0.Add(time.Duration(calls-1) * 1500 * time.Microsecond) }
	var buf bytes.Buffer
	h := logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(201)
		w.Write([]byte("hello"))
		http.NewResponseController(w).Flush()
	}), &buf, now)
	rec := &flushRecorder{header: http.Header{}}
	req, _ := http.NewRequest("POST", "http://x/api/simulate?format=ndjson", nil)
	h.ServeHTTP(rec, req)
	if got, want := buf.String(), "07:08:09.010 POST /api/simulate 201 1.5ms 5 B\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if !rec.flushed {
		t.Error("Flush did not reach the real writer")
	}
}

type flushRecorder struct {
	header  http.Header
	flushed bool
}

func (f *flushRecorder) Header() http.Header         { return f.header }
func (f *flushRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (f *flushRecorder) WriteHeader(int)             {}
func (f *flushRecorder) Flush()                      { f.flushed = true }
