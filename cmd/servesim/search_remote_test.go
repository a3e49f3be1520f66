package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/servesim/servesim/api"
)

// serveChild starts this test binary as `servesim serve` on a free
// loopback port (see TestMain) and returns it, its base URL and a count of
// the requests it has logged.
func serveChild(t *testing.T) (*exec.Cmd, string, *atomic.Int64) {
	t.Helper()
	aj, _ := json.Marshal([]string{"serve", "--addr", "127.0.0.1:0", "--dist", ""})
	srv := exec.Command(os.Args[0], "-test.run", "^$")
	srv.Env = append(os.Environ(), "SERVESIM_LOAD_SERVER=1", "SERVESIM_LOAD_ARGS="+string(aj))
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs, err := srv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
	})
	br := bufio.NewReader(out)
	line, err := br.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "servesim: serving on "))
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("server says %q", line)
	}
	go br.WriteTo(io.Discard)
	var served atomic.Int64
	go func() { // one line per request on stderr
		lr := bufio.NewReader(logs)
		for {
			l, err := lr.ReadString('\n')
			if err != nil {
				return
			}
			if strings.Contains(l, "/api/simulate") {
				served.Add(1)
			}
		}
	}()
	return srv, base, &served
}

// TestSearch_RemoteEndpoints: a search sent to three `servesim serve`
// processes on 127.0.0.1, one of them killed mid-search, writes the same
// bytes as the search run in process.
func TestSearch_RemoteEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	var urls []string
	var victim *exec.Cmd
	var victimServed *atomic.Int64
	for i := range 3 {
		srv, base, served := serveChild(t)
		urls = append(urls, base)
		if i == 1 {
			victim, victimServed = srv, served
		}
	}
	args := []string{"search", "--preset", "splitwise-conv-2qps", "--search_requests", "150", "--precision", "0.05",
		"--batch_cap_values", "16,128", "--scheduler_values", "sarathi,vllm", "--target_qps", "5"}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	killed, searched := make(chan struct{}), make(chan struct{})
	go func() { // kill the second server once it has answered a few trials
		defer close(killed)
		for victimServed.Load() < 3 {
			select {
			case <-searched:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
		victim.Process.Kill()
	}()
	var so, se bytes.Buffer
	code := run(ctx, append(args, "--endpoints", strings.Join(urls, ","), "--parallel", "6", "--out", filepath.Join(dir, "remote")), &so, &se)
	close(searched)
	<-killed
	if code != 0 {
		t.Fatalf("remote search: exit %d: %s", code, se.String())
	}
	if n := victimServed.Load(); n < 3 {
		t.Fatalf("the killed server answered %d trials: not mid-search", n)
	}
	retries := strings.Count(se.String(), "retrying a trial")
	t.Logf("the killed server answered %d trials; %d retries; %s", victimServed.Load(), retries, strings.SplitN(so.String(), "\n", 2)[0])
	if retries == 0 {
		t.Error("no trial was retried after a server was killed")
	}
	so.Reset()
	se.Reset()
	if code := run(ctx, append(args, "--out", filepath.Join(dir, "local")), &so, &se); code != 0 {
		t.Fatalf("local search: exit %d: %s", code, se.String())
	}
	for _, f := range []string{"search.json", "search.csv", "search_curve.csv"} {
		a, _ := os.ReadFile(filepath.Join(dir, "remote", f))
		b, _ := os.ReadFile(filepath.Join(dir, "local", f))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s: the remote search wrote %d bytes, the local one %d, not the same", f, len(a), len(b))
		}
	}
}

// TestSearch_ModelAndGPU: `servesim search --model config.json` searches
// that model (the roofline estimate, as simulate chooses it), also on a
// GPU given by its numbers, and the same search sent to an endpoint (each
// trial's configuration then says predictor.profile "auto") writes the same
// bytes, as does POST /api/search with the file as model_config (the page's
// search).
func TestSearch_ModelAndGPU(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	_, base, served := serveChild(t)
	cfgFile := filepath.Join("testdata", "hf", "llama-config.json")
	text, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		flags  []string
		config string
	}{
		"config.json": {[]string{"--model", cfgFile}, `{}`},
		"custom GPU": {[]string{"--model", cfgFile, "--device", "my-gpu", "--gpu_memory_gb", "24", "--gpu_hbm_gbps", "900", "--gpu_bf16_tflops", "150"},
			`{"replica":{"device":"my-gpu","gpu":{"name":"my-gpu","memory_gb":24,"hbm_gbps":900,"bf16_tflops":150}}}`},
		"catalogue model": {[]string{"--model", "Qwen/Qwen3-8B", "--device", "l40s"}, `{"replica":{"model_name":"Qwen/Qwen3-8B","device":"l40s"}}`},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"search", "--preset", "splitwise-conv-2qps", "--search_requests", "100", "--precision", "0.1", "--start_qps", "4",
				"--batch_cap_values", "16,128", "--max_points", "64", "--quiet"}, c.flags...) // the API caps points at 64: search.json says so
			searchLocalRemote(t, args, dir, base, served)
			mc, _ := json.Marshal(string(text))
			if name == "catalogue model" {
				mc = []byte("null")
			}
			body := `{"preset":"splitwise-conv-2qps","config":` + c.config + `,"model_config":` + string(mc) +
				`,"search":{"requests":100,"precision":0.1,"start_qps":4,"axes":{"batch_cap":[16,128]}}}`
			sameSearchLocalRemoteAPI(t, dir, []byte(body))
		})
	}
}

