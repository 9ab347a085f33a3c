package api

import (
	"cmp"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/meter/usage"
)

// Thresholds of the cost insights and their recommendations. Each rule is
// documented on the function that applies it; costInsights lists them all.
const (
	// insightTop is the length of top_cost_drivers and top_members.
	insightTop = 5
	// flatTrendTenths: a trend whose percentage, rounded to one decimal, is
	// below 1.0 in absolute value is "flat".
	flatTrendTenths = 10
	// monthSeconds is the "month" savings are scaled to: 30 days.
	monthSeconds = 30 * 86400

	// cheapMinRequests is the least number of successful requests of a model
	// before its average output length means anything.
	cheapMinRequests = 10
	// shortOutputTokens: traffic of a model whose average output per
	// successful request is below it counts as "short outputs".
	shortOutputTokens = 300

	// cacheMinInputTokens is the least input of a model in the period for
	// the caching rule.
	cacheMinInputTokens = 100_000
	// cacheMinAvgInputTokens is the least average input per successful
	// request: providers cache only prompts of at least 1024 tokens.
	cacheMinAvgInputTokens = 1024
	// cacheLowSharePct: a cached share of input below it is "low".
	cacheLowSharePct = 10
	// cacheTargetSharePct is the assumed cached share once prompts are laid
	// out for caching (static prefix first).
	cacheTargetSharePct = 50

	// errorMinRequests is the least number of requests of a model for the
	// error rule.
	errorMinRequests = 20
	// errorRatePct: a model whose errors exceed this share of its requests
	// gets a recommendation.
	errorRatePct = 5

	// repeatMinRequests is the least number of requests of a model for the
	// repeated-prompt rule.
	repeatMinRequests = 10
	// repeatSharePct: repeats (successful requests whose prompt was seen
	// within meter.RepeatWindow before) at or above this share of a model's
	// requests get a recommendation.
	repeatSharePct = 10
)

// reportPeriod is the period of a report, with its length.
type reportPeriod struct {
	Start    string `json:"start"`
	End      string `json:"end"`
	Timezone string `json:"timezone"`
	// Days is the length in days: calendar days when both bounds are
	// local midnights (a DST day counts as one), else hours / 24.
	Days float64 `json:"days"`
}

// insightsAnswer is the envelope of GET /api/account/cost-insights.
type insightsAnswer struct {
	Success  bool         `json:"success"`
	Insights insightsBody `json:"insights"`
}

// insightsBody is the "insights" object; money in USD.
type insightsBody struct {
	Period         reportPeriod   `json:"period"`
	TotalCost      USD            `json:"total_cost"`
	TotalRequests  int64          `json:"total_requests"`
	CostByCategory map[string]USD `json:"cost_by_category"`
	CostTrend      costTrend      `json:"cost_trend"`
	TopCostDrivers []modelDriver  `json:"top_cost_drivers"`
	// TopMembers is shown to admins only.
	TopMembers      *[]memberDriver `json:"top_members,omitempty"`
	Recommendations []any           `json:"recommendations"`
}

// costTrend compares the period's cost with the previous period of equal
// length.
type costTrend struct {
	// Direction is up, down or flat.
	Direction string `json:"direction"`
	// Percentage is (current − previous) / previous × 100 rounded to one
	// decimal; null when the previous period cost nothing and this one did.
	Percentage *float64 `json:"percentage"`
	// PreviousPeriod is the cost of the previous period.
	PreviousPeriod USD    `json:"previous_period"`
	PreviousStart  string `json:"previous_start"`
	PreviousEnd    string `json:"previous_end"`
}

// modelDriver is one row of top_cost_drivers.
type modelDriver struct {
	Model    string `json:"model"`
	Cost     USD    `json:"cost"`
	Requests int64  `json:"requests"`
}

// memberDriver is one row of top_members.
type memberDriver struct {
	UserID   string `json:"user_id"`
	Email    string `json:"email"`
	Cost     USD    `json:"cost"`
	Requests int64  `json:"requests"`
}

