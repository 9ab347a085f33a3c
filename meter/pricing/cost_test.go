package pricing_test

import (
	"slices"
	"testing"

	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/meter/usage"
)

// loadDefault returns the embedded catalog.
func loadDefault(t testing.TB) *pricing.Catalog {
	t.Helper()
	c, err := pricing.Load("")
	if err != nil {
		t.Fatalf("Load(\"\"): %v", err)
	}
	return c
}

func of(n int64) usage.Count { return usage.Of(n) }

// sumParts returns the parts' CostPico sum converted to nano-dollars,
// rounded half-up.
func sumParts(parts []pricing.Part) int64 {
	var s int64
	for _, p := range parts {
		s += p.CostPico
	}
	return (s + 500) / 1000
}

func TestCost(t *testing.T) {
	c := loadDefault(t)
	f := func(name, upstream, provider, model string, u usage.Usage, wantKey string, wantNano int64, wantParts []pricing.Part) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			p, ok := c.Lookup(upstream, provider, model)
			if !ok {
				t.Fatalf("Lookup(%q, %q, %q): not found", upstream, provider, model)
			}
			if p.Key() != wantKey {
				t.Fatalf("Lookup(%q, %q, %q).Key() = %q, want %q", upstream, provider, model, p.Key(), wantKey)
			}
			if got := p.Cost(&u); got != wantNano {
				t.Errorf("Cost = %d nano-dollars, want %d", got, wantNano)
			}
			parts := p.Breakdown(&u, nil)
			if !slices.Equal(parts, wantParts) {
				t.Errorf("Breakdown =\n  %+v\nwant\n  %+v", parts, wantParts)
			}
			if got := sumParts(parts); got != wantNano {
				t.Errorf("sum of Breakdown = %d nano-dollars, want %d", got, wantNano)
			}
		})
	}

	// gpt-4o: in 2.5e-06, out 1e-05.
	// 1000 × 2.5e-06 = 0.0025 USD = 2_500_000 nano; 500 × 1e-05 = 0.005 = 5_000_000.
	f("gpt-4o plain", "openai", "openai", "gpt-4o",
		usage.Usage{Input: of(1000), Output: of(500)},
		"gpt-4o", 7_500_000, []pricing.Part{
			{Name: "input", Units: 1000, RatePico: 2_500_000, CostPico: 2_500_000_000},
			{Name: "output", Units: 500, RatePico: 10_000_000, CostPico: 5_000_000_000},
		})

	// gpt-4o, 2000 prompt tokens of which 1500 cached (cache read 1.25e-06):
	// 500 × 2.5e-06 = 1_250_000 nano; 1500 × 1.25e-06 = 1_875_000;
	// 100 × 1e-05 = 1_000_000. Total 4_125_000 (cached tokens billed once).
	f("gpt-4o cached", "openai", "openai", "gpt-4o",
		usage.Usage{Input: of(2000), CacheRead: of(1500), Output: of(100)},
		"gpt-4o", 4_125_000, []pricing.Part{
			{Name: "input", Units: 500, RatePico: 2_500_000, CostPico: 1_250_000_000},
			{Name: "cache_read", Units: 1500, RatePico: 1_250_000, CostPico: 1_875_000_000},
			{Name: "output", Units: 100, RatePico: 10_000_000, CostPico: 1_000_000_000},
		})

	// gpt-4o priority: in 4.25e-06, cache read 2.125e-06, out 1.7e-05.
	// 600 × 4.25e-06 = 2_550_000 nano; 400 × 2.125e-06 = 850_000;
	// 100 × 1.7e-05 = 1_700_000. Total 5_100_000.
	f("gpt-4o priority", "openai", "openai", "gpt-4o",
		usage.Usage{Input: of(1000), CacheRead: of(400), Output: of(100), Tier: usage.TierPriority},
		"gpt-4o", 5_100_000, []pricing.Part{
			{Name: "input", Units: 600, RatePico: 4_250_000, CostPico: 2_550_000_000},
			{Name: "cache_read", Units: 400, RatePico: 2_125_000, CostPico: 850_000_000},
			{Name: "output", Units: 100, RatePico: 17_000_000, CostPico: 1_700_000_000},
		})

	// gpt-4o-2024-08-06 has no priority rates: base rates.
	// 1000 × 2.5e-06 = 2_500_000 nano; 100 × 1e-05 = 1_000_000.
	f("priority without priority rates", "openai", "openai", "gpt-4o-2024-08-06",
		usage.Usage{Input: of(1000), Output: of(100), Tier: usage.TierPriority},
		"gpt-4o-2024-08-06", 3_500_000, []pricing.Part{
			{Name: "input", Units: 1000, RatePico: 2_500_000, CostPico: 2_500_000_000},
			{Name: "output", Units: 100, RatePico: 10_000_000, CostPico: 1_000_000_000},
		})

	// gpt-4o batch: in 1.25e-06, out 5e-06.
	// 1000 × 1.25e-06 = 1_250_000 nano; 100 × 5e-06 = 500_000.
	f("gpt-4o batch", "openai", "openai", "gpt-4o",
		usage.Usage{Input: of(1000), Output: of(100), Tier: usage.TierBatch},
		"gpt-4o", 1_750_000, []pricing.Part{
			{Name: "input", Units: 1000, RatePico: 1_250_000, CostPico: 1_250_000_000},
			{Name: "output", Units: 100, RatePico: 5_000_000, CostPico: 500_000_000},
		})

	// o3 flex: in 1e-06, cache read 2.5e-07, out 4e-06.
	// 800 × 1e-06 = 800_000 nano; 200 × 2.5e-07 = 50_000; 1000 × 4e-06 = 4_000_000.
	f("o3 flex", "openai", "openai", "o3",
		usage.Usage{Input: of(1000), CacheRead: of(200), Output: of(1000), Reasoning: of(700), Tier: usage.TierFlex},
		"o3", 4_850_000, []pricing.Part{
			{Name: "input", Units: 800, RatePico: 1_000_000, CostPico: 800_000_000},
			{Name: "cache_read", Units: 200, RatePico: 250_000, CostPico: 50_000_000},
			{Name: "output", Units: 1000, RatePico: 4_000_000, CostPico: 4_000_000_000},
		})

	// claude-sonnet-4-5: in 3e-06, out 1.5e-05, cache read 3e-07, cache
	// creation 3.75e-06, no 1-hour rate (falls back to cache creation).
	// Input 5100 = 100 plain + 2000 read + 3000 written (1000 of them 1h).
	// 100 × 3e-06 = 300_000 nano; 2000 × 3e-07 = 600_000;
	// 2000 × 3.75e-06 = 7_500_000; 1000 × 3.75e-06 = 3_750_000;
	// 400 × 1.5e-05 = 6_000_000. Total 18_150_000.
	f("claude-sonnet-4-5 cache", "anthropic", "anthropic", "claude-sonnet-4-5",
		usage.Usage{Input: of(5100), CacheRead: of(2000), CacheWrite: of(3000), CacheWrite1h: of(1000), Output: of(400)},
		"claude-sonnet-4-5", 18_150_000, []pricing.Part{
			{Name: "input", Units: 100, RatePico: 3_000_000, CostPico: 300_000_000},
			{Name: "cache_read", Units: 2000, RatePico: 300_000, CostPico: 600_000_000},
			{Name: "cache_write_5m", Units: 2000, RatePico: 3_750_000, CostPico: 7_500_000_000},
			{Name: "cache_write_1h", Units: 1000, RatePico: 3_750_000, CostPico: 3_750_000_000},
			{Name: "output", Units: 400, RatePico: 15_000_000, CostPico: 6_000_000_000},
		})

	// claude-3-5-sonnet-20241022 has a 1-hour rate, 6e-06:
	// as above but 1000 × 6e-06 = 6_000_000 for the 1h writes. Total 20_400_000.
	f("claude-3-5-sonnet 1h cache", "anthropic", "anthropic", "claude-3-5-sonnet-20241022",
		usage.Usage{Input: of(5100), CacheRead: of(2000), CacheWrite: of(3000), CacheWrite1h: of(1000), Output: of(400)},
		"claude-3-5-sonnet-20241022", 20_400_000, []pricing.Part{
			{Name: "input", Units: 100, RatePico: 3_000_000, CostPico: 300_000_000},
			{Name: "cache_read", Units: 2000, RatePico: 300_000, CostPico: 600_000_000},
			{Name: "cache_write_5m", Units: 2000, RatePico: 3_750_000, CostPico: 7_500_000_000},
			{Name: "cache_write_1h", Units: 1000, RatePico: 6_000_000, CostPico: 6_000_000_000},
			{Name: "output", Units: 400, RatePico: 15_000_000, CostPico: 6_000_000_000},
		})

	// claude-sonnet-4-5 above 200k input: whole request at the above rates
	// (in 6e-06, out 2.25e-05, cache read 6e-07, cache creation 7.5e-06).
	// Input 250_000 = 190_000 plain + 50_000 read + 10_000 written.
	// 190_000 × 6e-06 = 1.14 USD = 1_140_000_000 nano; 50_000 × 6e-07 = 30_000_000;
	// 10_000 × 7.5e-06 = 75_000_000; 1000 × 2.25e-05 = 22_500_000.
	// Total 1_267_500_000.
	f("claude-sonnet-4-5 above 200k", "anthropic", "anthropic", "claude-sonnet-4-5",
		usage.Usage{Input: of(250_000), CacheRead: of(50_000), CacheWrite: of(10_000), Output: of(1000)},
		"claude-sonnet-4-5", 1_267_500_000, []pricing.Part{
			{Name: "input", Units: 190_000, RatePico: 6_000_000, CostPico: 1_140_000_000_000},
			{Name: "cache_read", Units: 50_000, RatePico: 600_000, CostPico: 30_000_000_000},
			{Name: "cache_write_5m", Units: 10_000, RatePico: 7_500_000, CostPico: 75_000_000_000},
			{Name: "output", Units: 1000, RatePico: 22_500_000, CostPico: 22_500_000_000},
		})

	// Exactly 200_000 input tokens is not above 200k: 200_000 × 3e-06 = 0.6 USD.
	f("claude-sonnet-4-5 at 200k", "anthropic", "anthropic", "claude-sonnet-4-5",
		usage.Usage{Input: of(200_000)},
		"claude-sonnet-4-5", 600_000_000, []pricing.Part{
			{Name: "input", Units: 200_000, RatePico: 3_000_000, CostPico: 600_000_000_000},
		})

	// 200_001 tokens: 200_001 × 6e-06 = 1.200006 USD.
	f("claude-sonnet-4-5 at 200k+1", "anthropic", "anthropic", "claude-sonnet-4-5",
		usage.Usage{Input: of(200_001)},
		"claude-sonnet-4-5", 1_200_006_000, []pricing.Part{
			{Name: "input", Units: 200_001, RatePico: 6_000_000, CostPico: 1_200_006_000_000},
		})

	// claude-sonnet-4-5 web search: search_context_size_medium 0.01 per search.
	// 2 × 0.01 = 20_000_000 nano; 10 × 3e-06 = 30_000.
	f("claude-sonnet-4-5 web search", "anthropic", "anthropic", "claude-sonnet-4-5",
		usage.Usage{Input: of(10), WebSearchRequests: of(2)},
		"claude-sonnet-4-5", 20_030_000, []pricing.Part{
			{Name: "input", Units: 10, RatePico: 3_000_000, CostPico: 30_000_000},
			{Name: "web_search", Units: 2, RatePico: 10_000_000_000, CostPico: 20_000_000_000},
		})

	// gemini/gemini-2.5-pro: in 1.25e-06, out 1e-05, cache read 3.125e-07,
	// no reasoning rate: thoughts stay in output at the output rate.
	// 800 × 1.25e-06 = 1_000_000 nano; 200 × 3.125e-07 = 62_500;
	// 1500 × 1e-05 = 15_000_000. Total 16_062_500.
	f("gemini-2.5-pro thoughts", "google", "gemini", "gemini-2.5-pro",
		usage.Usage{Input: of(1000), CacheRead: of(200), Output: of(1500), Reasoning: of(1000)},
		"gemini/gemini-2.5-pro", 16_062_500, []pricing.Part{
			{Name: "input", Units: 800, RatePico: 1_250_000, CostPico: 1_000_000_000},
			{Name: "cache_read", Units: 200, RatePico: 312_500, CostPico: 62_500_000},
			{Name: "output", Units: 1500, RatePico: 10_000_000, CostPico: 15_000_000_000},
		})

	// gemini/gemini-2.5-flash has a reasoning rate (2.5e-06, as output):
	// 1000 × 3e-07 = 300_000 nano; 500 × 2.5e-06 = 1_250_000; 1000 × 2.5e-06 = 2_500_000.
	f("gemini-2.5-flash reasoning", "gemini", "gemini", "gemini-2.5-flash",
		usage.Usage{Input: of(1000), Output: of(1500), Reasoning: of(1000)},
		"gemini/gemini-2.5-flash", 4_050_000, []pricing.Part{
			{Name: "input", Units: 1000, RatePico: 300_000, CostPico: 300_000_000},
			{Name: "output", Units: 500, RatePico: 2_500_000, CostPico: 1_250_000_000},
			{Name: "reasoning", Units: 1000, RatePico: 2_500_000, CostPico: 2_500_000_000},
		})

	// Half-up rounding, once per request: 3 cached tokens × 3.125e-07 USD =
	// 937_500 pico = 937.5 nano → 938.
	f("rounding half-up", "gemini", "gemini", "gemini-2.5-pro",
		usage.Usage{Input: of(3), CacheRead: of(3)},
		"gemini/gemini-2.5-pro", 938, []pricing.Part{
			{Name: "cache_read", Units: 3, RatePico: 312_500, CostPico: 937_500},
		})

	// deepseek/deepseek-chat: in 2.7e-07, cache read 7e-08, out 1.1e-06.
	// 4000 × 2.7e-07 = 1_080_000 nano; 6000 × 7e-08 = 420_000;
	// 2000 × 1.1e-06 = 2_200_000. Total 3_700_000.
	f("deepseek-chat cache hits", "deepseek", "openai", "deepseek-chat",
		usage.Usage{Input: of(10_000), CacheRead: of(6000), Output: of(2000)},
		"deepseek/deepseek-chat", 3_700_000, []pricing.Part{
			{Name: "input", Units: 4000, RatePico: 270_000, CostPico: 1_080_000_000},
			{Name: "cache_read", Units: 6000, RatePico: 70_000, CostPico: 420_000_000},
			{Name: "output", Units: 2000, RatePico: 1_100_000, CostPico: 2_200_000_000},
		})

	// whisper-1: input_cost_per_second 1e-04; 7.25 s × 1e-04 = 7.25e-04 USD.
	f("whisper-1 seconds", "openai", "openai", "whisper-1",
		usage.Usage{AudioMillis: of(7250)},
		"whisper-1", 725_000, []pricing.Part{
			{Name: "audio_seconds", Units: 7250, RatePico: 100_000_000, CostPico: 725_000_000},
		})

	// text-embedding-3-small: in 2e-08, input only: 1234 × 2e-08 = 2.468e-05 USD.
	f("text-embedding-3-small", "openai", "openai", "text-embedding-3-small",
		usage.Usage{Input: of(1234), Output: of(99)},
		"text-embedding-3-small", 24_680, []pricing.Part{
			{Name: "input", Units: 1234, RatePico: 20_000, CostPico: 24_680_000},
		})

	// gpt-4o-audio-preview: in 2.5e-06, audio in 1e-04, out 1e-05, audio out 2e-04.
	// 900 × 2.5e-06 = 2_250_000 nano; 100 × 1e-04 = 10_000_000;
	// 100 × 1e-05 = 1_000_000; 200 × 2e-04 = 40_000_000. Total 53_250_000.
	f("gpt-4o-audio-preview audio tokens", "openai", "openai", "gpt-4o-audio-preview",
		usage.Usage{Input: of(1000), InputAudio: of(100), Output: of(300), OutputAudio: of(200)},
		"gpt-4o-audio-preview", 53_250_000, []pricing.Part{
			{Name: "input", Units: 900, RatePico: 2_500_000, CostPico: 2_250_000_000},
			{Name: "input_audio", Units: 100, RatePico: 100_000_000, CostPico: 10_000_000_000},
			{Name: "output", Units: 100, RatePico: 10_000_000, CostPico: 1_000_000_000},
			{Name: "output_audio", Units: 200, RatePico: 200_000_000, CostPico: 40_000_000_000},
		})

	// dashscope/qwen3-coder-plus tiered_pricing: 40_000 input tokens fall in
	// (32000, 128000]: in 1.8e-06, cache read 1.8e-07, out 9e-06.
	// 30_000 × 1.8e-06 = 54_000_000 nano; 10_000 × 1.8e-07 = 1_800_000;
	// 1000 × 9e-06 = 9_000_000. Total 64_800_000.
	f("tiered_pricing middle range", "dashscope", "openai", "qwen3-coder-plus",
		usage.Usage{Input: of(40_000), CacheRead: of(10_000), Output: of(1000)},
		"dashscope/qwen3-coder-plus", 64_800_000, []pricing.Part{
			{Name: "input", Units: 30_000, RatePico: 1_800_000, CostPico: 54_000_000_000},
			{Name: "cache_read", Units: 10_000, RatePico: 180_000, CostPico: 1_800_000_000},
			{Name: "output", Units: 1000, RatePico: 9_000_000, CostPico: 9_000_000_000},
		})

	// 32_000 tokens is the top of the first range: 32_000 × 1e-06 = 0.032 USD.
	f("tiered_pricing range top", "dashscope", "openai", "qwen3-coder-plus",
		usage.Usage{Input: of(32_000)},
		"dashscope/qwen3-coder-plus", 32_000_000, []pricing.Part{
			{Name: "input", Units: 32_000, RatePico: 1_000_000, CostPico: 32_000_000_000},
		})

	// Cache counts larger than the input never make a part negative:
	// 0 plain tokens; 10 × 1.25e-06 = 12_500 nano.
	f("inconsistent counts", "openai", "openai", "gpt-4o",
		usage.Usage{Input: of(5), CacheRead: of(10), Output: of(-3)},
		"gpt-4o", 12_500, []pricing.Part{
			{Name: "cache_read", Units: 10, RatePico: 1_250_000, CostPico: 12_500_000},
		})

	// OpenRouter reported its own cost: authoritative, one part.
	f("provider reported", "openrouter", "openai", "openai/gpt-4o",
		usage.Usage{Input: of(1000), Output: of(500), ProviderCostNano: of(123_456)},
		"openrouter/openai/gpt-4o", 123_456, []pricing.Part{
			{Name: "provider_reported", Units: 1, RatePico: 123_456_000, CostPico: 123_456_000},
		})

	// No usage at all: nothing to bill.
	f("empty usage", "openai", "openai", "gpt-4o", usage.Usage{}, "gpt-4o", 0, nil)
}

