package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// nativeSLO runs body through the test server's API (the native handler,
// what the CLI runs) and returns summary.slo's attainment and verdict as the
// page writes them.
func nativeSLO(t *testing.T, url, body string) (attainment string, met bool, overloaded bool) {
	t.Helper()
	resp, err := http.Post(url+"/api/simulate", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct {
		Summary struct {
			SLO struct {
				Met        bool    `json:"met"`
				Attainment float64 `json:"attainment"`
				Load       struct {
					Overloaded bool `json:"overloaded"`
				} `json:"load"`
			} `json:"slo"`
		} `json:"summary"`
	}
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(buf.Bytes(), &res) != nil {
		t.Fatalf("native run: %d %s", resp.StatusCode, buf.String()[:min(buf.Len(), 400)])
	}
	s := res.Summary.SLO
	return fmt.Sprintf("%.2f%%", 100*s.Attainment), s.Met, s.Load.Overloaded
}

// TestPage_SLO: the results header shows the run judged against its SLO
// (the native API's numbers for the same run); an edited objective is
// marked stale, applied by Run, kept in the share link; an overloaded run
// says so; a contradictory objective is a clear error and the page keeps
// working.
func TestPage_SLO(t *testing.T) {
	srv, ctx := setup(t)
	var att, verdict, att2, verdict2, load, ttftField, attLink string
	err := chromedp.Run(ctx, chromedp.Navigate(srv.URL), waitDefault(),
		waitText("#slo-verdict", "SLO"), chromedp.Text("#slo-attainment", &att, chromedp.ByQuery),
		chromedp.Text("#slo-verdict", &verdict, chromedp.ByQuery),
		waitText("#slo-offered", "offered"), waitText("#slo-ttft", "P90 ≤ 1.000 s"),
		// a tight TTFT objective: stale, then Run judges against it
		setField("slo.ttft_ms", "20"), waitText("#stale", "SLO TTFT"),
		chromedp.Click("#run-stale", chromedp.ByQuery), waitText("#slo-ttft", "P90 ≤ 20.00 ms"),
		chromedp.Text("#slo-attainment", &att2, chromedp.ByQuery), chromedp.Text("#slo-verdict", &verdict2, chromedp.ByQuery),
		shot("page-slo.png"),
		chromedp.Click("#share", chromedp.ByQuery), waitText("#notice", "Link copied"))
	if err != nil {
		t.Fatal(err)
	}
	wantAtt, wantMet, _ := nativeSLO(t, srv.URL, `{"preset":"splitwise-conv-2qps"}`)
	if att != wantAtt || (verdict == "SLO met") != wantMet {
		t.Errorf("default SLO: page %q %q, native attainment %s met %v", att, verdict, wantAtt, wantMet)
	}
	wantAtt2, wantMet2, _ := nativeSLO(t, srv.URL, `{"preset":"splitwise-conv-2qps","config":{"slo":{"ttft_ms":20}}}`)
	if att2 != wantAtt2 || (verdict2 == "SLO met") != wantMet2 || att2 == att {
		t.Errorf("TTFT 20 ms: page %q %q, native attainment %s met %v (default: %s)", att2, verdict2, wantAtt2, wantMet2, att)
	}
	// the share link reproduces the objective
	var link string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`location.href`, &link)); err != nil {
		t.Fatal(err)
	}
	ctx2, cancel := chromedp.NewContext(ctx)
	defer cancel()
	if err := chromedp.Run(ctx2, chromedp.Navigate(link), waitDefault(), waitText("#slo-ttft", "P90 ≤ 20.00 ms"),
		chromedp.Value(`[id="cfg-slo.ttft_ms"]`, &ttftField, chromedp.ByQuery), chromedp.Text("#slo-attainment", &attLink, chromedp.ByQuery)); err != nil {
		t.Fatal(err)
	}
	if ttftField != "20" || attLink != att2 {
		t.Errorf("share link: TTFT field %q attainment %q, want 20 and %q", ttftField, attLink, att2)
	}
	// overload, then a contradictory objective, then the page still runs
	err = chromedp.Run(ctx2, setField("workload.qps", "200"), chromedp.Click("#run", chromedp.ByQuery),
		waitText("#slo-load", "OVERLOADED"), chromedp.Text("#slo-load", &load, chromedp.ByQuery),
		waitText("#slo-load-verdict", "OVERLOADED: in the second half"),
		setField("slo.e2e_ms", "5"), chromedp.Click("#run", chromedp.ByQuery),
		waitText("#error", "e2e_ms 5 is below ttft_ms 20"), waitText("#error", "the results below are of the previous run"),
		chromedp.Click("#slo-defaults", chromedp.ByQuery), setField("workload.qps", "2"), chromedp.Click("#run", chromedp.ByQuery),
		waitText("#slo-ttft", "P90 ≤ 1.000 s"), waitText("#slo-load", "keeping up"))
	if err != nil {
		t.Fatal(err)
	}
}