// cheaperModelRec is a "cheaper_model" recommendation (see cheaperModelRec).
type cheaperModelRec struct {
	Type             string `json:"type"`
	Model            string `json:"model"`
	SuggestedModel   string `json:"suggested_model"`
	Requests         int64  `json:"requests"`
	AvgOutputTokens  int64  `json:"avg_output_tokens"`
	InputTokens      int64  `json:"input_tokens"`
	CachedTokens     int64  `json:"cached_tokens"`
	OutputTokens     int64  `json:"output_tokens"`
	CurrentCost      USD    `json:"current_cost"`
	EstimatedCost    USD    `json:"estimated_cost"`
	EstimatedSavings USD    `json:"estimated_savings"`
	MonthlySavings   USD    `json:"estimated_monthly_savings"`
	Message          string `json:"message"`
}

// cacheRec is a "low_cache_hit" recommendation (see lowCacheHitRec).
type cacheRec struct {
	Type              string  `json:"type"`
	Model             string  `json:"model"`
	Requests          int64   `json:"requests"`
	InputTokens       int64   `json:"input_tokens"`
	CachedTokens      int64   `json:"cached_tokens"`
	CacheHitPct       float64 `json:"cache_hit_pct"`
	TargetCacheHitPct float64 `json:"target_cache_hit_pct"`
	InputRate         USD     `json:"input_usd_per_million"`
	CacheReadRate     USD     `json:"cache_read_usd_per_million"`
	EstimatedSavings  USD     `json:"estimated_savings"`
	MonthlySavings    USD     `json:"estimated_monthly_savings"`
	Message           string  `json:"message"`
}

// errorRec is a "high_error_rate" recommendation (see highErrorRec).
type errorRec struct {
	Type         string  `json:"type"`
	Model        string  `json:"model"`
	Requests     int64   `json:"requests"`
	Errors       int64   `json:"errors"`
	ErrorRatePct float64 `json:"error_rate_pct"`
	// ByType counts the errors by type from the cells; errors aggregated
	// before cells were split by type are "unclassified".
	ByType map[string]int64 `json:"by_type"`
	// Retryable counts rate_limit, model_error, timeout and
	// upstream_unreachable errors: the ones clients retry.
	Retryable      int64  `json:"retryable_errors"`
	WastedCost     USD    `json:"wasted_cost"`
	MonthlySavings USD    `json:"estimated_monthly_savings"`
	Message        string `json:"message"`
}

// repeatRec is a "repeated_prompts" recommendation (see repeatedPromptRecs).
type repeatRec struct {
	Type             string  `json:"type"`
	Model            string  `json:"model"`
	Requests         int64   `json:"requests"`
	RepeatedRequests int64   `json:"repeated_requests"`
	RepeatedPct      float64 `json:"repeated_pct"`
	EstimatedSavings USD     `json:"estimated_savings"`
	MonthlySavings   USD     `json:"estimated_monthly_savings"`
	Message          string  `json:"message"`
}

// scoredRec is a recommendation with its sort keys.
type scoredRec struct {
	monthly     int64
	typ, model  string
	publishable any
}

