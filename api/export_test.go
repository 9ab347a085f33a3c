package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/infermeter/infermeter/api/report/reporttest"
	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/meter/usage"
	"github.com/infermeter/infermeter/store"
)

// Keys of the export fixtures.
const (
	expKeyAlice = "exp-alice" // admin of acme
	expKeyBob   = "exp-bob"   // member of acme
	expKeyEve   = "exp-eve"   // admin of globex
)

// expEnv is an API over a meter and a store that hold the same events.
type expEnv struct {
	api *API
	st  *store.Store
	loc *time.Location
}

// newExpEnv records evs through a real meter whose flushes go to a store in
// a temporary directory; Close aggregates and flushes everything, so the
// cells and the logs agree. Members: alice (admin) and bob of acme
// (Europe/Berlin), eve (admin) of globex; carol's events have no member.
func newExpEnv(t testing.TB, evs []meter.Event) *expEnv {
	t.Helper()
	loc := insBerlin(t)
	dir := account.New()
	dir.PutOrg(account.Org{ID: "acme", Name: "Acme", Location: loc})
	dir.PutOrg(account.Org{ID: "globex", Name: "Globex", Location: time.UTC})
	for _, m := range []account.Member{
		{ID: "alice", Org: "acme", Email: "alice@acme.example", Department: "research", BillingMode: account.OrgPays, Role: account.RoleAdmin, KeyHash: account.HashKey([]byte(expKeyAlice))},
		{ID: "bob", Org: "acme", Email: "bob@acme.example", Department: "platform", BillingMode: account.MemberPays, Role: account.RoleMember, KeyHash: account.HashKey([]byte(expKeyBob))},
		{ID: "eve", Org: "globex", Email: "eve@globex.example", Role: account.RoleAdmin, KeyHash: account.HashKey([]byte(expKeyEve))},
	} {
		if err := dir.PutMember(m); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	m := meter.New(meter.Options{Location: dir.Location, Flush: st.Apply, QueueSize: len(evs) + 1, Logf: t.Logf})
	m.Start()
	for i := range evs {
		if !m.Record(&evs[i]) {
			t.Fatal("the meter dropped an event")
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 9, 30, 0, 0, loc)
	return &expEnv{api: New(Options{Accounts: dir, Meter: m, Store: st, Now: func() time.Time { return now }}), st: st, loc: loc}
}

// get calls the handler and reads the whole body (streamed or not).
func (e *expEnv) get(t testing.TB, key, uri string) (int, []byte, *fasthttp.ResponseHeader) {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(uri)
	ctx.Request.Header.SetMethod(fasthttp.MethodGet)
	if key != "" {
		ctx.Request.Header.Set("Authorization", "Bearer "+key)
	}
	e.api.Handler(&ctx)
	var body []byte
	if s := ctx.Response.BodyStream(); s != nil {
		b, err := io.ReadAll(s)
		if err != nil {
			t.Fatalf("GET %s: cannot read the stream: %s", uri, err)
		}
		body = b
	} else {
		body = append(body, ctx.Response.Body()...)
	}
	var h fasthttp.ResponseHeader
	ctx.Response.Header.CopyTo(&h)
	return ctx.Response.StatusCode(), body, &h
}

// expEvent returns an acme event at local time at (Europe/Berlin), with ID
// and Time both that instant.
func expEvent(t testing.TB, at string, user, model string) meter.Event {
	t.Helper()
	ts := insLocal(t, insBerlin(t), at).UnixNano()
	up, _, _ := strings.Cut(model, "/")
	return meter.Event{
		ID: uint64(ts), Time: ts, Org: "acme", User: user, Model: model, Upstream: up,
		Department: "research", BillingMode: account.OrgPays, Category: usage.CategoryChatCompletions,
		Status: 200, Priced: true, Usage: usage.Usage{Source: usage.SourceProvider},
	}
}

// expEvents are the fixture's requests: four in November for alice, bob and
// carol (a member since deleted), one on the last evening of October, one of
// globex.
func expEvents(t testing.TB) []meter.Event {
	t.Helper()
	e1 := expEvent(t, "2026-11-02 10:00", "alice", "openai/gpt-4o-mini")
	e1.Usage.Input, e1.Usage.Output, e1.Usage.CacheRead = usage.Of(1000), usage.Of(100), usage.Of(400)
	e1.CostNano, e1.LatencyMicros, e1.TTFTMicros = 210_000, 1_500_000, 0
	e1.Tags = "env=prod,team=search"

	// 23:30 local on the 10th: 22:30 UTC.
	e2 := expEvent(t, "2026-11-10 23:30", "bob", "anthropic/claude-haiku-4-5")
	e2.Usage.Input, e2.Usage.Output, e2.Usage.CacheWrite = usage.Of(1000), usage.Of(200), usage.Of(300)
	e2.CostNano, e2.LatencyMicros, e2.TTFTMicros, e2.Stream = 2_000_000, 2_400_000, 250_000, true
	e2.Department, e2.BillingMode, e2.Category = `=HYPERLINK("http://x","y")`, account.MemberPays, usage.CategoryOther

	// 00:30 local on the 11th is still the 10th in UTC.
	e3 := expEvent(t, "2026-11-11 00:30", "bob", "openai/gpt-4o-mini")
	e3.Status, e3.ErrorType, e3.ErrorMessage = 429, usage.ErrRateLimit, `Rate limit "reached", retry`
	e3.Department, e3.BillingMode, e3.LatencyMicros = "platform", account.MemberPays, 3000

	e4 := expEvent(t, "2026-11-11 09:00", "alice", "openai/gpt-4o-mini")
	e4.Usage.Input, e4.Usage.Output, e4.Usage.Reasoning = usage.Of(2000), usage.Of(50), usage.Of(20)
	e4.CostNano, e4.LatencyMicros = 330_000, 999
	e4.Tags = "team=a b"

	e5 := expEvent(t, "2026-11-20 12:00", "carol", "gemini/gemini-2.0-flash")
	e5.Usage.Input, e5.Usage.Output, e5.Usage.Source = usage.Of(10), usage.Of(5), usage.SourceEstimated
	e5.CostNano, e5.Department = 1, ""

	october := expEvent(t, "2026-10-31 23:59", "alice", "openai/gpt-4o-mini")
	october.CostNano = 7

	globex := expEvent(t, "2026-11-05 12:00", "eve", "openai/gpt-4o")
	globex.Org = "globex"
	return []meter.Event{october, e1, globex, e2, e3, e4, e5}
}

// expLogRows are the CSV records of November, newest first.
var expLogRows = [][]string{
	{"1795172400000000000", "2026-11-20T11:00:00Z", "carol", "", "gemini/gemini-2.0-flash", "success", "200", "", "",
		"10", "5", "0", "0", "0", "0.000000001", "true", "0", "0", "false", "chat_completions", "", "org_pays", "", "estimated", "gemini"},
	{"1794384000000000000", "2026-11-11T08:00:00Z", "alice", "alice@acme.example", "openai/gpt-4o-mini", "success", "200", "", "",
		"2000", "50", "0", "0", "20", "0.00033", "true", "0", "0", "false", "chat_completions", "research", "org_pays", "team=a b", "provider", "openai"},
	{"1794353400000000000", "2026-11-10T23:30:00Z", "bob", "bob@acme.example", "openai/gpt-4o-mini", "error", "429", "rate_limit", `Rate limit "reached", retry`,
		"0", "0", "0", "0", "0", "0", "true", "3", "0", "false", "chat_completions", "platform", "member_pays", "", "provider", "openai"},
	{"1794349800000000000", "2026-11-10T22:30:00Z", "bob", "bob@acme.example", "anthropic/claude-haiku-4-5", "success", "200", "", "",
		"1000", "200", "0", "300", "0", "0.002", "true", "2400", "250", "true", "other", `'=HYPERLINK("http://x","y")`, "member_pays", "", "provider", "anthropic"},
	{"1793610000000000000", "2026-11-02T09:00:00Z", "alice", "alice@acme.example", "openai/gpt-4o-mini", "success", "200", "", "",
		"1000", "100", "400", "0", "0", "0.00021", "true", "1500", "0", "false", "chat_completions", "research", "org_pays", "env=prod,team=search", "provider", "openai"},
}

// parseCSV reads a whole CSV body.
func parseCSV(t testing.TB, body []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(body))
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %s\n%s", err, body)
	}
	return recs
}

