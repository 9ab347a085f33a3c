package api

import (
	"encoding/csv"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/api/report"
	"github.com/infermeter/infermeter/api/report/reporttest"
	"github.com/infermeter/infermeter/store"
)

// newInvoiceAPI is the query fixture (cells of acme in Europe/Berlin, the
// clock at 2026-12-10) with a store and an invoice sequence.
func newInvoiceAPI(t testing.TB) *API {
	t.Helper()
	a := newQueryAPI(t)
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	a.opt.Store = st
	return a
}

// serveRaw runs one request and returns the whole response.
func serveRaw(a *API, method, path, key, body string) *fasthttp.Response {
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(path)
	req.Header.Set("Authorization", "Bearer "+key)
	req.SetBodyString(body)
	var ctx fasthttp.RequestCtx
	ctx.Init(&req, nil, nil)
	a.Handler(&ctx)
	var resp fasthttp.Response
	ctx.Response.CopyTo(&resp)
	return &resp
}

func TestParseInvoiceRequest(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)
	ok := func(body, start, end, startText, endText, groupBy string) {
		t.Helper()
		r, err := parseInvoiceRequest([]byte(body), berlin, now)
		if err != nil {
			t.Fatalf("%s: %s", body, err)
		}
		if got := r.period.Start.Format(time.RFC3339); got != start {
			t.Fatalf("%s: start %s, want %s", body, got, start)
		}
		if got := r.period.End.Format(time.RFC3339); got != end {
			t.Fatalf("%s: end %s, want %s", body, got, end)
		}
		if r.startText != startText || r.endText != endText || r.groupBy != groupBy {
			t.Fatalf("%s: %q %q %q", body, r.startText, r.endText, r.groupBy)
		}
	}
	ok(`{"period_start":"2026-11-01","period_end":"2026-11-30","group_by":"department"}`,
		"2026-11-01T00:00:00+01:00", "2026-12-01T00:00:00+01:00", "2026-11-01", "2026-11-30", "department")
	ok(`{"period_end":"2026-11-30","period_start":"2026-11-30"}`,
		"2026-11-30T00:00:00+01:00", "2026-12-01T00:00:00+01:00", "2026-11-30", "2026-11-30", "department")
	ok(`{"period_start":"2026-11-01T10:00:00Z","period_end":"2026-11-02T06:30:00+01:00","group_by":"user"}`,
		"2026-11-01T10:00:00Z", "2026-11-02T06:30:00+01:00", "2026-11-01T11:00:00+01:00", "2026-11-02T06:30:00+01:00", "user")
	// Today is the last day a period may end on; a leap year holds 366 days.
	ok(`{"period_start":"2026-12-10","period_end":"2026-12-10","group_by":"billing_mode"}`,
		"2026-12-10T00:00:00+01:00", "2026-12-11T00:00:00+01:00", "2026-12-10", "2026-12-10", "billing_mode")
	ok(`{"period_start":"2024-01-01","period_end":"2024-12-31"}`,
		"2024-01-01T00:00:00+01:00", "2025-01-01T00:00:00+01:00", "2024-01-01", "2024-12-31", "department")
	ok(`{"period_start":"2025-01-01","period_end":"2026-01-01"}`,
		"2025-01-01T00:00:00+01:00", "2026-01-02T00:00:00+01:00", "2025-01-01", "2026-01-01", "department")

	bad := func(body, want string) {
		t.Helper()
		_, err := parseInvoiceRequest([]byte(body), berlin, now)
		if err == nil || err.Error() != want {
			t.Fatalf("%s:\ngot  %v\nwant %s", body, err, want)
		}
	}
	for _, tc := range []struct{ body, want string }{
		{``, "body: must be a JSON object"},
		{`{`, "body: must be a JSON object"},
		{`[]`, "body: must be a JSON object"},
		{`null`, "body: must be a JSON object"},
		{`"2026-11-01"`, "body: must be a JSON object"},
		{`{}`, "period_start: must be given (YYYY-MM-DD or RFC 3339)"},
		{`{"period_start":"2026-11-01"}`, "period_end: must be given (YYYY-MM-DD or RFC 3339)"},
		{`{"period_start":"2026-11-01","period_end":"2026-11-30","colour":"red"}`, `"colour": unknown field; known: period_start, period_end, group_by`},
		{`{"Period_start":"2026-11-01"}`, `"Period_start": unknown field; known: period_start, period_end, group_by`},
		{`{"period_start":20261101,"period_end":"2026-11-30"}`, "period_start: must be a string"},
		{`{"period_start":"2026-11-01","period_end":null}`, "period_end: must be a string"},
		{`{"period_start":"2026-11-01","period_end":"2026-11-30","group_by":["user"]}`, "group_by: must be a string"},
		{`{"period_start":"2026-11-01","period_start":"2026-11-02","period_end":"2026-11-30"}`, "period_start: given more than once"},
		{`{"period_start":"2026-11-01","period_end":"2026-11-30","group_by":"model"}`, `group_by: "model" is not one of department, user, billing_mode`},
		{`{"period_start":"2026-11-01","period_end":"2026-11-30","group_by":""}`, `group_by: "" is not one of department, user, billing_mode`},
		{`{"period_start":"2026-13-01","period_end":"2026-11-30"}`, `period_start: "2026-13-01" is not a date (YYYY-MM-DD) or an RFC 3339 time`},
		{`{"period_start":"2026-11-01","period_end":"yesterday"}`, `period_end: "yesterday" is not a date (YYYY-MM-DD) or an RFC 3339 time`},
		{`{"period_start":"2026-11-30","period_end":"2026-11-01"}`, "period_end: the period from 2026-11-30 to 2026-11-01 is empty (it ends before it starts)"},
		{`{"period_start":"2026-11-01T10:00:00Z","period_end":"2026-11-01T10:00:00Z"}`, "period_end: the period from 2026-11-01T11:00:00+01:00 to 2026-11-01T11:00:00+01:00 is empty (it ends before it starts)"},
		{`{"period_start":"2025-01-01","period_end":"2026-01-02"}`, "period_end: the period is longer than 366 days (it may end at 2026-01-02T00:00:00+01:00 at the latest)"},
		{`{"period_start":"2026-12-01","period_end":"2026-12-11"}`, "period_end: the period ends (2026-12-12T00:00:00+01:00) after today (2026-12-10)"},
		{`{"period_start":"2026-12-01","period_end":"2026-12-11T00:00:01+01:00"}`, "period_end: the period ends (2026-12-11T00:00:01+01:00) after today (2026-12-10)"},
	} {
		bad(tc.body, tc.want)
	}
}