// costInsights serves GET /api/account/cost-insights: the cost of the
// period (date parameters; default the last 30 days) in total and by
// category, the trend against the previous period, the top models (and, for
// admins, members) and recommendations computed from the data. Admins see
// their org, members their own requests.
//
// Trend: the previous period has the same length and ends where this one
// starts: the same number of calendar days when both bounds are local
// midnights (so a DST day is one day), else the same duration. percentage =
// (current − previous) / previous × 100, rounded half away from zero to one
// decimal; direction is "flat" when |percentage| < 1.0, else "up" or
// "down". When the previous period cost nothing: "flat" with 0 if this one
// did too, else "up" with percentage null. The default period includes
// today in full, so early in a day the trend leans down.
//
// Recommendations (the list is empty when no rule applies; each carries
// the numbers it rests on, sorted by estimated monthly savings):
//   - cheaper_model: see cheaperModelRec.
//   - low_cache_hit: see lowCacheHitRec.
//   - high_error_rate: see highErrorRec.
//   - repeated_prompts: see repeatedPromptRecs.
//
// Savings: estimated_savings is over the period; estimated_monthly_savings
// scales it to 30 days: savings × 30 / period days (round half-up to the
// nano-dollar). Rates are the catalog's base rates (no service tier, no
// long-context tier), cache writes at the 5-minute rate.
func (a *API) costInsights(c *call) {
	ctx, org := c.ctx, c.org
	loc := org.Location
	p, err := parsePeriod(ctx.QueryArgs(), loc, a.now())
	if err != nil {
		a.badParam(ctx, err)
		return
	}
	sp := spanOf(p, loc)
	user := c.user()

	var total, prevTotal int64
	var requests int64
	byCat := map[usage.Category]*meter.Cell{}
	byModel := map[string]*meter.Cell{}
	byUser := map[string]*meter.Cell{}
	st := newErrorStats()
	start, end := p.Start.Unix(), p.End.Unix()
	a.scan(org.ID, user, sp.prev.Start.Unix(), start, func(_ *meter.CellKey, cell *meter.Cell) {
		prevTotal += cell.CostNano
	})
	a.scan(org.ID, user, start, end, func(k *meter.CellKey, cell *meter.Cell) {
		st.add(k, cell)
		total += cell.CostNano
		requests += cell.Requests
		for _, g := range [...]struct {
			m   map[string]*meter.Cell
			key string
		}{{byModel, k.Model}, {byUser, k.User}} {
			s := g.m[g.key]
			if s == nil {
				s = new(meter.Cell)
				g.m[g.key] = s
			}
			s.Merge(cell)
		}
		s := byCat[k.Category]
		if s == nil {
			s = new(meter.Cell)
			byCat[k.Category] = s
		}
		s.Merge(cell)
	})

	ins := insightsBody{
		Period:         sp.json(p, loc),
		TotalCost:      USD(total),
		TotalRequests:  requests,
		CostByCategory: make(map[string]USD, len(byCat)),
		CostTrend:      trendOf(total, prevTotal, sp.prev),
		TopCostDrivers: topModels(byModel),
	}
	for cat, s := range byCat {
		ins.CostByCategory[cat.String()] = USD(s.CostNano)
	}
	if c.m.IsAdmin() {
		top := a.topMembers(org.ID, byUser)
		ins.TopMembers = &top
	}

	var recs []scoredRec
	models := slices.Sorted(maps.Keys(byModel))
	for _, model := range models {
		cell := byModel[model]
		if r, ok := a.cheaperModelRec(model, cell, sp.seconds); ok {
			recs = append(recs, r)
		}
		if r, ok := a.lowCacheHitRec(model, cell, sp.seconds); ok {
			recs = append(recs, r)
		}
	}
	var flagged []string
	for _, model := range models {
		if errorRuleApplies(byModel[model]) {
			flagged = append(flagged, model)
		}
	}
	if len(flagged) > 0 {
		for _, model := range flagged {
			recs = append(recs, highErrorRec(model, byModel[model], st.byModel[model], sp.seconds))
		}
	}
	recs = append(recs, repeatedPromptRecs(byModel, sp.seconds)...)
	slices.SortFunc(recs, func(x, y scoredRec) int {
		if c := cmp.Compare(y.monthly, x.monthly); c != 0 {
			return c
		}
		if c := cmp.Compare(x.typ, y.typ); c != 0 {
			return c
		}
		return cmp.Compare(x.model, y.model)
	})
	ins.Recommendations = make([]any, 0, len(recs))
	for _, r := range recs {
		ins.Recommendations = append(ins.Recommendations, r.publishable)
	}
	a.writeJSON(ctx, insightsAnswer{Success: true, Insights: ins})
}

// reportSpan is the length of a report period and its previous period.
type reportSpan struct {
	// seconds is the length savings are scaled by: days × 86400 for a
	// midnight-aligned period, else the exact duration.
	seconds int64
	// days is seconds / 86400.
	days float64
	prev period
}

