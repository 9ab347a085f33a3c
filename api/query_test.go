package api

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin without a zoneinfo directory

	"github.com/VictoriaMetrics/metrics"
	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/meter/usage"
)

// Keys of the query fixture's members.
const (
	qKeyAlice = "k-alice" // acme admin
	qKeyBob   = "k-bob"   // acme member
	qKeyEve   = "k-eve"   // globex admin
)

// queryNow is the fixture's clock: the default period (the last 30 days)
// is 2026-11-11 to 2026-12-10 in Berlin.
var queryNow = time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)

// berlinHour returns the unix second of an hour in Europe/Berlin.
func berlinHour(t testing.TB, s string) int64 {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	h, err := time.ParseInLocation("2006-01-02T15", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return h.Unix()
}

// qCell builds a cell the way the meter does: one event per latency.
func qCell(requests, errs, in, out, costNano int64, latencies ...int64) meter.Cell {
	c := meter.Cell{Requests: requests, Errors: errs, InputTokens: in, OutputTokens: out, CostNano: costNano}
	for _, l := range latencies {
		c.LatencyMicros += l
		c.LatencyBuckets[meter.LatencyBucket(l)]++
	}
	return c
}

// newQueryAPI builds an API over a meter loaded with the fixture's cells.
// Hours are in Europe/Berlin, where October 2026 ends on a Saturday
// (ISO week 44) in CET (+01:00):
//
//	c1 alice gpt-4o  research org_pays    team=a          chat   10-31 23h  4 req 1 err  1000/200  0.0025
//	c2 alice gpt-4o  research org_pays    env=prod,team=b chat   11-01 00h  2 req        300/100   0.00175
//	c3 bob   haiku   platform member_pays -               chat   11-02 10h  3 req        600/90    0.00105
//	c4 bob   gpt-4o  research member_pays team=a          embed  11-02 11h  5 req 2 err  5000/0    0.0001
//	c5 alice haiku   research org_pays    team=a          chat   11-30 23h  1 req        50/10     0.0001
//	c6 bob   gpt-4o  platform member_pays team=b          chat   12-01 00h  2 req 1 err  80/20     0.00025
//	c0 alice gpt-4o  (September, outside the periods asked), and globex's eve.
//
// c2 and c6 fall on the previous UTC day (and month): month and day
// dimensions in UTC would differ.
func newQueryAPI(t testing.TB) *API {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	dir := account.New()
	dir.PutOrg(account.Org{ID: "acme", Name: "Acme", Location: loc})
	dir.PutOrg(account.Org{ID: "globex", Name: "Globex"})
	for _, m := range []account.Member{
		{ID: "alice", Org: "acme", Department: "research", BillingMode: account.OrgPays, Role: account.RoleAdmin, KeyHash: account.HashKey([]byte(qKeyAlice))},
		{ID: "bob", Org: "acme", Department: "platform", BillingMode: account.MemberPays, Role: account.RoleMember, KeyHash: account.HashKey([]byte(qKeyBob))},
		{ID: "eve", Org: "globex", Department: "ops", BillingMode: account.OrgPays, Role: account.RoleAdmin, KeyHash: account.HashKey([]byte(qKeyEve))},
	} {
		if err := dir.PutMember(m); err != nil {
			t.Fatal(err)
		}
	}
	m := meter.New(meter.Options{Metrics: metrics.NewSet(), Location: dir.Location, Logf: t.Logf})
	key := func(user, model, dept, mode, tags string, cat usage.Category, hour string) meter.CellKey {
		return meter.CellKey{Org: "acme", User: user, Model: model, Department: dept, BillingMode: mode, Tags: tags, Category: cat, Hour: berlinHour(t, hour)}
	}
	const gpt, haiku = "openai/gpt-4o", "anthropic/claude-haiku-4-5"
	chat, embed := usage.CategoryChatCompletions, usage.CategoryEmbeddings
	m.Load(key("alice", gpt, "research", account.OrgPays, "team=a", chat, "2026-10-31T23"), qCell(4, 1, 1000, 200, 2_500_000, 1000, 2000, 3000, 4000))
	m.Load(key("alice", gpt, "research", account.OrgPays, "env=prod,team=b", chat, "2026-11-01T00"), qCell(2, 0, 300, 100, 1_750_000, 500, 1500))
	m.Load(key("bob", haiku, "platform", account.MemberPays, "", chat, "2026-11-02T10"), qCell(3, 0, 600, 90, 1_050_000, 2000, 2000, 2000))
	m.Load(key("bob", gpt, "research", account.MemberPays, "team=a", embed, "2026-11-02T11"), qCell(5, 2, 5000, 0, 100_000, 100, 200, 300, 400, 500))
	m.Load(key("alice", haiku, "research", account.OrgPays, "team=a", chat, "2026-11-30T23"), qCell(1, 0, 50, 10, 100_000, 8000))
	m.Load(key("bob", gpt, "platform", account.MemberPays, "team=b", chat, "2026-12-01T00"), qCell(2, 1, 80, 20, 250_000, 1000, 3000))
	m.Load(key("alice", gpt, "research", account.OrgPays, "", chat, "2026-09-15T12"), qCell(7, 0, 70, 70, 7_000_000, 1000))
	eve := key("eve", gpt, "ops", account.OrgPays, "", chat, "2026-11-02T10")
	eve.Org = "globex"
	m.Load(eve, qCell(100, 0, 1, 1, 1, 1))
	return New(Options{Accounts: dir, Meter: m, Now: func() time.Time { return queryNow }})
}

// serve runs one request through the API's handler.
func serve(a *API, method, path, key, body string) (int, string) {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.SetBodyString(body)
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	a.Handler(&ctx)
	return ctx.Response.StatusCode(), string(ctx.Response.Body())
}

// wholePeriod covers every fixture cell but the September one.
const wholePeriod = `"start_date":"2026-10-31","end_date":"2026-12-31"`

func TestQueryRows(t *testing.T) {
	a := newQueryAPI(t)
	f := func(key, body, want string) {
		t.Helper()
		st, got := serve(a, "POST", "/api/analytics/query", key, body)
		if st != 200 {
			t.Fatalf("%s: status %d: %s", body, st, got)
		}
		if rows := gjson.Get(got, "rows").Raw; rows != want {
			t.Fatalf("%s:\ngot  %s\nwant %s", body, rows, want)
		}
	}

	// user × model, sorted by the dimensions. alice/gpt-4o = c1+c2: 1 error
	// in 6, latency (10000+2000)/6 µs; bob/gpt-4o = c4+c6: 3 errors in 7,
	// latency 5500/7 = 785.7 µs.
	f(qKeyAlice, `{"metrics":["requests","tokens","cost","errors","error_rate","avg_latency_ms"],"dimensions":["user","model"],"filters":{`+wholePeriod+`}}`,
		`[{"user":"alice","model":"anthropic/claude-haiku-4-5","requests":1,"tokens":60,"cost":0.0001,"errors":0,"error_rate":0,"avg_latency_ms":8},`+
			`{"user":"alice","model":"openai/gpt-4o","requests":6,"tokens":1600,"cost":0.00425,"errors":1,"error_rate":0.16666666666666666,"avg_latency_ms":2},`+
			`{"user":"bob","model":"anthropic/claude-haiku-4-5","requests":3,"tokens":690,"cost":0.00105,"errors":0,"error_rate":0,"avg_latency_ms":2},`+
			`{"user":"bob","model":"openai/gpt-4o","requests":7,"tokens":5100,"cost":0.00035,"errors":3,"error_rate":0.42857142857142855,"avg_latency_ms":0.786}]`)

	// Months and ISO weeks in the org's timezone, across the October →
	// November and November → December boundaries.
	f(qKeyAlice, `{"metrics":["requests","cost"],"dimensions":["month"],"filters":{`+wholePeriod+`}}`,
		`[{"month":"2026-10","requests":4,"cost":0.0025},{"month":"2026-11","requests":11,"cost":0.003},{"month":"2026-12","requests":2,"cost":0.00025}]`)
	f(qKeyAlice, `{"metrics":["requests"],"dimensions":["week"],"filters":{`+wholePeriod+`},"sort":[{"field":"week","order":"desc"}]}`,
		`[{"week":"2026-W49","requests":3},{"week":"2026-W45","requests":8},{"week":"2026-W44","requests":6}]`)
	f(qKeyAlice, `{"metrics":["requests"],"dimensions":["day"],"filters":{`+wholePeriod+`}}`,
		`[{"day":"2026-10-31","requests":4},{"day":"2026-11-01","requests":2},{"day":"2026-11-02","requests":8},{"day":"2026-11-30","requests":1},{"day":"2026-12-01","requests":2}]`)

	// A tag, sorted by cost; rows without the tag have "".
	f(qKeyAlice, `{"metrics":["requests","cost","active_members"],"dimensions":["tag:team"],"filters":{`+wholePeriod+`},"sort":[{"field":"cost","order":"desc"}]}`,
		`[{"tag:team":"a","requests":10,"cost":0.0027,"active_members":2},{"tag:team":"b","requests":4,"cost":0.002,"active_members":2},{"tag:team":"","requests":3,"cost":0.00105,"active_members":1}]`)
	f(qKeyAlice, `{"metrics":["requests"],"dimensions":["tag:env","user"],"filters":{`+wholePeriod+`,"tag:env":["prod"]}}`,
		`[{"tag:env":"prod","user":"alice","requests":2}]`)

	// Filters on model and tag, sorted by requests, limited to one row.
	f(qKeyAlice, `{"metrics":["requests"],"dimensions":["day"],"filters":{`+wholePeriod+`,"model":["openai/gpt-4o"],"tag:team":["a"]},"sort":[{"field":"requests"}],"limit":1}`,
		`[{"day":"2026-11-02","requests":5}]`)
	// The same sorted ascending: the smaller day first.
	f(qKeyAlice, `{"metrics":["requests"],"dimensions":["day"],"filters":{`+wholePeriod+`,"model":["openai/gpt-4o"],"tag:team":["a"]},"sort":[{"field":"requests","order":"asc"}]}`,
		`[{"day":"2026-10-31","requests":4},{"day":"2026-11-02","requests":5}]`)

	// Category and billing mode; department is the request's (c4 is bob's
	// but research).
	f(qKeyAlice, `{"metrics":["requests","input_tokens","output_tokens"],"dimensions":["category"],"filters":{`+wholePeriod+`,"billing_mode":["member_pays"]}}`,
		`[{"category":"chat_completions","requests":5,"input_tokens":680,"output_tokens":110},{"category":"embeddings","requests":5,"input_tokens":5000,"output_tokens":0}]`)
	f(qKeyAlice, `{"metrics":["requests"],"dimensions":["department","billing_mode"],"filters":{`+wholePeriod+`}}`,
		`[{"department":"platform","billing_mode":"member_pays","requests":5},{"department":"research","billing_mode":"member_pays","requests":5},{"department":"research","billing_mode":"org_pays","requests":7}]`)

	// Hours render in the org's offset; an hour filter takes any RFC 3339
	// time inside the hour.
	f(qKeyAlice, `{"metrics":["requests"],"dimensions":["hour"],"filters":{`+wholePeriod+`,"day":["2026-11-01","2026-12-01"]},"sort":[{"field":"hour","order":"desc"}]}`,
		`[{"hour":"2026-12-01T00:00:00+01:00","requests":2},{"hour":"2026-11-01T00:00:00+01:00","requests":2}]`)
	f(qKeyAlice, `{"metrics":["requests"],"dimensions":["hour","user"],"filters":{`+wholePeriod+`,"hour":["2026-10-31T22:30:00Z"]}}`,
		`[{"hour":"2026-10-31T23:00:00+01:00","user":"alice","requests":4}]`)
	f(qKeyAlice, `{"metrics":["requests"],"dimensions":["month"],"filters":{`+wholePeriod+`,"month":["2026-12"],"week":["2026-W49"]}}`,
		`[{"month":"2026-12","requests":2}]`)

	// Without dimensions: one row over every cell of the period. Latency
	// buckets (µs) of the 17 requests: [100,200) 1, [200,400) 2, [400,800) 3,
	// [800,1600) 3, [1600,3200) 6, [3200,6400) 1, [6400,12800) 1. Rank
	// 0.95×17 = 16.15 falls in the last one: 6400 + 0.15×6400, truncated
	// to 959 by the float product. Mean: 31500/17 = 1852.9 µs.
	f(qKeyAlice, `{"metrics":["requests","active_members","p95_latency_ms","avg_latency_ms"],"filters":{`+wholePeriod+`}}`,
		`[{"requests":17,"active_members":2,"p95_latency_ms":7.359,"avg_latency_ms":1.853}]`)
	// The default period is the last 30 days: c5 and c6.
	f(qKeyAlice, `{"metrics":["requests"]}`, `[{"requests":3}]`)
	f(qKeyAlice, `{"metrics":["requests"],"filters":{"range":"today"}}`, `[{"requests":0}]`)
	f(qKeyAlice, `{"metrics":["requests"],"dimensions":["user"],"filters":{"range":"today"}}`, `[]`)
	f(qKeyAlice, `{"metrics":["requests"],"filters":{"start_date":"2026-09-01","end_date":"2026-09-30"}}`, `[{"requests":7}]`)
	// RFC 3339 bounds select whole hours: c1 (22:00Z) and c2 (23:00Z).
	f(qKeyAlice, `{"metrics":["requests"],"filters":{"start_date":"2026-10-31T22:00:00Z","end_date":"2026-11-01T00:00:00Z"}}`, `[{"requests":6}]`)

	// Another org's admin sees only its own cells.
	f(qKeyEve, `{"metrics":["requests"],"dimensions":["user"],"filters":{`+wholePeriod+`}}`, `[{"user":"eve","requests":100}]`)
}

func TestQueryMemberSeesOwnRows(t *testing.T) {
	a := newQueryAPI(t)
	// bob's latencies: [100,200) 1, [200,400) 2, [400,800) 2, [800,1600) 1,
	// [1600,3200) 4. Rank 9.5 is at 3.5/4 of the last: 1600 + 0.875×1600.
	body := `{"metrics":["requests","cost","p95_latency_ms"],"dimensions":["user"],"filters":{` + wholePeriod + `}}`
	st, got := serve(a, "POST", "/api/analytics/query", qKeyBob, body)
	if want := `[{"user":"bob","requests":10,"cost":0.0014,"p95_latency_ms":3}]`; st != 200 || gjson.Get(got, "rows").Raw != want {
		t.Fatalf("bob: %d %s, want rows %s", st, got, want)
	}
	body = `{"metrics":["requests"],"filters":{` + wholePeriod + `,"user":["bob"]}}`
	if st, got := serve(a, "POST", "/api/analytics/query", qKeyBob, body); st != 200 || gjson.Get(got, "rows").Raw != `[{"requests":10}]` {
		t.Fatalf("bob filtering on himself: %d %s", st, got)
	}
	body = `{"metrics":["requests"],"filters":{` + wholePeriod + `,"user":["bob","alice"]}}`
	st, got = serve(a, "POST", "/api/analytics/query", qKeyBob, body)
	if want := `{"success":false,"error":{"code":"forbidden","message":"filters.user: members see only their own requests"}}`; st != 403 || got != want {
		t.Fatalf("bob filtering on alice: %d %s, want 403 %s", st, got, want)
	}
	// The admin may filter on any member.
	body = `{"metrics":["requests"],"filters":{` + wholePeriod + `,"user":["alice"]}}`
	if st, got := serve(a, "POST", "/api/analytics/query", qKeyAlice, body); st != 200 || gjson.Get(got, "rows").Raw != `[{"requests":7}]` {
		t.Fatalf("alice filtering on alice: %d %s", st, got)
	}
}

func TestQueryAnswer(t *testing.T) {
	a := newQueryAPI(t)
	st, got := serve(a, "POST", "/api/analytics/query", qKeyAlice,
		`{"metrics":["cost","requests"],"dimensions":["user"],"filters":{`+wholePeriod+`},"sort":[{"field":"cost","order":"desc"}],"limit":1}`)
	want := `{"success":true,"rows":[{"user":"alice","cost":0.00435,"requests":7}],"total_rows":2,"truncated":true,` +
		`"period":{"start":"2026-10-31T00:00:00+01:00","end":"2027-01-01T00:00:00+01:00","timezone":"Europe/Berlin"}}`
	if st != 200 || got != want {
		t.Fatalf("got %d %s\nwant %s", st, got, want)
	}
	if st, _ := serve(a, "GET", "/api/analytics/query", qKeyAlice, ""); st != 405 {
		t.Fatalf("GET query: %d, want 405", st)
	}
	if st, _ := serve(a, "POST", "/api/analytics/query", "", `{"metrics":["cost"]}`); st != 401 {
		t.Fatalf("query without a key: %d, want 401", st)
	}
}

func TestQueryBadBodies(t *testing.T) {
	a := newQueryAPI(t)
	metricList := "requests, input_tokens, output_tokens, tokens, cost, errors, error_rate, avg_latency_ms, p95_latency_ms, active_members"
	dimList := "user, model, department, billing_mode, category, error_type, tag:KEY, hour, day, week, month"
	f := func(body, msg string) {
		t.Helper()
		st, got := serve(a, "POST", "/api/analytics/query", qKeyAlice, body)
		want := `{"success":false,"error":{"code":"invalid_parameter","message":` + string(appendJSONString(nil, msg)) + `}}`
		if st != 400 || got != want {
			t.Fatalf("%s:\ngot  %d %s\nwant 400 %s", body, st, got, want)
		}
	}
	f(``, `body: empty; want a JSON object such as {"metrics":["requests"],"dimensions":["user"]}`)
	f(`{`, `body: invalid JSON`)
	f(`{"metrics":["requests"]} {}`, `body: invalid JSON`)
	f(`[]`, `body: want a JSON object, got []`)
	f(`{"metrics":["requests"],"foo":1}`, `body: unknown field "foo"; accepted: metrics, dimensions, filters, sort, limit`)
	f(`{"Metrics":["requests"]}`, `body: unknown field "Metrics"; accepted: metrics, dimensions, filters, sort, limit`)
	f(`{"metrics":["requests"],"metrics":["cost"]}`, `body: field "metrics" is given twice`)

	f(`{}`, `metrics: want at least one of `+metricList)
	f(`{"metrics":[]}`, `metrics: want at least one of `+metricList)
	f(`{"metrics":"requests"}`, `metrics: want an array of strings, got "requests"`)
	f(`{"metrics":["requests",1]}`, `metrics[1]: want a string, got 1`)
	f(`{"metrics":["requests","bogus"]}`, `metrics[1]: "bogus" is not one of `+metricList)
	f(`{"metrics":["cost","cost"]}`, `metrics[1]: "cost" is asked twice`)

	f(`{"metrics":["cost"],"dimensions":["country"]}`, `dimensions[0]: "country" is not one of `+dimList)
	f(`{"metrics":["cost"],"dimensions":"user"}`, `dimensions: want an array of strings, got "user"`)
	f(`{"metrics":["cost"],"dimensions":["tag:"]}`, `dimensions[0]: "tag:" needs a tag key (1 to 64 bytes, no '=', ',' or surrounding spaces), as in tag:team`)
	f(`{"metrics":["cost"],"dimensions":["user","user"]}`, `dimensions[1]: "user" is asked twice`)
	f(`{"metrics":["cost"],"dimensions":["user","model","department","billing_mode","category","tag:a","hour","day","week"]}`, `dimensions: at most 8, got 9`)

	f(`{"metrics":["cost"],"filters":[]}`, `filters: want an object, got []`)
	f(`{"metrics":["cost"],"filters":{"start_date":"2026-13-01"}}`, `filters.start_date: "2026-13-01" is not a date (YYYY-MM-DD) or an RFC 3339 time`)
	f(`{"metrics":["cost"],"filters":{"start_date":20261101}}`, `filters.start_date: want a string, got 20261101`)
	f(`{"metrics":["cost"],"filters":{"end_date":"yesterday"}}`, `filters.end_date: "yesterday" is not a date (YYYY-MM-DD) or an RFC 3339 time`)
	f(`{"metrics":["cost"],"filters":{"start_date":"2026-11-30","end_date":"2026-11-01"}}`, `filters.end_date: the period ends (2026-11-02T00:00:00+01:00) before it starts (2026-11-30T00:00:00+01:00)`)
	f(`{"metrics":["cost"],"filters":{"range":"1y"}}`, `filters.range: "1y" is not one of today, 7d, 30d`)
	f(`{"metrics":["cost"],"filters":{"color":["red"]}}`, `filters: unknown filter "color"; accepted: start_date, end_date, range, `+dimList)
	f(`{"metrics":["cost"],"filters":{"model":["a"],"model":["b"]}}`, `filters: field "model" is given twice`)
	f(`{"metrics":["cost"],"filters":{"model":"openai/gpt-4o"}}`, `filters.model: want an array of strings, got "openai/gpt-4o"`)
	f(`{"metrics":["cost"],"filters":{"model":[]}}`, `filters.model: want 1 to 1000 values, got 0`)
	f(`{"metrics":["cost"],"filters":{"user":[null]}}`, `filters.user[0]: want a string, got null`)
	f(`{"metrics":["cost"],"filters":{"category":["chat"]}}`, `filters.category[0]: "chat" is not one of other, chat_completions, completions, responses, embeddings, image_generation, audio, moderation`)
	f(`{"metrics":["cost"],"filters":{"billing_mode":["free"]}}`, `filters.billing_mode[0]: "free" is not one of org_pays, member_pays`)
	f(`{"metrics":["cost"],"filters":{"hour":["2026-11-01 10:00"]}}`, `filters.hour[0]: "2026-11-01 10:00" is not an RFC 3339 time`)
	f(`{"metrics":["cost"],"filters":{"day":["2026-11-1"]}}`, `filters.day[0]: "2026-11-1" is not a day (YYYY-MM-DD)`)
	f(`{"metrics":["cost"],"filters":{"week":["2026-W45","2026-48"]}}`, `filters.week[1]: "2026-48" is not an ISO week (YYYY-Www, as in 2026-W45)`)
	f(`{"metrics":["cost"],"filters":{"week":["2026-W54"]}}`, `filters.week[0]: "2026-W54" is not an ISO week (YYYY-Www, as in 2026-W45)`)
	f(`{"metrics":["cost"],"filters":{"month":["2026-13"]}}`, `filters.month[0]: "2026-13" is not a month (YYYY-MM)`)
	f(`{"metrics":["cost"],"filters":{"tag:":["a"]}}`, `filters: unknown filter "tag:"; accepted: start_date, end_date, range, `+dimList)

	f(`{"metrics":["cost"],"limit":0}`, `limit: want a whole number from 1 to 10000, got 0`)
	f(`{"metrics":["cost"],"limit":100001}`, `limit: want a whole number from 1 to 10000, got 100001`)
	f(`{"metrics":["cost"],"limit":10001}`, `limit: want a whole number from 1 to 10000, got 10001`)
	f(`{"metrics":["cost"],"limit":1.5}`, `limit: want a whole number from 1 to 10000, got 1.5`)
	f(`{"metrics":["cost"],"limit":"10"}`, `limit: want a whole number from 1 to 10000, got "10"`)
	f(`{"metrics":["cost"],"limit":99999999999999999999999}`, `limit: want a whole number from 1 to 10000, got 99999999999999999999999`)

	f(`{"metrics":["requests"],"dimensions":["user"],"sort":[{"field":"cost"}]}`, `sort[0].field: "cost" is not a metric or dimension of this query (user, requests)`)
	f(`{"metrics":["requests"],"sort":[{"field":"requests"},{"field":"requests","order":"asc"}]}`, `sort[1].field: "requests" is sorted on twice`)
	f(`{"metrics":["requests"],"sort":[{"field":"requests","order":"up"}]}`, `sort[0].order: want "asc" or "desc", got "up"`)
	f(`{"metrics":["requests"],"sort":[{"field":"requests","dir":"asc"}]}`, `sort[0]: unknown field "dir"; accepted: field, order`)
	f(`{"metrics":["requests"],"sort":[{"order":"asc"}]}`, `sort[0].field: want the name of a metric or dimension of the query, got nothing`)
	f(`{"metrics":["requests"],"sort":["requests"]}`, `sort[0]: want an object {"field","order"}, got "requests"`)
	f(`{"metrics":["requests"],"sort":{"field":"requests"}}`, `sort: want an array of {"field","order"} objects, got {"field":"requests"}`)

	// Long values are cut in messages.
	long := strings.Repeat("x", 200)
	f(`{"metrics":["`+long+`"]}`, `metrics[0]: "`+long[:79]+`… is not one of `+metricList)
}

func TestQueryNullsAreAbsent(t *testing.T) {
	a := newQueryAPI(t)
	st, got := serve(a, "POST", "/api/analytics/query", qKeyAlice, `{"metrics":["requests"],"dimensions":null,"filters":null,"sort":null,"limit":null}`)
	if st != 200 || gjson.Get(got, "rows").Raw != `[{"requests":3}]` {
		t.Fatalf("%d %s", st, got)
	}
}

func TestQueryStableOrder(t *testing.T) {
	a := newQueryAPI(t)
	// Equal error rates (0) for three rows: ties are broken by the
	// dimensions, user then model, whatever the map order.
	body := `{"metrics":["error_rate"],"dimensions":["user","model"],"filters":{` + wholePeriod + `},"sort":[{"field":"error_rate","order":"asc"}]}`
	want := `[{"user":"alice","model":"anthropic/claude-haiku-4-5","error_rate":0},{"user":"bob","model":"anthropic/claude-haiku-4-5","error_rate":0},` +
		`{"user":"alice","model":"openai/gpt-4o","error_rate":0.16666666666666666},{"user":"bob","model":"openai/gpt-4o","error_rate":0.42857142857142855}]`
	for range 20 {
		if st, got := serve(a, "POST", "/api/analytics/query", qKeyAlice, body); st != 200 || gjson.Get(got, "rows").Raw != want {
			t.Fatalf("%d %s\nwant rows %s", st, got, want)
		}
	}
}

func TestAnalyticsMetrics(t *testing.T) {
	a := newQueryAPI(t)
	st, got := serve(a, "GET", "/api/analytics/metrics", qKeyBob, "")
	if st != 200 {
		t.Fatalf("%d %s", st, got)
	}
	j := gjson.Parse(got)
	names := func(path string) string {
		var out []string
		for _, v := range j.Get(path).Array() {
			out = append(out, v.String())
		}
		return strings.Join(out, ",")
	}
	if got, want := names("metrics.#.name"), "requests,input_tokens,output_tokens,tokens,cost,errors,error_rate,avg_latency_ms,p95_latency_ms,active_members"; got != want {
		t.Fatalf("metrics %s, want %s", got, want)
	}
	if got, want := names("metrics.#.unit"), "count,tokens,tokens,tokens,USD,count,ratio,ms,ms,count"; got != want {
		t.Fatalf("units %s, want %s", got, want)
	}
	if got, want := names("dimensions.#.name"), "user,model,department,billing_mode,category,error_type,tag:KEY,hour,day,week,month"; got != want {
		t.Fatalf("dimensions %s, want %s", got, want)
	}
	if got, want := names("filters.#.name"), "start_date,end_date,range,user,model,department,billing_mode,category,error_type,tag:KEY,hour,day,week,month"; got != want {
		t.Fatalf("filters %s, want %s", got, want)
	}
	if j.Get("limit.min").Int() != 1 || j.Get("limit.max").Int() != 10000 || j.Get("limit.default").Int() != 100 ||
		j.Get("max_dimensions").Int() != 8 || j.Get("timezone").String() != "Europe/Berlin" || names("sort.orders") != "asc,desc" {
		t.Fatalf("rules: %s", got)
	}
	for _, m := range j.Get("metrics").Array() {
		if m.Get("description").String() == "" {
			t.Fatalf("metric without a description: %s", m.Raw)
		}
	}
	// The example it shows is a query that works.
	if st, ans := serve(a, "POST", "/api/analytics/query", qKeyAlice, j.Get("example").Raw); st != 200 {
		t.Fatalf("the example query: %d %s", st, ans)
	}
	// Every documented filter example is accepted.
	for _, f := range j.Get("filters").Array() {
		name := strings.Replace(f.Get("name").String(), "tag:KEY", "tag:team", 1)
		body := `{"metrics":["requests"],"filters":{"` + name + `":` + f.Get("example").Raw + `}}`
		if st, ans := serve(a, "POST", "/api/analytics/query", qKeyAlice, body); st != 200 {
			t.Fatalf("filter example %s: %d %s", body, st, ans)
		}
	}
}

// TestQueryErrorType groups and filters by the failure of the requests,
// read from the cells (which the meter splits by error type).
func TestQueryErrorType(t *testing.T) {
	a := newQueryAPI(t)
	gk := func(hour string, et usage.ErrorType) meter.CellKey {
		return meter.CellKey{Org: "globex", User: "eve", Model: "openai/gpt-4o", Department: "ops", BillingMode: account.OrgPays,
			Category: usage.CategoryChatCompletions, ErrorType: et, Hour: berlinHour(t, hour)}
	}
	a.opt.Meter.Load(gk("2026-11-02T11", usage.ErrRateLimit), qCell(2, 2, 20, 0, 0, 100, 100))
	a.opt.Meter.Load(gk("2026-11-02T12", usage.ErrTimeout), qCell(1, 1, 10, 0, 0, 30_000_000))
	f := func(body, want string) {
		t.Helper()
		st, got := serve(a, "POST", "/api/analytics/query", qKeyEve, body)
		if st != 200 {
			t.Fatalf("%s: status %d: %s", body, st, got)
		}
		if rows := gjson.Get(got, "rows").Raw; rows != want {
			t.Fatalf("%s:\ngot  %s\nwant %s", body, rows, want)
		}
	}
	f(`{"metrics":["requests","errors"],"dimensions":["error_type"],"filters":{`+wholePeriod+`}}`,
		`[{"error_type":"","requests":100,"errors":0},{"error_type":"rate_limit","requests":2,"errors":2},{"error_type":"timeout","requests":1,"errors":1}]`)
	f(`{"metrics":["requests"],"dimensions":["user"],"filters":{`+wholePeriod+`,"error_type":["timeout","rate_limit"]}}`,
		`[{"user":"eve","requests":3}]`)
	f(`{"metrics":["requests"],"dimensions":["hour"],"filters":{`+wholePeriod+`,"error_type":[""]}}`,
		`[{"hour":"2026-11-02T09:00:00Z","requests":100}]`)
	st, got := serve(a, "POST", "/api/analytics/query", qKeyEve, `{"metrics":["requests"],"filters":{"error_type":["ratelimit"]}}`)
	if want := `filters.error_type[0]: "ratelimit" is not "" (a success) or one of rate_limit, invalid_request`; st != 400 || !strings.Contains(gjson.Get(got, "error.message").String(), want) {
		t.Fatalf("a bad error type: %d %s, want 400 with %q", st, got, want)
	}
}
