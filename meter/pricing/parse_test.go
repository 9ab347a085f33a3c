package pricing

import (
	"strconv"
	"testing"

	"github.com/infermeter/infermeter/meter/usage"
)

func usageOf(input int64) usage.Usage { return usage.Usage{Input: usage.Of(input)} }

func TestParseEntriesLenient(t *testing.T) {
	// The embedded catalog is read leniently: odd fields are skipped, odd
	// entries dropped, the rest kept.
	data := `{
		"sample_spec": {"input_cost_per_token": "documentation"},
		"odd": "not an object",
		"bad-in": {"input_cost_per_token": "abc", "output_cost_per_token": 2e-06, "litellm_provider": 7},
		"negative": {"input_cost_per_token": -1, "output_cost_per_token": 1e-06, "mode": "chat"},
		"bad-tiers": {"input_cost_per_token": 1e-06, "tiered_pricing": [1, {"range": "x"}, {"range": [0, 10], "input_cost_per_token": "y"}]},
		"bad-search": {"input_cost_per_token": 1e-06, "search_context_cost_per_query": [1]},
		"huge": {"input_cost_per_token": 1e300, "output_cost_per_token": true}
	}`
	prices, err := parseEntries(data, false)
	if err != nil {
		t.Fatalf("parseEntries: %v", err)
	}
	type want struct {
		in, out  int64
		provider string
		mode     string
		ranges   int
		search   int64
	}
	wants := map[string]want{
		"bad-in":     {in: none, out: 2_000_000},
		"negative":   {in: none, out: 1_000_000, mode: "chat"},
		"bad-tiers":  {in: 1_000_000, out: none, ranges: 1},
		"bad-search": {in: 1_000_000, out: none, search: none},
		"huge":       {in: none, out: none},
	}
	if len(prices) != len(wants) {
		t.Fatalf("parseEntries kept %d entries, want %d", len(prices), len(wants))
	}
	for k, w := range wants {
		p := prices[k]
		if p == nil {
			t.Fatalf("entry %q missing", k)
		}
		if w.search == 0 {
			w.search = none
		}
		got := want{p.in, p.out, p.provider, p.mode, len(p.ranges), p.webSearch}
		if got != w {
			t.Errorf("%s: got %+v, want %+v", k, got, w)
		}
	}
	if r := prices["bad-tiers"].ranges[0]; r != (rangeTier{lo: 0, hi: 10, in: none, out: none, cacheRead: none, reasoning: none}) {
		t.Errorf("bad-tiers range = %+v", r)
	}
}

func TestParseAboveThresholds(t *testing.T) {
	data := `{"m": {
		"input_cost_per_token": 1e-06,
		"input_cost_per_token_above_200k_tokens": 4e-06,
		"input_cost_per_token_above_128k_tokens": 2e-06,
		"output_cost_per_token_above_128k_tokens": 3e-06,
		"cache_read_input_token_cost_above_200k_tokens": 5e-07,
		"cache_creation_input_token_cost_above_1000_tokens": 6e-06,
		"cache_creation_input_token_cost_above_1hr": 7e-06,
		"input_cost_per_token_above_xk_tokens": 9,
		"input_cost_per_audio_per_second_above_128k_tokens": 9
	}}`
	prices, err := parseEntries(data, true)
	if err != nil {
		t.Fatalf("parseEntries: %v", err)
	}
	p := prices["m"]
	want := []aboveTier{
		{threshold: 1000, in: none, out: none, cacheRead: none, cacheWrite: 6_000_000},
		{threshold: 128_000, in: 2_000_000, out: 3_000_000, cacheRead: none, cacheWrite: none},
		{threshold: 200_000, in: 4_000_000, out: none, cacheRead: 500_000, cacheWrite: none},
	}
	if len(p.above) != len(want) {
		t.Fatalf("above = %+v, want %+v", p.above, want)
	}
	for i := range want {
		if p.above[i] != want[i] {
			t.Errorf("above[%d] = %+v, want %+v", i, p.above[i], want[i])
		}
	}
	if p.cacheWrite1h != 7_000_000 {
		t.Errorf("cacheWrite1h = %d, want 7_000_000", p.cacheWrite1h)
	}

	// The highest threshold exceeded wins; below all, the base rates.
	f := func(input, wantIn, wantOut int64) {
		t.Helper()
		u := usageOf(input)
		r := p.effective(&u)
		if r.in != wantIn || r.out != wantOut {
			t.Errorf("input %d: rates %d/%d, want %d/%d", input, r.in, r.out, wantIn, wantOut)
		}
	}
	f(100, 1_000_000, none)
	f(128_000, 1_000_000, none)
	f(128_001, 2_000_000, 3_000_000)
	f(200_001, 4_000_000, none)
}

func TestLookupCacheBounded(t *testing.T) {
	c, err := Parse([]byte(`{"m": {"input_cost_per_token": 1e-06}}`))
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxCached + 10 {
		if _, ok := c.Lookup("u", "p", "model-"+strconv.Itoa(i)); ok {
			t.Fatalf("unknown model %d found", i)
		}
	}
	if got := c.cached.Load(); got != maxCached {
		t.Fatalf("cache holds %d entries, want %d", got, maxCached)
	}
	// Beyond the bound, lookups still resolve.
	if p, ok := c.Lookup("u2", "p", "m"); !ok || p.Key() != "m" {
		t.Fatalf("Lookup(m) = %v, %v after the cache filled", p, ok)
	}
}

func TestStripVersion(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := stripVersion(in); got != want {
			t.Errorf("stripVersion(%q) = %q, want %q", in, got, want)
		}
	}
	f("gpt-4o-2024-08-06", "gpt-4o")
	f("claude-3-5-sonnet-20241022", "claude-3-5-sonnet")
	f("claude-3-5-sonnet@20241022", "claude-3-5-sonnet")
	f("claude-3-5-sonnet-latest", "claude-3-5-sonnet")
	f("gpt-4o", "gpt-4o")
	f("-latest", "-latest")
	f("-2024-08-06", "-2024-08-06")
	f("x-2024-08-0a", "x-2024-08-0a")
	f("x-2024108-06", "x-2024108-06")
	f("x-1234567", "x-1234567")
	f("gemini-2.0-flash-001", "gemini-2.0-flash-001")
}

func BenchmarkResolve(b *testing.B) {
	c, err := Load("")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if c.resolve("my-upstream", "openai", "models/gpt-4o-2099-01-01") == nil {
			b.Fatal("not found")
		}
	}
}