// invoiceFixtureJSON is the department invoice of November 2026 from the
// query fixture: the cells of Nov 1 00:00 to Nov 30 23:00 in Berlin
// (alice gpt-4o 2 requests 1,750,000 nano; bob haiku 3 requests 1,050,000;
// bob gpt-4o in research 5 requests 100,000; alice haiku 1 request
// 100,000).
const invoiceFixtureLines = `[` +
	`{"group":"platform","model":"anthropic/claude-haiku-4-5","billing_mode":"member_pays","requests":3,"input_tokens":600,"output_tokens":90,"cached_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,"cost_usd":0.00105},` +
	`{"group":"research","model":"anthropic/claude-haiku-4-5","billing_mode":"org_pays","requests":1,"input_tokens":50,"output_tokens":10,"cached_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,"cost_usd":0.0001},` +
	`{"group":"research","model":"openai/gpt-4o","billing_mode":"member_pays","requests":5,"input_tokens":5000,"output_tokens":0,"cached_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,"cost_usd":0.0001},` +
	`{"group":"research","model":"openai/gpt-4o","billing_mode":"org_pays","requests":2,"input_tokens":300,"output_tokens":100,"cached_tokens":0,"cache_write_tokens":0,"reasoning_tokens":0,"cost_usd":0.00175}]`

