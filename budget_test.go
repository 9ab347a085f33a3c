package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// budgetChat is an OpenAI chat body of exactly 400 bytes with max_tokens
// 100. Its estimate is 400 / 4 = 100 input tokens and 100 output tokens of
// gpt-4o-mini at 150 and 600 nano-dollars a token: 15,000 + 60,000 = 75,000
// nano-dollars. With X-Sim-Input-Tokens 100 and X-Sim-Output-Tokens 100 the
// metered cost is the same 75,000: the estimate holds exactly.
func budgetChat(t testing.TB) string {
	t.Helper()
	const prefix = `{"model":"gpt-4o-mini","max_tokens":100,"messages":[{"role":"user","content":"`
	const suffix = `"}]}`
	b := prefix + strings.Repeat("x", 400-len(prefix)-len(suffix)) + suffix
	if len(b) != 400 || !gjson.Valid(b) {
		t.Fatalf("BUG: budget body of %d bytes", len(b))
	}
	return b
}

const (
	estChat = 75_000 // nano-dollars: budgetChat's estimate (and cost at 100 in, 100 out)
	costPre = 9_060_000
)

// budgetClient returns an HTTP client whose connections are closed before
// the app stops (200 idle keep-alive connections would hold up its drain).
func budgetClient(t testing.TB) *http.Client {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// post sends one request with c from any goroutine (no t.Fatal).
func post(c *http.Client, url string, headers map[string]string, body string) (int, []byte, http.Header, error) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// simTokens returns the simulator headers for in input and out output tokens.
func simTokens(key, in, out string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + key, "X-Sim-Input-Tokens": in, "X-Sim-Output-Tokens": out}
}

