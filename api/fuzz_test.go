package api_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/servesim/servesim/api"
)

// FuzzHandler: whatever the query, body and content type (JSON, multipart,
// none), the API answers without a 5xx other than the documented 503, and
// every error is a problem document whose status matches and whose echo is
// bounded.
func FuzzHandler(f *testing.F) {
	f.Add(uint8(0), "preset=seed", []byte(""))
	f.Add(uint8(1), "", []byte(`{"preset":"seed","config":{"workload":{"num_requests":3}}}`))
	f.Add(uint8(1), "format=ndjson", []byte(`{"preset":"synthetic","config":{"Scheduler":{}}} x`))
	f.Add(uint8(1), "", []byte(`{"files":[{"name":"t.csv","content":"arrived_at,num_prefill_tokens,num_decode_tokens\n0,12,64\n"}]}`))
	f.Add(uint8(2), "file=request_metrics.csv", []byte("arrived_at,num_prefill_tokens,num_decode_tokens\n0,12,64\n"))
	f.Add(uint8(3), "", []byte(`{"workload":{"duration_s":500,"qps":10000}}`))
	f.Add(uint8(4), "config=%7B%22seed%22%3A1%7D&format=zip", []byte(""))
	f.Add(uint8(1), "", []byte(`{"preset":"seed","model_config":{"model_type":"llama","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":128,"vocab_size":100,"max_position_embeddings":512},"config":{"replica":{"device":"l4"}}}`))
	f.Add(uint8(1), "", []byte(`{"preset":"seed","config":{"replica":{"device":"g","gpu":{"name":"g","memory_gb":8,"hbm_gbps":100,"bf16_tflops":10},"model_name":"m","model_spec":{"name":"m","num_layers":1,"num_q_heads":1,"num_kv_heads":1,"embedding_dim":8,"mlp_hidden_dim":8,"vocab_size":8,"max_position_embeddings":64,"head_dim":8,"activation":"silu","norm":"rms_norm","rope_theta":1,"partial_rotary_factor":1}}}}`))
	f.Add(uint8(1+32), "", []byte(`{"preset":"seed","model_config":"{\n \"model_type\": \"llama\",\n \"hidden_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 128, \"vocab_size\": 100, \"max_position_embeddings\": 512}","config":{"replica":{"device":"h100","weight_dtype":"fp8","kv_cache_dtype":"fp8"}}}`))
	f.Add(uint8(1), "", []byte(`{"preset":"seed","profile_files":[{"name":"mlp.csv","content":"num_tokens\n1\n"},{"name":"profile.json","content":"{}"}]}`))
	lim := api.Limits{MaxBodyBytes: 1 << 20, MaxRequests: 64, MaxTokens: 200_000, MaxReplicas: 4, MemoryBudget: 8 << 20, Timeout: 5 * time.Second}
	h := api.NewHandler(api.Options{Limits: lim})
	f.Fuzz(func(t *testing.T, kind uint8, query string, body []byte) {
		paths := []string{"/api/simulate", "/api/workload", "/api/profile"}
		path := paths[int(kind>>4)%3]
		var req = httptest.NewRequest("GET", "/api/simulate", nil)
		switch kind % 5 {
		case 0: // the GET form (its query is set below)
		case 1: // JSON body
			req = httptest.NewRequest("POST", path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
		case 2, 3: // multipart: a workload file, or a config field
			var b bytes.Buffer
			mw := multipart.NewWriter(&b)
			if kind%5 == 2 {
				fw, _ := mw.CreateFormFile("workload", "w.csv")
				fw.Write(body)
			} else {
				mw.WriteField("preset", "synthetic")
				mw.WriteField("config", string(body))
			}
			mw.Close()
			req = httptest.NewRequest("POST", path, &b)
			req.Header.Set("Content-Type", mw.FormDataContentType())
		case 4: // raw bytes as a multipart body
			req = httptest.NewRequest("POST", path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "multipart/form-data; boundary=X")
		}
		req.URL.RawQuery = query
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != 503 {
			t.Fatalf("%s %s: %d %.300s", req.Method, req.URL, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var p api.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code {
				t.Fatalf("%d: problem %.300s", rec.Code, rec.Body)
			}
			if len(p.Detail) > 8<<10 {
				t.Fatalf("detail of %d bytes", len(p.Detail))
			}
		}
	})
}