// spanOf measures p in loc: in calendar days when both bounds are local
// midnights, else by its duration; the previous period has the same length
// and ends at p.Start.
func spanOf(p period, loc *time.Location) reportSpan {
	s, e := p.Start.In(loc), p.End.In(loc)
	if isMidnight(s) && isMidnight(e) {
		days := dayNumber(e) - dayNumber(s)
		return reportSpan{
			seconds: days * 86400,
			days:    float64(days),
			prev:    period{Start: time.Date(s.Year(), s.Month(), s.Day()-int(days), 0, 0, 0, 0, loc), End: p.Start},
		}
	}
	d := p.End.Sub(p.Start)
	sec := max(int64(d/time.Second), 1)
	return reportSpan{seconds: sec, days: float64(sec) / 86400, prev: period{Start: p.Start.Add(-d), End: p.Start}}
}

func (s reportSpan) json(p period, loc *time.Location) reportPeriod {
	return reportPeriod{Start: p.Start.In(loc).Format(time.RFC3339), End: p.End.In(loc).Format(time.RFC3339), Timezone: loc.String(), Days: s.days}
}

func isMidnight(t time.Time) bool {
	return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

// dayNumber numbers the calendar date of t (in t's location).
func dayNumber(t time.Time) int64 {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// monthlyOf scales savings over a period of seconds to 30 days.
func monthlyOf(savings, seconds int64) int64 {
	return mulDivRound(savings, monthSeconds, seconds)
}

// trendOf compares cur with prev (nano-dollars) as costInsights documents.
func trendOf(cur, prev int64, pp period) costTrend {
	t := costTrend{PreviousPeriod: USD(prev), PreviousStart: pp.Start.Format(time.RFC3339), PreviousEnd: pp.End.Format(time.RFC3339)}
	switch {
	case prev == 0 && cur == 0:
		zero := 0.0
		t.Direction, t.Percentage = "flat", &zero
		return t
	case prev == 0:
		t.Direction = "up"
		return t
	}
	tenths := signedTenths(cur-prev, prev)
	pct := float64(tenths) / 10
	t.Percentage = &pct
	switch {
	case tenths > -flatTrendTenths && tenths < flatTrendTenths:
		t.Direction = "flat"
	case tenths > 0:
		t.Direction = "up"
	default:
		t.Direction = "down"
	}
	return t
}

// signedTenths returns num / den × 100 in tenths of a percent, rounded half
// away from zero (den > 0).
func signedTenths(num, den int64) int64 {
	if num < 0 {
		return -mulDivRound(-num, 1000, den)
	}
	return mulDivRound(num, 1000, den)
}

// pctTenths returns num / den × 100 rounded half-up to one decimal (den > 0).
func pctTenths(num, den int64) float64 {
	return float64(mulDivRound(num, 1000, den)) / 10
}

// mulDivRound returns a × b / c rounded half-up, for a, b ≥ 0 and c > 0,
// without overflowing in between; a result beyond int64 saturates.
func mulDivRound(a, b, c int64) int64 {
	if a <= 0 || b <= 0 || c <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return 1<<63 - 1
	}
	q, r := bits.Div64(hi, lo, uint64(c))
	if r >= uint64(c)-r {
		q++
	}
	if q > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(q)
}

func topModels(byModel map[string]*meter.Cell) []modelDriver {
	out := make([]modelDriver, 0, len(byModel))
	for m, c := range byModel {
		out = append(out, modelDriver{Model: m, Cost: USD(c.CostNano), Requests: c.Requests})
	}
	slices.SortFunc(out, func(x, y modelDriver) int {
		if c := cmp.Compare(y.Cost, x.Cost); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Requests, x.Requests); c != 0 {
			return c
		}
		return cmp.Compare(x.Model, y.Model)
	})
	return out[:min(len(out), insightTop)]
}

func (a *API) topMembers(org string, byUser map[string]*meter.Cell) []memberDriver {
	out := make([]memberDriver, 0, len(byUser))
	for u, c := range byUser {
		d := memberDriver{UserID: u, Cost: USD(c.CostNano), Requests: c.Requests}
		if m, ok := a.opt.Accounts.Member(org, u); ok {
			d.Email = m.Email
		}
		out = append(out, d)
	}
	slices.SortFunc(out, func(x, y memberDriver) int {
		if c := cmp.Compare(y.Cost, x.Cost); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Requests, x.Requests); c != 0 {
			return c
		}
		return cmp.Compare(x.UserID, y.UserID)
	})
	return out[:min(len(out), insightTop)]
}

