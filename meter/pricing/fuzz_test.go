package pricing_test

import (
	"testing"

	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/meter/usage"
)

// fuzzUsage is a usage with every count reported, exercising every part.
func fuzzUsage(in, cacheRead, cacheWrite, cacheWrite1h, out, reasoning, audio, millis int64, tier uint8) usage.Usage {
	return usage.Usage{
		Input: of(in), CacheRead: of(cacheRead), CacheWrite: of(cacheWrite), CacheWrite1h: of(cacheWrite1h),
		InputAudio: of(audio), InputImage: of(audio),
		Output: of(out), Reasoning: of(reasoning), OutputAudio: of(audio), OutputImage: of(audio),
		AudioMillis: of(millis), WebSearchRequests: of(audio),
		Tier: usage.Tier(tier % 5),
	}
}

// checkCost asserts the invariants of Cost and Breakdown.
func checkCost(t *testing.T, key string, p *pricing.Price, u *usage.Usage) {
	t.Helper()
	cost := p.Cost(u)
	if cost < 0 {
		t.Fatalf("%s: Cost = %d, negative", key, cost)
	}
	parts := p.Breakdown(u, nil)
	for _, pt := range parts {
		if pt.Units <= 0 || pt.RatePico < 0 || pt.CostPico < 0 {
			t.Fatalf("%s: bad part %+v", key, pt)
		}
	}
	// Below saturation, Cost is the rounded sum of the parts.
	var sum int64
	for _, pt := range parts {
		if sum > 1<<61 || pt.CostPico > 1<<61 {
			return
		}
		sum += pt.CostPico
	}
	if want := (sum + 500) / 1000; cost != want {
		t.Fatalf("%s: Cost = %d, sum of parts %d pico", key, cost, sum)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"gpt-4o": {"input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05, "cache_read_input_token_cost": 1.25e-06, "input_cost_per_token_priority": 4.25e-06, "litellm_provider": "openai", "mode": "chat"}}`))
	f.Add([]byte(`{"claude-sonnet-4-5": {"input_cost_per_token": 3e-06, "output_cost_per_token": 1.5e-05, "cache_creation_input_token_cost": 3.75e-06, "cache_creation_input_token_cost_above_1hr": 6e-06, "cache_read_input_token_cost": 3e-07, "input_cost_per_token_above_200k_tokens": 6e-06, "output_cost_per_token_above_200k_tokens": 2.25e-05, "search_context_cost_per_query": {"search_context_size_medium": 0.01}}}`))
	f.Add([]byte(`{"q": {"tiered_pricing": [{"input_cost_per_token": 5e-08, "output_cost_per_token": 4e-07, "range": [0, 256000.0]}, {"input_cost_per_token": 2.5e-07, "output_cost_per_token": 2e-06, "range": [256000.0, 1000000.0]}]}}`))
	f.Add([]byte(`{"whisper-1": {"input_cost_per_second": 0.0001, "mode": "audio_transcription"}, "e": {"input_cost_per_token": "2e-08", "mode": "embedding"}}`))
	f.Add([]byte(`{"a": {"input_cost_per_audio_token": 1e-04, "output_cost_per_audio_token": 2e-04, "output_cost_per_reasoning_token": 1e-05, "input_cost_per_image_token": 1e-06, "output_cost_per_image_token": 4e-05, "input_cost_per_token": 1e-06}}`))
	f.Add([]byte(`{"m": {"input_cost_per_token": "abc"}}`))
	f.Add([]byte(`{"m": {"input_cost_per_token": -1}}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := pricing.Parse(data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		us := []usage.Usage{
			{},
			fuzzUsage(1000, 200, 100, 50, 500, 100, 10, 7000, 0),
			fuzzUsage(300_000, 1, 2, 3, 4, 5, 6, 7, 1),
			fuzzUsage(1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 1<<62, 2),
			fuzzUsage(-5, 10, -1, 20, -3, 9, -2, -1, 3),
		}
		n := 0
		c.Each(func(key string, p *pricing.Price) {
			n++
			q, ok := c.Lookup("", "", key)
			if ok && q != p && q.Key() == key {
				t.Fatalf("Lookup(%q) returned another entry", key)
			}
			for i := range us {
				checkCost(t, key, p, &us[i])
			}
		})
		if n != c.Len() {
			t.Fatalf("Each visited %d, Len %d", n, c.Len())
		}
	})
}

func FuzzCost(f *testing.F) {
	c, err := pricing.Load("")
	if err != nil {
		f.Fatal(err)
	}
	f.Add("gpt-4o", int64(2000), int64(1500), int64(0), int64(0), int64(100), int64(0), int64(0), int64(0), uint8(0))
	f.Add("claude-sonnet-4-5", int64(250_000), int64(50_000), int64(10_000), int64(5000), int64(1000), int64(0), int64(0), int64(0), uint8(0))
	f.Add("gemini/gemini-2.5-flash", int64(1000), int64(0), int64(0), int64(0), int64(1500), int64(1000), int64(10), int64(0), uint8(0))
	f.Add("whisper-1", int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(7250), uint8(0))
	f.Add("dashscope/qwen3-coder-plus", int64(40_000), int64(10_000), int64(0), int64(0), int64(1000), int64(0), int64(0), int64(0), uint8(2))
	f.Fuzz(func(t *testing.T, model string, in, cr, cw, cw1h, out, reasoning, audio, millis int64, tier uint8) {
		p, ok := c.Lookup("", "", model)
		if !ok {
			return
		}
		u := fuzzUsage(in, cr, cw, cw1h, out, reasoning, audio, millis, tier)
		checkCost(t, model, p, &u)
	})
}
