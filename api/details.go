package api

import (
	"fmt"
	"math"
	"strconv"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/meter/usage"
)

// detailsAnswer is the answer of GET /api/account/request-logs/{id}/details.
type detailsAnswer struct {
	Success bool        `json:"success"`
	Request detailsJSON `json:"request"`
}

// detailsJSON is one request log with everything kept about it: the log
// fields, the usage with "not reported" as null, the price breakdown, the
// timings and, when capture_bodies was on, headers and bodies.
type detailsJSON struct {
	logJSON
	ProviderRequestID string          `json:"provider_request_id"`
	Upstream          string          `json:"upstream"`
	RequestBytes      int64           `json:"request_bytes"`
	ResponseBytes     int64           `json:"response_bytes"`
	Usage             detailsUsage    `json:"usage"`
	Price             detailsPrice    `json:"price"`
	Timings           detailsTimings  `json:"timings"`
	Captured          bool            `json:"captured"`
	Headers           *detailsHeaders `json:"headers,omitempty"`
	Bodies            *detailsBodies  `json:"bodies,omitempty"`
}

// detailsUsage is the normalised usage; a count the provider did not report
// is null (not 0).
type detailsUsage struct {
	InputTokens        *int64   `json:"input_tokens"`
	CachedTokens       *int64   `json:"cached_tokens"`
	CacheWriteTokens   *int64   `json:"cache_write_tokens"`
	CacheWrite1hTokens *int64   `json:"cache_write_1h_tokens"`
	InputAudioTokens   *int64   `json:"input_audio_tokens"`
	InputImageTokens   *int64   `json:"input_image_tokens"`
	OutputTokens       *int64   `json:"output_tokens"`
	ReasoningTokens    *int64   `json:"reasoning_tokens"`
	OutputAudioTokens  *int64   `json:"output_audio_tokens"`
	OutputImageTokens  *int64   `json:"output_image_tokens"`
	AudioSeconds       *decimal `json:"audio_seconds"`
	WebSearchRequests  *int64   `json:"web_search_requests"`
	ProviderCostUSD    *USD     `json:"provider_cost_usd"`
	ServiceTier        string   `json:"service_tier"`
	Source             string   `json:"source"`
}

// detailsPrice is the cost of the request part by part: each part's units
// times its catalog rate. TotalUSD is the sum of the parts rounded half-up
// to the nano-dollar, as the proxy rounds, so it equals the recorded
// cost_usd unless the catalog changed since the request.
type detailsPrice struct {
	Priced     bool          `json:"priced"`
	CatalogKey string        `json:"catalog_key,omitempty"`
	Parts      []detailsPart `json:"parts,omitempty"`
	TotalUSD   *USD          `json:"total_usd,omitempty"`
}

// detailsPart is one priced part. Token parts carry tokens and
// rate_usd_per_million; audio_seconds carries seconds and
// rate_usd_per_second; web_search requests and rate_usd_per_request;
// provider_reported only its cost.
type detailsPart struct {
	Name           string   `json:"name"`
	Tokens         *int64   `json:"tokens,omitempty"`
	Seconds        *decimal `json:"seconds,omitempty"`
	Requests       *int64   `json:"requests,omitempty"`
	RatePerMillion *decimal `json:"rate_usd_per_million,omitempty"`
	RatePerSecond  *decimal `json:"rate_usd_per_second,omitempty"`
	RatePerRequest *decimal `json:"rate_usd_per_request,omitempty"`
	CostUSD        decimal  `json:"cost_usd"`
}

type detailsTimings struct {
	LatencyMs int64 `json:"latency_ms"`
	TTFTMs    int64 `json:"ttft_ms"`
	LatencyUs int64 `json:"latency_us"`
	TTFTUs    int64 `json:"ttft_us"`
}

type detailsHeaders struct {
	Request  map[string]string `json:"request"`
	Response map[string]string `json:"response"`
}

type detailsBodies struct {
	Request           string `json:"request"`
	Response          string `json:"response"`
	Truncated         bool   `json:"truncated"`
	RequestTruncated  bool   `json:"request_truncated"`
	ResponseTruncated bool   `json:"response_truncated"`
}

// requestLogDetails serves GET /api/account/request-logs/{id}/details. A
// member sees only its own requests: another member's request, like another
// org's, is 404.
func (a *API) requestLogDetails(c *call) {
	ctx := c.ctx
	raw := c.params["id"]
	id, err := strconv.ParseUint(raw, 10, 64)
	if err != nil {
		a.badParam(ctx, fmt.Errorf("id: %q is not a request log id (a whole number)", raw))
		return
	}
	ev, ok, err := a.opt.Store.Log(c.m.Org, id)
	if err != nil {
		a.fail(ctx, fasthttp.StatusInternalServerError, "internal", "cannot read the request log")
		return
	}
	if !ok || (c.user() != "" && ev.User != c.user()) {
		a.fail(ctx, fasthttp.StatusNotFound, "not_found", "no such request log: "+raw)
		return
	}
	a.writeJSON(ctx, detailsAnswer{Success: true, Request: a.detailsOf(&ev)})
}

