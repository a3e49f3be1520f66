package e2e

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// thSnap is one sample: CPU ticks by process type and thread name.
type thSnap struct {
	t time.Time
	m map[string]int64
}

// threadSampler samples the CPU time of every thread of the browser's
// processes every 100 ms, by process type and thread name ("renderer/
// ThreadPoolForeg": V8's background compiles, where Go's wasm tier-up to
// optimized code runs; "renderer/DedicatedWorker": the simulation worker;
// "renderer/chromium": the page's main thread), so that a start's CPU can be
// split by who used it (BenchmarkPageStart logs the largest).
type threadSampler struct {
	mu    sync.Mutex
	snaps []thSnap
	done  chan struct{}
}

// threadCPU is the browser's CPU time in ticks by process type and thread
// name, from /proc (the processes under the browser's).
func threadCPU(ctx context.Context) map[string]int64 {
	out := map[string]int64{}
	for pid := range browserProcs(ctx) {
		cl, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		kind := "browser"
		if i := strings.Index(string(cl), "--type="); i >= 0 {
			kind = strings.FieldsFunc(string(cl)[i+7:], func(r rune) bool { return r == 0 || r == ' ' })[0]
			if strings.Contains(string(cl), "top-chrome-webui") {
				kind += "-webui"
			}
		}
		tasks, _ := os.ReadDir("/proc/" + pid + "/task")
		for _, t := range tasks {
			b, err := os.ReadFile("/proc/" + pid + "/task/" + t.Name() + "/stat")
			if err != nil {
				continue
			}
			s := string(b)
			comm := s[strings.IndexByte(s, '(')+1 : strings.LastIndexByte(s, ')')]
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
			if len(f) < 13 {
				continue
			}
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			out[kind+"/"+comm] += ut + st
			if benchNice != 0 {
				// getpriority's raw value is 20 - nice
				if tid, err := strconv.Atoi(t.Name()); err == nil {
					if p, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid); err == nil && 20-p != benchNice {
						syscall.Setpriority(syscall.PRIO_PROCESS, tid, benchNice)
					}
				}
			}
		}
	}
	return out
}

// benchNice, from $SERVESIM_BENCH_NICE, is the nice value the page
// benchmarks give every thread of the browser (0: leave them), set as the
// threads are sampled: on a machine shared with other work, -10 gives the
// page most of the CPU it competes for, close to an idle machine (Chromium
// sets its renderers' priority itself, so starting the test under nice
// does not reach them). Root only.
var benchNice, _ = strconv.Atoi(os.Getenv("SERVESIM_BENCH_NICE"))

func sampleThreads(ctx context.Context) *threadSampler {
	s := &threadSampler{done: make(chan struct{})}
	read := func() {
		m := threadCPU(ctx)
		s.mu.Lock()
		s.snaps = append(s.snaps, thSnap{time.Now(), m})
		s.mu.Unlock()
	}
	read()
	go func() {
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-tk.C:
				read()
			}
		}
	}()
	return s
}

func (s *threadSampler) stop() { close(s.done) }

// report is the CPU used between from and to by the threads that used the
// most (at least 50 ms), the largest first.
func (s *threadSampler) report(from, to time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	pick := func(t time.Time) map[string]int64 {
		for _, sn := range s.snaps {
			if !sn.t.Before(t) {
				return sn.m
			}
		}
		return s.snaps[len(s.snaps)-1].m
	}
	a, b := pick(from), pick(to)
	type kv struct {
		k string
		v int64
	}
	var l []kv
	var tot int64
	for k, v := range b {
		if d := v - a[k]; d > 0 {
			l = append(l, kv{k, d})
			tot += d
		}
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v })
	var parts []string
	for _, e := range l {
		if e.v >= 5 {
			parts = append(parts, fmt.Sprintf("%s %d", e.k, e.v*10))
		}
	}
	return fmt.Sprintf("%d ms in all; %s", tot*10, strings.Join(parts, ", "))
}
