package api

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/meter/usage"
	"github.com/infermeter/infermeter/store"
)

// Keys of the insights and errors fixtures.
const (
	insKeyAlice = "ins-alice" // admin of acme
	insKeyBob   = "ins-bob"   // member of acme
	insKeyEve   = "ins-eve"   // admin of globex
)

// insBerlin is the timezone of the fixtures' org.
func insBerlin(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// insLocal returns "YYYY-MM-DD hh:mm" in loc.
func insLocal(t testing.TB, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// insDirectory has acme (Europe/Berlin: alice admin, bob member) and globex
// (eve admin).
func insDirectory(t testing.TB, loc *time.Location) *account.Directory {
	t.Helper()
	d := account.New()
	d.PutOrg(account.Org{ID: "acme", Name: "Acme", Location: loc})
	d.PutOrg(account.Org{ID: "globex", Name: "Globex", Location: time.UTC})
	for _, m := range []account.Member{
		{ID: "alice", Org: "acme", Email: "alice@acme.example", Department: "research", BillingMode: account.OrgPays, Role: account.RoleAdmin, KeyHash: account.HashKey([]byte(insKeyAlice))},
		{ID: "bob", Org: "acme", Email: "bob@acme.example", Department: "platform", BillingMode: account.MemberPays, Role: account.RoleMember, KeyHash: account.HashKey([]byte(insKeyBob))},
		{ID: "eve", Org: "globex", Email: "eve@globex.example", Role: account.RoleAdmin, KeyHash: account.HashKey([]byte(insKeyEve))},
	} {
		if err := d.PutMember(m); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// insAPI builds an API over a meter holding cells and a store holding
// logs, with the embedded catalog and a fixed clock.
func insAPI(t testing.TB, loc *time.Location, now time.Time, cells []meter.CellRecord, logs []meter.Event) *API {
	t.Helper()
	dir := insDirectory(t, loc)
	m := meter.New(meter.Options{Location: dir.Location})
	for _, c := range cells {
		m.Load(c.Key, c.Cell)
	}
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Apply(nil, logs); err != nil {
		t.Fatal(err)
	}
	cat, err := pricing.Load("")
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{Accounts: dir, Meter: m, Store: st, Catalog: cat, Now: func() time.Time { return now }})
}

// insGet calls the handler with a bearer key.
func insGet(t testing.TB, a *API, key, uri string) (int, gjson.Result) {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(uri)
	ctx.Request.Header.SetMethod(fasthttp.MethodGet)
	if key != "" {
		ctx.Request.Header.Set("Authorization", "Bearer "+key)
	}
	a.Handler(&ctx)
	body := ctx.Response.Body()
	if !gjson.ValidBytes(body) {
		t.Fatalf("GET %s: not JSON: %s", uri, body)
	}
	return ctx.Response.StatusCode(), gjson.ParseBytes(body)
}

// insCell is one cell of acme.
func insCell(t testing.TB, loc *time.Location, user, model string, cat usage.Category, at string, c meter.Cell) meter.CellRecord {
	t.Helper()
	dept, mode := "research", account.OrgPays
	if user == "bob" {
		dept, mode = "platform", account.MemberPays
	}
	return meter.CellRecord{
		Key:  meter.CellKey{Org: "acme", User: user, Model: model, Department: dept, BillingMode: mode, Category: cat, Hour: insLocal(t, loc, at).Unix()},
		Cell: c,
	}
}

// withError sets the error type of a cell's key.
func withError(c meter.CellRecord, e usage.ErrorType) meter.CellRecord {
	c.Key.ErrorType = e
	return c
}

// insEvent is one request log of acme.
func insEvent(t testing.TB, loc *time.Location, at, user, model string, status int, et usage.ErrorType, costNano int64) meter.Event {
	t.Helper()
	ts := insLocal(t, loc, at).UnixNano()
	upstream, _, _ := strings.Cut(model, "/")
	dept, mode := "research", account.OrgPays
	if user == "bob" {
		dept, mode = "platform", account.MemberPays
	}
	return meter.Event{
		ID: uint64(ts), Time: ts, Org: "acme", User: user, Department: dept, BillingMode: mode,
		Upstream: upstream, Model: model, Category: usage.CategoryChatCompletions,
		Status: status, ErrorType: et, CostNano: costNano, Priced: true, LatencyMicros: 1000,
	}
}

// insightsFixture is the data of TestCostInsights. Now is 2026-03-10 12:00
// in Berlin; the queried period is 2026-03-01..2026-03-10 (ten days, so
// monthly savings are three times the period's), the previous one
// 2026-02-19..2026-02-28.
//
// Catalog rates (pico-dollars per token): gpt-4o input 2 500 000, cache read
// 1 250 000, output 10 000 000; gpt-4o-mini input 150 000, cache read
// 75 000, output 600 000; claude-haiku-4-5 input 1 000 000, output
// 5 000 000; text-embedding-3-small input 20 000.
func insightsFixture(t testing.TB) *API {
	t.Helper()
	loc := insBerlin(t)
	chat, emb := usage.CategoryChatCompletions, usage.CategoryEmbeddings
	cells := []meter.CellRecord{
		// 120 000 × 2 500 000 + 6 000 × 10 000 000 = 3.6e11 pico = 360 000 000 nano.
		insCell(t, loc, "alice", "openai/gpt-4o", chat, "2026-03-02 10:00", meter.Cell{Requests: 60, InputTokens: 120_000, OutputTokens: 6_000, CostNano: 360_000_000}),
		// 80 000 × 2 500 000 + 4 000 × 10 000 000 = 2.4e11 pico = 240 000 000 nano.
		insCell(t, loc, "bob", "openai/gpt-4o", chat, "2026-03-05 15:00", meter.Cell{Requests: 40, InputTokens: 80_000, OutputTokens: 4_000, CostNano: 240_000_000}),
		// 25 successes: 50 000 × 1 000 000 + 10 000 × 5 000 000 = 1e11 pico;
		// one failed stream: 1 000 × 1 000 000 + 200 × 5 000 000 = 2e9 pico;
		// 102 000 000 nano. Average output 10 200 / 25 = 408 (not short).
		// The errors: three rate limits, the failed stream (a model
		// error) and one of a cell aggregated before cells had an error
		// type (unclassified).
		insCell(t, loc, "alice", "anthropic/claude-haiku-4-5", chat, "2026-03-03 09:00", meter.Cell{Requests: 25, InputTokens: 50_000, OutputTokens: 10_000, CostNano: 100_000_000}),
		withError(insCell(t, loc, "alice", "anthropic/claude-haiku-4-5", chat, "2026-03-03 09:00", meter.Cell{Requests: 3, Errors: 3}), usage.ErrRateLimit),
		withError(insCell(t, loc, "alice", "anthropic/claude-haiku-4-5", chat, "2026-03-03 09:00", meter.Cell{Requests: 1, Errors: 1, InputTokens: 1_000, OutputTokens: 200, CostNano: 2_000_000}), usage.ErrModel),
		insCell(t, loc, "alice", "anthropic/claude-haiku-4-5", chat, "2026-03-03 10:00", meter.Cell{Requests: 1, Errors: 1}),
		// 1 000 000 × 20 000 = 2e10 pico = 20 000 000 nano.
		insCell(t, loc, "alice", "openai/text-embedding-3-small", emb, "2026-03-04 11:00", meter.Cell{Requests: 10, InputTokens: 1_000_000, CostNano: 20_000_000}),
		// Previous period: 400 000 000 + 100 000 000 (its first hour).
		insCell(t, loc, "alice", "openai/gpt-4o", chat, "2026-02-20 08:00", meter.Cell{Requests: 50, InputTokens: 100_000, OutputTokens: 15_000, CostNano: 400_000_000}),
		insCell(t, loc, "bob", "openai/gpt-4o", chat, "2026-02-19 00:00", meter.Cell{Requests: 10, InputTokens: 10_000, OutputTokens: 7_500, CostNano: 100_000_000}),
		// Outside both periods.
		insCell(t, loc, "bob", "openai/gpt-4o", chat, "2026-02-18 23:00", meter.Cell{Requests: 1, CostNano: 999}),
		insCell(t, loc, "alice", "openai/gpt-4o", chat, "2026-03-11 00:00", meter.Cell{Requests: 1, CostNano: 777}),
	}
	// The logs of the claude errors (the errors route and the
	// recommendations read the cells, not these).
	logs := []meter.Event{
		insEvent(t, loc, "2026-03-03 09:10", "alice", "anthropic/claude-haiku-4-5", 429, usage.ErrRateLimit, 0),
		insEvent(t, loc, "2026-03-03 09:11", "alice", "anthropic/claude-haiku-4-5", 429, usage.ErrRateLimit, 0),
		insEvent(t, loc, "2026-03-03 09:12", "alice", "anthropic/claude-haiku-4-5", 429, usage.ErrRateLimit, 0),
		insEvent(t, loc, "2026-03-03 09:20", "alice", "anthropic/claude-haiku-4-5", 200, usage.ErrModel, 2_000_000),
		// A success and an error of another period do not count.
		insEvent(t, loc, "2026-03-03 09:30", "alice", "anthropic/claude-haiku-4-5", 200, usage.ErrNone, 4_000_000),
		insEvent(t, loc, "2026-02-27 09:30", "alice", "anthropic/claude-haiku-4-5", 500, usage.ErrModel, 0),
	}
	return insAPI(t, loc, insLocal(t, loc, "2026-03-10 12:00"), cells, logs)
}

func TestCostInsightsAdmin(t *testing.T) {
	a := insightsFixture(t)
	st, j := insGet(t, a, insKeyAlice, "/api/account/cost-insights?start_date=2026-03-01&end_date=2026-03-10")
	if st != 200 || !j.Get("success").Bool() {
		t.Fatalf("%d %s", st, j.Raw)
	}
	ins := j.Get("insights")
	wantStr := func(path, want string) {
		t.Helper()
		if got := ins.Get(path).String(); got != want {
			t.Fatalf("%s = %q, want %q in %s", path, got, want, ins.Raw)
		}
	}
	wantRaw := func(path, want string) {
		t.Helper()
		if got := ins.Get(path).Raw; got != want {
			t.Fatalf("%s = %s, want %s", path, got, want)
		}
	}
	wantStr("period.start", "2026-03-01T00:00:00+01:00")
	wantStr("period.end", "2026-03-11T00:00:00+01:00")
	wantStr("period.timezone", "Europe/Berlin")
	wantRaw("period.days", "10")
	// 360 000 000 + 240 000 000 + 102 000 000 + 20 000 000 nano.
	wantRaw("total_cost", "0.722")
	wantRaw("total_requests", "140")
	wantRaw("cost_by_category", `{"chat_completions":0.702,"embeddings":0.02}`)
	// (722 − 500) / 500 × 100 = 44.4.
	wantRaw("cost_trend", `{"direction":"up","percentage":44.4,"previous_period":0.5,"previous_start":"2026-02-19T00:00:00+01:00","previous_end":"2026-03-01T00:00:00+01:00"}`)
	wantRaw("top_cost_drivers", `[{"model":"openai/gpt-4o","cost":0.6,"requests":100},{"model":"anthropic/claude-haiku-4-5","cost":0.102,"requests":30},{"model":"openai/text-embedding-3-small","cost":0.02,"requests":10}]`)
	// alice: 360 000 000 + 102 000 000 + 20 000 000.
	wantRaw("top_members", `[{"user_id":"alice","email":"alice@acme.example","cost":0.482,"requests":100},{"user_id":"bob","email":"bob@acme.example","cost":0.24,"requests":40}]`)

	recs := ins.Get("recommendations").Array()
	if len(recs) != 3 {
		t.Fatalf("%d recommendations, want 3: %s", len(recs), ins.Get("recommendations").Raw)
	}
	// gpt-4o: 100 requests, 10 000 output tokens (average 100 < 300). At
	// gpt-4o-mini rates: 200 000 × 150 000 + 10 000 × 600 000 = 3.6e10 pico
	// = 36 000 000 nano. Savings 600 000 000 − 36 000 000 = 564 000 000;
	// monthly × 30 / 10 = 1 692 000 000.
	if got := recs[0].Raw; got != `{"type":"cheaper_model","model":"openai/gpt-4o","suggested_model":"openai/gpt-4o-mini","requests":100,"avg_output_tokens":100,"input_tokens":200000,"cached_tokens":0,"output_tokens":10000,"current_cost":0.6,"estimated_cost":0.036,"estimated_savings":0.564,"estimated_monthly_savings":1.692,"message":"openai/gpt-4o: 100 requests averaged 100 output tokens; at openai/gpt-4o-mini rates the same tokens would cost $0.036 instead of $0.6 (about $1.692 a month less)"}` {
		t.Fatalf("cheaper_model: %s", got)
	}
	// gpt-4o: 200 000 input tokens (2 000 per request), none cached. Half
	// cached: 100 000 × (2 500 000 − 1 250 000) = 1.25e11 pico = 125 000 000
	// nano; monthly 375 000 000.
	if got := recs[1].Raw; got != `{"type":"low_cache_hit","model":"openai/gpt-4o","requests":100,"input_tokens":200000,"cached_tokens":0,"cache_hit_pct":0,"target_cache_hit_pct":50,"input_usd_per_million":2.5,"cache_read_usd_per_million":1.25,"estimated_savings":0.125,"estimated_monthly_savings":0.375,"message":"openai/gpt-4o: 0% of 200000 input tokens were cache reads; with 50% (a stable prompt prefix first) they would cost $0.125 less (about $0.375 a month)"}` {
		t.Fatalf("low_cache_hit: %s", got)
	}
	// claude-haiku-4-5: 5 errors of 30 requests = 16.7% > 5%; the failed
	// stream cost 2 000 000 nano, monthly 6 000 000.
	if got := recs[2].Raw; got != `{"type":"high_error_rate","model":"anthropic/claude-haiku-4-5","requests":30,"errors":5,"error_rate_pct":16.7,"by_type":{"model_error":1,"rate_limit":3,"unclassified":1},"retryable_errors":4,"wasted_cost":0.002,"estimated_monthly_savings":0.006,"message":"anthropic/claude-haiku-4-5: 5 of 30 requests failed (16.7%), 4 of them retryable (rate limits, provider errors, timeouts); failed requests cost $0.002"}` {
		t.Fatalf("high_error_rate: %s", got)
	}
}

func TestCostInsightsMember(t *testing.T) {
	a := insightsFixture(t)
	st, j := insGet(t, a, insKeyBob, "/api/account/cost-insights?start_date=2026-03-01&end_date=2026-03-10")
	if st != 200 {
		t.Fatalf("%d %s", st, j.Raw)
	}
	ins := j.Get("insights")
	if ins.Get("top_members").Exists() {
		t.Fatalf("a member sees top_members: %s", ins.Raw)
	}
	for path, want := range map[string]string{
		"total_cost":       "0.24",
		"total_requests":   "40",
		"cost_by_category": `{"chat_completions":0.24}`,
		// Bob's previous period: the 100 000 000 cell of its first hour;
		// (240 − 100) / 100 = 140%.
		"cost_trend":       `{"direction":"up","percentage":140,"previous_period":0.1,"previous_start":"2026-02-19T00:00:00+01:00","previous_end":"2026-03-01T00:00:00+01:00"}`,
		"top_cost_drivers": `[{"model":"openai/gpt-4o","cost":0.24,"requests":40}]`,
		// Bob's gpt-4o: 80 000 × 150 000 + 4 000 × 600 000 = 1.44e10 pico =
		// 14 400 000 nano; savings 225 600 000, monthly 676 800 000. His
		// 80 000 input tokens are below the caching floor (100 000).
		"recommendations.#":                           "1",
		"recommendations.0.type":                      `"cheaper_model"`,
		"recommendations.0.estimated_cost":            "0.0144",
		"recommendations.0.estimated_savings":         "0.2256",
		"recommendations.0.estimated_monthly_savings": "0.6768",
	} {
		if got := ins.Get(path).Raw; got != want {
			t.Fatalf("%s = %s, want %s", path, got, want)
		}
	}
}

func TestCostInsightsNothingApplies(t *testing.T) {
	a := insightsFixture(t)
	// One day holding only embeddings: no rule applies. The previous day
	// holds the claude cell: (20 − 102) / 102 × 100 = −80.39 → −80.4.
	_, j := insGet(t, a, insKeyAlice, "/api/account/cost-insights?start_date=2026-03-04&end_date=2026-03-04")
	ins := j.Get("insights")
	for path, want := range map[string]string{
		"recommendations": `[]`,
		"total_cost":      "0.02",
		"period.days":     "1",
		"cost_trend":      `{"direction":"down","percentage":-80.4,"previous_period":0.102,"previous_start":"2026-03-03T00:00:00+01:00","previous_end":"2026-03-04T00:00:00+01:00"}`,
	} {
		if got := ins.Get(path).Raw; got != want {
			t.Fatalf("%s = %s, want %s", path, got, want)
		}
	}
	// Another org sees nothing of acme: empty lists, a flat trend.
	_, j = insGet(t, a, insKeyEve, "/api/account/cost-insights")
	ins = j.Get("insights")
	for path, want := range map[string]string{
		"total_cost":            "0",
		"cost_by_category":      `{}`,
		"top_cost_drivers":      `[]`,
		"top_members":           `[]`,
		"recommendations":       `[]`,
		"cost_trend.direction":  `"flat"`,
		"cost_trend.percentage": `0`,
	} {
		if got := ins.Get(path).Raw; got != want {
			t.Fatalf("eve: %s = %s, want %s in %s", path, got, want, ins.Raw)
		}
	}
	// The default period is the last 30 days: 2026-02-09..2026-03-10.
	if got := ins.Get("period.start").String(); got != "2026-02-09T00:00:00Z" {
		t.Fatalf("default period starts %s", got)
	}
}

func TestInsightsBadParams(t *testing.T) {
	a := insightsFixture(t)
	for _, route := range []string{"/api/account/cost-insights", "/api/account/errors"} {
		for q, param := range map[string]string{
			"start_date=garbage":                        "start_date",
			"end_date=2026-13-01":                       "end_date",
			"start_date=2026-03-10&end_date=2026-03-01": "end_date",
			"range=9d": "range",
		} {
			st, j := insGet(t, a, insKeyAlice, route+"?"+q)
			if st != 400 || j.Get("success").Bool() || j.Get("error.code").String() != "invalid_parameter" ||
				!strings.HasPrefix(j.Get("error.message").String(), param+":") {
				t.Fatalf("%s?%s: %d %s", route, q, st, j.Raw)
			}
		}
		if st, _ := insGet(t, a, "", route); st != 401 {
			t.Fatalf("%s without a key: %d", route, st)
		}
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI(route)
		ctx.Request.Header.SetMethod(fasthttp.MethodPost)
		ctx.Request.Header.Set("Authorization", "Bearer "+insKeyAlice)
		a.Handler(&ctx)
		if ctx.Response.StatusCode() != 405 {
			t.Fatalf("POST %s: %d", route, ctx.Response.StatusCode())
		}
	}
}

func TestTrendOf(t *testing.T) {
	f := func(cur, prev int64, dir, pct string) {
		t.Helper()
		tr := trendOf(cur, prev, period{})
		got := "null"
		if tr.Percentage != nil {
			got = strconv.FormatFloat(*tr.Percentage, 'f', -1, 64)
		}
		if tr.Direction != dir || got != pct || tr.PreviousPeriod != USD(prev) {
			t.Fatalf("trendOf(%d, %d) = %s %s, want %s %s", cur, prev, tr.Direction, got, dir, pct)
		}
	}
	f(0, 0, "flat", "0")
	f(5, 0, "up", "null") // no base to compare with
	f(1009, 1000, "flat", "0.9")
	f(1010, 1000, "up", "1")
	f(991, 1000, "flat", "-0.9")
	f(990, 1000, "down", "-1")
	f(2, 3, "down", "-33.3")
	f(2001, 2000, "flat", "0.1")  // 0.05% rounds half away from zero
	f(1999, 2000, "flat", "-0.1") // likewise below
	f(0, 7, "down", "-100")
	f(3e15, 1e15, "up", "200") // no overflow on large sums
}

func TestSpanOf(t *testing.T) {
	loc := insBerlin(t)
	day := func(s string) time.Time { return insLocal(t, loc, s+" 00:00") }
	// The DST day 2026-03-29 has 23 hours and still counts as one day.
	sp := spanOf(period{Start: day("2026-03-29"), End: day("2026-03-30")}, loc)
	if sp.seconds != 86400 || sp.days != 1 || !sp.prev.Start.Equal(day("2026-03-28")) || !sp.prev.End.Equal(day("2026-03-29")) {
		t.Fatalf("DST day: %+v", sp)
	}
	// Two weeks across it: 14 days; the previous two weeks end at the start.
	sp = spanOf(period{Start: day("2026-03-23"), End: day("2026-04-06")}, loc)
	if sp.seconds != 14*86400 || !sp.prev.Start.Equal(day("2026-03-09")) {
		t.Fatalf("two weeks: %+v", sp)
	}
	// RFC 3339 bounds off midnight: the exact duration.
	s := insLocal(t, loc, "2026-03-10 06:00")
	sp = spanOf(period{Start: s, End: s.Add(36 * time.Hour)}, loc)
	if sp.seconds != 36*3600 || sp.days != 1.5 || !sp.prev.Start.Equal(s.Add(-36*time.Hour)) {
		t.Fatalf("36 hours: %+v", sp)
	}
	// Monthly scaling: × 30 / days, half-up.
	for _, c := range []struct{ savings, seconds, want int64 }{
		{564_000_000, 10 * 86400, 1_692_000_000},
		{1, 7 * 86400, 4},           // 30 / 7 = 4.29
		{1, 4 * 86400, 8},           // 7.5 rounds up
		{7, 36 * 3600, 140},         // 7 × 20
		{1 << 62, 86400, 1<<63 - 1}, // saturates
	} {
		if got := monthlyOf(c.savings, c.seconds); got != c.want {
			t.Fatalf("monthlyOf(%d, %d) = %d, want %d", c.savings, c.seconds, got, c.want)
		}
	}
}

func TestCheaperModelFamily(t *testing.T) {
	cat, err := pricing.Load("")
	if err != nil {
		t.Fatal(err)
	}
	a := New(Options{Catalog: cat})
	// Short outputs on each model; the suggestion follows the family rule
	// (same first token, generation kept, at most one other token lacking).
	for model, want := range map[string]string{
		"openai/gpt-4o":                        "openai/gpt-4o-mini",
		"openai/gpt-4o-2024-08-06":             "openai/gpt-4o-mini",
		"openai/gpt-4.1":                       "openai/gpt-4.1-mini", // mini and nano lack nothing: the smaller step wins
		"openai/o3":                            "openai/o3-mini",
		"anthropic/claude-sonnet-4-5":          "anthropic/claude-haiku-4-5",
		"anthropic/claude-3-5-sonnet-20241022": "anthropic/claude-3-5-haiku-20241022",
		"gemini/gemini-2.5-pro":                "gemini/gemini-2.5-flash",
		"gemini/gemini-2.5-flash":              "gemini/gemini-2.5-flash-lite",
		"openai/gpt-4o-mini":                   "", // nothing cheaper in its family
		"openai/gpt-4-turbo":                   "", // gpt-4o lacks the generation "4"
		"openai/text-embedding-3-large":        "", // not a generative mode
		"openai/no-such-model":                 "", // not priced
	} {
		c := &meter.Cell{Requests: 100, InputTokens: 100_000, OutputTokens: 10_000, CostNano: 1e12}
		got := ""
		if r, ok := a.cheaperModelRec(model, c, 30*86400); ok {
			got = r.publishable.(cheaperModelRec).SuggestedModel
		}
		if got != want {
			t.Fatalf("%s: suggested %q, want %q", model, got, want)
		}
	}
	// Thresholds: 9 successful requests, or an average of 300 output tokens,
	// or no savings, and the rule does not apply.
	for _, c := range []meter.Cell{
		{Requests: 12, Errors: 3, InputTokens: 1000, OutputTokens: 100, CostNano: 1e12},
		{Requests: 10, InputTokens: 1000, OutputTokens: 3000, CostNano: 1e12},
		{Requests: 10, InputTokens: 1000, OutputTokens: 2999, CostNano: 1}, // gpt-4o-mini would cost more than this
	} {
		if r, ok := a.cheaperModelRec("openai/gpt-4o", &c, 30*86400); ok {
			t.Fatalf("%+v: %+v", c, r.publishable)
		}
	}
	// Just inside: 10 successes, 2 999 output tokens. At gpt-4o-mini rates:
	// (1 000 − 400 − 0) × 150 000 + 400 × 75 000 + 2 999 × 600 000
	// = 90 000 000 + 30 000 000 + 1 799 400 000 = 1 919 400 000 pico
	// = 1 919 400 nano.
	c := meter.Cell{Requests: 11, Errors: 1, InputTokens: 1000, CachedTokens: 400, OutputTokens: 2999, CostNano: 40_000_000}
	r, ok := a.cheaperModelRec("openai/gpt-4o", &c, 30*86400)
	if !ok {
		t.Fatal("the rule does not apply at the threshold")
	}
	got := r.publishable.(cheaperModelRec)
	if got.EstimatedCost != 1_919_400 || got.EstimatedSavings != 38_080_600 || got.MonthlySavings != 38_080_600 || got.AvgOutputTokens != 299 || got.Requests != 10 {
		t.Fatalf("%+v", got)
	}
}

func TestLowCacheHitThresholds(t *testing.T) {
	cat, err := pricing.Load("")
	if err != nil {
		t.Fatal(err)
	}
	a := New(Options{Catalog: cat})
	f := func(model string, c meter.Cell, want int64) {
		t.Helper()
		r, ok := a.lowCacheHitRec(model, &c, 15*86400)
		got := int64(-1)
		if ok {
			got = int64(r.publishable.(cacheRec).EstimatedSavings)
			if m := int64(r.publishable.(cacheRec).MonthlySavings); m != 2*got {
				t.Fatalf("monthly %d for %d over 15 days", m, got)
			}
		}
		if got != want {
			t.Fatalf("%s %+v: savings %d, want %d", model, c, got, want)
		}
	}
	// claude-sonnet-4-5: input 3 000 000, cache read 300 000 pico. 1 000 000
	// input tokens, 99 999 cached (9.9999%): (500 000 − 99 999) × 2 700 000
	// = 1 080 002 700 000 pico = 1 080 002 700 nano.
	f("anthropic/claude-sonnet-4-5", meter.Cell{Requests: 100, InputTokens: 1_000_000, CachedTokens: 99_999, CostNano: 1}, 1_080_002_700)
	// 10% cached: not low.
	f("anthropic/claude-sonnet-4-5", meter.Cell{Requests: 100, InputTokens: 1_000_000, CachedTokens: 100_000}, -1)
	// Below the input floor, and below 1024 tokens per successful request.
	f("anthropic/claude-sonnet-4-5", meter.Cell{Requests: 10, InputTokens: 99_999}, -1)
	f("anthropic/claude-sonnet-4-5", meter.Cell{Requests: 100, Errors: 1, InputTokens: 101_375}, -1)
	// 1 024 × 99 successes exactly: 101 376 × 50% × 2 700 000 pico
	// = 136 857 600 000 pico = 136 857 600 nano.
	f("anthropic/claude-sonnet-4-5", meter.Cell{Requests: 100, Errors: 1, InputTokens: 101_376}, 136_857_600)
	// gpt-3.5-turbo has no cache-read rate of its own.
	f("openai/gpt-3.5-turbo", meter.Cell{Requests: 10, InputTokens: 1_000_000}, -1)
}

func TestRepeatedPromptRecs(t *testing.T) {
	byModel := map[string]*meter.Cell{
		// 11 repeats of 100 requests, which cost 61 000 nano.
		"openai/gpt-4o": {Requests: 100, Repeated: 11, RepeatedCostNano: 61_000},
		// 2 repeats of 30 requests: below 10%.
		"anthropic/claude-haiku-4-5": {Requests: 30, Repeated: 2, RepeatedCostNano: 9_000},
		// 9 requests: below the floor of 10.
		"gemini/gemini-2.5-flash": {Requests: 9, Repeated: 9, RepeatedCostNano: 9_000},
		// No repeats.
		"openai/gpt-4o-mini": {Requests: 50},
	}
	recs := repeatedPromptRecs(byModel, 10*86400)
	if len(recs) != 1 {
		t.Fatalf("%d recommendations: %+v", len(recs), recs)
	}
	got := recs[0].publishable.(repeatRec)
	want := repeatRec{
		Type: "repeated_prompts", Model: "openai/gpt-4o", Requests: 100, RepeatedRequests: 11,
		RepeatedPct: 11, EstimatedSavings: 61_000, MonthlySavings: 183_000,
		Message: "openai/gpt-4o: 11 of 100 requests repeated a prompt sent within the previous 24 hours; caching their answers would save $0.000061 (about $0.000183 a month)",
	}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// Exactly 10%: included.
	byModel = map[string]*meter.Cell{"openai/gpt-4o": {Requests: 10, Repeated: 1, RepeatedCostNano: 5}}
	if recs := repeatedPromptRecs(byModel, 86400); len(recs) != 1 {
		t.Fatalf("at 10%%: %+v", recs)
	}
}

func TestNameTokens(t *testing.T) {
	for name, want := range map[string]string{
		"gpt-4o-2024-08-06":         "gpt 4o",
		"claude-3-5-haiku-20241022": "claude 3 5 haiku",
		"gpt-4-0613":                "gpt 4",
		"claude-3-5-haiku@20241022": "claude 3 5 haiku",
		"Gemini-2.5-Flash":          "gemini 2.5 flash",
		"ft:gpt-4o-mini:org:custom": "ft gpt 4o mini org custom",
	} {
		if got := strings.Join(nameTokens(name), " "); got != want {
			t.Fatalf("nameTokens(%q) = %q, want %q", name, got, want)
		}
	}
}