func TestExportCSV(t *testing.T) {
	e := newExpEnv(t, expEvents(t))
	st, body, h := e.get(t, expKeyAlice, "/api/organizations/acme/export/usage?format=csv&start_date=2026-11-01&end_date=2026-11-30")
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	if ct := string(h.ContentType()); ct != "text/csv; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	if cd := string(h.Peek("Content-Disposition")); cd != `attachment; filename="acme-usage-2026-11-01-2026-11-30.csv"` {
		t.Fatalf("content disposition %q", cd)
	}
	recs := parseCSV(t, body)
	if !slices.Equal(recs[0], logColumns) {
		t.Fatalf("header %q", recs[0])
	}
	if got := recs[1:]; !slices.EqualFunc(got, expLogRows, slices.Equal) {
		t.Fatalf("rows:\n%q\nwant:\n%q", got, expLogRows)
	}
	// The tag set with a comma is quoted, the quotes of the message doubled.
	for _, raw := range []string{`"env=prod,team=search"`, `"Rate limit ""reached"", retry"`} {
		if !bytes.Contains(body, []byte(raw)) {
			t.Errorf("no %s in the body", raw)
		}
	}
	// The default format is CSV and the default period the last 30 days
	// (now is 2026-12-01: from 2026-11-02 on).
	st, body, h = e.get(t, expKeyAlice, "/api/organizations/acme/export/usage")
	if st != 200 || len(parseCSV(t, body)) != 6 {
		t.Fatalf("default: %d %s", st, body)
	}
	if cd := string(h.Peek("Content-Disposition")); cd != `attachment; filename="acme-usage-2026-11-02-2026-12-01.csv"` {
		t.Fatalf("default content disposition %q", cd)
	}
}