func TestBreakdownAppends(t *testing.T) {
	c := loadDefault(t)
	p, ok := c.Lookup("openai", "openai", "gpt-4o")
	if !ok {
		t.Fatal("gpt-4o not found")
	}
	u := usage.Usage{Input: of(10), Output: of(1)}
	dst := make([]pricing.Part, 1, 8)
	dst[0] = pricing.Part{Name: "keep"}
	got := p.Breakdown(&u, dst)
	want := []pricing.Part{
		{Name: "keep"},
		{Name: "input", Units: 10, RatePico: 2_500_000, CostPico: 25_000_000},
		{Name: "output", Units: 1, RatePico: 10_000_000, CostPico: 10_000_000},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Breakdown = %+v, want %+v", got, want)
	}
	if &got[0] != &dst[0] {
		t.Fatal("Breakdown reallocated although dst had capacity")
	}
}

func TestPriceAccessors(t *testing.T) {
	c := loadDefault(t)
	type want struct {
		key, provider, mode string
		in, out             int64
		cacheRead           bool
	}
	f := func(upstream, provider, model string, w want) {
		t.Helper()
		p, ok := c.Lookup(upstream, provider, model)
		if !ok {
			t.Fatalf("Lookup(%q, %q, %q): not found", upstream, provider, model)
		}
		got := want{p.Key(), p.Provider(), p.Mode(), p.InputRatePico(), p.OutputRatePico(), p.HasCacheRead()}
		if got != w {
			t.Errorf("Lookup(%q, %q, %q) = %+v, want %+v", upstream, provider, model, got, w)
		}
	}
	f("openai", "openai", "gpt-4o", want{"gpt-4o", "openai", "chat", 2_500_000, 10_000_000, true})
	f("openai", "openai", "text-embedding-3-small", want{"text-embedding-3-small", "openai", "embedding", 20_000, 0, false})
	f("openai", "openai", "whisper-1", want{"whisper-1", "openai", "audio_transcription", 0, 0, false})
	f("gemini", "gemini", "gemini-2.5-pro", want{"gemini/gemini-2.5-pro", "gemini", "chat", 1_250_000, 10_000_000, true})
	f("dashscope", "openai", "qwen3-coder-plus", want{"dashscope/qwen3-coder-plus", "dashscope", "chat", 1_000_000, 5_000_000, true})
}
