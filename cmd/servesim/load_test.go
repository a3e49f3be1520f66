package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the load test run this test binary as `servesim serve` in
// a child process (SERVESIM_LOAD_SERVER=1, arguments in SERVESIM_LOAD_ARGS),
// so that the server's memory is its own process's.
func TestMain(m *testing.M) {
	if os.Getenv("SERVESIM_LOAD_SERVER") == "1" {
		var args []string
		if err := json.Unmarshal([]byte(os.Getenv("SERVESIM_LOAD_ARGS")), &args); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, args, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// rssKiB reads a /proc/PID/status field (VmRSS, VmHWM) in KiB.
func rssKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return -1
}

// loadCase is one kind of request in the burst.
type loadCase struct {
	name string
	n    int
	make func(base string) (*http.Request, error)
	want []byte         // the CLI's request_metrics.csv for a good request
	ok   func(int) bool // acceptable final statuses (after retries)
	slow bool           // a trickling body: a cut connection is fine
}

// TestLoad_BurstAgainstServe: ~200 concurrent mixed requests (presets,
// uploads, bad inputs, slow bodies) against `servesim serve` with limits
// on 127.0.0.1. Passes when no 5xx other than 503 (with Retry-After)
// occurs, every good answer equals the CLI's bytes, the server's peak RSS
// stays under 1 GiB, and its RSS falls back after the burst.
// SERVESIM_LOAD=1 runs it (./build.sh test does).
func TestLoad_BurstAgainstServe(t *testing.T) {
	if os.Getenv("SERVESIM_LOAD") != "1" {
		t.Skip("SERVESIM_LOAD=1 runs the load test")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc for the server's memory")
	}
	const budgetKiB = 1 << 20 // 1 GiB peak RSS
	args := []string{"serve", "--addr", "127.0.0.1:0", "--dist", "", "--max_concurrent", "2", "--max_queued", "32",
		"--timeout", "20s", "--memory_budget_mib", "128", "--read_timeout", "3s", "--max_conns", "256"}
	aj, _ := json.Marshal(args)
	srv := exec.Command(os.Args[0], "-test.run", "^$")
	srv.Env = append(os.Environ(), "SERVESIM_LOAD_SERVER=1", "SERVESIM_LOAD_ARGS="+string(aj))
	srv.Stderr = os.Stderr
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(os.Interrupt)
		srv.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	base := strings.TrimSpace(strings.TrimPrefix(line, "servesim: serving on "))
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("server says %q", line)
	}
	pid := srv.Process.Pid
	idleKiB := rssKiB(pid, "VmRSS")

	// The CLI's answers.
	cli := func(args ...string) []byte {
		dir := t.TempDir()
		var so, se bytes.Buffer
		if code := run(context.Background(), append([]string{"simulate", "--out", dir, "--quiet", "--chrome_trace=false"}, args...), &so, &se); code != 0 {
			t.Fatalf("CLI %v: exit %d: %s", args, code, se.String())
		}
		b, err := os.ReadFile(filepath.Join(dir, "request_metrics.csv"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var trace strings.Builder
	trace.WriteString("arrived_at,num_prefill_tokens,num_decode_tokens\n")
	for i := 0; i < 60; i++ {
		fmt.Fprintf(&trace, "%.2f,%d,%d\n", float64(i)*0.25, 50+37*i%900, 10+13*i%200)
	}
	traceFile := filepath.Join(t.TempDir(), "upload.csv")
	os.WriteFile(traceFile, []byte(trace.String()), 0o644)
	get := func(q string) func(string) (*http.Request, error) {
		return func(base string) (*http.Request, error) { return http.NewRequest("GET", base+"/api/simulate?"+q, nil) }
	}
	postJSON := func(q, body string) func(string) (*http.Request, error) {
		return func(base string) (*http.Request, error) {
			r, err := http.NewRequest("POST", base+"/api/simulate?"+q, strings.NewReader(body))
			if err == nil {
				r.Header.Set("Content-Type", "application/json")
			}
			return r, err
		}
	}
	upload, _ := json.Marshal(map[string]any{"files": []map[string]string{{"name": "upload.csv", "content": trace.String()}}})
	only := func(codes ...int) func(int) bool {
		return func(c int) bool {
			for _, x := range codes {
				if c == x {
					return true
				}
			}
			return false
		}
	}
	good := only(200)
	cases := []*loadCase{
		{name: "preset seed", n: 40, make: get("preset=seed&file=request_metrics.csv"), want: cli("--preset", "seed"), ok: good},
		{name: "preset spaced-2s", n: 25, make: get("preset=spaced-2s&file=request_metrics.csv"), want: cli("--preset", "spaced-2s"), ok: good},
		{name: "splitwise code, 300 requests", n: 15, make: get("preset=splitwise-code-2qps&file=request_metrics.csv&config=" + url.QueryEscape(`{"workload":{"num_requests":300}}`)),
			want: cli("--preset", "splitwise-code-2qps", "--synthetic_request_generator_config_num_requests", "300"), ok: good},
		{name: "splitwise conv 8 QPS (zip)", n: 6, make: get("preset=splitwise-conv-8qps&format=zip"), ok: good},
		{name: "splitwise conv 2 QPS", n: 8, make: get("preset=splitwise-conv-2qps&file=request_metrics.csv"), want: cli("--preset", "splitwise-conv-2qps"), ok: good},
		{name: "arXiv 1 QPS (streamed)", n: 4, make: get("preset=arxiv-1qps&format=ndjson"), ok: good},
		{name: "JSON upload", n: 30, make: postJSON("file=request_metrics.csv", string(upload)), want: cli("--workload", traceFile), ok: good},
		{name: "multipart upload", n: 14, make: func(base string) (*http.Request, error) {
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			fw, _ := mw.CreateFormFile("workload", "upload.csv")
			io.WriteString(fw, trace.String())
			mw.WriteField("config", `{"scheduler":{"type":"vllm"}}`)
			mw.Close()
			r, err := http.NewRequest("POST", base+"/api/simulate?file=request_metrics.csv", &b)
			if err == nil {
				r.Header.Set("Content-Type", mw.FormDataContentType())
			}
			return r, err
		}, want: cli("--workload", traceFile, "--replica_scheduler_config_type", "vllm"), ok: good},
		{name: "bad CSV", n: 8, make: postJSON("", `{"files":[{"name":"t.csv","content":"arrived_at,num_prefill_tokens,num_decode_tokens\n0,ten,5\n"}]}`), ok: only(400)},
		{name: "trailing garbage", n: 6, make: postJSON("", `{"preset":"seed"} x`), ok: only(400)},
		{name: "duration x qps over the limit", n: 6, make: get("preset=synthetic&config=" + url.QueryEscape(`{"workload":{"duration_s":500,"qps":10000}}`)), ok: only(422)},
		{name: "overflowing row", n: 6, make: postJSON("", `{"files":[{"name":"t.csv","content":"arrived_at,num_prefill_tokens,num_decode_tokens\n0,4611686018427387904,4611686018427387904\n"}]}`), ok: only(400)},
		{name: "PUT", n: 4, make: func(base string) (*http.Request, error) { return http.NewRequest("PUT", base+"/api/simulate", nil) }, ok: only(405)},
		{name: "catalog", n: 10, make: func(base string) (*http.Request, error) { return http.NewRequest("GET", base+"/api/presets", nil) }, ok: good},
		{name: "slow body", n: 20, slow: true, ok: only(400, 408, 413)},
	}
	total := 0
	for _, c := range cases {
		total += c.n
	}
	type outcome struct {
		c        *loadCase
		status   int
		retries  int
		err      error
		mismatch bool
		at       time.Duration
	}
	results := make(chan outcome, total)
	var peakKiB int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if v := rssKiB(pid, "VmRSS"); v > peakKiB {
				peakKiB = v
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	client := &http.Client{Timeout: 90 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: 256}}
	start := make(chan struct{})
	var wg sync.WaitGroup
	t0 := time.Now()
	for _, c := range cases {
		for i := 0; i < c.n; i++ {
			wg.Add(1)
			go func(c *loadCase) {
				defer wg.Done()
				<-start
				if c.slow {
					results <- outcome{c: c, status: slowBody(base), at: time.Since(t0)}
					return
				}
				o := outcome{c: c}
				for attempt := 0; ; attempt++ {
					req, err := c.make(base)
					if err != nil {
						o.err = err
						break
					}
					resp, err := client.Do(req)
					if err != nil {
						o.err = err
						break
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					o.status, o.err = resp.StatusCode, err
					if resp.StatusCode == 503 && attempt < 20 {
						ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
						if err != nil || ra < 1 {
							o.err = fmt.Errorf("503 without a Retry-After (%q)", resp.Header.Get("Retry-After"))
							break
						}
						o.retries++
						time.Sleep(time.Duration(ra) * time.Second)
						continue
					}
					if resp.StatusCode == 200 && c.want != nil && !bytes.Equal(body, c.want) {
						o.mismatch = true
					}
					break
				}
				o.at = time.Since(t0)
				results <- o
			}(c)
		}
	}
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	close(results)
	hwm := rssKiB(pid, "VmHWM")
	// After the burst: the server gives memory back (FreeOSMemory when idle).
	var afterKiB int64
	for deadline := time.Now().Add(15 * time.Second); ; {
		afterKiB = rssKiB(pid, "VmRSS")
		if afterKiB < hwm/2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stopSampling)
	<-sampled

	byCase := map[string]map[int]int{}
	retries, bad := 0, 0
	var lat []time.Duration
	for o := range results {
		if byCase[o.c.name] == nil {
			byCase[o.c.name] = map[int]int{}
		}
		byCase[o.c.name][o.status]++
		retries += o.retries
		lat = append(lat, o.at)
		switch {
		case o.c.slow:
			if o.status >= 500 {
				t.Errorf("%s: %d", o.c.name, o.status)
				bad++
			}
		case o.err != nil:
			t.Errorf("%s: %v", o.c.name, o.err)
			bad++
		case o.status >= 500 && o.status != 503, !o.c.ok(o.status):
			t.Errorf("%s: status %d", o.c.name, o.status)
			bad++
		case o.mismatch:
			t.Errorf("%s: the answer differs from the CLI's request_metrics.csv", o.c.name)
			bad++
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	names := make([]string, 0, len(byCase))
	for n := range byCase {
		names = append(names, n)
	}
	sort.Strings(names)
	var sum strings.Builder
	for _, n := range names {
		fmt.Fprintf(&sum, "\n  %-32s %v", n, byCase[n])
	}
	t.Logf("load: %d concurrent requests (%d retries after a 503) in %.1f s; completion p50 %.1f s, p99 %.1f s; server RSS idle %d MiB, peak %d MiB (VmHWM %d MiB, budget %d MiB), %d MiB after the burst; %d bad; final statuses by case:%s",
		total, retries, elapsed.Seconds(), lat[len(lat)/2].Seconds(), lat[len(lat)*99/100].Seconds(),
		idleKiB>>10, peakKiB>>10, hwm>>10, budgetKiB>>10, afterKiB>>10, bad, sum.String())
	if hwm > budgetKiB {
		t.Errorf("peak RSS %d MiB is over the %d MiB budget", hwm>>10, budgetKiB>>10)
	}
	if afterKiB >= hwm/2 {
		t.Errorf("RSS did not fall back after the burst: %d MiB of a %d MiB peak", afterKiB>>10, hwm>>10)
	}
}

// slowBody sends a request whose body trickles in (a byte every 300 ms,
// never complete) and returns the status the server answers, or 0 when it
// cuts the connection.
func slowBody(base string) int {
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return -1
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/simulate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
	done := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	tick := time.NewTicker(300 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case s := <-done:
			return s
		case <-tick.C:
			if _, err := conn.Write([]byte("{")); err != nil {
				return <-done
			}
			if i > 200 { // a minute: the read timeout never came
				return 599
			}
		}
	}
}
