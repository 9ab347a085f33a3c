package main

import (
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// TestCostInsightsAndErrors sends real traffic through the proxy to the
// simulator over six days around the DST change of 2026-03-29 in Berlin
// (acme's timezone), with an injected clock that stamps each request, then
// reads the cost trend between two three-day periods and the errors report.
//
// gpt-4o costs 2.5e-06 USD per input token and 1e-05 per output token, so a
// request of 1 000 in / 100 out costs 2 500 000 + 1 000 000 = 3 500 000 nano
// and one of 2 000 in / 200 out 7 000 000 nano.
func TestCostInsightsAndErrors(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var clock atomic.Int64
	clock.Store(at("2026-04-01 10:00").UnixNano())
	_, proxyURL, admin := startApp(t, cfg, appOptions{Now: func() time.Time { return time.Unix(0, clock.Load()) }})

	send := func(when, key string, in, out, status int) {
		t.Helper()
		clock.Store(at(when).UnixNano())
		h := map[string]string{
			"Content-Type": "application/json", "Authorization": "Bearer " + key,
			"X-Sim-Input-Tokens": strconv.Itoa(in), "X-Sim-Output-Tokens": strconv.Itoa(out),
		}
		if status != 200 {
			h["X-Sim-Status"] = strconv.Itoa(status)
		}
		st, body, _ := call(t, "POST", proxyURL+"/v1/chat/completions", h, `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`)
		if st != status {
			t.Fatalf("request at %s: status %d, want %d: %s", when, st, status, body)
		}
	}
	// Previous period, 2026-03-26..28: 3 500 000 + 7 000 000 nano. The first
	// request is in its first hour, which a 71-hour look-back (the length of
	// the current period, DST day included) would miss.
	send("2026-03-26 00:30", keyAlice, 1000, 100, 200)
	send("2026-03-28 12:00", keyBob, 2000, 200, 200)
	// Current period, 2026-03-29..31: twelve short answers of alice
	// (42 000 000 nano) and one of bob (7 000 000), three errors.
	send("2026-03-29 00:30", keyAlice, 1000, 100, 429) // 23:30Z on the 28th: a local day
	for range 12 {
		send("2026-03-29 10:00", keyAlice, 1000, 100, 200)
	}
	send("2026-03-30 09:00", keyBob, 2000, 200, 200)
	send("2026-03-30 12:00", keyAlice, 1000, 100, 500)
	send("2026-03-31 23:30", keyBob, 1000, 100, 500) // 21:30Z
	clock.Store(at("2026-04-01 10:00").UnixNano())

	const current = "?start_date=2026-03-29&end_date=2026-03-31"
	// Every request aggregated and every log flushed (the prompt
	// fingerprints are read from the logs).
	var errs gjson.Result
	waitFor(t, "requests aggregated and logs flushed", func() bool {
		_, errs = adminGet(t, admin, keyAlice, "/api/account/errors"+current)
		_, logs := adminGet(t, admin, keyAlice, "/api/account/request-logs?limit=100"+strings.Replace(current, "?", "&", 1))
		return errs.Get("errors.total_requests").Int() == 16 && logs.Get("logs.#").Int() == 16
	})
	for path, want := range map[string]string{
		"period":       `{"start":"2026-03-29T00:00:00+01:00","end":"2026-04-01T00:00:00+02:00","timezone":"Europe/Berlin","days":3}`,
		"total_errors": "3",
		"error_rate":   "0.1875",
		"by_type":      `[{"type":"model_error","count":2},{"type":"rate_limit","count":1}]`,
		"by_model":     `[{"model":"openai/gpt-4o","errors":3,"requests":16,"error_rate":0.1875}]`,
		"by_day":       `[{"day":"2026-03-29","errors":1,"requests":13},{"day":"2026-03-30","errors":1,"requests":2},{"day":"2026-03-31","errors":1,"requests":1}]`,
	} {
		if got := errs.Get("errors." + path).Raw; got != want {
			t.Fatalf("errors.%s = %s, want %s", path, got, want)
		}
	}
	// Bob sees his own two requests.
	_, errs = adminGet(t, admin, keyBob, "/api/account/errors"+current)
	if got := errs.Get("errors").Raw; got != `{"period":{"start":"2026-03-29T00:00:00+01:00","end":"2026-04-01T00:00:00+02:00","timezone":"Europe/Berlin","days":3},"total_requests":2,"total_errors":1,"error_rate":0.5,"by_type":[{"type":"model_error","count":1}],"by_model":[{"model":"openai/gpt-4o","errors":1,"requests":2,"error_rate":0.5}],"by_day":[{"day":"2026-03-30","errors":0,"requests":1},{"day":"2026-03-31","errors":1,"requests":1}]}` {
		t.Fatalf("bob's errors: %s", got)
	}

	st, j := adminGet(t, admin, keyAlice, "/api/account/cost-insights"+current)
	if st != 200 || !j.Get("success").Bool() {
		t.Fatalf("cost-insights: %d %s", st, j.Raw)
	}
	ins := j.Get("insights")
	for path, want := range map[string]string{
		"total_cost":       "0.049",
		"total_requests":   "16",
		"cost_by_category": `{"chat_completions":0.049}`,
		// (49 000 000 − 10 500 000) / 10 500 000 × 100 = 366.67.
		"cost_trend":        `{"direction":"up","percentage":366.7,"previous_period":0.0105,"previous_start":"2026-03-26T00:00:00+01:00","previous_end":"2026-03-29T00:00:00+01:00"}`,
		"top_cost_drivers":  `[{"model":"openai/gpt-4o","cost":0.049,"requests":16}]`,
		"top_members":       `[{"user_id":"alice","email":"alice@acme.example","cost":0.042,"requests":14},{"user_id":"bob","email":"bob@acme.example","cost":0.007,"requests":2}]`,
		"recommendations.#": "2",
		// 13 successes, 1 400 output tokens: 107 on average. At gpt-4o-mini
		// rates (1.5e-07, 6e-07): 14 000 × 150 000 + 1 400 × 600 000 pico =
		// 2 940 000 nano; savings 46 060 000 over three days, × 10 a month.
		// Every request had the same body, so every success whose previous
		// success came less than 24 h before is a repeat: the twelve of
		// alice on the 29th (22 h after bob's on the 28th) and bob's on
		// the 30th (23 h later): 12 × 3 500 000 + 7 000 000 = 49 000 000
		// nano, × 10 a month; 13 of 16 requests = 81.25%.
		"recommendations.0": `{"type":"repeated_prompts","model":"openai/gpt-4o","requests":16,"repeated_requests":13,"repeated_pct":81.3,"estimated_savings":0.049,"estimated_monthly_savings":0.49,"message":"openai/gpt-4o: 13 of 16 requests repeated a prompt sent within the previous 24 hours; caching their answers would save $0.049 (about $0.49 a month)"}`,
		"recommendations.1": `{"type":"cheaper_model","model":"openai/gpt-4o","suggested_model":"openai/gpt-4o-mini","requests":13,"avg_output_tokens":107,"input_tokens":14000,"cached_tokens":0,"output_tokens":1400,"current_cost":0.049,"estimated_cost":0.00294,"estimated_savings":0.04606,"estimated_monthly_savings":0.4606,"message":"openai/gpt-4o: 13 requests averaged 107 output tokens; at openai/gpt-4o-mini rates the same tokens would cost $0.00294 instead of $0.049 (about $0.4606 a month less)"}`,
	} {
		if got := ins.Get(path).Raw; got != want {
			t.Fatalf("insights.%s = %s, want %s (in %s)", path, got, want, ins.Raw)
		}
	}
	// Bob: 7 000 000 nano in each period (flat); one successful request is
	// too few for any rule.
	_, j = adminGet(t, admin, keyBob, "/api/account/cost-insights"+current)
	for path, want := range map[string]string{
		"total_cost":      "0.007",
		"cost_trend":      `{"direction":"flat","percentage":0,"previous_period":0.007,"previous_start":"2026-03-26T00:00:00+01:00","previous_end":"2026-03-29T00:00:00+01:00"}`,
		"recommendations": `[]`,
	} {
		if got := j.Get("insights." + path).Raw; got != want {
			t.Fatalf("bob: insights.%s = %s, want %s", path, got, want)
		}
	}
	if j.Get("insights.top_members").Exists() {
		t.Fatalf("a member sees top_members: %s", j.Raw)
	}
	// A bad parameter is a 400 naming it.
	st, j = adminGet(t, admin, keyAlice, "/api/account/cost-insights?range=9d")
	if st != 400 || j.Get("error.code").String() != "invalid_parameter" || j.Get("error.message").String()[:6] != "range:" {
		t.Fatalf("range=9d: %d %s", st, j.Raw)
	}
}