func TestInvoiceGenerateAndRender(t *testing.T) {
	a := newInvoiceAPI(t)
	st, got := serve(a, "POST", "/api/billing/invoices/generate", qKeyAlice, `{"period_start":"2026-11-01","period_end":"2026-11-30","group_by":"department"}`)
	if st != 201 {
		t.Fatalf("generate: %d %s", st, got)
	}
	inv := gjson.Get(got, "invoice")
	for path, want := range map[string]string{
		"number": "ACME-2026-0001", "org_id": "acme", "org_name": "Acme", "period_start": "2026-11-01", "period_end": "2026-11-30",
		"period.start": "2026-11-01T00:00:00+01:00", "period.end": "2026-12-01T00:00:00+01:00", "timezone": "Europe/Berlin",
		"group_by": "department", "currency": "USD", "generated_at": "2026-12-10T13:00:00+01:00",
		"lines": invoiceFixtureLines, "subtotals": `{"platform":0.00105,"research":0.00195}`,
		"groups.#.group": `["platform","research"]`, "groups.#.requests": `[3,8]`, "groups.#.cost_usd": `[0.00105,0.00195]`,
		"requests": "11", "org_pays": "0.00185", "member_pays": "0.00115", "total": "0.003",
	} {
		if v := inv.Get(path); v.String() != want && v.Raw != want {
			t.Errorf("%s: %s, want %s", path, v.Raw, want)
		}
	}
	// The total is the usage route's overview cost for the same period.
	_, u := serve(a, "GET", "/api/organizations/acme/usage?start_date=2026-11-01&end_date=2026-11-30", qKeyAlice, "")
	if o := gjson.Get(u, "overview.cost_usd").Raw; o != inv.Get("total").Raw {
		t.Fatalf("usage overview %s, invoice total %s", o, inv.Get("total").Raw)
	}
	id := inv.Get("id").String()

	// The stored invoice reads back the same.
	st, again := serve(a, "GET", "/api/billing/invoices/"+id, qKeyAlice, "")
	if st != 200 || gjson.Get(again, "invoice").Raw != inv.Raw {
		t.Fatalf("get: %d\n%s\nwant\n%s", st, again, inv.Raw)
	}

	resp := serveRaw(a, "GET", "/api/billing/invoices/"+id+"?format=csv", qKeyAlice, "")
	if resp.StatusCode() != 200 || string(resp.Header.ContentType()) != "text/csv; charset=utf-8" ||
		string(resp.Header.Peek("Content-Disposition")) != `attachment; filename="ACME-2026-0001.csv"` {
		t.Fatalf("csv: %d %s", resp.StatusCode(), resp.Header.String())
	}
	wantCSV := `kind,group,email,model,billing_mode,requests,input_tokens,output_tokens,cached_tokens,cache_write_tokens,reasoning_tokens,cost_usd
line,platform,,anthropic/claude-haiku-4-5,member_pays,3,600,90,0,0,0,0.00105
line,research,,anthropic/claude-haiku-4-5,org_pays,1,50,10,0,0,0,0.0001
line,research,,openai/gpt-4o,member_pays,5,5000,0,0,0,0,0.0001
line,research,,openai/gpt-4o,org_pays,2,300,100,0,0,0,0.00175
subtotal,platform,,,,3,600,90,0,0,0,0.00105
subtotal,research,,,,8,5350,110,0,0,0,0.00195
org_pays,,,,,3,350,110,0,0,0,0.00185
member_pays,,,,,8,5600,90,0,0,0,0.00115
total,,,,,11,5950,200,0,0,0,0.003
`
	if string(resp.Body()) != wantCSV {
		t.Fatalf("csv:\n%s\nwant\n%s", resp.Body(), wantCSV)
	}
	if _, err := csv.NewReader(strings.NewReader(string(resp.Body()))).ReadAll(); err != nil {
		t.Fatal(err)
	}

	resp = serveRaw(a, "GET", "/api/billing/invoices/"+id+"?format=pdf", qKeyAlice, "")
	if resp.StatusCode() != 200 || string(resp.Header.ContentType()) != "application/pdf" ||
		string(resp.Header.Peek("Content-Disposition")) != `attachment; filename="ACME-2026-0001.pdf"` {
		t.Fatalf("pdf: %d %s", resp.StatusCode(), resp.Header.String())
	}
	text, err := reporttest.Text(resp.Body())
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(text, "\n")
	for _, want := range []string{"Invoice ACME-2026-0001", "Acme", "2026-11-01 to 2026-11-30", "Europe/Berlin",
		"platform", "research", "openai/gpt-4o", "$0.00185", "$0.00115", "Total", "$0.003", "$0.00195"} {
		if !strings.Contains(joined, want) {
			t.Errorf("the PDF does not show %q:\n%s", want, joined)
		}
	}
	// "Total" is followed by the total, and then only by the footer.
	if i := slices.Index(text, "Total"); i < 0 || i+3 != len(text) || text[i+1] != report.USD(3_000_000) || text[i+2] != "ACME-2026-0001 - page 1 of 1" {
		t.Errorf("the PDF's total: %q", text)
	}
	// The same invoice renders to the same bytes.
	if again := serveRaw(a, "GET", "/api/billing/invoices/"+id+"?format=pdf", qKeyAlice, ""); string(again.Body()) != string(resp.Body()) {
		t.Error("the PDF of one invoice changed between two downloads")
	}
}