// tokenRates are a model's base rates in pico-dollars per token.
type tokenRates struct {
	input, cacheRead, cacheWrite, output, reasoning int64
}

// ratesOf reads p's base rates through a small probe usage (small enough
// for the first tier of every tiered price), with the catalog's fallbacks:
// cache reads and writes at the input rate and reasoning at the output rate
// where the model has no rate of its own; an embedding model's output 0.
func ratesOf(p *pricing.Price) tokenRates {
	probe := usage.Usage{Input: usage.Of(3), CacheRead: usage.Of(1), CacheWrite: usage.Of(1), Output: usage.Of(2), Reasoning: usage.Of(1)}
	var buf [12]pricing.Part
	r := tokenRates{reasoning: -1}
	for _, pt := range p.Breakdown(&probe, buf[:0]) {
		switch pt.Name {
		case pricing.PartInput:
			r.input = pt.RatePico
		case pricing.PartCacheRead:
			r.cacheRead = pt.RatePico
		case pricing.PartCacheWrite5m:
			r.cacheWrite = pt.RatePico
		case pricing.PartOutput:
			r.output = pt.RatePico
		case pricing.PartReasoning:
			r.reasoning = pt.RatePico
		}
	}
	if r.reasoning < 0 {
		r.reasoning = r.output
	}
	return r
}

// costOf prices the token sums of c at r, in nano-dollars rounded half-up
// once: (input − cached − cache writes) × input + cached × cache read +
// cache writes × cache write + (output − reasoning) × output + reasoning ×
// reasoning rate.
func (r tokenRates) costOf(c *meter.Cell) int64 {
	var hi, lo uint64
	add := func(units, rate int64) {
		if units <= 0 || rate <= 0 {
			return
		}
		ph, pl := bits.Mul64(uint64(units), uint64(rate))
		var carry uint64
		lo, carry = bits.Add64(lo, pl, 0)
		hi += ph + carry
	}
	add(c.InputTokens-c.CachedTokens-c.CacheWrite, r.input)
	add(c.CachedTokens, r.cacheRead)
	add(c.CacheWrite, r.cacheWrite)
	add(c.OutputTokens-c.Reasoning, r.output)
	add(c.Reasoning, r.reasoning)
	if hi >= 1000 {
		return 1<<63 - 1
	}
	q, rem := bits.Div64(hi, lo, 1000)
	if rem >= 500 {
		q++
	}
	return int64(min(q, 1<<63-1))
}

// lookupModel finds the catalog price of an analytics model
// "{upstream}/{model}". The API does not know the upstream's dialect, so it
// tries the upstream's name as the provider hint, then each dialect.
func (a *API) lookupModel(model string) (upstream, name string, p *pricing.Price, ok bool) {
	if a.opt.Catalog == nil {
		return "", "", nil, false
	}
	upstream, name, found := strings.Cut(model, "/")
	if !found || name == "" {
		return "", "", nil, false
	}
	for _, hint := range [...]string{upstream, "openai", "anthropic", "gemini"} {
		if p, ok := a.opt.Catalog.Lookup(upstream, hint, name); ok {
			return upstream, name, p, true
		}
	}
	return "", "", nil, false
}

// generativeModes are the catalog modes the cheaper-model rule considers.
var generativeModes = map[string]bool{"chat": true, "completion": true, "responses": true}

