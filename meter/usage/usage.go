// Package usage holds the normalised token usage of one inference request and
// the closed vocabularies that describe how the request ended: its category,
// its error type, its service tier and where the numbers came from.
//
// It is a leaf package: the dialect extractors fill a Usage, the price catalog
// reads it, the meter records it. Every value here is a plain value type, so
// extraction, pricing and recording never allocate for it.
package usage

// Count is a token (or other unit) count that tells "0" from "not reported".
// The zero value is "not reported".
type Count struct {
	N  int64
	OK bool
}

// MaxCount bounds what an extractor takes from a provider for one count:
// a larger number (no request has a trillion tokens) is read as MaxCount,
// so that the sums of a request's counts, and of many requests in a cell,
// cannot overflow.
const MaxCount = 1 << 40

// MaxCostNano bounds a cost a provider reports for one request (about
// 1.1 million USD), for the same reason.
const MaxCostNano = 1 << 50

// Set records n as reported.
func (c *Count) Set(n int64) { c.N, c.OK = n, true }

// Add adds n (not negative) to the count and marks it reported; the sum
// stops at the largest int64 instead of overflowing.
func (c *Count) Add(n int64) {
	if c.N > maxInt64-n {
		c.N = maxInt64
	} else {
		c.N += n
	}
	c.OK = true
}

const maxInt64 = 1<<63 - 1

// Value returns the count, or 0 when it was not reported.
func (c Count) Value() int64 {
	if !c.OK {
		return 0
	}
	return c.N
}

// Of returns a reported count of n.
func Of(n int64) Count { return Count{N: n, OK: true} }

// Usage is the normalised usage of one request, comparable across providers.
//
// Input counts every prompt token processed; CacheRead, CacheWrite, InputAudio
// and InputImage are parts of it. Output counts every generated token;
// Reasoning, OutputAudio and OutputImage are parts of it. CacheWrite1h is the
// part of CacheWrite written with a one-hour time to live (Anthropic).
type Usage struct {
	Input        Count
	CacheRead    Count
	CacheWrite   Count
	CacheWrite1h Count
	InputAudio   Count
	InputImage   Count

	Output      Count
	Reasoning   Count
	OutputAudio Count
	OutputImage Count

	// AudioMillis is the billed audio duration in milliseconds, for models
	// billed by duration (whisper-1 reports {"type":"duration","seconds":7}).
	AudioMillis Count
	// WebSearchRequests counts billable server-side web searches.
	WebSearchRequests Count
	// ProviderCostNano is the cost the provider itself reported, in
	// nano-dollars (OpenRouter's usage.cost).
	ProviderCostNano Count

	// Tier is the service tier the provider says it served the request on.
	Tier Tier
	// Source tells where the numbers came from.
	Source Source
}

// Reported reports whether any token count is present.
func (u *Usage) Reported() bool {
	return u.Input.OK || u.Output.OK || u.AudioMillis.OK
}

// Source tells where the token numbers of a request came from.
type Source uint8

// Sources of usage numbers.
const (
	// SourceNone: no usage (for example a request refused before forwarding).
	SourceNone Source = iota
	// SourceProvider: the provider's own usage object.
	SourceProvider
	// SourceEstimated: counted with a tokenizer because the provider gave none.
	SourceEstimated
)

var sourceNames = [...]string{"none", "provider", "estimated"}

// String returns the name used in logs and the API.
func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "none"
}

// ParseSource is the inverse of Source.String.
func ParseSource(s string) (Source, bool) {
	for i, n := range sourceNames {
		if n == s {
			return Source(i), true
		}
	}
	return SourceNone, false
}

// Tier is a provider service tier; it selects the price row.
type Tier uint8

// Service tiers.
const (
	TierDefault Tier = iota
	TierFlex
	TierPriority
	TierBatch
)

var tierNames = [...]string{"default", "flex", "priority", "batch"}

// String returns the tier name.
func (t Tier) String() string {
	if int(t) < len(tierNames) {
		return tierNames[t]
	}
	return "default"
}

// ParseTier maps a provider's service_tier value to a Tier. Unknown values
// ("auto", "standard", "scale", "") are TierDefault.
func ParseTier(b []byte) Tier {
	switch string(b) {
	case "flex":
		return TierFlex
	case "priority":
		return TierPriority
	case "batch":
		return TierBatch
	}
	return TierDefault
}