func TestExportJSON(t *testing.T) {
	e := newExpEnv(t, expEvents(t))
	st, body, h := e.get(t, expKeyAlice, "/api/organizations/acme/export/usage?format=json&start_date=2026-11-01&end_date=2026-11-30")
	if st != 200 || string(h.ContentType()) != "application/json" || !gjson.ValidBytes(body) {
		t.Fatalf("%d %q %s", st, h.ContentType(), body)
	}
	j := gjson.ParseBytes(body)
	if j.Get("success").Raw != "true" || j.Get("org_id").String() != "acme" || j.Get("row_count").Int() != 5 ||
		j.Get("period").Raw != `{"start":"2026-11-01T00:00:00+01:00","end":"2026-12-01T00:00:00+01:00","timezone":"Europe/Berlin"}` {
		t.Fatalf("envelope: %s", body)
	}
	rows := j.Get("rows").Array()
	if len(rows) != len(expLogRows) {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		// The keys are the CSV columns, in order; the values the CSV
		// fields, except that JSON keeps text unescaped.
		var keys, vals []string
		r.ForEach(func(k, v gjson.Result) bool {
			keys = append(keys, k.String())
			vals = append(vals, v.String())
			return true
		})
		if !slices.Equal(keys, logColumns) {
			t.Fatalf("row %d keys %q", i, keys)
		}
		want := slices.Clone(expLogRows[i])
		want[20] = strings.TrimPrefix(want[20], "'")
		if !slices.Equal(vals, want) {
			t.Fatalf("row %d:\n%q\nwant:\n%q", i, vals, want)
		}
	}
	// Numbers and booleans are JSON numbers and booleans.
	if r := rows[3]; r.Get("cost_usd").Raw != "0.002" || r.Get("stream").Raw != "true" || r.Get("ttft_ms").Raw != "250" {
		t.Fatalf("types: %s", r.Raw)
	}

	st, body, h = e.get(t, expKeyAlice, "/api/organizations/acme/export/usage?format=ndjson&start_date=2026-11-01&end_date=2026-11-30")
	if st != 200 || string(h.ContentType()) != "application/x-ndjson" || !strings.HasSuffix(string(h.Peek("Content-Disposition")), `.ndjson"`) {
		t.Fatalf("ndjson: %d %q", st, h.ContentType())
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("ndjson: %d lines: %s", len(lines), body)
	}
	for i, l := range lines {
		if l != rows[i].Raw {
			t.Fatalf("ndjson line %d:\n%s\nwant\n%s", i, l, rows[i].Raw)
		}
	}
}