// TestBudgetEnforced drives a member's limit and then the org's budget to
// their ends with an injected clock: the refusals are 429s in each
// provider's error shape, not forwarded and metered; at midnight in Berlin
// on the 1st the month turns and both can spend again.
func TestBudgetEnforced(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	cfg.Orgs[0].MonthlyBudgetUSD = 0.002           // 2,000,000 nano
	cfg.Orgs[0].Members[1].MonthlyLimitUSD = 0.001 // bob: 1,000,000 nano
	clock := &testClock{}
	clock.Set(time.Date(2026, 11, 20, 12, 0, 0, 0, berlin))
	_, proxyURL, admin := startApp(t, cfg, appOptions{Now: clock.Now})
	hc := budgetClient(t)
	chat := budgetChat(t)

	// until sends chats of key until the first refusal and returns how many
	// passed and the refusal.
	until := func(key string) (int, int, []byte, http.Header) {
		t.Helper()
		for n := 0; n < 100; n++ {
			st, b, h, err := post(hc, proxyURL+"/v1/chat/completions", simTokens(key, "100", "100"), chat)
			if err != nil {
				t.Fatal(err)
			}
			if st != 200 {
				return n, st, b, h
			}
		}
		t.Fatalf("%s was never refused", key)
		return 0, 0, nil, nil
	}
	refused := func(what string, st int, b []byte, h http.Header, path, want string) {
		t.Helper()
		if st != 429 || h.Get("X-Infermeter-Error") != "budget_exceeded" || h.Get("X-Should-Retry") != "false" ||
			gjson.GetBytes(b, path).String() != want {
			t.Fatalf("%s: %d %s %s, want a 429 with %s %q", what, st, h.Get("X-Infermeter-Error"), b, path, want)
		}
	}

	// bob: 13 × 75,000 = 975,000 ≤ 1,000,000; a 14th would reach 1,050,000.
	n, st, b, h := until(keyBob)
	if n != 13 {
		t.Fatalf("bob passed %d requests, want 13", n)
	}
	refused("bob openai", st, b, h, "error.code", "budget_exceeded")
	if typ, msg := jsonString(b, "error.type"), jsonString(b, "error.message"); typ != "insufficient_quota" ||
		!strings.Contains(msg, "member's monthly_limit_usd is reached") {
		t.Fatalf("bob openai: %s", b)
	}
	if c := s.Count(); c != 13 {
		t.Fatalf("the simulator saw %d requests, want 13: a refusal was forwarded", c)
	}
	// The other providers' shapes. claude-haiku-4-5 with max_tokens 100
	// reserves at least 100 × 5,000 nano; gemini-2.0-flash without a maximum
	// 4,096 × 400: both more than the 25,000 left.
	st, b, h, _ = post(hc, proxyURL+"/v1/messages", map[string]string{"X-Api-Key": keyBob},
		`{"model":"claude-haiku-4-5","max_tokens":100,"messages":[{"role":"user","content":"hi"}]}`)
	refused("bob anthropic", st, b, h, "error.type", "rate_limit_error")
	if jsonString(b, "type") != "error" || !strings.Contains(jsonString(b, "error.message"), "budget exceeded") {
		t.Fatalf("bob anthropic: %s", b)
	}
	st, b, h, _ = post(hc, proxyURL+"/v1beta/models/gemini-2.0-flash:generateContent", map[string]string{"X-Goog-Api-Key": keyBob},
		`{"contents":[{"parts":[{"text":"hi"}]}]}`)
	refused("bob gemini", st, b, h, "error.status", "RESOURCE_EXHAUSTED")
	if gjson.GetBytes(b, "error.code").Int() != 429 {
		t.Fatalf("bob gemini: %s", b)
	}

	// alice has no limit of her own; the org has 2,000,000 − 975,000 =
	// 1,025,000 left: 13 × 75,000 = 975,000 pass (the org at 1,950,000), a
	// 14th would reach 2,025,000.
	n, st, b, h = until(keyAlice)
	if n != 13 {
		t.Fatalf("alice passed %d requests, want 13", n)
	}
	refused("alice", st, b, h, "error.code", "budget_exceeded")
	if !strings.Contains(jsonString(b, "error.message"), "organisation's monthly_budget_usd is reached") {
		t.Fatalf("alice: %s", b)
	}
	if c := s.Count(); c != 26 {
		t.Fatalf("the simulator saw %d requests, want 26", c)
	}

	// The official SDKs, with their default retries (2), raise the 429 at
	// once: X-Should-Retry: false stops their retries (each would be one more
	// refusal in the logs below).
	ctx := context.Background()
	oai := openai.NewClient(option.WithBaseURL(proxyURL+"/v1"), option.WithAPIKey(keyBob), option.WithHTTPClient(hc))
	_, err = oai.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:     "gpt-4o-mini",
		Messages:  []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		MaxTokens: openai.Int(100),
	})
	var oerr *openai.Error
	if !errors.As(err, &oerr) || oerr.StatusCode != 429 || oerr.Code != "budget_exceeded" || oerr.Type != "insufficient_quota" {
		t.Fatalf("openai-go: %v", err)
	}
	ant := anthropic.NewClient(anthropicoption.WithBaseURL(proxyURL), anthropicoption.WithAPIKey(keyAlice),
		anthropicoption.WithHTTPClient(hc))
	_, err = ant.Messages.New(ctx, anthropic.MessageNewParams{
		Model:     "claude-haiku-4-5",
		MaxTokens: 100,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	})
	var aerr *anthropic.Error
	if !errors.As(err, &aerr) || aerr.StatusCode != 429 || !strings.Contains(aerr.Error(), "rate_limit_error") {
		t.Fatalf("anthropic-sdk-go: %v", err)
	}

	// Metered: six refusals, each a 429 budget_exceeded of cost 0.
	var logs []gjson.Result
	waitFor(t, "the refusals logged", func() bool {
		_, j := adminGet(t, admin, keyAlice, "/api/account/request-logs?error_type=budget_exceeded")
		logs = j.Get("logs").Array()
		return len(logs) == 6
	})
	users := map[string]int{}
	for _, l := range logs {
		if l.Get("status").String() != "error" || l.Get("http_status").Int() != 429 || l.Get("cost_usd").Float() != 0 ||
			l.Get("output_tokens").Int() != 0 || !strings.HasPrefix(l.Get("error_message").String(), "budget exceeded") {
			t.Fatalf("refusal log %s", l.Raw)
		}
		users[l.Get("user_id").String()]++
	}
	if users["bob"] != 4 || users["alice"] != 2 {
		t.Fatalf("refusals by user %v", users)
	}
	waitFor(t, "32 requests aggregated", func() bool {
		_, j := adminGet(t, admin, keyAlice, "/api/organizations/acme/usage")
		return j.Get("overview.requests").Int() == 32
	})
	budget := func(key string) gjson.Result {
		t.Helper()
		st, j := adminGet(t, admin, key, "/api/organizations/acme/usage?include_budget=true")
		if st != 200 {
			t.Fatalf("%d %s", st, j.Raw)
		}
		return j.Get("budget")
	}
	if b := budget(keyBob); nanoOf(t, b.Get("current_spend")) != 975_000 || nanoOf(t, b.Get("monthly_limit")) != 1_000_000 {
		t.Fatalf("bob's budget %s", b.Raw)
	}
	if b := budget(keyAlice); nanoOf(t, b.Get("current_spend")) != 1_950_000 {
		t.Fatalf("the org's budget %s", b.Raw)
	}
	_, mb, _ := call(t, "GET", admin+"/metrics", nil, "")
	if !strings.Contains(string(mb), "\ninfermeter_errors_total{type=\"budget_exceeded\"} 6\n") {
		t.Fatalf("/metrics has no budget_exceeded count of 6")
	}

	// One second before midnight in Berlin: still November, still refused.
	clock.Set(time.Date(2026, 11, 30, 23, 59, 59, 0, berlin))
	for _, key := range []string{keyBob, keyAlice} {
		st, b, h, _ := post(hc, proxyURL+"/v1/chat/completions", simTokens(key, "100", "100"), chat)
		refused(key+" on Nov 30", st, b, h, "error.code", "budget_exceeded")
	}
	// Midnight in Berlin is 23:00 UTC, still November 30 in UTC: December
	// has started for acme, and both spend again.
	clock.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, berlin))
	for _, key := range []string{keyBob, keyAlice} {
		if st, b, _, _ := post(hc, proxyURL+"/v1/chat/completions", simTokens(key, "100", "100"), chat); st != 200 {
			t.Fatalf("%s on Dec 1: %d %s", key, st, b)
		}
	}
	if c := s.Count(); c != 28 {
		t.Fatalf("the simulator saw %d requests, want 28", c)
	}
	waitFor(t, "December aggregated", func() bool {
		return nanoOf(t, budget(keyAlice).Get("current_spend")) == 2*estChat
	})
	if b := budget(keyBob); nanoOf(t, b.Get("current_spend")) != estChat || b.Get("month_start").String() != "2026-12-01T00:00:00+01:00" {
		t.Fatalf("bob's December budget %s", b.Raw)
	}
}

