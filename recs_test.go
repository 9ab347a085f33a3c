package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// TestLowCacheAndErrorRecommendations drives traffic that triggers the
// low_cache_hit and high_error_rate rules and checks their numbers.
func TestLowCacheAndErrorRecommendations(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	clock := &testClock{}
	clock.Set(time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC))
	_, proxyURL, admin := startApp(t, cfg, appOptions{Now: clock.Now})
	// Four long Anthropic prompts of 50 000 tokens, none read from cache.
	for i := 0; i < 4; i++ {
		st, b, _ := call(t, "POST", proxyURL+"/v1/messages",
			map[string]string{"X-Api-Key": keyAlice, "X-Sim-Input-Tokens": "50000", "X-Sim-Output-Tokens": "100"},
			`{"model":"claude-haiku-4-5","max_tokens":100,"messages":[{"role":"user","content":"doc `+strconv.Itoa(i)+`"}]}`)
		if st != 200 {
			t.Fatalf("%d %s", st, b)
		}
	}
	// 19 distinct successes and 2 rate-limited requests on gpt-4o-mini.
	for i := 0; i < 21; i++ {
		h := map[string]string{"Authorization": "Bearer " + keyBob, "X-Sim-Input-Tokens": "100", "X-Sim-Output-Tokens": "10"}
		want := 200
		if i%10 == 5 {
			h["X-Sim-Status"], want = "429", 429
		}
		st, b, _ := call(t, "POST", proxyURL+"/v1/chat/completions", h,
			`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"q`+strconv.Itoa(i)+`"}]}`)
		if st != want {
			t.Fatalf("%d %s", st, b)
		}
	}
	waitFor(t, "25 request logs", func() bool {
		_, j := adminGet(t, admin, keyAlice, "/api/account/request-logs")
		return len(j.Get("logs").Array()) == 25
	})
	_, j := adminGet(t, admin, keyAlice, "/api/account/cost-insights?start_date=2026-11-01&end_date=2026-11-30")
	recs := j.Get("insights.recommendations")
	// low_cache_hit: 200 000 input tokens, none cached; with half of them
	// read from cache: 100 000 × (1e-06 − 1e-07) USD = 0.09 over November
	// (30 days), so 0.09 a month. high_error_rate: 2 of 21 failed (9.5%),
	// both rate limits; failed requests cost nothing, so no savings.
	want := `[{"type":"low_cache_hit","model":"anthropic/claude-haiku-4-5","requests":4,"input_tokens":200000,"cached_tokens":0,"cache_hit_pct":0,"target_cache_hit_pct":50,"input_usd_per_million":1,"cache_read_usd_per_million":0.1,"estimated_savings":0.09,"estimated_monthly_savings":0.09,"message":"anthropic/claude-haiku-4-5: 0% of 200000 input tokens were cache reads; with 50% (a stable prompt prefix first) they would cost $0.09 less (about $0.09 a month)"},` +
		`{"type":"high_error_rate","model":"openai/gpt-4o-mini","requests":21,"errors":2,"error_rate_pct":9.5,"by_type":{"rate_limit":2},"retryable_errors":2,"wasted_cost":0,"estimated_monthly_savings":0,"message":"openai/gpt-4o-mini: 2 of 21 requests failed (9.5%), 2 of them retryable (rate limits, provider errors, timeouts); failed requests cost $0"}]`
	if recs.Raw != want {
		t.Fatalf("recommendations\n%s\nwant\n%s", recs.Raw, want)
	}
}