func TestInvoiceGroupings(t *testing.T) {
	a := newInvoiceAPI(t)
	gen := func(groupBy string) gjson.Result {
		t.Helper()
		st, got := serve(a, "POST", "/api/billing/invoices/generate", qKeyAlice, `{"period_start":"2026-10-31","period_end":"2026-12-01","group_by":"`+groupBy+`"}`)
		if st != 201 {
			t.Fatalf("%s: %d %s", groupBy, st, got)
		}
		return gjson.Get(got, "invoice")
	}
	// Every fixture cell of acme but September's, by member: alice's
	// 2,500,000 + 1,750,000 (gpt-4o) + 100,000 (haiku) = 4,350,000 nano;
	// bob's 1,050,000 (haiku) + 100,000 + 250,000 (gpt-4o) = 1,400,000.
	user := gen("user")
	for path, want := range map[string]string{
		"lines.#.group":        `["alice","alice","bob","bob"]`,
		"lines.#.model":        `["anthropic/claude-haiku-4-5","openai/gpt-4o","anthropic/claude-haiku-4-5","openai/gpt-4o"]`,
		"lines.#.requests":     `[1,6,3,7]`,
		"lines.#.cost_usd":     `[0.0001,0.00425,0.00105,0.00035]`,
		"subtotals":            `{"alice":0.00435,"bob":0.0014}`,
		"org_pays":             "0.00435",
		"member_pays":          "0.0014",
		"total":                "0.00575",
		"groups.#.requests":    `[7,10]`,
		"lines.#.billing_mode": `["org_pays","org_pays","member_pays","member_pays"]`,
	} {
		if v := user.Get(path); v.Raw != want {
			t.Errorf("user %s: %s, want %s", path, v.Raw, want)
		}
	}
	mode := gen("billing_mode")
	if v := mode.Get("subtotals").Raw; v != `{"member_pays":0.0014,"org_pays":0.00435}` {
		t.Errorf("billing_mode subtotals %s", v)
	}
	if n := mode.Get("number").String(); n != "ACME-2026-0002" {
		t.Errorf("second number %s", n)
	}
	_, u := serve(a, "GET", "/api/organizations/acme/usage?start_date=2026-10-31&end_date=2026-12-01", qKeyAlice, "")
	if o := gjson.Get(u, "overview.cost_usd").Raw; o != "0.00575" {
		t.Errorf("usage overview %s", o)
	}
	// An empty period is an invoice without lines.
	st, got := serve(a, "POST", "/api/billing/invoices/generate", qKeyAlice, `{"period_start":"2026-08-01","period_end":"2026-08-31"}`)
	if st != 201 || gjson.Get(got, "invoice.lines").Raw != "[]" || gjson.Get(got, "invoice.subtotals").Raw != "{}" ||
		gjson.Get(got, "invoice.total").Raw != "0" || gjson.Get(got, "invoice.number").String() != "ACME-2026-0003" {
		t.Fatalf("empty: %d %s", st, got)
	}
	emptyID := gjson.Get(got, "invoice.id").String()
	resp := serveRaw(a, "GET", "/api/billing/invoices/"+emptyID+"?format=pdf", qKeyAlice, "")
	text, err := reporttest.Text(resp.Body())
	if err != nil || !strings.Contains(strings.Join(text, "\n"), "No usage in this period") {
		t.Fatalf("empty pdf: %v %q", err, text)
	}
	resp = serveRaw(a, "GET", "/api/billing/invoices/"+emptyID+"?format=csv", qKeyAlice, "")
	if want := strings.Join(invoiceCSVColumns, ",") + "\norg_pays,,,,,0,0,0,0,0,0,0.00\nmember_pays,,,,,0,0,0,0,0,0,0.00\ntotal,,,,,0,0,0,0,0,0,0.00\n"; string(resp.Body()) != want {
		t.Fatalf("empty csv:\n%s", resp.Body())
	}

	// The list: newest first.
	st, got = serve(a, "GET", "/api/billing/invoices", qKeyAlice, "")
	if st != 200 || gjson.Get(got, "invoices.#.number").Raw != `["ACME-2026-0003","ACME-2026-0002","ACME-2026-0001"]` ||
		gjson.Get(got, "invoices.#.total").Raw != `[0,0.00575,0.00575]` || gjson.Get(got, "invoices.#.lines").Raw != `[0,4,4]` {
		t.Fatalf("list: %d %s", st, got)
	}
	// Another org sees none of them, and cannot read one.
	st, got = serve(a, "GET", "/api/billing/invoices", qKeyEve, "")
	if st != 200 || gjson.Get(got, "invoices").Raw != "[]" {
		t.Fatalf("globex list: %d %s", st, got)
	}
	st, got = serve(a, "GET", "/api/billing/invoices/"+emptyID, qKeyEve, "")
	if st != 404 || gjson.Get(got, "error.code").String() != "not_found" {
		t.Fatalf("globex get: %d %s", st, got)
	}
	// Globex numbers its own invoices from 1.
	st, got = serve(a, "POST", "/api/billing/invoices/generate", qKeyEve, `{"period_start":"2026-11-01","period_end":"2026-11-30"}`)
	if st != 201 || gjson.Get(got, "invoice.number").String() != "GLOBEX-2026-0001" || gjson.Get(got, "invoice.total").Raw != "0.000000001" {
		t.Fatalf("globex generate: %d %s", st, got)
	}
}

