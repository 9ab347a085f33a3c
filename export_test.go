package main

import (
	"bytes"
	"encoding/csv"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/api/report/reporttest"
	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// TestExportUsage drives requests of alice and bob through the proxy to the
// simulator with an injected clock, then downloads the November export in
// each format and checks every row, the summary and the PDF's totals.
func TestExportUsage(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	clock := &testClock{}
	_, proxyURL, admin := startApp(t, cfg, appOptions{Now: clock.Now})

	send := func(at time.Time, path, body string, hdr map[string]string) {
		t.Helper()
		clock.Set(at)
		st, b, _ := call(t, "POST", proxyURL+path, hdr, body)
		if st/100 != 2 && hdr["X-Sim-Status"] == "" {
			t.Fatalf("%d %s", st, b)
		}
	}
	chat := `{"model":"gpt-4o-mini","messages":[]}`
	msg := `{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}`
	// gpt-4o-mini 1000 in + 100 out: 1000×150 + 100×600 = 210000 nano.
	send(time.Date(2026, 11, 2, 10, 0, 0, 0, berlin), "/v1/chat/completions", chat, map[string]string{
		"Authorization": "Bearer " + keyAlice, "X-Sim-Input-Tokens": "1000", "X-Sim-Output-Tokens": "100",
		"X-Infermeter-Tags": "env=prod"})
	// claude-haiku-4-5 1000 in + 200 out: 1000×1000 + 200×5000 = 2000000
	// nano, at 23:30 local on the 10th (22:30 UTC), for the ml department.
	send(time.Date(2026, 11, 10, 23, 30, 0, 0, berlin), "/v1/messages", msg, map[string]string{
		"X-Api-Key": keyBob, "X-Sim-Input-Tokens": "1000", "X-Sim-Output-Tokens": "200",
		"X-Infermeter-Department": "ml", "X-Infermeter-Tags": "team=search, env=prod"})
	// 00:30 local on the 11th (still the 10th in UTC): 210000 nano.
	send(time.Date(2026, 11, 11, 0, 30, 0, 0, berlin), "/v1/chat/completions", chat, map[string]string{
		"Authorization": "Bearer " + keyAlice, "X-Sim-Input-Tokens": "1000", "X-Sim-Output-Tokens": "100"})
	// A rate-limited request of bob: no usage, no cost.
	send(time.Date(2026, 11, 11, 9, 0, 0, 0, berlin), "/v1/chat/completions", chat, map[string]string{
		"Authorization": "Bearer " + keyBob, "X-Sim-Status": "429"})
	// October and another org: never in acme's November export.
	send(time.Date(2026, 10, 31, 23, 59, 0, 0, berlin), "/v1/chat/completions", chat, map[string]string{"Authorization": "Bearer " + keyAlice})
	send(time.Date(2026, 11, 5, 12, 0, 0, 0, berlin), "/v1/chat/completions", chat, map[string]string{"Authorization": "Bearer " + keyEve})

	clock.Set(time.Date(2026, 12, 1, 9, 30, 0, 0, berlin))
	const nov = "/api/organizations/acme/export/usage?start_date=2026-11-01&end_date=2026-11-30"
	var logs []gjson.Result
	waitFor(t, "four November request logs", func() bool {
		_, j := adminGet(t, admin, keyAlice, "/api/account/request-logs?start_date=2026-11-01&end_date=2026-11-30")
		logs = j.Get("logs").Array()
		return len(logs) == 4
	})
	aliceKey := map[string]string{"Authorization": "Bearer " + keyAlice}
	download := func(q string) (int, []byte, string) {
		t.Helper()
		st, b, h := call(t, "GET", admin+nov+q, aliceKey, "")
		return st, b, h.Get("Content-Disposition")
	}

	// CSV: one row per request, newest first, the same as the request logs.
	st, body, cd := download("&format=csv")
	if st != 200 || cd != `attachment; filename="acme-usage-2026-11-01-2026-11-30.csv"` {
		t.Fatalf("csv: %d %q %s", st, cd, body)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("csv: %s\n%s", err, body)
	}
	header := strings.Split("id,timestamp,user_id,email,model,status,http_status,error_type,error_message,"+
		"input_tokens,output_tokens,cached_tokens,cache_write_tokens,reasoning_tokens,cost_usd,priced,latency_ms,"+
		"ttft_ms,stream,category,department,billing_mode,tags,usage_source,connection_id", ",")
	if !slices.Equal(recs[0], header) {
		t.Fatalf("csv header %q", recs[0])
	}
	// The simulator's message has commas: the CSV quotes it.
	rateLimited := logs[0].Get("error_message").String()
	if !strings.HasPrefix(rateLimited, "Rate limit reached for gpt-4o-mini in organization org-sim on requests per min (RPM): Limit 500,") {
		t.Fatalf("the rate-limited log has no message: %s", logs[0].Raw)
	}
	want := [][]string{
		{logs[0].Get("id").String(), "2026-11-11T08:00:00Z", "bob", "bob@acme.example", "openai/gpt-4o-mini", "error", "429", "rate_limit", rateLimited,
			"0", "0", "0", "0", "0", "0", "true", "0", "0", "false", "chat_completions", "platform", "member_pays", "", "none", "openai"},
		{logs[1].Get("id").String(), "2026-11-10T23:30:00Z", "alice", "alice@acme.example", "openai/gpt-4o-mini", "success", "200", "", "",
			"1000", "100", "0", "0", "0", "0.00021", "true", "0", "0", "false", "chat_completions", "research", "org_pays", "", "provider", "openai"},
		{logs[2].Get("id").String(), "2026-11-10T22:30:00Z", "bob", "bob@acme.example", "anthropic/claude-haiku-4-5", "success", "200", "", "",
			"1000", "200", "0", "0", "0", "0.002", "true", "0", "0", "false", "chat_completions", "ml", "member_pays", "env=prod,team=search", "provider", "anthropic"},
		{logs[3].Get("id").String(), "2026-11-02T09:00:00Z", "alice", "alice@acme.example", "openai/gpt-4o-mini", "success", "200", "", "",
			"1000", "100", "0", "0", "0", "0.00021", "true", "0", "0", "false", "chat_completions", "research", "org_pays", "env=prod", "provider", "openai"},
	}
	if got := recs[1:]; !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("csv rows:\n%q\nwant:\n%q", got, want)
	}
	// Event IDs are the arrival times in nanoseconds.
	if want := time.Date(2026, 11, 2, 10, 0, 0, 0, berlin).UnixNano(); logs[3].Get("id").Int() != want {
		t.Fatalf("id %s, want %d", logs[3].Get("id"), want)
	}

	// JSON: the same rows; every field of the request-log API is there with
	// the same value.
	st, body, cd = download("&format=json")
	j := gjson.ParseBytes(body)
	if st != 200 || cd != `attachment; filename="acme-usage-2026-11-01-2026-11-30.json"` || !j.Get("success").Bool() || j.Get("row_count").Int() != 4 {
		t.Fatalf("json: %d %q %s", st, cd, body)
	}
	for i, r := range j.Get("rows").Array() {
		logs[i].ForEach(func(k, v gjson.Result) bool {
			if got := r.Get(k.String()); got.Raw != v.Raw {
				t.Errorf("json row %d %s: %s, the request-log API says %s", i, k, got.Raw, v.Raw)
			}
			return true
		})
		if r.Get("email").String() != want[i][3] {
			t.Errorf("json row %d email %s", i, r.Get("email"))
		}
	}

	// Summary: one row per member × model × day (Berlin).
	st, body, cd = download("&format=csv&summary=true")
	if st != 200 || cd != `attachment; filename="acme-usage-summary-2026-11-01-2026-11-30.csv"` {
		t.Fatalf("summary: %d %q %s", st, cd, body)
	}
	recs, err = csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantSummary := [][]string{
		{"day", "user_id", "email", "model", "requests", "input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens", "cost_usd", "errors"},
		{"2026-11-02", "alice", "alice@acme.example", "openai/gpt-4o-mini", "1", "1000", "100", "0", "0", "0", "0.00021", "0"},
		{"2026-11-10", "bob", "bob@acme.example", "anthropic/claude-haiku-4-5", "1", "1000", "200", "0", "0", "0", "0.002", "0"},
		{"2026-11-11", "alice", "alice@acme.example", "openai/gpt-4o-mini", "1", "1000", "100", "0", "0", "0", "0.00021", "0"},
		{"2026-11-11", "bob", "bob@acme.example", "openai/gpt-4o-mini", "1", "0", "0", "0", "0", "0", "0", "1"},
	}
	if !slices.EqualFunc(recs, wantSummary, slices.Equal) {
		t.Fatalf("summary:\n%q\nwant:\n%q", recs, wantSummary)
	}

	// PDF: read back, the totals as formatted.
	st, body, cd = download("&format=pdf")
	if st != 200 || cd != `attachment; filename="acme-usage-2026-11-01-2026-11-30.pdf"` {
		t.Fatalf("pdf: %d %q", st, cd)
	}
	text, err := reporttest.Text(body)
	if err != nil {
		t.Fatal(err)
	}
	// 210000 + 2000000 + 210000 + 0 nano.
	for _, pair := range [][2]string{{"Requests", "4"}, {"Total cost", "$0.00242"}, {"Active members", "2"}, {"Error rate", "25.00%"}} {
		if i := slices.Index(text, pair[0]); i < 0 || i+1 >= len(text) || text[i+1] != pair[1] {
			t.Errorf("the PDF does not show %s %s: %q", pair[0], pair[1], text)
		}
	}
	for _, s := range []string{"Acme usage report", "bob@acme.example", "anthropic/claude-haiku-4-5", "ml"} {
		if !slices.Contains(text, s) {
			t.Errorf("the PDF does not show %q: %q", s, text)
		}
	}

	// No request in September: 204 in every format.
	for _, f := range []string{"csv", "json", "pdf"} {
		st, body, _ := call(t, "GET", admin+"/api/organizations/acme/export/usage?start_date=2026-09-01&end_date=2026-09-30&format="+f, aliceKey, "")
		if st != 204 || len(body) != 0 {
			t.Fatalf("september %s: %d %q", f, st, body)
		}
	}
	for _, c := range []struct {
		key, path string
		status    int
		msg       string
	}{
		{keyAlice, nov + "&format=xlsx", 400, `format: "xlsx" is not one of csv, json, ndjson, pdf`},
		{keyAlice, "/api/organizations/acme/export/usage?start_date=2026-11-31", 400, "start_date: "},
		{keyBob, nov, 403, "admins"},
		{keyEve, nov, 404, "no such organization: acme"},
	} {
		st, j := adminGet(t, admin, c.key, c.path)
		if st != c.status || j.Get("success").Bool() || !strings.Contains(j.Get("error.message").String(), c.msg) {
			t.Errorf("%s: %d %s", c.path, st, j.Raw)
		}
	}
}
