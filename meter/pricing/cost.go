package pricing

import (
	"math"

	"github.com/infermeter/infermeter/meter/usage"
)

// Part is one priced component of a request, for the request details view.
// Units are tokens, except for "audio_seconds" (milliseconds of audio, with
// RatePico per second), "web_search" (searches) and "provider_reported" (one
// request, with RatePico and CostPico the provider's cost). CostPico is
// Units × RatePico in pico-dollars.
type Part struct {
	Name     string
	Units    int64
	RatePico int64
	CostPico int64
}

// Names of the parts Breakdown reports.
const (
	PartInput            = "input"
	PartInputImage       = "input_image"
	PartInputAudio       = "input_audio"
	PartCacheRead        = "cache_read"
	PartCacheWrite5m     = "cache_write_5m"
	PartCacheWrite1h     = "cache_write_1h"
	PartOutput           = "output"
	PartReasoning        = "reasoning"
	PartOutputAudio      = "output_audio"
	PartOutputImage      = "output_image"
	PartAudioSeconds     = "audio_seconds"
	PartWebSearch        = "web_search"
	PartProviderReported = "provider_reported"
)

// maxParts is the number of parts parts can produce.
const maxParts = 12

// rateSet holds the rates that apply to one request once its service tier,
// token range and context size have been taken into account.
type rateSet struct {
	in, out, cacheRead, cacheWrite, cacheWrite1h, reasoning int64
}

// Cost returns the price of u in nano-dollars (1e-9 USD): the sum of its
// parts' CostPico (see Breakdown), rounded half-up once. When the provider
// reported its own cost (u.ProviderCostNano, e.g. OpenRouter), that cost is
// authoritative and returned as is (negative values as 0).
//
// Rules, with usage.Usage's meaning that Input includes CacheRead, CacheWrite
// and InputAudio, and Output includes Reasoning and OutputAudio:
//   - input: (Input − CacheRead − CacheWrite − InputAudio [− InputImage when
//     the model has an image-token rate], never negative) × input rate;
//   - cache_read: CacheRead × cache read rate (fallback: input rate);
//   - cache_write_5m: (CacheWrite − CacheWrite1h) × cache creation rate
//     (fallback: input rate); cache_write_1h: CacheWrite1h × 1-hour cache
//     creation rate (fallback: cache creation rate, then input rate);
//   - input_audio / input_image: × their token rate (fallback: input rate);
//   - output: (Output − OutputAudio [− OutputImage when the model has an
//     image-token rate] [− Reasoning when the model has a reasoning rate]) ×
//     output rate; reasoning, output_audio, output_image: × their rate
//     (fallback: output rate); embedding models are billed for input only;
//   - audio_seconds: AudioMillis × input_cost_per_second / 1000;
//   - web_search: WebSearchRequests × search_context_size_medium.
//
// Rates are chosen in this order: the service tier (u.Tier: `_priority`,
// `_flex`, `_batches` rates where the catalog has them, else the base rate of
// the same field), then the tiered_pricing range holding Input (a range
// (lo, hi]; beyond the last, the last), then the highest `_above_<N>k_tokens`
// threshold that Input exceeds, whose rates replace the input, output, cache
// read and cache write rates of the whole request. Cost never allocates and
// is safe for concurrent use.
func (p *Price) Cost(u *usage.Usage) int64 {
	if u.ProviderCostNano.OK {
		return max(u.ProviderCostNano.N, 0)
	}
	var buf [maxParts]Part
	n := p.parts(u, &buf)
	var sum int64
	for i := range n {
		sum = addSat(sum, buf[i].CostPico)
	}
	return roundNano(sum)
}

// Breakdown appends the priced parts of u to dst and returns it: one Part per
// component with units, in the order input, input_image, input_audio,
// cache_read, cache_write_5m, cache_write_1h, output, reasoning, output_audio,
// output_image, audio_seconds, web_search; or a single "provider_reported"
// part when the provider reported its cost. Cost(u) equals the sum of the
// parts' CostPico divided by 1000, rounded half-up. Breakdown allocates only
// when dst lacks capacity.
func (p *Price) Breakdown(u *usage.Usage, dst []Part) []Part {
	if u.ProviderCostNano.OK {
		c := mulSat(max(u.ProviderCostNano.N, 0), 1000)
		return append(dst, Part{Name: PartProviderReported, Units: 1, RatePico: c, CostPico: c})
	}
	var buf [maxParts]Part
	n := p.parts(u, &buf)
	return append(dst, buf[:n]...)
}

