package budget

import (
	"testing"

	"github.com/infermeter/infermeter/meter/pricing"
)

func TestEstimate(t *testing.T) {
	c, err := pricing.Load("")
	if err != nil {
		t.Fatal(err)
	}
	price := func(up, model string) *pricing.Price {
		t.Helper()
		p, ok := c.Lookup(up, up, model)
		if !ok {
			t.Fatalf("no price for %s/%s", up, model)
		}
		return p
	}
	mini := price("openai", "gpt-4o-mini")           // 150 and 600 nano-dollars per input and output token
	haiku := price("anthropic", "claude-haiku-4-5")  // 1000 and 5000
	emb := price("openai", "text-embedding-3-small") // 20 per input token
	pro := price("gemini", "gemini-2.5-pro")         // 1250 / 10000; above 200k input tokens 2500 / 15000
	f := func(p *pricing.Price, bytes, maxOut, want int64) {
		t.Helper()
		if got := Estimate(p, bytes, maxOut); got != want {
			t.Errorf("Estimate(%v, %d bytes, max %d) = %d, want %d", p.Key(), bytes, maxOut, got, want)
		}
	}
	f(mini, 400, 100, 100*150+100*600)      // 75,000
	f(mini, 401, 100, 101*150+100*600)      // a started token counts
	f(mini, 0, 100, 100*600)                // no body
	f(mini, 400, 0, 100*150+4096*600)       // no max: 4096 output tokens
	f(mini, 32<<20, 1e9, 1e6*150+128e3*600) // both capped: 1,000,000 in, 128,000 out
	f(haiku, 4000, 1024, 1000*1000+1024*5000)
	f(emb, 400, 0, 100*20) // embeddings: input only
	// 1,000,000 bytes is 250,000 tokens: past the 200k tier, whose rates
	// apply to the whole request.
	f(pro, 1e6, 1000, 250000*2500+1000*15000)
	f(pro, 4e5, 1000, 100000*1250+1000*10000)
	if got := Estimate(nil, 400, 100); got != 0 {
		t.Errorf("unpriced: %d", got)
	}
}