// cheaperModelRec applies the cheaper-model rule to one model's cells:
//
//   - the model has at least cheapMinRequests (10) successful requests
//     (requests − errors), their average output is below shortOutputTokens
//     (300) tokens (output tokens / successful requests), and its catalog
//     mode is chat, completion or responses;
//   - a candidate is a catalog entry of the same litellm_provider and mode
//     whose input AND output base rates are both strictly lower, that the
//     same upstream resolves to under its name (so the proxy would price
//     it so), and that is of the same family: its name (after the last
//     "/", split at "-", "_", "@", ":", date parts such as 2024-08-06 or
//     20241022 left out) has the same first token (gpt, claude, gemini,
//     o3), keeps every token holding a digit (the generation: 4o, 2.5, 4,
//     5) and lacks at most one other token of the current name (sonnet →
//     haiku, pro → flash). Hence gpt-4o → gpt-4o-mini, claude-sonnet-4-5 →
//     claude-haiku-4-5, gemini-2.5-pro → gemini-2.5-flash;
//   - among candidates the one lacking fewest tokens wins, then the one
//     with fewest extra tokens, then the dearest (the smallest step down,
//     input + output rate), then the first key;
//   - estimated_cost prices the model's token sums at the candidate's base
//     rates (tokenRates.costOf); current_cost is what the traffic cost
//     (cells); estimated_savings = current − estimated, and the rule
//     applies only when it is positive.
func (a *API) cheaperModelRec(model string, c *meter.Cell, seconds int64) (scoredRec, bool) {
	ok := c.Requests-c.Errors >= cheapMinRequests && c.OutputTokens < shortOutputTokens*(c.Requests-c.Errors)
	if !ok {
		return scoredRec{}, false
	}
	upstream, name, cur, ok := a.lookupModel(model)
	if !ok || !generativeModes[cur.Mode()] {
		return scoredRec{}, false
	}
	curTok := nameTokens(name)
	if len(curTok) == 0 {
		return scoredRec{}, false
	}
	type cand struct {
		name           string
		p              *pricing.Price
		missing, extra int
	}
	var best *cand
	better := func(x, y *cand) bool {
		if x.missing != y.missing {
			return x.missing < y.missing
		}
		if x.extra != y.extra {
			return x.extra < y.extra
		}
		xs, ys := x.p.InputRatePico()+x.p.OutputRatePico(), y.p.InputRatePico()+y.p.OutputRatePico()
		if xs != ys {
			return xs > ys
		}
		return x.p.Key() < y.p.Key()
	}
	curIn, curOut := cur.InputRatePico(), cur.OutputRatePico()
	a.opt.Catalog.Each(func(key string, p *pricing.Price) {
		if p == cur || p.Provider() != cur.Provider() || p.Mode() != cur.Mode() {
			return
		}
		in, out := p.InputRatePico(), p.OutputRatePico()
		if in <= 0 || out <= 0 || in >= curIn || out >= curOut {
			return
		}
		n := key[strings.LastIndexByte(key, '/')+1:]
		missing, extra, fam := familyDistance(curTok, nameTokens(n))
		if !fam {
			return
		}
		if q, ok := a.opt.Catalog.Lookup(upstream, upstream, n); !ok || q != p {
			if q, ok = a.opt.Catalog.Lookup(upstream, p.Provider(), n); !ok || q != p {
				return
			}
		}
		c := &cand{name: n, p: p, missing: missing, extra: extra}
		if best == nil || better(c, best) {
			best = c
		}
	})
	if best == nil {
		return scoredRec{}, false
	}
	est := ratesOf(best.p).costOf(c)
	savings := c.CostNano - est
	if savings <= 0 {
		return scoredRec{}, false
	}
	succ := c.Requests - c.Errors
	r := cheaperModelRec{
		Type:             "cheaper_model",
		Model:            model,
		SuggestedModel:   upstream + "/" + best.name,
		Requests:         succ,
		AvgOutputTokens:  c.OutputTokens / succ,
		InputTokens:      c.InputTokens,
		CachedTokens:     c.CachedTokens,
		OutputTokens:     c.OutputTokens,
		CurrentCost:      USD(c.CostNano),
		EstimatedCost:    USD(est),
		EstimatedSavings: USD(savings),
		MonthlySavings:   USD(monthlyOf(savings, seconds)),
	}
	r.Message = fmt.Sprintf("%s: %d requests averaged %d output tokens; at %s rates the same tokens would cost %s instead of %s (about %s a month less)",
		model, succ, r.AvgOutputTokens, r.SuggestedModel, usdText(est), usdText(c.CostNano), usdText(int64(r.MonthlySavings)))
	return scoredRec{monthly: int64(r.MonthlySavings), typ: r.Type, model: model, publishable: r}, true
}

