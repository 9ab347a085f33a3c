package main

import (
	"encoding/csv"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/api/report"
	"github.com/infermeter/infermeter/api/report/reporttest"
	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// waitLong polls cond every 50ms for up to a minute: a liveness bound for a
// loaded machine, not a timing assertion.
func waitLong(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

// invoiceLine is the part of an invoice line a test states by hand.
type invoiceLine struct {
	group, email, model, mode                            string
	requests, input, output, cached, reasoning, costNano int64
}

// TestInvoices drives traffic of three members (three departments, both
// billing modes, three providers, department overrides) over three days of
// a Europe/Berlin org through the proxy into the simulator, then generates
// chargeback invoices per department, member and billing mode and checks
// them to the nano-dollar: lines, subtotals, split, total (equal to the
// usage route's), the CSV and PDF renderings, numbering, freezing, access
// and bad bodies.
func TestInvoices(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	_, base := startSim(t, sim.Options{})
	dataDir := t.TempDir()
	cfg := testConfig(t, base, dataDir, "")
	clock := &testClock{}
	clock.Set(time.Date(2026, 11, 1, 12, 0, 0, 0, berlin))
	app1, proxyURL, admin := startApp(t, cfg, appOptions{Now: clock.Now})

	adminDo := func(method, path, key, body string) (int, []byte, map[string]string) {
		t.Helper()
		st, b, h := call(t, method, admin+path, map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/json"}, body)
		return st, b, map[string]string{"Content-Type": h.Get("Content-Type"), "Content-Disposition": h.Get("Content-Disposition")}
	}
	// Carol, in sales, paid by the org, is created through the API.
	st, b, _ := adminDo("POST", "/api/organizations/acme/members", keyAlice,
		`{"id":"carol","email":"carol@acme.example","department":"sales","billing_mode":"org_pays","role":"member"}`)
	keyCarol := jsonString(b, "api_key")
	if st != 201 || keyCarol == "" {
		t.Fatalf("create carol: %d %s", st, b)
	}

	openai := func(key string) map[string]string { return map[string]string{"Authorization": "Bearer " + key} }
	anthropic := func(key string) map[string]string {
		return map[string]string{"X-Api-Key": key, "Anthropic-Version": "2023-06-01"}
	}
	gemini := func(key string) map[string]string { return map[string]string{"X-Goog-Api-Key": key} }
	const (
		chatPath   = "/v1/chat/completions"
		msgPath    = "/v1/messages"
		geminiPath = "/v1beta/models/gemini-2.5-flash:generateContent"
		chat       = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`
		msg        = `{"model":"claude-haiku-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`
		gen        = `{"contents":[{"parts":[{"text":"hi"}]}]}`
	)
	type request struct {
		at                         time.Time
		hdr                        map[string]string
		path, body                 string
		in, out, cached, reasoning string
		department                 string // X-Infermeter-Department override
	}
	day := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, berlin) }
	send := func(r request) {
		t.Helper()
		clock.Set(r.at)
		h := map[string]string{"X-Sim-Input-Tokens": r.in, "X-Sim-Output-Tokens": r.out, "X-Sim-Cached-Tokens": r.cached, "X-Sim-Reasoning-Tokens": r.reasoning}
		for k, v := range r.hdr {
			h[k] = v
		}
		if r.department != "" {
			h["X-Infermeter-Department"] = r.department
		}
		st, b, _ := call(t, "POST", proxyURL+r.path, h, r.body)
		if st != 200 {
			t.Fatalf("%s at %s: %d %s", r.path, r.at, st, b)
		}
	}
	// Prices (USD/token): gpt-4o-mini input 1.5e-07, cache read 7.5e-08,
	// output 6e-07; claude-haiku-4-5 input 1e-06, output 5e-06;
	// gemini-2.5-flash input 3e-07, output (reasoning included) 2.5e-06.
	for _, r := range []request{
		// Outside the period: Nov 1, 23:59 local (22:59 UTC). 1000×150 + 100×600.
		{at: day(1, 23, 59), hdr: openai(keyAlice), path: chatPath, body: chat, in: "1000", out: "100", cached: "0", reasoning: "0"},
		// Nov 2: alice twice, (1000−400)×150 + 400×75 + 200×600 = 240,000 each.
		{at: day(2, 10, 0), hdr: openai(keyAlice), path: chatPath, body: chat, in: "1000", out: "200", cached: "400", reasoning: "0"},
		{at: day(2, 11, 0), hdr: openai(keyAlice), path: chatPath, body: chat, in: "1000", out: "200", cached: "400", reasoning: "0"},
		// Bob at 23:30 local (22:30 UTC): 2000×1000 + 300×5000 = 3,500,000.
		{at: day(2, 23, 30), hdr: anthropic(keyBob), path: msgPath, body: msg, in: "2000", out: "300", cached: "0", reasoning: "0"},
		// Nov 3: bob for sales: 1000×1000 + 100×5000 = 1,500,000.
		{at: day(3, 9, 0), hdr: anthropic(keyBob), path: msgPath, body: msg, in: "1000", out: "100", cached: "0", reasoning: "0", department: "sales"},
		// Carol on gemini: 500×300 + 120×2500 = 450,000 (20 reasoning tokens of the 120).
		{at: day(3, 14, 0), hdr: gemini(keyCarol), path: geminiPath, body: gen, in: "500", out: "120", cached: "0", reasoning: "20"},
		// Nov 4: carol for research: 300×150 + 100×600 = 105,000.
		{at: day(4, 8, 0), hdr: openai(keyCarol), path: chatPath, body: chat, in: "300", out: "100", cached: "0", reasoning: "0", department: "research"},
		// Alice on haiku at 23:59 local: 100×1000 + 40×5000 = 300,000.
		{at: day(4, 23, 59), hdr: anthropic(keyAlice), path: msgPath, body: msg, in: "100", out: "40", cached: "0", reasoning: "0"},
		// Outside: Nov 5, 00:00 local (Nov 4, 23:00 UTC). 1000×1000 + 200×5000.
		{at: day(5, 0, 0), hdr: anthropic(keyBob), path: msgPath, body: msg, in: "1000", out: "200", cached: "0", reasoning: "0"},
	} {
		send(r)
	}
	clock.Set(time.Date(2026, 11, 20, 9, 30, 0, 0, berlin))
	const usagePath = "/api/organizations/acme/usage?start_date=2026-11-02&end_date=2026-11-04"
	waitLong(t, "nine requests metered", func() bool {
		_, j := adminGet(t, admin, keyAlice, "/api/organizations/acme/usage?start_date=2026-11-01&end_date=2026-11-05")
		return j.Get("overview.requests").Int() == 9
	})
	_, usage := adminGet(t, admin, keyAlice, usagePath)
	if usage.Get("overview.requests").Int() != 7 || nanoOf(t, usage.Get("overview.cost_usd")) != 6_335_000 {
		t.Fatalf("usage of the period: %s", usage.Get("overview").Raw)
	}

	generate := func(groupBy string) gjson.Result {
		t.Helper()
		st, b, _ := adminDo("POST", "/api/billing/invoices/generate", keyAlice,
			`{"period_start":"2026-11-02","period_end":"2026-11-04","group_by":"`+groupBy+`"}`)
		if st != 201 || !gjson.GetBytes(b, "success").Bool() {
			t.Fatalf("generate %s: %d %s", groupBy, st, b)
		}
		return gjson.GetBytes(b, "invoice")
	}
	check := func(inv gjson.Result, number, groupBy string, lines []invoiceLine, subtotals map[string]int64, orgPays, memberPays int64) {
		t.Helper()
		for path, want := range map[string]string{
			"number": number, "org_id": "acme", "org_name": "Acme", "period_start": "2026-11-02", "period_end": "2026-11-04",
			"timezone": "Europe/Berlin", "group_by": groupBy, "currency": "USD", "generated_at": "2026-11-20T09:30:00+01:00",
			"period.start": "2026-11-02T00:00:00+01:00", "period.end": "2026-11-05T00:00:00+01:00",
		} {
			if got := inv.Get(path).String(); got != want {
				t.Errorf("%s %s: %q, want %q", number, path, got, want)
			}
		}
		got := inv.Get("lines").Array()
		if len(got) != len(lines) {
			t.Fatalf("%s: %d lines, want %d: %s", number, len(got), len(lines), inv.Get("lines").Raw)
		}
		for i, w := range lines {
			g := got[i]
			if g.Get("group").String() != w.group || g.Get("email").String() != w.email || g.Get("model").String() != w.model ||
				g.Get("billing_mode").String() != w.mode || g.Get("requests").Int() != w.requests ||
				g.Get("input_tokens").Int() != w.input || g.Get("output_tokens").Int() != w.output ||
				g.Get("cached_tokens").Int() != w.cached || g.Get("reasoning_tokens").Int() != w.reasoning ||
				nanoOf(t, g.Get("cost_usd")) != w.costNano {
				t.Errorf("%s line %d: %s, want %+v", number, i, g.Raw, w)
			}
		}
		subs := inv.Get("subtotals").Map()
		if len(subs) != len(subtotals) {
			t.Errorf("%s subtotals %s", number, inv.Get("subtotals").Raw)
		}
		for g, nano := range subtotals {
			if nanoOf(t, subs[g]) != nano {
				t.Errorf("%s subtotal %s: %s, want %d nano", number, g, subs[g].Raw, nano)
			}
		}
		total := nanoOf(t, inv.Get("total"))
		if nanoOf(t, inv.Get("org_pays")) != orgPays || nanoOf(t, inv.Get("member_pays")) != memberPays || total != orgPays+memberPays {
			t.Errorf("%s split: org %s member %s total %s", number, inv.Get("org_pays").Raw, inv.Get("member_pays").Raw, inv.Get("total").Raw)
		}
		// The total is the usage route's overview cost for the same period,
		// to the nano-dollar, and so to the cent.
		if u := usage.Get("overview.cost_usd"); u.Raw != inv.Get("total").Raw || nanoOf(t, u) != total {
			t.Errorf("%s total %s, usage overview %s", number, inv.Get("total").Raw, u.Raw)
		}
		if inv.Get("requests").Int() != usage.Get("overview.requests").Int() {
			t.Errorf("%s requests %d, usage %d", number, inv.Get("requests").Int(), usage.Get("overview.requests").Int())
		}
	}

	const (
		gpt   = "openai/gpt-4o-mini"
		haiku = "anthropic/claude-haiku-4-5"
		flash = "gemini/gemini-2.5-flash"
	)
	byDept := generate("department")
	check(byDept, "ACME-2026-0001", "department", []invoiceLine{
		{"platform", "", haiku, "member_pays", 1, 2000, 300, 0, 0, 3_500_000},
		{"research", "", haiku, "org_pays", 1, 100, 40, 0, 0, 300_000},
		{"research", "", gpt, "org_pays", 3, 2300, 500, 800, 0, 585_000},
		{"sales", "", haiku, "member_pays", 1, 1000, 100, 0, 0, 1_500_000},
		{"sales", "", flash, "org_pays", 1, 500, 120, 0, 20, 450_000},
	}, map[string]int64{"platform": 3_500_000, "research": 885_000, "sales": 1_950_000}, 1_335_000, 5_000_000)

	byUser := generate("user")
	check(byUser, "ACME-2026-0002", "user", []invoiceLine{
		{"alice", "alice@acme.example", haiku, "org_pays", 1, 100, 40, 0, 0, 300_000},
		{"alice", "alice@acme.example", gpt, "org_pays", 2, 2000, 400, 800, 0, 480_000},
		{"bob", "bob@acme.example", haiku, "member_pays", 2, 3000, 400, 0, 0, 5_000_000},
		{"carol", "carol@acme.example", flash, "org_pays", 1, 500, 120, 0, 20, 450_000},
		{"carol", "carol@acme.example", gpt, "org_pays", 1, 300, 100, 0, 0, 105_000},
	}, map[string]int64{"alice": 780_000, "bob": 5_000_000, "carol": 555_000}, 1_335_000, 5_000_000)

	byMode := generate("billing_mode")
	check(byMode, "ACME-2026-0003", "billing_mode", []invoiceLine{
		{"member_pays", "", haiku, "member_pays", 2, 3000, 400, 0, 0, 5_000_000},
		{"org_pays", "", haiku, "org_pays", 1, 100, 40, 0, 0, 300_000},
		{"org_pays", "", flash, "org_pays", 1, 500, 120, 0, 20, 450_000},
		{"org_pays", "", gpt, "org_pays", 3, 2300, 500, 800, 0, 585_000},
	}, map[string]int64{"member_pays": 5_000_000, "org_pays": 1_335_000}, 1_335_000, 5_000_000)

	// The CSV parses back to the same lines, subtotals, split and total.
	id := byDept.Get("id").String()
	st, b, h := adminDo("GET", "/api/billing/invoices/"+id+"?format=csv", keyAlice, "")
	if st != 200 || h["Content-Type"] != "text/csv; charset=utf-8" || h["Content-Disposition"] != `attachment; filename="ACME-2026-0001.csv"` {
		t.Fatalf("csv: %d %v %s", st, h, b)
	}
	recs, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil {
		t.Fatalf("csv: %s\n%s", err, b)
	}
	if strings.Join(recs[0], ",") != "kind,group,email,model,billing_mode,requests,input_tokens,output_tokens,cached_tokens,cache_write_tokens,reasoning_tokens,cost_usd" {
		t.Fatalf("csv header %q", recs[0])
	}
	var fromCSV []string
	for _, r := range recs[1:] {
		nano := nanoOf(t, gjson.Parse(r[11]))
		if !strings.Contains(r[11], ".") || len(r[11])-strings.Index(r[11], ".")-1 < 2 {
			t.Errorf("csv money %q has fewer than two decimals", r[11])
		}
		fromCSV = append(fromCSV, strings.Join(append(r[:11:11], strconv.FormatInt(nano, 10)), ","))
	}
	var fromJSON []string
	row := func(kind string, l gjson.Result, group string) {
		fromJSON = append(fromJSON, strings.Join([]string{kind, group, l.Get("email").String(), l.Get("model").String(), l.Get("billing_mode").String(),
			l.Get("requests").String(), l.Get("input_tokens").String(), l.Get("output_tokens").String(), l.Get("cached_tokens").String(),
			l.Get("cache_write_tokens").String(), l.Get("reasoning_tokens").String(), strconv.FormatInt(nanoOf(t, l.Get("cost_usd")), 10)}, ","))
	}
	for _, l := range byDept.Get("lines").Array() {
		row("line", l, l.Get("group").String())
	}
	for _, g := range byDept.Get("groups").Array() {
		row("subtotal", g, g.Get("group").String())
	}
	// org_pays: research haiku and gpt-4o-mini, sales gemini; member_pays:
	// platform and sales haiku.
	fromJSON = append(fromJSON,
		"org_pays,,,,,5,2900,660,800,0,20,1335000",
		"member_pays,,,,,2,3000,400,0,0,0,5000000",
		"total,,,,,7,5900,1060,800,0,20,6335000")
	if strings.Join(fromCSV, "\n") != strings.Join(fromJSON, "\n") {
		t.Fatalf("csv:\n%s\nwant\n%s", strings.Join(fromCSV, "\n"), strings.Join(fromJSON, "\n"))
	}

	// The PDF shows the number and the total.
	st, b, h = adminDo("GET", "/api/billing/invoices/"+id+"?format=pdf", keyAlice, "")
	if st != 200 || h["Content-Type"] != "application/pdf" || h["Content-Disposition"] != `attachment; filename="ACME-2026-0001.pdf"` {
		t.Fatalf("pdf: %d %v", st, h)
	}
	text, err := reporttest.Text(b)
	if err != nil {
		t.Fatal(err)
	}
	totalAt := -1
	for i, s := range text {
		if s == "Total" {
			totalAt = i
		}
	}
	if totalAt < 0 || totalAt+1 >= len(text) || text[totalAt+1] != report.USD(6_335_000) || text[totalAt+1] != "$0.006335" {
		t.Fatalf("pdf total: %q", text)
	}
	joined := strings.Join(text, "\n")
	for _, want := range []string{"Invoice ACME-2026-0001", "2026-11-02 to 2026-11-04", "Europe/Berlin", "$0.001335", "$0.005", "$0.00195"} {
		if !strings.Contains(joined, want) {
			t.Errorf("the PDF does not show %q", want)
		}
	}

	// Frozen: more traffic in the period and a member moved to another
	// department change the usage route, not the issued invoices.
	st, b, _ = adminDo("PATCH", "/api/organizations/acme/members/carol", keyAlice, `{"department":"platform","billing_mode":"member_pays"}`)
	if st != 200 {
		t.Fatalf("patch carol: %d %s", st, b)
	}
	send(request{at: day(3, 15, 0), hdr: openai(keyCarol), path: chatPath, body: chat, in: "1000", out: "100", cached: "0", reasoning: "0"})
	clock.Set(time.Date(2026, 11, 20, 10, 0, 0, 0, berlin))
	waitLong(t, "the late request metered", func() bool {
		_, j := adminGet(t, admin, keyAlice, usagePath)
		return j.Get("overview.requests").Int() == 8
	})
	for _, inv := range []gjson.Result{byDept, byUser, byMode} {
		st, b, _ := adminDo("GET", "/api/billing/invoices/"+inv.Get("id").String(), keyAlice, "")
		if st != 200 || gjson.GetBytes(b, "invoice").Raw != inv.Raw {
			t.Fatalf("invoice %s changed:\n%s\nwas\n%s", inv.Get("number"), b, inv.Raw)
		}
	}
	// A new invoice sees the new request (carol, now platform, member_pays:
	// 1000×150 + 100×600 = 210,000) and takes the next number.
	fresh := generate("department")
	if fresh.Get("number").String() != "ACME-2026-0004" || nanoOf(t, fresh.Get("subtotals.platform")) != 3_710_000 ||
		nanoOf(t, fresh.Get("member_pays")) != 5_210_000 || nanoOf(t, fresh.Get("total")) != 6_545_000 {
		t.Fatalf("fresh invoice %s", fresh.Raw)
	}

	// The list, newest first, for admins only.
	st, b, _ = adminDo("GET", "/api/billing/invoices", keyAlice, "")
	if st != 200 || gjson.GetBytes(b, "invoices.#.number").Raw != `["ACME-2026-0004","ACME-2026-0003","ACME-2026-0002","ACME-2026-0001"]` {
		t.Fatalf("list: %d %s", st, b)
	}
	// Access: a member gets 403 on every invoice route; another org's
	// admin gets 404 for this org's invoice and an empty list.
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/api/billing/invoices/generate", `{"period_start":"2026-11-02","period_end":"2026-11-04"}`},
		{"GET", "/api/billing/invoices", ""},
		{"GET", "/api/billing/invoices/" + id, ""},
		{"GET", "/api/billing/invoices/" + id + "?format=pdf", ""},
	} {
		if st, b, _ := adminDo(r.method, r.path, keyBob, r.body); st != 403 || jsonString(b, "error.code") != "forbidden" {
			t.Errorf("member %s %s: %d %s", r.method, r.path, st, b)
		}
	}
	for _, f := range []string{"", "?format=csv", "?format=pdf"} {
		if st, b, _ := adminDo("GET", "/api/billing/invoices/"+id+f, keyEve, ""); st != 404 || jsonString(b, "error.code") != "not_found" {
			t.Errorf("other org %s: %d %s", f, st, b)
		}
	}
	if st, b, _ := adminDo("GET", "/api/billing/invoices", keyEve, ""); st != 200 || gjson.GetBytes(b, "invoices").Raw != "[]" {
		t.Errorf("other org's list: %d %s", st, b)
	}

	// Bad bodies: 400 naming the field, and no number taken.
	for _, tc := range []struct{ body, field string }{
		{`{"period_start":"2026-11-04","period_end":"2026-11-02"}`, "period_end"},
		{`{"period_start":"2025-11-01","period_end":"2026-11-04"}`, "period_end"},
		{`{"period_start":"2026-11-01","period_end":"2026-11-21"}`, "period_end"},
		{`{"period_start":"2026-11-01","period_end":"2026-11-30"}`, "period_end"},
		{`{"period_start":"2026-11-01","period_end":"2026-11-04","group_by":"model"}`, "group_by"},
		{`{"period_start":"2026-11-01","period_end":"2026-11-04","group_by":"team"}`, "group_by"},
		{`{"period_start":"2026-11-01","period_end":"2026-11-04","currency":"EUR"}`, `"currency"`},
		{`{"period_start":"01/11/2026","period_end":"2026-11-04"}`, "period_start"},
		{`{"period_start":"2026-11-01","period_end":"2026-11-04T25:00:00Z"}`, "period_end"},
		{`{"period_end":"2026-11-04"}`, "period_start"},
		{`{"period_start":"2026-11-01"}`, "period_end"},
		{`{"period_start":2026,"period_end":"2026-11-04"}`, "period_start"},
		{`{"period_start":"2026-11-01","period_end":"2026-11-04"`, "body"},
		{`[{"period_start":"2026-11-01"}]`, "body"},
		{``, "body"},
	} {
		st, b, _ := adminDo("POST", "/api/billing/invoices/generate", keyAlice, tc.body)
		if st != 400 || gjson.GetBytes(b, "success").Bool() || jsonString(b, "error.code") != "invalid_parameter" ||
			!strings.HasPrefix(jsonString(b, "error.message"), tc.field+":") {
			t.Errorf("%s: %d %s, want a 400 naming %s", tc.body, st, b, tc.field)
		}
	}

	// The sequence and the invoices survive a restart.
	if err := app1.Close(); err != nil {
		t.Fatal(err)
	}
	_, _, admin = startApp(t, cfg, appOptions{Now: clock.Now})
	st, b, _ = adminDo("GET", "/api/billing/invoices/"+id, keyAlice, "")
	if st != 200 || gjson.GetBytes(b, "invoice").Raw != byDept.Raw {
		t.Fatalf("after restart: %d %s", st, b)
	}
	if n := generate("user").Get("number").String(); n != "ACME-2026-0005" {
		t.Fatalf("number after restart: %s", n)
	}
}
