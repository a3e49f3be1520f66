package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/servesim/servesim/engine/predict"
	"github.com/servesim/servesim/profiles"
)

func calibrateHandler() *handler {
	h := NewHandler(Options{}).(*handler)
	h.openBase = func(name string) (*predict.Set, error) {
		if name == "fixture" {
			return profiles.OpenDir("../profiles/testdata/engine-set")
		}
		return profiles.Embedded().Open(name)
	}
	return h
}

func post(t *testing.T, h http.Handler, body any) *httptest.ResponseRecorder {
	b, _ := json.Marshal(body)
	req := httptest.NewRequest("POST", "/api/calibrate", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func file(t *testing.T, path string) File {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return File{Name: path[strings.LastIndexByte(path, '/')+1:], Content: string(b)}
}

// TestCalibrateEndpoint: the vLLM fixture as the fit run, the AIPerf
// fixture (the same four requests) held out: the answer carries the fit,
// both scores and the new set's files, and equals for equal inputs.
func TestCalibrateEndpoint(t *testing.T) {
	h := calibrateHandler()
	body := map[string]any{"base": "fixture", "name": "mine/calibrated", "config": map[string]any{"replica": map[string]any{"device": "h200", "network_device": "h100_pairwise_nvlink"}},
		"runs": []map[string]any{
			{"name": "vllm", "split": "fit", "files": []File{file(t, "../internal/realrun/testdata/vllm_bench_serve.json")}},
			{"name": "aiperf", "split": "heldout", "files": []File{file(t, "../internal/realrun/testdata/profile_export.jsonl")}},
		}}
	rec := post(t, h, body)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var res CalibrateResult
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Scores) != 2 || !strings.Contains(res.Files["PROVENANCE.md"], "| aiperf | heldout |") || res.Files["engine.json"] == "" || !strings.Contains(res.Files["profile.json"], `"mine/calibrated"`) {
		t.Fatalf("result %+v", res)
	}
	// The two runs are the same requests: the held-out score equals the fit's.
	if a, b := res.Scores[0].Rows, res.Scores[1].Rows; len(a) == 0 || a[0] != b[0] {
		t.Errorf("fit %+v, held out %+v", a, b)
	}
	// The answer has what api/openapi.json's CalibrateResult requires.
	var spec map[string]any
	json.Unmarshal(OpenAPI(), &spec)
	schemas := spec["components"].(map[string]any)["schemas"].(map[string]any)
	var got map[string]any
	json.Unmarshal(rec.Body.Bytes(), &got)
	cr := schemas["CalibrateResult"].(map[string]any)
	requireKeys(t, "result", cr, got)
	props := cr["properties"].(map[string]any)
	requireKeys(t, "fit", props["fit"].(map[string]any), got["fit"].(map[string]any))
	score := props["scores"].(map[string]any)["items"].(map[string]any)
	for _, s := range got["scores"].([]any) {
		requireKeys(t, "score", score, s.(map[string]any))
		row := score["properties"].(map[string]any)["rows"].(map[string]any)["items"].(map[string]any)
		for _, r := range s.(map[string]any)["rows"].([]any) {
			requireKeys(t, "row", row, r.(map[string]any))
		}
	}
	if again := post(t, h, body); again.Body.String() != rec.Body.String() {
		t.Error("same request, different answer")
	}
}

func TestCalibrateEndpoint_Errors(t *testing.T) {
	h := calibrateHandler()
	vllm := file(t, "../internal/realrun/testdata/vllm_bench_serve.json")
	for _, tc := range []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"no engine.json", map[string]any{"base": "a100/qwen3-0.6b", "runs": []map[string]any{{"split": "fit", "files": []File{vllm}}}}, 422, "no engine.json"},
		{"unknown base", map[string]any{"base": "nope", "runs": []any{}}, 400, "unknown profile set"},
		{"no runs", map[string]any{"base": "fixture"}, 400, "at least one run"},
		{"bad split", map[string]any{"base": "fixture", "runs": []map[string]any{{"split": "train", "files": []File{vllm}}}}, 400, `runs[0].split: expected`},
		{"bad file", map[string]any{"base": "fixture", "runs": []map[string]any{{"split": "fit", "files": []File{{Name: "r.json", Content: "{\"ttfts\": [,]}"}}}}}, 400, "r.json:1:"},
		{"path in name", map[string]any{"base": "fixture", "runs": []map[string]any{{"split": "fit", "files": []File{{Name: "../x.json", Content: "{}"}}}}}, 400, "plain file name"},
		{"unknown key", map[string]any{"base": "fixture", "runz": 1}, 400, "runz"},
	} {
		rec := post(t, h, tc.body)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want %d with %q", tc.name, rec.Code, rec.Body, tc.status, tc.want)
		}
	}
	req := httptest.NewRequest("GET", "/api/calibrate", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 405 || rec.Header().Get("Allow") != "POST" {
		t.Errorf("GET: %d %q", rec.Code, rec.Header().Get("Allow"))
	}
}

func requireKeys(t *testing.T, what string, schema, v map[string]any) {
	t.Helper()
	for _, k := range schema["required"].([]any) {
		if _, ok := v[k.(string)]; !ok {
			t.Errorf("%s: missing %q (api/openapi.json requires it)", what, k)
		}
	}
	props, _ := schema["properties"].(map[string]any)
	for k := range v {
		if _, ok := props[k]; !ok {
			t.Errorf("%s: key %q is not in api/openapi.json", what, k)
		}
	}
}
