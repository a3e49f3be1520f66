// Package cloudflare holds the Cloudflare Workers entry (entry.mjs) and the
// workerd configuration; this test runs the built Workers bundle in workerd
// (npm @cloudflare/workerd-linux-64) on 127.0.0.1. It needs ./build.sh and
// npm ci first, and runs when SERVESIM_E2E=1.
package cloudflare

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestWorkerd(t *testing.T) {
	if os.Getenv("SERVESIM_E2E") == "" {
		t.Skip("Cloudflare build test: run ./build.sh test")
	}
	root, _ := filepath.Abs("../..")
	bin := filepath.Join(root, "node_modules/@cloudflare/workerd-linux-64/bin/workerd")
	for _, p := range []string{bin, filepath.Join(root, "dist-cf/workerd.capnp"), filepath.Join(root, "dist/index.html")} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%v: run npm ci and ./build.sh", err)
		}
	}
	addr := freePort(t)
	cmd := exec.Command(bin, "serve", "workerd.capnp", "--socket-addr", "http="+addr,
		"--directory-path", "assets="+filepath.Join(root, "dist"))
	cmd.Dir = filepath.Join(root, "dist-cf")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://" + addr
	var resp *http.Response
	var err error
	for i := 0; i < 100; i++ {
		if resp, err = http.Get(base + "/"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("workerd did not start: %v\n%s", err, logs.String())
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "servesim") {
		t.Fatalf("page: %d %s", resp.StatusCode, page)
	}

	seed, _ := os.ReadFile(filepath.Join(root, "presets/data/seed/vidur_trace.csv"))
	body, _ := json.Marshal(map[string]any{"files": []map[string]string{{"name": "vidur_trace.csv", "content": string(seed)}}})
	for _, f := range []string{"request_metrics.csv", "token_metrics.csv"} {
		resp, err := http.Post(base+"/api/simulate?file="+f, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want, _ := os.ReadFile(filepath.Join(root, "engine/report/testdata/seed", f))
		if resp.StatusCode != 200 || !bytes.Equal(got, want) {
			t.Errorf("%s from workerd: %d, equal to the CLI's: %v\n%s", f, resp.StatusCode, bytes.Equal(got, want), logs.String())
		}
	}

	big := fmt.Sprintf(`{"preset":"%s"}`, strings.Repeat("x", 33<<20))
	resp, err = http.Post(base+"/api/simulate", "application/json", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversize body: %d, want 413", resp.StatusCode)
	}
}