func TestExportSummary(t *testing.T) {
	e := newExpEnv(t, expEvents(t))
	st, body, h := e.get(t, expKeyAlice, "/api/organizations/acme/export/usage?summary=true&start_date=2026-11-01&end_date=2026-11-30")
	if st != 200 {
		t.Fatalf("%d %s", st, body)
	}
	if cd := string(h.Peek("Content-Disposition")); cd != `attachment; filename="acme-usage-summary-2026-11-01-2026-11-30.csv"` {
		t.Fatalf("content disposition %q", cd)
	}
	want := [][]string{
		summaryColumns,
		{"2026-11-02", "alice", "alice@acme.example", "openai/gpt-4o-mini", "1", "1000", "100", "400", "0", "0", "0.00021", "0"},
		{"2026-11-10", "bob", "bob@acme.example", "anthropic/claude-haiku-4-5", "1", "1000", "200", "0", "300", "0", "0.002", "0"},
		{"2026-11-11", "alice", "alice@acme.example", "openai/gpt-4o-mini", "1", "2000", "50", "0", "0", "20", "0.00033", "0"},
		{"2026-11-11", "bob", "bob@acme.example", "openai/gpt-4o-mini", "1", "0", "0", "0", "0", "0", "0", "1"},
		{"2026-11-20", "carol", "", "gemini/gemini-2.0-flash", "1", "10", "5", "0", "0", "0", "0.000000001", "0"},
	}
	if got := parseCSV(t, body); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("summary:\n%q\nwant:\n%q", got, want)
	}

	st, body, _ = e.get(t, expKeyAlice, "/api/organizations/acme/export/usage?summary=1&format=json&start_date=2026-11-11&end_date=2026-11-11")
	j := gjson.ParseBytes(body)
	if st != 200 || j.Get("row_count").Int() != 2 {
		t.Fatalf("%d %s", st, body)
	}
	if got := j.Get("rows.1").Raw; got != `{"day":"2026-11-11","user_id":"bob","email":"bob@acme.example","model":"openai/gpt-4o-mini","requests":1,"input_tokens":0,"output_tokens":0,"cached_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,"cost_usd":0,"errors":1}` {
		t.Fatalf("json summary row: %s", got)
	}
}

func TestExportPDF(t *testing.T) {
	e := newExpEnv(t, expEvents(t))
	st, body, h := e.get(t, expKeyAlice, "/api/organizations/acme/export/usage?format=pdf&start_date=2026-11-01&end_date=2026-11-30")
	if st != 200 || string(h.ContentType()) != "application/pdf" {
		t.Fatalf("%d %q %.200s", st, h.ContentType(), body)
	}
	if cd := string(h.Peek("Content-Disposition")); cd != `attachment; filename="acme-usage-2026-11-01-2026-11-30.pdf"` {
		t.Fatalf("content disposition %q", cd)
	}
	text, err := reporttest.Text(body)
	if err != nil {
		t.Fatal(err)
	}
	// 0.00021 + 0.002 + 0 + 0.00033 + 0.000000001 = 0.002540001.
	follows := func(label string, want ...string) {
		t.Helper()
		i := slices.Index(text, label)
		if i < 0 || !slices.Equal(text[i+1:min(len(text), i+1+len(want))], want) {
			t.Errorf("%q is not followed by %q in %q", label, want, text)
		}
	}
	follows("Acme usage report", "Period: 2026-11-01 to 2026-11-30 (Europe/Berlin)", "Generated: 2026-12-01 09:30 CET")
	follows("Requests", "5")
	follows("Total cost", "$0.002540001")
	follows("Input tokens", "4,010")
	follows("Output tokens", "355")
	follows("Active members", "3")
	follows("Errors", "1")
	follows("Error rate", "20.00%")
	follows("Avg latency", "780 ms") // (1.5 s + 2.4 s + 3 ms + 999 µs + 0) / 5
	follows("Cost per day (USD)", "$0.00", "$0.001", "$0.002")
	follows("Member", "Requests", "Tokens", "Cost", "Share",
		"bob@acme.example", "2", "1,200", "$0.002", "78.74%",
		"alice@acme.example", "2", "3,150", "$0.00054", "21.26%",
		"carol", "1", "15", "$0.000000001", "0.00%")
	follows("Model", "Requests", "Tokens", "Cost", "Share",
		"anthropic/claude-haiku-4-5", "1", "1,200", "$0.002", "78.74%",
		"openai/gpt-4o-mini", "3", "3,150", "$0.00054", "21.26%",
		"gemini/gemini-2.0-flash", "1", "15", "$0.000000001", "0.00%")
	follows("Department", "Requests", "Tokens", "Cost", "Share",
		`=HYPERLINK("http://x","y")`, "1", "1,200", "$0.002", "78.74%",
		"research", "2", "3,150", "$0.00054", "21.26%",
		"(none)", "1", "15", "$0.000000001", "0.00%",
		"platform", "1", "0", "$0.00", "0.00%")
	// One bar a day, labelled every fifth day from the first.
	for _, d := range []string{"2026-11-01", "2026-11-06", "2026-11-26"} {
		if !slices.Contains(text, d) {
			t.Errorf("no x label %s in %q", d, text)
		}
	}

	// A year: one bar per 6 days.
	st, body, _ = e.get(t, expKeyAlice, "/api/organizations/acme/export/usage?format=pdf&start_date=2026-01-01&end_date=2026-12-31")
	if text, err = reporttest.Text(body); st != 200 || err != nil || !slices.Contains(text, "Cost per 6 days (USD)") {
		t.Fatalf("a year: %d %v %q", st, err, text)
	}
}

