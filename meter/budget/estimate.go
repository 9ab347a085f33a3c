package budget

import (
	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/meter/usage"
)

// Estimate parameters.
const (
	// BytesPerToken is the request body bytes counted as one prompt token.
	BytesPerToken = 4
	// MaxInputTokens caps the prompt estimate (a 32 MiB body of base64
	// images is far fewer tokens than its bytes / 4).
	MaxInputTokens = 1_000_000
	// DefaultOutputTokens is the output estimate of a request that sets no
	// maximum.
	DefaultOutputTokens = 4096
	// MaxOutputTokens caps the output estimate (a client may ask for more
	// than any model generates).
	MaxOutputTokens = 128_000
)

// Estimate returns the cost in nano-dollars that a request may reach, to be
// reserved before it is forwarded: the price p gives to a usage of
// ceil(requestBytes / BytesPerToken) input tokens (at most MaxInputTokens)
// and maxOutputTokens output tokens (the request's max_tokens,
// max_completion_tokens, max_output_tokens or maxOutputTokens; when 0,
// DefaultOutputTokens; at most MaxOutputTokens). Price.Cost applies the
// model's plain input and output rates, its long-context tiers included;
// embedding models are priced for input only. A model without a price (p
// nil) has the estimate 0: its requests cannot be limited by cost, only
// refused once a limit is reached.
//
// The estimate holds (the metered cost is at most the estimate) when the
// request sets a maximum output that the provider enforces and lies below
// MaxOutputTokens, its prompt is at most requestBytes / 4 tokens, and no part
// of it is billed above the plain rates: cache writes, audio or image tokens,
// reasoning tokens with their own higher rate, a priority service tier, or a
// cost the provider reports itself (OpenRouter) can each make the metered cost
// exceed it. Estimate does not allocate.
func Estimate(p *pricing.Price, requestBytes, maxOutputTokens int64) int64 {
	if p == nil {
		return 0
	}
	in := min((max(requestBytes, 0)+BytesPerToken-1)/BytesPerToken, MaxInputTokens)
	out := maxOutputTokens
	if out <= 0 {
		out = DefaultOutputTokens
	}
	out = min(out, MaxOutputTokens)
	var u usage.Usage
	u.Input.Set(in)
	u.Output.Set(out)
	return p.Cost(&u)
}
