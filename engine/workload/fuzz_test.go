package workload_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine/workload"
)

// checkTrace asserts what must hold for any trace Load accepts, and that a
// refusal has a message naming the file.
func checkTrace(t *testing.T, name string, w *workload.Workload, err error) {
	if err != nil {
		if !strings.HasPrefix(err.Error(), name+":") && !strings.HasPrefix(err.Error(), "workload: "+name) {
			t.Fatalf("error %q does not name the file", err)
		}
		return
	}
	for i, r := range w.Requests {
		if r.ID != i || r.Prefill < 1 || r.Decode < 1 || r.ArrivalNs < 0 || r.DelayNs < 0 {
			t.Fatalf("bad request %+v", r)
		}
		if r.Parent < 0 || r.Parent > i || r.ClosedLoop && r.Parent == 0 {
			t.Fatalf("request %d: parent %d (closed loop %v)", i, r.Parent, r.ClosedLoop)
		}
		if r.Session < 0 || r.Session > len(w.Sessions) || r.Parent > 0 && w.Requests[r.Parent-1].Session != r.Session {
			t.Fatalf("request %d: session %d of %d (parent's %+v)", i, r.Session, len(w.Sessions), r)
		}
		if i > 0 && !r.ClosedLoop && w.Format != workload.FormatVLLMCustom {
			prev := i - 1
			for prev >= 0 && w.Requests[prev].ClosedLoop {
				prev--
			}
			if prev >= 0 && r.ArrivalNs < w.Requests[prev].ArrivalNs {
				t.Fatalf("request %d arrives at %d before request %d at %d", i, r.ArrivalNs, prev, w.Requests[prev].ArrivalNs)
			}
		}
		_ = w.HashIDs(i)
	}
	workload.Summarize(w)
}

// fuzzFormat fuzzes one format's parser from its fixture and extra seeds.
func fuzzFormat(f *testing.F, fixtureName string, seeds ...string) {
	b, err := os.ReadFile(filepath.Join("testdata", fixtureName))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(b))
	for _, s := range seeds {
		f.Add(s)
	}
	name := "t" + filepath.Ext(fixtureName)
	f.Fuzz(func(t *testing.T, content string) {
		opt := workload.DefaultOptions()
		opt.Synthetic.NumRequests = 0
		w, err := workload.Load([]workload.File{{Name: name, R: strings.NewReader(content)}}, opt)
		checkTrace(t, name, w, err)
	})
}

func FuzzMooncake(f *testing.F) {
	fuzzFormat(f, "aiperf_sessions.jsonl", `{"timestamp":1.5,"input_length":1,"output_length":1,"hash_ids":[]}`,
		`{"session_id":7,"timestamp":0,"input_length":2,"output_length":1}`+"\n"+`{"session_id":7,"timestamp":3,"input_length":2,"output_length":1}`)
}

func FuzzBailian(f *testing.F) {
	fuzzFormat(f, "bailian.jsonl", `{"chat_id":5,"parent_chat_id":-1,"timestamp":0,"input_length":1,"output_length":1}`)
}

func FuzzVLLMCustom(f *testing.F) {
	fuzzFormat(f, "vllm_custom.jsonl", `{"prompt_tokens":3,"output_len":2}`)
}

func FuzzBurstGPT(f *testing.F) {
	fuzzFormat(f, "burstgpt_sessions.csv", "Timestamp,Model,Request tokens,Response tokens\n0,a,1,1\n")
}

func FuzzAzure(f *testing.F) {
	fuzzFormat(f, "azure_2023.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2024-05-10 00:00:00.009930+00:00,1,1\n")
}

func FuzzSplitwise(f *testing.F) {
	fuzzFormat(f, "splitwise.csv", "arrival_timestamp,prompt_size,token_size\n0.5,1,1\n")
}
