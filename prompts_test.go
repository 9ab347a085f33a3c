package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// TestRepeatedPromptsRecommendation sends the same prompt eight times among
// twelve requests: the cost insights recommend caching, with the savings of
// the seven repeats.
func TestRepeatedPromptsRecommendation(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	clock := &testClock{}
	clock.Set(time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC))
	_, proxyURL, admin := startApp(t, cfg, appOptions{Now: clock.Now})
	h := map[string]string{"Authorization": "Bearer " + keyAlice, "X-Sim-Input-Tokens": "1000", "X-Sim-Output-Tokens": "100"}
	same := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"What is our refund policy?"}]}`
	for i := 0; i < 12; i++ {
		body := same
		if i >= 8 {
			body = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"question ` + strconv.Itoa(i) + `"}]}`
		}
		if st, b, _ := call(t, "POST", proxyURL+"/v1/chat/completions", h, body); st != 200 {
			t.Fatalf("%d %s", st, b)
		}
	}
	q := "/api/account/cost-insights?start_date=2026-11-01&end_date=2026-11-30"
	waitFor(t, "twelve request logs", func() bool {
		_, j := adminGet(t, admin, keyAlice, "/api/account/request-logs")
		return len(j.Get("logs").Array()) == 12
	})
	_, j := adminGet(t, admin, keyAlice, q)
	recs := j.Get("insights.recommendations").Array()
	if len(recs) != 1 {
		t.Fatalf("recommendations %s", j.Get("insights.recommendations").Raw)
	}
	r := recs[0]
	// Each request: 1000×150 + 100×600 = 210000 nano. The prompt sent 8 times
	// within a minute: its 7 repeats cost 1470000 over November (30 days),
	// so 1470000 a month.
	if r.Get("type").String() != "repeated_prompts" || r.Get("model").String() != "openai/gpt-4o-mini" ||
		r.Get("requests").Int() != 12 || r.Get("repeated_requests").Int() != 7 ||
		nanoOf(t, r.Get("estimated_savings")) != 1470000 || nanoOf(t, r.Get("estimated_monthly_savings")) != 1470000 {
		t.Fatalf("recommendation %s", r.Raw)
	}
}
