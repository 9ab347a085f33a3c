//go:build !race

package pricing_test

import (
	"testing"

	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/meter/usage"
)

// TestHotPathAllocs guards the per-request path: a cached Lookup, Cost and a
// Breakdown into a large enough buffer never allocate.
func TestHotPathAllocs(t *testing.T) {
	c := loadDefault(t)
	u := usage.Usage{Input: usage.Of(250_000), CacheRead: usage.Of(2000), CacheWrite: usage.Of(3000),
		CacheWrite1h: usage.Of(1000), Output: usage.Of(400), Reasoning: usage.Of(100), Tier: usage.TierPriority}
	f := func(upstream, provider, model string) {
		t.Helper()
		c.Lookup(upstream, provider, model) // fill the cache
		dst := make([]pricing.Part, 0, 16)
		allocs := testing.AllocsPerRun(100, func() {
			p, ok := c.Lookup(upstream, provider, model)
			if ok {
				_ = p.Cost(&u)
				dst = p.Breakdown(&u, dst[:0])
			}
		})
		if allocs != 0 {
			t.Errorf("Lookup(%q, %q, %q) + Cost + Breakdown: %v allocations, want 0", upstream, provider, model, allocs)
		}
	}
	f("anthropic", "anthropic", "claude-sonnet-4-5")
	f("openai", "openai", "gpt-4o-2099-01-01")
	f("gemini", "gemini", "models/gemini-2.5-pro")
	f("openai", "openai", "no-such-model")
}