func TestInvoiceErrors(t *testing.T) {
	a := newInvoiceAPI(t)
	for _, tc := range []struct {
		method, path, key, body string
		status                  int
		code, message           string
	}{
		{"POST", "/api/billing/invoices/generate", qKeyBob, `{"period_start":"2026-11-01","period_end":"2026-11-30"}`, 403, "forbidden", "this route is for the org's admins"},
		{"GET", "/api/billing/invoices", qKeyBob, "", 403, "forbidden", "this route is for the org's admins"},
		{"GET", "/api/billing/invoices/inv_x", qKeyBob, "", 403, "forbidden", "this route is for the org's admins"},
		{"GET", "/api/billing/invoices/inv_x", qKeyAlice, "", 404, "not_found", "no such invoice: inv_x"},
		{"GET", "/api/billing/invoices/inv_x?format=xml", qKeyAlice, "", 400, "invalid_parameter", `format: "xml" is not one of json, csv, pdf`},
		{"POST", "/api/billing/invoices/generate", qKeyAlice, `{"period_start":"2026-11-01","period_end":"2027-01-01"}`, 400, "invalid_parameter", "period_end: the period ends (2027-01-02T00:00:00+01:00) after today (2026-12-10)"},
		{"POST", "/api/billing/invoices/generate", qKeyAlice, `{"period_start":"2026-11-01","period_end":"2026-11-30","extra":1}`, 400, "invalid_parameter", `"extra": unknown field; known: period_start, period_end, group_by`},
		{"GET", "/api/billing/invoices/generate", qKeyAlice, "", 404, "not_found", "no such invoice: generate"},
		{"DELETE", "/api/billing/invoices", qKeyAlice, "", 405, "method_not_allowed", "method DELETE is not allowed here; use GET"},
	} {
		st, got := serve(a, tc.method, tc.path, tc.key, tc.body)
		if st != tc.status || gjson.Get(got, "success").Bool() || gjson.Get(got, "error.code").String() != tc.code || gjson.Get(got, "error.message").String() != tc.message {
			t.Errorf("%s %s: %d %s, want %d %s %q", tc.method, tc.path, st, got, tc.status, tc.code, tc.message)
		}
	}
	// A failed request takes no number.
	st, got := serve(a, "POST", "/api/billing/invoices/generate", qKeyAlice, `{"period_start":"2026-11-01","period_end":"2026-11-01"}`)
	if st != 201 || gjson.Get(got, "invoice.number").String() != "ACME-2026-0001" {
		t.Fatalf("%d %s", st, got)
	}
	// Without a store (an API built without one) the routes say so.
	a.opt.Store = nil
	st, got = serve(a, "GET", "/api/billing/invoices", qKeyAlice, "")
	if st != 503 || gjson.Get(got, "error.code").String() != "unavailable" {
		t.Fatalf("no store: %d %s", st, got)
	}
}

