// Command defaultrun writes the page's default run file (web/ui's
// DefaultRunFile): the page's default inputs, the API request they make
// and the result of that request, computed here by the same engine the page
// runs as WebAssembly (api.NewHandler, natively). build.sh runs it at every
// build, so the numbers always come out of the simulation:
//
//	go run ./web/defaultrun -o dist/default-run.servesim.json
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/servesim/servesim/api"
	"github.com/servesim/servesim/web/ui"
)

func main() {
	out := flag.String("o", ui.DefaultRunFile, "write the run file to this path")
	flag.Parse()
	b, err := build()
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "defaultrun:", err)
		os.Exit(1)
	}
}

// build runs the page's default request as the page's worker does (its
// streamed answer, ?format=ndjson) and returns the run file.
func build() ([]byte, error) {
	body, file, err := ui.DefaultInputs()
	if err != nil {
		return nil, err
	}
	req := httptest.NewRequest(http.MethodPost, "/api/simulate?format=ndjson", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	api.NewHandler(api.Options{}).ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("the default run: status %d: %.500s", rec.Code, rec.Body)
	}
	sc := bufio.NewScanner(rec.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var line struct {
			Result json.RawMessage `json:"result"`
			Error  json.RawMessage `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return nil, fmt.Errorf("the default run's answer: %w", err)
		}
		if line.Error != nil {
			return nil, fmt.Errorf("the default run failed: %s", line.Error)
		}
		if line.Result != nil {
			file.Result = line.Result
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if file.Result == nil {
		return nil, fmt.Errorf("the default run's answer has no result line")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	if err := enc.Encode(file); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