// nameTokens splits a model name into lower-case tokens at "-", "_", "@"
// and ":", leaving out date parts: an all-digit token of four or more digits
// and the two-digit tokens right after one (2024-08-06, 20241022, 0613).
func nameTokens(name string) []string {
	fields := strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return r == '-' || r == '_' || r == '@' || r == ':'
	})
	out := fields[:0]
	dropped := false
	for _, f := range fields {
		if allDigits(f) && (len(f) >= 4 || (len(f) == 2 && dropped)) {
			dropped = true
			continue
		}
		dropped = false
		out = append(out, f)
	}
	return out
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }

// familyDistance tells whether cand is of cur's family (same first token,
// every token with a digit kept, at most one other token lacking) and how
// many tokens of cur it lacks and how many it adds.
func familyDistance(cur, cand []string) (missing, extra int, family bool) {
	if len(cur) == 0 || len(cand) == 0 || cur[0] != cand[0] {
		return 0, 0, false
	}
	for _, t := range cur[1:] {
		if slices.Contains(cand[1:], t) {
			continue
		}
		if hasDigit(t) {
			return 0, 0, false
		}
		missing++
	}
	if missing > 1 {
		return 0, 0, false
	}
	for _, t := range cand[1:] {
		if !slices.Contains(cur[1:], t) {
			extra++
		}
	}
	return missing, extra, true
}

// lowCacheHitRec applies the caching rule to one model's cells: the
// model's catalog price has its own cache-read rate below its input rate;
// the period has at least cacheMinInputTokens (100 000) input tokens and at
// least cacheMinAvgInputTokens (1024) per successful request (shorter
// prompts are not cached); cached tokens are below cacheLowSharePct (10%)
// of input. The estimate assumes cacheTargetSharePct (50%) of input would
// be read from cache: estimated_savings = (input × 50% − cached) × (input
// rate − cache-read rate). It ignores cache-write premiums (Anthropic bills
// the first write of a prefix at 1.25× input), so it is an upper bound.
func (a *API) lowCacheHitRec(model string, c *meter.Cell, seconds int64) (scoredRec, bool) {
	succ := c.Requests - c.Errors
	if succ <= 0 || c.InputTokens < cacheMinInputTokens || c.InputTokens < cacheMinAvgInputTokens*succ ||
		c.CachedTokens*100 >= cacheLowSharePct*c.InputTokens {
		return scoredRec{}, false
	}
	_, _, p, ok := a.lookupModel(model)
	if !ok || !p.HasCacheRead() {
		return scoredRec{}, false
	}
	r := ratesOf(p)
	diff := r.input - r.cacheRead
	if diff <= 0 {
		return scoredRec{}, false
	}
	// (input × target% − cached) × diff pico, in nano: (input × target −
	// cached × 100) × diff / (100 × 1000).
	extra := c.InputTokens*cacheTargetSharePct - c.CachedTokens*100
	savings := mulDivRound(extra, diff, 100_000)
	if savings <= 0 {
		return scoredRec{}, false
	}
	rec := cacheRec{
		Type:              "low_cache_hit",
		Model:             model,
		Requests:          succ,
		InputTokens:       c.InputTokens,
		CachedTokens:      c.CachedTokens,
		CacheHitPct:       pctTenths(c.CachedTokens, c.InputTokens),
		TargetCacheHitPct: cacheTargetSharePct,
		InputRate:         USD(r.input * 1000),
		CacheReadRate:     USD(r.cacheRead * 1000),
		EstimatedSavings:  USD(savings),
		MonthlySavings:    USD(monthlyOf(savings, seconds)),
	}
	rec.Message = fmt.Sprintf("%s: %s%% of %d input tokens were cache reads; with %d%% (a stable prompt prefix first) they would cost %s less (about %s a month)",
		model, strconv.FormatFloat(rec.CacheHitPct, 'f', -1, 64), c.InputTokens, cacheTargetSharePct, usdText(savings), usdText(int64(rec.MonthlySavings)))
	return scoredRec{monthly: int64(rec.MonthlySavings), typ: rec.Type, model: model, publishable: rec}, true
}