// TestExportStatuses checks the answers without a download: empty periods,
// bad parameters and who may export.
func TestExportStatuses(t *testing.T) {
	e := newExpEnv(t, expEvents(t))
	const p = "/api/organizations/acme/export/usage"
	f := func(key, uri string, status int, msg string) {
		t.Helper()
		st, body, _ := e.get(t, key, uri)
		if st != status {
			t.Errorf("%s: %d, want %d: %s", uri, st, status, body)
			return
		}
		if status == 204 {
			if len(body) != 0 {
				t.Errorf("%s: 204 with a body: %q", uri, body)
			}
			return
		}
		j := gjson.ParseBytes(body)
		if j.Get("success").Raw != "false" || !strings.Contains(j.Get("error.message").String(), msg) {
			t.Errorf("%s: %s, want a message with %q", uri, body, msg)
		}
	}
	for _, q := range []string{"format=csv", "format=json", "format=ndjson", "format=pdf", "summary=true", "summary=true&format=json"} {
		f(expKeyAlice, p+"?start_date=2026-09-01&end_date=2026-09-30&"+q, 204, "")
		f(expKeyAlice, p+"?start_date=1960-01-01&end_date=1969-12-31&"+q, 204, "")
		f(expKeyAlice, p+"?start_date=2300-01-01&end_date=2300-01-02&"+q, 204, "")
	}
	// A period of at most api.MaxPeriodDays (3660) reaches the logs; a
	// longer one is a 400 naming the parameter.
	st, body, _ := e.get(t, expKeyAlice, p+"?start_date=2016-12-10&end_date=2026-11-30")
	if st != 200 || len(parseCSV(t, body)) != 7 {
		t.Fatalf("from 2016: %d %s", st, body)
	}
	f(expKeyAlice, p+"?start_date=1900-01-01&end_date=2026-11-30", 400,
		"end_date: the period from 1900-01-01T00:00:00+01:00 to 2026-12-01T00:00:00+01:00 is longer than 3660 days")
	f(expKeyAlice, p+"?start_date=2016-11-23", 400, "start_date: the period from 2016-11-23T00:00:00+01:00 to 2026-12-02T00:00:00+01:00 is longer than 3660 days")
	f(expKeyAlice, p+"?format=xml", 400, `format: "xml" is not one of csv, json, ndjson, pdf`)
	f(expKeyAlice, p+"?format=CSV", 400, "format: ")
	f(expKeyAlice, p+"?summary=yes", 400, `summary: "yes" is not true or false`)
	f(expKeyAlice, p+"?summary=true&format=pdf", 400, "summary: ")
	f(expKeyAlice, p+"?start_date=2026-13-01", 400, "start_date: ")
	f(expKeyAlice, p+"?end_date=yesterday", 400, "end_date: ")
	f(expKeyAlice, p+"?start_date=2026-11-30&end_date=2026-11-01", 400, "end_date: ")
	f(expKeyAlice, p+"?range=year", 400, "range: ")
	f(expKeyBob, p, 403, "admins")
	f(expKeyEve, p, 404, "no such organization: acme")
	f("", p, 401, "bearer")
	// globex's admin exports globex only.
	st, body, _ = e.get(t, expKeyEve, "/api/organizations/globex/export/usage?start_date=2026-11-01&end_date=2026-11-30")
	if recs := parseCSV(t, body); st != 200 || len(recs) != 2 || recs[1][2] != "eve" {
		t.Fatalf("globex: %d %q", st, recs)
	}
}

