package api_test

import (
	"archive/zip"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/servesim/servesim/api"
	"github.com/servesim/servesim/engine/report"
)

// TestSimulate_FileStreamed: every ?file= answer, written as the run goes
// (request_metrics.csv, token_metrics.csv) or rendered into the body after
// it, has the bytes the zip's files have (rendered from the run's result),
// over several of the answer's 1 MiB chunks; the zip, also written into
// the body as it is compressed, is an attachment named for the run.
func TestSimulate_FileStreamed(t *testing.T) {
	h := api.NewHandler(api.Options{})
	q := "preset=splitwise-conv-8qps&config=" + `%7B%22workload%22%3A%7B%22num_requests%22%3A600%7D%7D`
	rec := serve(t, h, getSim(q+"&format=zip&outputs=request,token,batch,trace,meta,summary"))
	if rec.Code != 200 {
		t.Fatalf("zip: %d %s", rec.Code, rec.Body)
	}
	if ct, cd := rec.Header().Get("Content-Type"), rec.Header().Get("Content-Disposition"); ct != "application/zip" || !strings.HasPrefix(cd, `attachment; filename="`) || !strings.HasSuffix(cd, `.zip"`) {
		t.Errorf("zip: Content-Type %q, Content-Disposition %q", ct, cd)
	}
	zr, err := zip.NewReader(bytes.NewReader(rec.Body.Bytes()), int64(rec.Body.Len()))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, zf := range zr.File {
		rc, _ := zf.Open()
		want, _ := io.ReadAll(rc)
		rec := serve(t, h, getSim(q+"&file="+zf.Name))
		if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), want) {
			t.Errorf("%s: status %d, %d bytes; the zip's has %d", zf.Name, rec.Code, rec.Body.Len(), len(want))
		}
		if cd := rec.Header().Get("Content-Disposition"); cd != `attachment; filename="`+zf.Name+`"` {
			t.Errorf("%s: Content-Disposition %q", zf.Name, cd)
		}
		if zf.Name == "token_metrics.csv" && len(want) < 3<<20 {
			t.Errorf("token_metrics.csv is %d bytes: too small to span several chunks", len(want))
		}
		seen++
	}
	if seen != len(report.Files) {
		t.Errorf("%d files compared, want %d", seen, len(report.Files))
	}
}

// TestSimulate_FileErrorBeforeBytes: a file's run that fails before any byte
// is an ordinary problem answer (no attachment header).
func TestSimulate_FileErrorBeforeBytes(t *testing.T) {
	h := api.NewHandler(api.Options{})
	rec := serve(t, h, getSim(cfgQuery("seed", `{"scheduler":{"chunk_size":-1}}`)+"&file=token_metrics.csv"))
	if rec.Code < 400 || rec.Code >= 500 || rec.Header().Get("Content-Type") != "application/problem+json" || rec.Header().Get("Content-Disposition") != "" {
		t.Errorf("status %d, Content-Type %q, Content-Disposition %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("Content-Disposition"), rec.Body)
	}
}

// TestSimulate_FileCutOff: a run that fails after its file's first bytes
// (here the wall-clock budget, mid-way through 200k requests) cuts the answer
// off: the reader gets an error, never a short file that looks whole.
func TestSimulate_FileCutOff(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a simulation for its time budget")
	}
	h := api.NewHandler(api.Options{Limits: api.Limits{MaxBodyBytes: 1 << 20, MaxRequests: 1 << 20, MaxTokens: 1 << 40,
		Timeout: 3 * time.Second}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL + "/api/simulate?" + cfgQuery("synthetic", `{"workload":{"num_requests":200000,"qps":32}}`) + "&file=token_metrics.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status %d: %s", res.StatusCode, b)
		}
		t.Skipf("the time budget ran out before the first MiB of rows (a very loaded machine): %s", b)
	}
	n, err := io.Copy(io.Discard, res.Body)
	if res.StatusCode != 200 || err == nil || !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "unexpected EOF") {
		t.Fatalf("status %d, %d bytes read, error %v; want 200 and a body cut off", res.StatusCode, n, err)
	}
	if n < 1<<20 {
		t.Errorf("%d bytes before the cut: the header should go out with the first MiB", n)
	}
}