// TestInvoiceNumbersConcurrent generates invoices from several goroutines:
// every number is given once, 1 to n.
func TestInvoiceNumbersConcurrent(t *testing.T) {
	a := newInvoiceAPI(t)
	const n = 24
	var wg sync.WaitGroup
	numbers := make(chan string, n)
	for range n {
		wg.Go(func() {
			st, got := serve(a, "POST", "/api/billing/invoices/generate", qKeyAlice, `{"period_start":"2026-11-01","period_end":"2026-11-30"}`)
			if st != 201 {
				t.Errorf("%d %s", st, got)
			}
			numbers <- gjson.Get(got, "invoice.number").String()
		})
	}
	wg.Wait()
	close(numbers)
	seen := map[string]bool{}
	for s := range numbers {
		if seen[s] {
			t.Fatalf("number %s given twice", s)
		}
		seen[s] = true
	}
	for i := 1; i <= n; i++ {
		if s := invoiceNumber("acme", 2026, int64(i)); !seen[s] {
			t.Fatalf("number %s missing: %v", s, seen)
		}
	}
	_, got := serve(a, "GET", "/api/billing/invoices", qKeyAlice, "")
	if list := gjson.Get(got, "invoices.#.number").Array(); len(list) != n || list[0].String() != invoiceNumber("acme", 2026, n) {
		t.Fatalf("list %s", got)
	}
}

