package pricing_test

import (
	"testing"

	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/meter/usage"
)

func BenchmarkLookupCached(b *testing.B) {
	c := loadDefault(b)
	c.Lookup("anthropic", "anthropic", "claude-sonnet-4-5-20250929")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Lookup("anthropic", "anthropic", "claude-sonnet-4-5-20250929"); !ok {
			b.Fatal("not found")
		}
	}
}

func BenchmarkCost(b *testing.B) {
	c := loadDefault(b)
	p, ok := c.Lookup("anthropic", "anthropic", "claude-sonnet-4-5")
	if !ok {
		b.Fatal("not found")
	}
	u := usage.Usage{Input: usage.Of(5100), CacheRead: usage.Of(2000), CacheWrite: usage.Of(3000),
		CacheWrite1h: usage.Of(1000), Output: usage.Of(400), Reasoning: usage.Of(100)}
	b.ReportAllocs()
	for b.Loop() {
		if p.Cost(&u) != 18_150_000 {
			b.Fatal("wrong cost")
		}
	}
}

func BenchmarkBreakdown(b *testing.B) {
	c := loadDefault(b)
	p, _ := c.Lookup("openai", "openai", "gpt-4o")
	u := usage.Usage{Input: usage.Of(2000), CacheRead: usage.Of(1500), Output: usage.Of(100)}
	dst := make([]pricing.Part, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		dst = p.Breakdown(&u, dst[:0])
	}
}

func BenchmarkLoadEmbedded(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pricing.Load(""); err != nil {
			b.Fatal(err)
		}
	}
}