// detailsOf renders ev.
func (a *API) detailsOf(ev *meter.Event) detailsJSON {
	d := detailsJSON{
		logJSON:           logOf(ev),
		ProviderRequestID: ev.ProviderRequestID,
		Upstream:          ev.Upstream,
		RequestBytes:      ev.RequestBytes,
		ResponseBytes:     ev.ResponseBytes,
		Usage:             usageOf(&ev.Usage),
		Price:             a.priceOf(ev),
		Timings: detailsTimings{
			LatencyMs: ev.LatencyMicros / 1000, TTFTMs: ev.TTFTMicros / 1000,
			LatencyUs: ev.LatencyMicros, TTFTUs: ev.TTFTMicros,
		},
		Captured: ev.Capture != nil,
	}
	if c := ev.Capture; c != nil {
		d.Headers = &detailsHeaders{Request: headerMap(c.RequestHeaders), Response: headerMap(c.ResponseHeaders)}
		d.Bodies = &detailsBodies{
			Request: c.RequestBody, Response: c.ResponseBody,
			Truncated:        c.RequestTruncated || c.ResponseTruncated,
			RequestTruncated: c.RequestTruncated, ResponseTruncated: c.ResponseTruncated,
		}
	}
	return d
}

// headerMap maps header names to values; repeated names are joined with
// ", " as HTTP allows.
func headerMap(hs []meter.Header) map[string]string {
	m := make(map[string]string, len(hs))
	for _, h := range hs {
		if v, ok := m[h.Name]; ok {
			m[h.Name] = v + ", " + h.Value
			continue
		}
		m[h.Name] = h.Value
	}
	return m
}

func usageOf(u *usage.Usage) detailsUsage {
	n := func(c usage.Count) *int64 {
		if !c.OK {
			return nil
		}
		return &c.N
	}
	d := detailsUsage{
		InputTokens: n(u.Input), CachedTokens: n(u.CacheRead), CacheWriteTokens: n(u.CacheWrite),
		CacheWrite1hTokens: n(u.CacheWrite1h), InputAudioTokens: n(u.InputAudio), InputImageTokens: n(u.InputImage),
		OutputTokens: n(u.Output), ReasoningTokens: n(u.Reasoning), OutputAudioTokens: n(u.OutputAudio),
		OutputImageTokens: n(u.OutputImage), WebSearchRequests: n(u.WebSearchRequests),
		ServiceTier: u.Tier.String(), Source: u.Source.String(),
	}
	if u.AudioMillis.OK {
		d.AudioSeconds = &decimal{n: u.AudioMillis.N, scale: 3}
	}
	if u.ProviderCostNano.OK {
		c := USD(u.ProviderCostNano.N)
		d.ProviderCostUSD = &c
	}
	return d
}

// priceOf recomputes the price breakdown of ev from its stored usage with
// the price the proxy applies to its model.
func (a *API) priceOf(ev *meter.Event) detailsPrice {
	if !ev.Priced {
		return detailsPrice{}
	}
	p := detailsPrice{Priced: true}
	var parts []pricing.Part
	var price *pricing.Price
	if a.opt.Price != nil {
		price, _ = a.opt.Price(ev.Upstream, ev.Model)
	}
	switch {
	case price != nil:
		p.CatalogKey = price.Key()
		parts = price.Breakdown(&ev.Usage, nil)
	case ev.Usage.ProviderCostNano.OK:
		// Priced by the provider's own cost (no catalog entry).
		c := min(max(ev.Usage.ProviderCostNano.N, 0), math.MaxInt64/1000) * 1000
		parts = []pricing.Part{{Name: pricing.PartProviderReported, Units: 1, RatePico: c, CostPico: c}}
	default:
		// The catalog no longer prices the model: no breakdown.
		return p
	}
	p.Parts = make([]detailsPart, 0, len(parts))
	var sum int64
	for _, pt := range parts {
		p.Parts = append(p.Parts, partOf(pt))
		sum = min(sum, math.MaxInt64-max(pt.CostPico, 0)) + max(pt.CostPico, 0)
	}
	total := USD(sum/1000 + (sum%1000+500)/1000) // half-up, as the proxy rounds
	p.TotalUSD = &total
	return p
}

func partOf(pt pricing.Part) detailsPart {
	d := detailsPart{Name: pt.Name, CostUSD: decimal{n: pt.CostPico, scale: 12}}
	units := pt.Units
	switch pt.Name {
	case pricing.PartProviderReported:
	case pricing.PartAudioSeconds:
		d.Seconds = &decimal{n: units, scale: 3}
		d.RatePerSecond = &decimal{n: pt.RatePico, scale: 12}
	case pricing.PartWebSearch:
		d.Requests = &units
		d.RatePerRequest = &decimal{n: pt.RatePico, scale: 12}
	default:
		d.Tokens = &units
		// pico-dollars per token are micro-dollars per million tokens.
		d.RatePerMillion = &decimal{n: pt.RatePico, scale: 6}
	}
	return d
}

// decimal is the exact decimal n × 10^-scale, rendered as a JSON number
// without trailing zeros.
type decimal struct {
	n     int64
	scale int
}

// MarshalJSON renders d exactly.
func (d decimal) MarshalJSON() ([]byte, error) {
	return appendDecimal(nil, d.n, d.scale), nil
}

// appendDecimal appends n × 10^-scale (scale 0..18) as a decimal number.
func appendDecimal(dst []byte, n int64, scale int) []byte {
	u := uint64(n)
	if n < 0 {
		dst = append(dst, '-')
		u = uint64(-n) // -MinInt64 wraps to its own magnitude as uint64
	}
	var pow uint64 = 1
	for range scale {
		pow *= 10
	}
	dst = strconv.AppendUint(dst, u/pow, 10)
	frac := u % pow
	if frac == 0 {
		return dst
	}
	var buf [18]byte
	for i := scale - 1; i >= 0; i-- {
		buf[i] = byte('0' + frac%10)
		frac /= 10
	}
	end := scale
	for end > 0 && buf[end-1] == '0' {
		end--
	}
	dst = append(dst, '.')
	return append(dst, buf[:end]...)
}
