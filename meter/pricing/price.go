package pricing

// none marks a rate the catalog does not give.
const none = -1

// Price is the compact, immutable price entry of one catalog model. Rates are
// integer pico-dollars (1e-12 USD) per unit; a rate the catalog lacks is
// absent (not zero). A *Price is shared by every request that resolves to it
// and is safe for concurrent use; callers must not modify it.
type Price struct {
	key      string
	provider string
	mode     string

	in           int64 // input_cost_per_token
	out          int64 // output_cost_per_token
	cacheRead    int64 // cache_read_input_token_cost
	cacheWrite   int64 // cache_creation_input_token_cost
	cacheWrite1h int64 // cache_creation_input_token_cost_above_1hr
	inAudio      int64 // input_cost_per_audio_token
	inImage      int64 // input_cost_per_image_token
	outAudio     int64 // output_cost_per_audio_token
	outImage     int64 // output_cost_per_image_token
	reasoning    int64 // output_cost_per_reasoning_token
	perSecond    int64 // input_cost_per_second
	webSearch    int64 // search_context_cost_per_query.search_context_size_medium

	// svc holds the service-tier rates, indexed by usage.Tier; index 0
	// (default) is unused.
	svc [4]tierRates
	// above holds the long-context rates, by ascending threshold.
	above []aboveTier
	// ranges holds tiered_pricing, by ascending range.
	ranges []rangeTier
}

// tierRates are the `<field>_flex`, `<field>_priority` or `<field>_batches`
// rates of a service tier.
type tierRates struct {
	in, out, cacheRead int64
}

// aboveTier holds the `<field>_above_<N>k_tokens` rates; they apply to the
// whole request when its input exceeds threshold tokens.
type aboveTier struct {
	threshold                      int64
	in, out, cacheRead, cacheWrite int64
}

// rangeTier is one entry of tiered_pricing: its rates apply when the input
// token count lies in (lo, hi].
type rangeTier struct {
	lo, hi                        int64
	in, out, cacheRead, reasoning int64
}

func newPrice(key string) Price {
	p := Price{
		key: key,
		in:  none, out: none, cacheRead: none, cacheWrite: none, cacheWrite1h: none,
		inAudio: none, inImage: none, outAudio: none, outImage: none,
		reasoning: none, perSecond: none, webSearch: none,
	}
	for i := range p.svc {
		p.svc[i] = tierRates{in: none, out: none, cacheRead: none}
	}
	return p
}

// priceable reports whether the entry has a rate that Cost can apply: a token
// rate, a per-second rate or token-range tiers. Entries priced only per image,
// pixel, character or query are not.
func (p *Price) priceable() bool {
	return p.in >= 0 || p.out >= 0 || p.perSecond >= 0 || len(p.ranges) > 0
}

// Key returns the catalog key of the entry, e.g. "gemini/gemini-2.5-pro".
func (p *Price) Key() string { return p.key }

// Provider returns the entry's litellm_provider, e.g. "openai", or "".
func (p *Price) Provider() string { return p.provider }

// Mode returns the entry's mode, e.g. "chat" or "embedding", or "".
func (p *Price) Mode() string { return p.mode }

// InputRatePico returns the base input rate in pico-dollars per token (the
// first tiered_pricing range when the entry only has ranges), or 0 when the
// catalog gives none.
func (p *Price) InputRatePico() int64 {
	if p.in >= 0 {
		return p.in
	}
	if len(p.ranges) > 0 && p.ranges[0].in >= 0 {
		return p.ranges[0].in
	}
	return 0
}

// OutputRatePico returns the base output rate in pico-dollars per token (the
// first tiered_pricing range when the entry only has ranges), or 0 when the
// catalog gives none.
func (p *Price) OutputRatePico() int64 {
	if p.out >= 0 {
		return p.out
	}
	if len(p.ranges) > 0 && p.ranges[0].out >= 0 {
		return p.ranges[0].out
	}
	return 0
}

// HasCacheRead reports whether the catalog gives the model its own
// cache-read rate (otherwise cache reads are billed at the input rate).
func (p *Price) HasCacheRead() bool {
	if p.cacheRead >= 0 {
		return true
	}
	return len(p.ranges) > 0 && p.ranges[0].cacheRead >= 0
}