// TestExportPages exports more logs than one store page, with RFC 3339
// bounds: every log once, newest first.
func TestExportPages(t *testing.T) {
	const n = 2*store.MaxLogLimit + 345
	base := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	evs := make([]meter.Event, 0, n)
	for i := range n {
		ts := base.Add(time.Duration(i) * time.Second).UnixNano()
		evs = append(evs, meter.Event{ID: uint64(ts), Time: ts, Org: "acme", User: "alice", Model: "openai/gpt-4o", Status: 200,
			Tags: "i=" + strconv.Itoa(i), CostNano: int64(i)})
	}
	e := newExpEnv(t, evs)
	// From the 11th log to the one before the last: n-11 logs.
	start := base.Add(10 * time.Second).Format(time.RFC3339)
	end := base.Add((n - 1) * time.Second).Format(time.RFC3339)
	for _, format := range []string{"csv", "json"} {
		st, body, h := e.get(t, expKeyAlice, "/api/organizations/acme/export/usage?format="+format+"&start_date="+start+"&end_date="+end)
		if st != 200 {
			t.Fatalf("%d %s", st, body)
		}
		if cd := string(h.Peek("Content-Disposition")); cd != `attachment; filename="acme-usage-2026-11-03-2026-11-03.`+format+`"` {
			t.Fatalf("content disposition %q", cd)
		}
		var tags []string
		if format == "csv" {
			for _, r := range parseCSV(t, body)[1:] {
				tags = append(tags, r[22])
			}
		} else {
			j := gjson.ParseBytes(body)
			if j.Get("row_count").Int() != n-11 {
				t.Fatalf("row_count %d", j.Get("row_count").Int())
			}
			for _, r := range j.Get("rows.#.tags").Array() {
				tags = append(tags, r.String())
			}
		}
		if len(tags) != n-11 {
			t.Fatalf("%s: %d rows, want %d", format, len(tags), n-11)
		}
		for k, tag := range tags {
			if want := "i=" + strconv.Itoa(n-2-k); tag != want {
				t.Fatalf("%s: row %d is %q, want %q", format, k, tag, want)
			}
		}
	}
}

// TestExportStreamError serves an export whose second page fails: the
// client gets the first page and then a cut body, not a complete file.
func TestExportStreamError(t *testing.T) {
	ln := fasthttputil.NewInmemoryListener()
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		pages := 0
		s := &exportStream{}
		s.next = func() (bool, error) {
			pages++
			if pages == 2 {
				return false, errors.New("cannot read the request logs: store is closed")
			}
			s.buf.WriteString(strings.Repeat("row\n", 10_000))
			return true, nil
		}
		ctx.SetBodyStream(s, -1)
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	client := &http.Client{Transport: &http.Transport{DialContext: func(_ context.Context, _, _ string) (net.Conn, error) { return ln.Dial() }}}
	resp, err := client.Get("http://export.test/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read %d bytes, then %v; want a cut body", len(b), err)
	}
	if len(b) != 40_000 {
		t.Fatalf("read %d bytes, want the first page (40000)", len(b))
	}
}

// TestExportFileName checks names of odd org ids and RFC 3339 bounds.
func TestExportFileName(t *testing.T) {
	loc := insBerlin(t)
	f := func(org string, start, end time.Time, format string, summary bool, want string) {
		t.Helper()
		x := &export{org: org, loc: loc, period: period{start, end}, format: format, summary: summary}
		if got := x.fileName(); got != want {
			t.Errorf("%q", got)
		}
	}
	nov1, dec1 := time.Date(2026, 11, 1, 0, 0, 0, 0, loc), time.Date(2026, 12, 1, 0, 0, 0, 0, loc)
	f("acme", nov1, dec1, "csv", false, "acme-usage-2026-11-01-2026-11-30.csv")
	f("acme", nov1, dec1, "json", true, "acme-usage-summary-2026-11-01-2026-11-30.json")
	f(`a"c/m é`, nov1, dec1, "pdf", false, "a_c_m__-usage-2026-11-01-2026-11-30.pdf")
	// 2026-11-30T23:30Z is already December 1st in Berlin.
	f("acme", time.Date(2026, 11, 30, 23, 30, 0, 0, time.UTC), time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC), "csv", false,
		"acme-usage-2026-12-01-2026-12-01.csv")
}