// TestSearch_ProfileDir: servesim search --profile DIR (a user's folder of
// Vidur CSVs, here the a100 set's with its attention slower) opens the set once
// for every trial in process, and sends its files with each trial to
// --endpoints (a path would name the endpoint's disk); both write the same
// bytes as POST /api/search with the files as profile_files (the page's
// search). Before, every trial in process failed with "unknown profile set
// DIR" (trials opened embedded sets only).
func TestSearch_ProfileDir(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	_, base, served := serveChild(t)
	dir, set := t.TempDir(), t.TempDir()
	var files []api.File
	for _, f := range []string{"mlp.csv", "attention.csv"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "profiles", "a100", "qwen3-0.6b", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "attention.csv" { // every attention time under 10 ms 10 ms slower: not the embedded set
			b = bytes.ReplaceAll(b, []byte(",0.00"), []byte(",0.01"))
		}
		if err := os.WriteFile(filepath.Join(set, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, api.File{Name: f, Content: string(b)})
	}
	args := []string{"search", "--preset", "splitwise-conv-2qps", "--profile", set, "--search_requests", "100", "--precision", "0.1", "--start_qps", "4", "--max_points", "64", "--quiet"}
	searchLocalRemote(t, args, dir, base, served)
	body, _ := json.Marshal(map[string]any{"preset": "splitwise-conv-2qps", "profile_files": files, "search": map[string]any{"requests": 100, "precision": 0.1, "start_qps": 4}})
	sameSearchLocalRemoteAPI(t, dir, body)
	embedded := filepath.Join(dir, "embedded")
	var se bytes.Buffer
	if code := run(context.Background(), append(slices.Delete(slices.Clone(args), 3, 5), "--out", embedded), io.Discard, &se); code != 0 {
		t.Fatalf("embedded search: exit %d: %s", code, se.String())
	}
	a, _ := os.ReadFile(filepath.Join(dir, "local", "search_curve.csv"))
	b, _ := os.ReadFile(filepath.Join(embedded, "search_curve.csv"))
	if bytes.Equal(a, b) {
		t.Error("the search on the changed folder equals the embedded set's: the folder was not used")
	}
}

// searchLocalRemote runs `servesim search` with args twice: in process
// into dir/local, then with its trials sent to the endpoint base into
// dir/remote, failing if either exits non-zero or no trial reached the
// endpoint (served counts its requests; see serveChild).
func searchLocalRemote(t *testing.T, args []string, dir, base string, served *atomic.Int64) {
	t.Helper()
	var se bytes.Buffer
	if code := run(context.Background(), slices.Concat(args, []string{"--out", filepath.Join(dir, "local")}), io.Discard, &se); code != 0 {
		t.Fatalf("local search: exit %d: %s", code, se.String())
	}
	before := served.Load()
	if code := run(context.Background(), slices.Concat(args, []string{"--endpoints", base, "--out", filepath.Join(dir, "remote")}), io.Discard, &se); code != 0 {
		t.Fatalf("remote search: exit %d: %s", code, se.String())
	}
	if served.Load() == before {
		t.Error("no trial went to the endpoint")
	}
}

// sameSearchLocalRemoteAPI posts body to POST /api/search?files=1 and checks
// that its three files equal, byte for byte, the search written in process
// (dir/local) and over endpoints (dir/remote), and that the search found a
// point.
func sameSearchLocalRemoteAPI(t *testing.T, dir string, body []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/search?files=1", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	api.NewHandler(api.Options{}).ServeHTTP(rec, req)
	var res struct {
		Files []struct{ Name, Content string } `json:"files"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &res) != nil || len(res.Files) != 3 {
		t.Fatalf("POST /api/search: %d %.600s", rec.Code, rec.Body)
	}
	for i, f := range []string{"search.json", "search.csv", "search_curve.csv"} {
		a, _ := os.ReadFile(filepath.Join(dir, "local", f))
		b, _ := os.ReadFile(filepath.Join(dir, "remote", f))
		if len(a) == 0 || !bytes.Equal(a, b) || res.Files[i].Content != string(a) {
			t.Errorf("%s: local %d bytes, remote %d, the API's %d, not the same:\n%.800s\n%.800s", f, len(a), len(b), len(res.Files[i].Content), a, b)
		}
	}
	js, _ := os.ReadFile(filepath.Join(dir, "local", "search.json"))
	if !strings.Contains(string(js), `"found": true`) {
		t.Errorf("search.json finds nothing:\n%.1500s", js)
	}
}