// effective returns the rates that apply to u.
func (p *Price) effective(u *usage.Usage) rateSet {
	r := rateSet{
		in: p.in, out: p.out, cacheRead: p.cacheRead, cacheWrite: p.cacheWrite,
		cacheWrite1h: p.cacheWrite1h, reasoning: p.reasoning,
	}
	if t := int(u.Tier); t > 0 && t < len(p.svc) {
		s := &p.svc[t]
		r.in = or(s.in, r.in)
		r.out = or(s.out, r.out)
		r.cacheRead = or(s.cacheRead, r.cacheRead)
	}
	input := nonNeg(u.Input.Value())
	if len(p.ranges) > 0 {
		t := &p.ranges[len(p.ranges)-1]
		for i := range p.ranges {
			if input <= p.ranges[i].hi {
				t = &p.ranges[i]
				break
			}
		}
		r.in = or(t.in, r.in)
		r.out = or(t.out, r.out)
		r.cacheRead = or(t.cacheRead, r.cacheRead)
		r.reasoning = or(t.reasoning, r.reasoning)
	}
	for i := len(p.above) - 1; i >= 0; i-- {
		a := &p.above[i]
		if input > a.threshold {
			r.in = or(a.in, r.in)
			r.out = or(a.out, r.out)
			r.cacheRead = or(a.cacheRead, r.cacheRead)
			r.cacheWrite = or(a.cacheWrite, r.cacheWrite)
			break
		}
	}
	return r
}

// parts writes the non-empty parts of u into buf and returns their number.
func (p *Price) parts(u *usage.Usage, buf *[maxParts]Part) int {
	r := p.effective(u)
	in := or(r.in, 0)
	out := or(r.out, 0)
	n := 0
	put := func(name string, units, rate int64) {
		if units <= 0 {
			return
		}
		buf[n] = Part{Name: name, Units: units, RatePico: rate, CostPico: mulSat(units, rate)}
		n++
	}

	input := nonNeg(u.Input.Value())
	cacheRead := nonNeg(u.CacheRead.Value())
	cacheWrite := nonNeg(u.CacheWrite.Value())
	cacheWrite1h := min(nonNeg(u.CacheWrite1h.Value()), cacheWrite)
	inAudio := nonNeg(u.InputAudio.Value())
	var inImage int64
	if p.inImage >= 0 {
		inImage = nonNeg(u.InputImage.Value())
	}
	text := nonNeg(input - cacheRead - cacheWrite - inAudio - inImage)
	put(PartInput, text, in)
	put(PartInputImage, inImage, or(p.inImage, in))
	put(PartInputAudio, inAudio, or(p.inAudio, in))
	put(PartCacheRead, cacheRead, or(r.cacheRead, in))
	put(PartCacheWrite5m, cacheWrite-cacheWrite1h, or(r.cacheWrite, in))
	put(PartCacheWrite1h, cacheWrite1h, or(r.cacheWrite1h, or(r.cacheWrite, in)))

	if p.mode != "embedding" {
		output := nonNeg(u.Output.Value())
		outAudio := nonNeg(u.OutputAudio.Value())
		var reasoning, outImage int64
		if r.reasoning >= 0 {
			reasoning = nonNeg(u.Reasoning.Value())
		}
		if p.outImage >= 0 {
			outImage = nonNeg(u.OutputImage.Value())
		}
		put(PartOutput, nonNeg(output-outAudio-outImage-reasoning), out)
		put(PartReasoning, reasoning, r.reasoning)
		put(PartOutputAudio, outAudio, or(p.outAudio, out))
		put(PartOutputImage, outImage, or(p.outImage, out))
	}

	if ms := nonNeg(u.AudioMillis.Value()); ms > 0 && p.perSecond >= 0 {
		buf[n] = Part{Name: PartAudioSeconds, Units: ms, RatePico: p.perSecond, CostPico: roundDiv1000(mulSat(ms, p.perSecond))}
		n++
	}
	if p.webSearch >= 0 {
		put(PartWebSearch, nonNeg(u.WebSearchRequests.Value()), p.webSearch)
	}
	return n
}

// or returns rate, or fallback when rate is absent.
func or(rate, fallback int64) int64 {
	if rate >= 0 {
		return rate
	}
	return fallback
}

func nonNeg(v int64) int64 { return max(v, 0) }

// mulSat multiplies two non-negative numbers, saturating at math.MaxInt64.
func mulSat(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

// addSat adds two non-negative numbers, saturating at math.MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// roundDiv1000 divides a non-negative number by 1000, rounding half-up.
func roundDiv1000(v int64) int64 {
	return v/1000 + (v%1000+500)/1000
}

// roundNano converts a non-negative pico-dollar sum to nano-dollars, rounding
// half-up.
func roundNano(pico int64) int64 { return roundDiv1000(pico) }