// burst sends n chats of bob at once and returns how many passed; every
// other answer must be a budget_exceeded 429.
func burst(t *testing.T, hc *http.Client, proxyURL string, n int, in string) int {
	t.Helper()
	chat := budgetChat(t)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		ok   int
		errs []string
	)
	for range n {
		wg.Go(func() {
			st, b, h, err := post(hc, proxyURL+"/v1/chat/completions", simTokens(keyBob, in, "100"), chat)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				errs = append(errs, err.Error())
			case st == 200:
				ok++
			case st != 429 || h.Get("X-Infermeter-Error") != "budget_exceeded":
				errs = append(errs, string(b))
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d unexpected answers, first: %s", len(errs), errs[0])
	}
	return ok
}

// TestBudgetConcurrentBurst sends 200 concurrent requests against bob's
// nearly spent monthly limit, twice: in November with estimates that hold
// (the spend ends within the limit, to the request), in December (after the
// month turned on the injected clock) with estimates that are short by a
// known amount (the spend ends within the README's bound).
func TestBudgetConcurrentBurst(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	s, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	const limit = 10_000_000 // bob: 0.01 USD
	cfg.Orgs[0].Members[1].MonthlyLimitUSD = 0.01
	clock := &testClock{}
	clock.Set(time.Date(2026, 11, 20, 12, 0, 0, 0, berlin))
	_, proxyURL, admin := startApp(t, cfg, appOptions{Now: clock.Now})
	hc := budgetClient(t)

	// spend brings bob near his limit with one request: estimated at
	// 75,000, it costs 60,000 × 150 + 100 × 600 = 9,060,000 (its prompt is
	// far larger than its body: the estimate does not hold, but 0 + 75,000
	// is within the limit, so it passes).
	spend := func() {
		t.Helper()
		st, b, _ := call(t, "POST", proxyURL+"/v1/chat/completions", simTokens(keyBob, "60000", "100"), budgetChat(t))
		if st != 200 {
			t.Fatalf("%d %s", st, b)
		}
	}
	bobMonth := func(q string) gjson.Result {
		t.Helper()
		_, j := adminGet(t, admin, keyBob, "/api/organizations/acme/usage?include_budget=true&"+q)
		return j
	}

	// November: 9,060,000 spent, 940,000 left. Every request of the burst
	// has estimate = cost = 75,000, so whatever the interleaving exactly
	// ⌊940,000 / 75,000⌋ = 12 pass (900,000) and 188 are refused: the month
	// ends at 9,960,000 ≤ 10,000,000. Bound: 0 (every estimate holds).
	spend()
	if got := burst(t, hc, proxyURL, 200, "100"); got != 12 {
		t.Fatalf("November: %d passed, want 12", got)
	}
	if c := s.Count(); c != 13 {
		t.Fatalf("the simulator saw %d requests, want 13", c)
	}
	const nov, dec = "start_date=2026-11-01&end_date=2026-11-30", "start_date=2026-12-01&end_date=2026-12-31"
	waitFor(t, "November's burst aggregated", func() bool {
		return bobMonth(nov).Get("overview.requests").Int() == 201
	})
	j := bobMonth(nov)
	if got := nanoOf(t, j.Get("budget.current_spend")); got != 9_960_000 || got > limit || j.Get("overview.errors").Int() != 188 {
		t.Fatalf("November: %s", j.Raw)
	}

	// December 1st, 00:00 in Berlin: a new month. The same start, then a
	// burst whose prompts are 200 tokens for a body estimated at 100: each
	// costs 200 × 150 + 100 × 600 = 90,000 for an estimate of 75,000,
	// (actual − estimate)⁺ = 15,000.
	clock.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, berlin))
	spend()
	passed := burst(t, hc, proxyURL, 200, "200")
	if c := s.Count(); c != int64(13+1+passed) {
		t.Fatalf("the simulator saw %d requests, want %d", c, 13+1+passed)
	}
	waitFor(t, "December's burst aggregated", func() bool {
		return bobMonth(dec).Get("overview.requests").Int() == 201
	})
	got := nanoOf(t, bobMonth(dec).Get("budget.current_spend"))
	// Exact accounting: the month's spend is the first request plus 90,000
	// per request that passed.
	if got != costPre+int64(passed)*90_000 {
		t.Fatalf("December: spend %d with %d passed, want %d", got, passed, costPre+int64(passed)*90_000)
	}
	// Passed: a refusal needs committed + 75,000 > 10,000,000 while
	// committed ≤ 9,060,000 + 90,000 × passed, so passed ≥ 10 (all in
	// sequence: 9,960,000 + 75,000 > 10,000,000); and committed ≥
	// 9,060,000 + 75,000 × passed ≤ 10,000,000, so passed ≤ 12 (all at
	// once: 10,140,000).
	if passed < 10 || passed > 12 {
		t.Fatalf("December: %d passed, want 10..12", passed)
	}
	// The bound: limit + Σ over the requests in flight when the last one
	// passed of (actual − estimate)⁺ ≤ limit + 15,000 × passed.
	if bound := int64(limit + 15_000*passed); got > bound {
		t.Fatalf("December: spend %d over the bound %d", got, bound)
	}
	// November is untouched.
	j = bobMonth(nov)
	if nanoOf(t, j.Get("overview.cost_usd")) != 9_960_000 {
		t.Fatalf("November after December: %s", j.Raw)
	}
}