// errorRuleApplies tells whether a model's cells pass the error rule's
// thresholds: at least errorMinRequests (20) requests and errors above
// errorRatePct (5%) of them.
func errorRuleApplies(c *meter.Cell) bool {
	return c.Requests >= errorMinRequests && c.Errors*100 > errorRatePct*c.Requests
}

// highErrorRec builds the error recommendation of a model that passes
// errorRuleApplies. Errors and requests come from the cells; the types and
// the cost of the failed requests from the request logs (es may be nil):
// errors usually cost nothing, but a failed stream or a client that hung up
// is billed for what was generated. wasted_cost is that cost over the
// period and estimated_monthly_savings its 30-day scale (what fixing the
// errors would save directly; retries that followed are not identifiable
// without prompt fingerprints). retryable_errors counts rate_limit,
// model_error, timeout and upstream_unreachable.
func highErrorRec(model string, c *meter.Cell, es *modelErrorStats, seconds int64) scoredRec {
	r := errorRec{
		Type:         "high_error_rate",
		Model:        model,
		Requests:     c.Requests,
		Errors:       c.Errors,
		ErrorRatePct: pctTenths(c.Errors, c.Requests),
		ByType:       map[string]int64{},
	}
	var logged int64
	if es != nil {
		for t, n := range es.byType {
			r.ByType[t] = n
			logged += n
			switch t {
			case usage.ErrRateLimit.String(), usage.ErrModel.String(), usage.ErrTimeout.String(), usage.ErrUpstreamUnreachable.String():
				r.Retryable += n
			}
		}
		r.WastedCost = USD(es.costNano)
	}
	if c.Errors > logged {
		r.ByType[unclassified] += c.Errors - logged
	}
	r.MonthlySavings = USD(monthlyOf(int64(r.WastedCost), seconds))
	r.Message = fmt.Sprintf("%s: %d of %d requests failed (%s%%), %d of them retryable (rate limits, provider errors, timeouts); failed requests cost %s",
		model, c.Errors, c.Requests, strconv.FormatFloat(r.ErrorRatePct, 'f', -1, 64), r.Retryable, usdText(int64(r.WastedCost)))
	return scoredRec{monthly: int64(r.MonthlySavings), typ: r.Type, model: model, publishable: r}
}

// repeatedPromptRecs applies the repeated-prompt rule, from the cells: the
// meter marks a successful request as a repeat when a request of the same
// org and model with the same prompt fingerprint (meter.Event.PromptHash,
// a hash of the request body) was seen within meter.RepeatWindow (24 h)
// before, i.e. when a response cache with that time-to-live would have
// answered it.
//
// A model qualifies with at least repeatMinRequests (10) requests and
// repeats at or above repeatSharePct (10%) of them. estimated_savings is
// what the repeats cost.
func repeatedPromptRecs(byModel map[string]*meter.Cell, seconds int64) []scoredRec {
	var out []scoredRec
	for _, model := range slices.Sorted(maps.Keys(byModel)) {
		c := byModel[model]
		if c.Requests < repeatMinRequests || c.Repeated == 0 || c.Repeated*100 < repeatSharePct*c.Requests {
			continue
		}
		savings := c.RepeatedCostNano
		r := repeatRec{
			Type:             "repeated_prompts",
			Model:            model,
			Requests:         c.Requests,
			RepeatedRequests: c.Repeated,
			RepeatedPct:      pctTenths(c.Repeated, c.Requests),
			EstimatedSavings: USD(savings),
			MonthlySavings:   USD(monthlyOf(savings, seconds)),
		}
		r.Message = fmt.Sprintf("%s: %d of %d requests repeated a prompt sent within the previous 24 hours; caching their answers would save %s (about %s a month)",
			model, c.Repeated, c.Requests, usdText(savings), usdText(int64(r.MonthlySavings)))
		out = append(out, scoredRec{monthly: int64(r.MonthlySavings), typ: r.Type, model: model, publishable: r})
	}
	return out
}

// usdText renders nano-dollars as "$1.25".
func usdText(n int64) string { return string(AppendUSD([]byte{'$'}, n)) }