func TestInvoiceNumberAndMoney(t *testing.T) {
	for _, tc := range []struct {
		org  string
		seq  int64
		want string
	}{{"acme", 1, "ACME-2026-0001"}, {"my-org_2", 12345, "MYORG2-2026-12345"}, {"été", 7, "T-2026-0007"}, {"--", 2, "INV-2026-0002"}} {
		if got := invoiceNumber(tc.org, 2026, tc.seq); got != tc.want {
			t.Errorf("%s %d: %s, want %s", tc.org, tc.seq, got, tc.want)
		}
	}
	for nano, want := range map[int64]string{
		0: "0.00", 1: "0.000000001", 10_000_000: "0.01", 100_000_000: "0.10", 3e9: "3.00", 1_500_000_000: "1.50",
		210_000: "0.00021", -1_500_000_000: "-1.50", 123_456_789_012: "123.456789012",
	} {
		if got := usdDecimal(nano); got != want {
			t.Errorf("%d: %s, want %s", nano, got, want)
		}
	}
}

// FuzzInvoiceRequest sends arbitrary bodies to the generate route: the
// answer is a 201 or a 400 naming a field, always valid JSON with
// "success", never a 500 and never a panic.
func FuzzInvoiceRequest(f *testing.F) {
	for _, s := range []string{
		``, `{`, `[]`, `null`, `{}`, `"x"`, `1`,
		`{"period_start":"2026-11-01","period_end":"2026-11-30","group_by":"department"}`,
		`{"period_start":"2026-11-01","period_end":"2026-11-30","group_by":"user"}`,
		`{"period_start":"2026-11-01T00:00:00Z","period_end":"2026-12-10T23:59:59+01:00","group_by":"billing_mode"}`,
		`{"period_start":"2026-11-30","period_end":"2026-11-01"}`,
		`{"period_start":"0001-01-01","period_end":"0001-12-31"}`,
		`{"period_start":"9999-12-31","period_end":"9999-12-31"}`,
		`{"period_start":"2025-01-01","period_end":"2026-01-02"}`,
		`{"period_start":"2026-11-01","period_end":"2026-11-30","group_by":"planet"}`,
		`{"period_start":"2026-11-01","period_end":"2026-11-30","x":{}}`,
		`{"period_start":1,"period_end":true}`, `{"period_start":"2026-11-01","period_start":"2026-11-01"}`,
		"{\"period_start\":\"\xff\",\"period_end\":\"2026-11-30\"}", `{"period_start":"2026-11-01\u0000"}`,
	} {
		f.Add([]byte(s))
	}
	a := newInvoiceAPI(f)
	fields := []string{"body:", "period_start:", "period_end:", "group_by:", `"`}
	f.Fuzz(func(t *testing.T, body []byte) {
		st, got := serve(a, "POST", "/api/billing/invoices/generate", qKeyAlice, string(body))
		if st != 201 && st != 400 {
			t.Fatalf("%q: status %d: %s", body, st, got)
		}
		if !gjson.Valid(got) || gjson.Get(got, "success").Bool() != (st == 201) {
			t.Fatalf("%q: %d %s", body, st, got)
		}
		if st == 400 {
			msg := gjson.Get(got, "error.message").String()
			named := false
			for _, p := range fields {
				named = named || strings.HasPrefix(msg, p)
			}
			if !named {
				t.Fatalf("%q: %s names no field", body, msg)
			}
			return
		}
		inv := gjson.Get(got, "invoice")
		if nanoUSD(t, inv.Get("org_pays").Raw)+nanoUSD(t, inv.Get("member_pays").Raw) != nanoUSD(t, inv.Get("total").Raw) {
			t.Fatalf("%q: the split does not add up: %s", body, inv.Raw)
		}
	})
}

// nanoUSD parses an exact USD JSON number into nano-dollars.
func nanoUSD(t testing.TB, s string) int64 {
	t.Helper()
	whole, frac, _ := strings.Cut(s, ".")
	var n int64
	for _, c := range whole + (frac + "000000000")[:9] {
		if c < '0' || c > '9' {
			t.Fatalf("not a USD amount: %q", s)
		}
		n = n*10 + int64(c-'0')
	}
	return n
}
