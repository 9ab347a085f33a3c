package main

import (
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// testClock is an injectable clock for the proxy, meter and API.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// TestUsageAcrossDaysAndBudget drives traffic on several days of a
// Europe/Berlin org with an injected clock and checks the day boundaries,
// date filters and the budget projection to the nano-dollar.
func TestUsageAcrossDaysAndBudget(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	cfg.Orgs[0].MonthlyBudgetUSD = 1000
	cfg.Orgs[0].Members[1].MonthlyLimitUSD = 0.003 // bob: 3,000,000 nano
	clock := &testClock{}
	_, proxyURL, admin := startApp(t, cfg, appOptions{Now: clock.Now})

	send := func(at time.Time, key, path, body, in, out string, hdr map[string]string) {
		t.Helper()
		clock.Set(at)
		h := map[string]string{"X-Sim-Input-Tokens": in, "X-Sim-Output-Tokens": out}
		for k, v := range hdr {
			h[k] = v
		}
		st, b, _ := call(t, "POST", proxyURL+path, h, body)
		if st != 200 {
			t.Fatalf("%d %s", st, b)
		}
	}
	chat := `{"model":"gpt-4o-mini","messages":[]}`
	msg := `{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}`
	alice := map[string]string{"Authorization": "Bearer " + keyAlice}
	bob := map[string]string{"X-Api-Key": keyBob}
	// gpt-4o-mini 1000 in + 100 out: 1000×150 + 100×600 = 210000 nano.
	for i := 0; i < 3; i++ {
		send(time.Date(2026, 11, 2, 10, i, 0, 0, berlin), keyAlice, "/v1/chat/completions", chat, "1000", "100", alice)
	}
	// claude-haiku-4-5 1000 in + 200 out: 1000×1000 + 200×5000 = 2000000 nano,
	// at 23:30 local on the 10th (22:30 UTC).
	send(time.Date(2026, 11, 10, 23, 30, 0, 0, berlin), keyBob, "/v1/messages", msg, "1000", "200", bob)
	// 00:30 local on the 11th is still the 10th in UTC: it counts on the 11th.
	send(time.Date(2026, 11, 11, 0, 30, 0, 0, berlin), keyAlice, "/v1/chat/completions", chat, "1000", "100", alice)
	// Last month: outside the month and outside November's range.
	send(time.Date(2026, 10, 31, 23, 59, 0, 0, berlin), keyAlice, "/v1/chat/completions", chat, "1000", "100", alice)

	clock.Set(time.Date(2026, 11, 15, 12, 0, 0, 0, berlin))
	waitFor(t, "six requests aggregated", func() bool {
		_, j := adminGet(t, admin, keyAlice, "/api/organizations/acme/usage?start_date=2026-10-01&end_date=2026-11-30")
		return j.Get("overview.requests").Int() == 6
	})

	get := func(key, q string) gjson.Result {
		t.Helper()
		st, j := adminGet(t, admin, key, "/api/organizations/acme/usage?"+q)
		if st != 200 {
			t.Fatalf("%s: %d %s", q, st, j.Raw)
		}
		return j
	}
	j := get(keyAlice, "group_by=day&start_date=2026-11-01&end_date=2026-11-30")
	days := j.Get("usage.by_day").Array()
	want := []struct {
		day  string
		n    int64
		nano int64
	}{{"2026-11-02", 3, 630000}, {"2026-11-10", 1, 2000000}, {"2026-11-11", 1, 210000}}
	if len(days) != len(want) {
		t.Fatalf("by_day %s", j.Get("usage.by_day").Raw)
	}
	for i, w := range want {
		d := days[i]
		if d.Get("day").String() != w.day || d.Get("requests").Int() != w.n || nanoOf(t, d.Get("cost_usd")) != w.nano {
			t.Fatalf("day %d: %s, want %+v", i, d.Raw, w)
		}
	}
	if p := j.Get("period.start").String(); p != "2026-11-01T00:00:00+01:00" {
		t.Fatalf("period start %s", p)
	}
	// One local day selects only what happened on it.
	j = get(keyAlice, "group_by=user&start_date=2026-11-11&end_date=2026-11-11")
	if j.Get("overview.requests").Int() != 1 || nanoOf(t, j.Get("overview.cost_usd")) != 210000 {
		t.Fatalf("the 11th: %s", j.Raw)
	}
	// The default range is the last 30 days: Oct 17 to Nov 15, so October
	// 31st counts too.
	j = get(keyAlice, "group_by=user")
	if j.Get("overview.requests").Int() != 6 {
		t.Fatalf("last 30 days: %s", j.Raw)
	}
	j = get(keyAlice, "range=7d")
	if j.Get("overview.requests").Int() != 2 {
		t.Fatalf("7d (Nov 9 to 15): %s", j.Raw)
	}

	// The org's budget: spend this month 3×210000 + 2000000 + 210000 = 2840000 nano.
	// Elapsed since Nov 1 00:00 CET: 14.5 days = 1252800 s; left until
	// Dec 1: 15.5 days = 1339200 s. Projected: 2840000 + round(2840000 ×
	// 1339200 / 1252800) = 2840000 + 3035862 = 5875862.
	j = get(keyAlice, "include_budget=true")
	b := j.Get("budget")
	if b.Get("scope").String() != "org" || nanoOf(t, b.Get("monthly_limit")) != 1000e9 ||
		nanoOf(t, b.Get("current_spend")) != 2840000 || nanoOf(t, b.Get("projected_spend")) != 5875862 ||
		b.Get("days_remaining").Int() != 16 || b.Get("percentage_used").Float() != 0 ||
		b.Get("projected_exhaustion_date").Type != gjson.Null || b.Get("exceeded").Bool() {
		t.Fatalf("org budget %s", b.Raw)
	}
	// Bob's own limit, 0.003 USD: spent 2000000, rate 2000000/1252800 nano/s;
	// the remaining 1000000 take 626400 s = 7.25 days: Nov 22, 18:00.
	// Projected: 2000000 + round(2000000 × 1339200 / 1252800) = 4137931.
	j = get(keyBob, "include_budget=true")
	b = j.Get("budget")
	if b.Get("scope").String() != "member" || nanoOf(t, b.Get("monthly_limit")) != 3000000 ||
		nanoOf(t, b.Get("current_spend")) != 2000000 || nanoOf(t, b.Get("projected_spend")) != 4137931 ||
		b.Get("percentage_used").Float() != 66.7 || b.Get("projected_exhaustion_date").String() != "2026-11-22" {
		t.Fatalf("bob's budget %s", b.Raw)
	}
	// Bad parameters name themselves.
	for q, param := range map[string]string{
		"start_date=2026-13-01":                     "start_date",
		"end_date=yesterday":                        "end_date",
		"start_date=2026-11-10&end_date=2026-11-01": "end_date",
		"range=9d":             "range",
		"group_by=planet":      "group_by",
		"include_budget=maybe": "include_budget",
		"start_date=2026-11-01T00:00:00&end_date=x": "start_date",
		"group_by=tag:": "group_by",
		"start_date=2026-11-01&end_date=2026-11-01T25:00": "end_date",
	} {
		st, j := adminGet(t, admin, keyAlice, "/api/organizations/acme/usage?"+q)
		if st != 400 || j.Get("success").Bool() || !startsWith(j.Get("error.message").String(), param+":") {
			t.Fatalf("%s: %d %s, want a 400 naming %s", q, st, j.Raw, param)
		}
	}
}

func startsWith(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
