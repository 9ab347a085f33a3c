package main

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/api/report"
	"github.com/infermeter/infermeter/api/report/reporttest"
	"github.com/infermeter/infermeter/examples/simulator/sim"
	"github.com/infermeter/infermeter/notify/smtptest"
)

// reportWait bounds each wait of the scheduled report tests: a liveness
// bound on a loaded machine, not a timing assertion.
const reportWait = 90 * time.Second

// pollUntil polls cond every 20ms until it holds or reportWait passed.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(reportWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// csvSections reads a scheduled CSV report into its rows by section name
// (the header lines, whose first column is "section", are left out).
func csvSections(t *testing.T, b []byte) map[string][][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(b))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatalf("the CSV report does not parse: %s\n%s", err, b)
	}
	out := map[string][][]string{}
	for _, rec := range recs {
		if rec[0] != "section" {
			out[rec[0]] = append(out[rec[0]], rec)
		}
	}
	return out
}

// TestScheduledReports drives traffic over two days of a Europe/Berlin org,
// mails the daily CSV report when the clock passes its time and checks its
// numbers against the usage and errors routes; then json and pdf run now, a
// refused recipient, the catch-up after a restart and the history.
func TestScheduledReports(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	_, base := startSim(t, sim.Options{})
	mail := smtptest.Start(t)
	dataDir := t.TempDir()
	cfg := testConfig(t, base, dataDir, fmt.Sprintf("smtp: {host: %q, port: %d, from: \"infermeter@acme.example\"}\n", mail.Host(), mail.Port()))
	clock := &testClock{}
	clock.Set(time.Date(2026, 11, 25, 9, 0, 0, 0, berlin))
	a1, proxyURL, admin := startApp(t, cfg, appOptions{Now: clock.Now, ScheduleInterval: 20 * time.Millisecond})

	send := func(at time.Time, path, body string, hdr map[string]string) {
		t.Helper()
		clock.Set(at)
		call(t, "POST", proxyURL+path, hdr, body)
	}
	chat := `{"model":"gpt-4o-mini","messages":[]}`
	msg := `{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}`
	alice := map[string]string{"Authorization": "Bearer " + keyAlice, "X-Sim-Input-Tokens": "1000", "X-Sim-Output-Tokens": "100"}
	bob := map[string]string{"X-Api-Key": keyBob, "X-Sim-Input-Tokens": "1000", "X-Sim-Output-Tokens": "200"}
	bobFail := map[string]string{"Authorization": "Bearer " + keyBob, "X-Sim-Status": "429"}
	// The 25th: two chats of alice, a message and a rate-limited chat of bob.
	send(time.Date(2026, 11, 25, 10, 0, 0, 0, berlin), "/v1/chat/completions", chat, alice)
	send(time.Date(2026, 11, 25, 11, 0, 0, 0, berlin), "/v1/chat/completions", chat, alice)
	send(time.Date(2026, 11, 25, 23, 30, 0, 0, berlin), "/v1/messages", msg, bob)
	send(time.Date(2026, 11, 25, 23, 40, 0, 0, berlin), "/v1/chat/completions", chat, bobFail)
	// The 26th: three chats of alice, one of bob and a failure.
	for i := range 3 {
		send(time.Date(2026, 11, 26, 0, 30+i, 0, 0, berlin), "/v1/chat/completions", chat, alice)
	}
	send(time.Date(2026, 11, 26, 8, 0, 0, 0, berlin), "/v1/messages", msg, bob)
	send(time.Date(2026, 11, 26, 9, 0, 0, 0, berlin), "/v1/chat/completions", chat, bobFail)
	clock.Set(time.Date(2026, 11, 26, 12, 0, 0, 0, berlin))

	hdr := map[string]string{"Authorization": "Bearer " + keyAlice, "Content-Type": "application/json"}
	do := func(method, path, body string) (int, gjson.Result) {
		t.Helper()
		st, b, _ := call(t, method, admin+path, hdr, body)
		return st, gjson.ParseBytes(b)
	}
	pollUntil(t, "nine requests and their logs stored", func() bool {
		_, u := do("GET", "/api/organizations/acme/usage?start_date=2026-11-25&end_date=2026-11-26", "")
		_, e := do("GET", "/api/account/errors?start_date=2026-11-25&end_date=2026-11-26", "")
		return u.Get("overview.requests").Int() == 9 && !strings.Contains(e.Raw, `"unclassified"`) && e.Get("errors.total_errors").Int() == 2
	})

	// Create the daily CSV report at 07:00 Berlin.
	st, j := do("POST", "/api/organizations/acme/reports/schedule",
		`{"name":"Daily ops","frequency":"daily","time":"07:00","format":"csv","recipients":["ops@acme.example","cfo@acme.example"],"include":["usage_summary","top_users","cost_breakdown","errors"]}`)
	if st != 201 {
		t.Fatalf("create: %d %s", st, j.Raw)
	}
	daily := j.Get("schedule")
	for path, want := range map[string]string{
		"name": "Daily ops", "frequency": "daily", "time": "07:00", "timezone": "Europe/Berlin", "format": "csv",
		"recipients": `["ops@acme.example","cfo@acme.example"]`, "include": `["usage_summary","top_users","cost_breakdown","errors"]`,
		"created_at": "2026-11-26T12:00:00+01:00", "next_run": "2026-11-27T07:00:00+01:00", "day": "", "last_run": "",
	} {
		got := daily.Get(path).String()
		if strings.HasPrefix(want, "[") {
			got = daily.Get(path).Raw
		}
		if got != want {
			t.Errorf("schedule %s = %q, want %q", path, got, want)
		}
	}
	if daily.Get("id").String() == "" || daily.Get("day").Type != gjson.Null || daily.Get("last_run").Type != gjson.Null {
		t.Fatalf("schedule %s", daily.Raw)
	}
	// Weekly reports on Thursdays (the 26th is one) at 08:00, json and pdf:
	// run now they cover the 19th to the 25th.
	st, j = do("POST", "/api/organizations/acme/reports/schedule",
		`{"name":"Weekly json","frequency":"weekly","day":"thursday","time":"08:00","format":"json","recipients":["ops@acme.example"],"include":["usage_summary","cost_breakdown"]}`)
	if st != 201 || j.Get("schedule.day").String() != "thursday" || j.Get("schedule.next_run").String() != "2026-12-03T08:00:00+01:00" {
		t.Fatalf("create weekly: %d %s", st, j.Raw)
	}
	weeklyJSON := j.Get("schedule.id").String()
	st, j = do("POST", "/api/organizations/acme/reports/schedule",
		`{"name":"Weekly pdf","frequency":"weekly","day":4,"time":"08:00","format":"pdf","recipients":["cfo@acme.example"],"include":["usage_summary","top_users","cost_breakdown","errors"]}`)
	if st != 201 {
		t.Fatalf("create pdf: %d %s", st, j.Raw)
	}
	weeklyPDF := j.Get("schedule.id").String()
	st, j = do("GET", "/api/organizations/acme/reports/schedule", "")
	if st != 200 || len(j.Get("schedules").Array()) != 3 || j.Get("schedules.0.id").String() != daily.Get("id").String() {
		t.Fatalf("list: %d %s", st, j.Raw)
	}
	if n := len(mail.Messages()); n != 0 {
		t.Fatalf("%d mails before any due time", n)
	}

	// The clock passes 07:00 on the 27th: the daily report of the 26th.
	clock.Set(time.Date(2026, 11, 27, 7, 0, 30, 0, berlin))
	msgs := mail.Wait(t, 1, reportWait)
	m := msgs[0]
	if m.Subject != "infermeter report Daily ops: 2026-11-26" || !slices.Equal(m.To, []string{"ops@acme.example", "cfo@acme.example"}) ||
		m.From != "infermeter@acme.example" || len(m.Attachments) != 1 || m.Attachments[0].Name != "acme-usage-2026-11-26.csv" {
		t.Fatalf("mail: subject %q to %q from %q, %d attachments", m.Subject, m.To, m.From, len(m.Attachments))
	}
	_, usage := do("GET", "/api/organizations/acme/usage?group_by=user&start_date=2026-11-26&end_date=2026-11-26", "")
	ov := usage.Get("overview")
	if ov.Get("requests").Int() != 5 {
		t.Fatalf("usage of the 26th: %s", usage.Raw)
	}
	if !strings.Contains(m.Text, "Requests: 5\n") || !strings.Contains(m.Text, "Cost: "+report.USD(nanoOf(t, ov.Get("cost_usd")))+"\n") {
		t.Fatalf("mail text:\n%s", m.Text)
	}
	sec := csvSections(t, m.Attachments[0].Data)
	want := [][]string{{"usage_summary", ov.Get("requests").String(), ov.Get("input_tokens").String(), ov.Get("output_tokens").String(),
		ov.Get("cached_tokens").String(), ov.Get("reasoning_tokens").String(), ov.Get("cost_usd").Raw, ov.Get("active_members").String(),
		ov.Get("errors").String(), ov.Get("error_rate").Raw, ov.Get("avg_latency_ms").String(), ov.Get("p95_latency_ms").String()}}
	if !slices.EqualFunc(sec["usage_summary"], want, slices.Equal) {
		t.Fatalf("usage_summary %q, want %q", sec["usage_summary"], want)
	}
	if sec["report"][0][3] != "2026-11-26T00:00:00+01:00" || sec["report"][0][4] != "2026-11-27T00:00:00+01:00" {
		t.Fatalf("report period %q", sec["report"])
	}
	var wantUsers [][]string
	for i, r := range usage.Get("usage.by_user").Array() {
		wantUsers = append(wantUsers, []string{"top_users", fmt.Sprint(i + 1), r.Get("user_id").String(), r.Get("email").String(),
			r.Get("requests").String(), r.Get("input_tokens").String(), r.Get("output_tokens").String(), r.Get("cost_usd").Raw})
	}
	if len(wantUsers) != 2 || !slices.EqualFunc(sec["top_users"], wantUsers, slices.Equal) {
		t.Fatalf("top_users %q, want %q", sec["top_users"], wantUsers)
	}
	_, byModel := do("GET", "/api/organizations/acme/usage?group_by=model&start_date=2026-11-26&end_date=2026-11-26", "")
	var gotModels, wantModels []string
	for _, r := range sec["cost_breakdown"] {
		if r[1] == "model" {
			gotModels = append(gotModels, r[2]+"="+r[6])
		}
	}
	for _, r := range byModel.Get("usage.by_model").Array() {
		wantModels = append(wantModels, r.Get("model").String()+"="+r.Get("cost_usd").Raw)
	}
	if len(wantModels) != 2 || !slices.Equal(gotModels, wantModels) {
		t.Fatalf("cost by model %q, want %q", gotModels, wantModels)
	}
	_, errs := do("GET", "/api/account/errors?start_date=2026-11-26&end_date=2026-11-26", "")
	wantErr := [][]string{{"errors", "total", "", errs.Get("errors.total_errors").String(), errs.Get("errors.total_requests").String(), errs.Get("errors.error_rate").Raw}}
	for _, r := range errs.Get("errors.by_type").Array() {
		wantErr = append(wantErr, []string{"errors", "type", r.Get("type").String(), r.Get("count").String(), "", ""})
	}
	for _, r := range errs.Get("errors.by_model").Array() {
		wantErr = append(wantErr, []string{"errors", "model", r.Get("model").String(), r.Get("errors").String(), r.Get("requests").String(), r.Get("error_rate").Raw})
	}
	if errs.Get("errors.total_errors").Int() != 1 || !slices.EqualFunc(sec["errors"], wantErr, slices.Equal) {
		t.Fatalf("errors %q, want %q", sec["errors"], wantErr)
	}

	// Run now: the json and pdf weekly reports of the 19th to the 25th.
	_, week := do("GET", "/api/organizations/acme/usage?start_date=2026-11-19&end_date=2026-11-25", "")
	if week.Get("overview.requests").Int() != 4 {
		t.Fatalf("usage of the week: %s", week.Raw)
	}
	st, j = do("POST", "/api/organizations/acme/reports/schedule/"+weeklyJSON+"/run", "")
	if st != 200 || j.Get("delivery.trigger").String() != "manual" || j.Get("delivery.status").String() != "sent" ||
		j.Get("delivery.attachment").String() != "acme-usage-2026-11-19-2026-11-25.json" ||
		j.Get("delivery.period_start").String() != "2026-11-19T00:00:00+01:00" || j.Get("delivery.period_end").String() != "2026-11-26T00:00:00+01:00" {
		t.Fatalf("run json: %d %s", st, j.Raw)
	}
	msgs = mail.Wait(t, 2, reportWait)
	js := gjson.ParseBytes(msgs[1].Attachments[0].Data)
	if msgs[1].Subject != "infermeter report Weekly json: 2026-11-19 to 2026-11-25" ||
		js.Get("usage_summary.cost_usd").Raw != week.Get("overview.cost_usd").Raw ||
		js.Get("usage_summary.requests").Int() != 4 || js.Get("cost_breakdown.by_category.0.name").String() != "chat_completions" ||
		js.Get("top_users").Exists() || js.Get("errors").Exists() || js.Get("period.timezone").String() != "Europe/Berlin" {
		t.Fatalf("json report %q: %s", msgs[1].Subject, js.Raw)
	}
	st, j = do("POST", "/api/organizations/acme/reports/schedule/"+weeklyPDF+"/run", "")
	if st != 200 || j.Get("delivery.bytes").Int() == 0 {
		t.Fatalf("run pdf: %d %s", st, j.Raw)
	}
	msgs = mail.Wait(t, 3, reportWait)
	pdf := msgs[2].Attachments[0]
	if pdf.Name != "acme-usage-2026-11-19-2026-11-25.pdf" || !strings.HasPrefix(pdf.ContentType, "application/pdf") {
		t.Fatalf("pdf attachment %q %q", pdf.Name, pdf.ContentType)
	}
	text, err := reporttest.Text(pdf.Data)
	if err != nil {
		t.Fatal(err)
	}
	cost := report.USD(nanoOf(t, week.Get("overview.cost_usd")))
	if i := slices.Index(text, "Total cost"); i < 0 || text[i+1] != cost || !slices.Contains(text, "alice@acme.example") {
		t.Fatalf("pdf text %q, want total cost %s", text, cost)
	}

	// A refused recipient: 502 with the SMTP error, kept in the history.
	// (A monthly report due on October 31st covers September.)
	mail.Refuse("nobody@acme.example")
	st, j = do("POST", "/api/organizations/acme/reports/schedule",
		`{"name":"Refused","frequency":"monthly","day":31,"time":"06:00","format":"csv","recipients":["nobody@acme.example"],"include":["errors"]}`)
	if st != 201 || j.Get("schedule.day").Int() != 31 || j.Get("schedule.next_run").String() != "2026-11-30T06:00:00+01:00" {
		t.Fatalf("create refused: %d %s", st, j.Raw)
	}
	refused := j.Get("schedule.id").String()
	st, j = do("POST", "/api/organizations/acme/reports/schedule/"+refused+"/run", "")
	if st != 502 || j.Get("success").Bool() || j.Get("error.code").String() != "delivery_failed" ||
		!strings.Contains(j.Get("error.message").String(), "550") || j.Get("delivery.status").String() != "failed" {
		t.Fatalf("run refused: %d %s", st, j.Raw)
	}
	if st, j := do("DELETE", "/api/organizations/acme/reports/schedule/"+refused, ""); st != 200 || !j.Get("success").Bool() {
		t.Fatalf("delete: %d %s", st, j.Raw)
	}
	for _, p := range []string{"DELETE /api/organizations/acme/reports/schedule/" + refused, "POST /api/organizations/acme/reports/schedule/" + refused + "/run"} {
		method, path, _ := strings.Cut(p, " ")
		if st, j := do(method, path, ""); st != 404 || j.Get("error.code").String() != "not_found" {
			t.Fatalf("%s: %d %s", p, st, j.Raw)
		}
	}

	// Catch-up: down from the 27th to the 29th at 09:00; the daily report
	// missed the 28th and the 29th and runs once, for the 28th.
	_, j = do("GET", "/api/organizations/acme/reports/schedule", "")
	if j.Get("schedules.0.last_run").String() != "2026-11-27T07:00:30+01:00" || j.Get("schedules.0.next_run").String() != "2026-11-28T07:00:00+01:00" {
		t.Fatalf("after the daily run: %s", j.Get("schedules.0").Raw)
	}
	if err := a1.Close(); err != nil {
		t.Fatal(err)
	}
	before := len(mail.Messages())
	clock.Set(time.Date(2026, 11, 29, 9, 0, 0, 0, berlin))
	_, _, admin = startApp(t, cfg, appOptions{Now: clock.Now, ScheduleInterval: 20 * time.Millisecond})
	msgs = mail.Wait(t, before+1, reportWait)
	if msgs[before].Subject != "infermeter report Daily ops: 2026-11-28" || msgs[before].Attachments[0].Name != "acme-usage-2026-11-28.csv" {
		t.Fatalf("catch-up mail %q", msgs[before].Subject)
	}
	// A manual run after it: exactly two more mails, so the catch-up ran once.
	if st, j := do("POST", "/api/organizations/acme/reports/schedule/"+weeklyJSON+"/run", ""); st != 200 {
		t.Fatalf("run after restart: %d %s", st, j.Raw)
	}
	msgs = mail.Wait(t, before+2, reportWait)
	if len(msgs) != before+2 || msgs[before+1].Subject != "infermeter report Weekly json: 2026-11-19 to 2026-11-25" {
		t.Fatalf("after restart: %d mails, last %q", len(msgs), msgs[len(msgs)-1].Subject)
	}

	// The history, newest first.
	st, j = do("GET", "/api/organizations/acme/reports/history", "")
	if st != 200 {
		t.Fatalf("history: %d %s", st, j.Raw)
	}
	var got []string
	for _, d := range j.Get("deliveries").Array() {
		got = append(got, d.Get("schedule_name").String()+"|"+d.Get("trigger").String()+"|"+d.Get("status").String()+"|"+d.Get("due_at").String()+"|"+d.Get("attachment").String())
	}
	wantHist := []string{
		"Weekly json|manual|sent|2026-11-26T08:00:00+01:00|acme-usage-2026-11-19-2026-11-25.json",
		"Daily ops|catch-up|sent|2026-11-29T07:00:00+01:00|acme-usage-2026-11-28.csv",
		"Refused|manual|failed|2026-10-31T06:00:00+01:00|acme-usage-2026-09-01-2026-09-30.csv",
		"Weekly pdf|manual|sent|2026-11-26T08:00:00+01:00|acme-usage-2026-11-19-2026-11-25.pdf",
		"Weekly json|manual|sent|2026-11-26T08:00:00+01:00|acme-usage-2026-11-19-2026-11-25.json",
		"Daily ops|schedule|sent|2026-11-27T07:00:00+01:00|acme-usage-2026-11-26.csv",
	}
	if !slices.Equal(got, wantHist) {
		t.Fatalf("history:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantHist, "\n"))
	}
	d := j.Get("deliveries.1")
	if d.Get("ran_at").String() != "2026-11-29T09:00:00+01:00" || d.Get("period_start").String() != "2026-11-28T00:00:00+01:00" ||
		d.Get("recipients").Raw != `["ops@acme.example","cfo@acme.example"]` || d.Get("bytes").Int() == 0 || d.Get("error").String() != "" {
		t.Fatalf("catch-up delivery %s", d.Raw)
	}
	if e := j.Get("deliveries.2.error").String(); !strings.Contains(e, "550") {
		t.Fatalf("failed delivery error %q", e)
	}
	_, j = do("GET", "/api/organizations/acme/reports/schedule", "")
	if j.Get("schedules.0.next_run").String() != "2026-11-30T07:00:00+01:00" {
		t.Fatalf("after catch-up: %s", j.Get("schedules.0").Raw)
	}
}

// TestScheduleBadBodies checks that each bad schedule is a 400 naming its
// field, and that members cannot reach the routes.
func TestScheduleBadBodies(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	mail := smtptest.Start(t)
	cfg := testConfig(t, base, t.TempDir(), fmt.Sprintf("smtp: {host: %q, port: %d, from: \"infermeter@acme.example\"}\n", mail.Host(), mail.Port()))
	_, _, admin := startApp(t, cfg, appOptions{})
	good := map[string]string{
		"name": `"n"`, "frequency": `"daily"`, "time": `"07:00"`, "format": `"csv"`,
		"recipients": `["a@acme.example"]`, "include": `["usage_summary"]`,
	}
	body := func(set ...string) string {
		m := map[string]string{}
		for k, v := range good {
			m[k] = v
		}
		for i := 0; i+1 < len(set); i += 2 {
			if set[i+1] == "" {
				delete(m, set[i])
			} else {
				m[set[i]] = set[i+1]
			}
		}
		var parts []string
		for _, k := range []string{"name", "frequency", "day", "time", "format", "recipients", "include", "color"} {
			if v, ok := m[k]; ok {
				parts = append(parts, `"`+k+`":`+v)
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	cases := []struct{ body, field string }{
		{`not json`, "body: "},
		{`[1]`, "body: "},
		{body("color", `"red"`), "color: unknown field"},
		{body("name", ""), "name: required"},
		{body("name", `"`+strings.Repeat("x", 201)+`"`), "name: "},
		{body("frequency", `"hourly"`), "frequency: "},
		{body("day", `3`), "day: "},
		{body("frequency", `"weekly"`), "day: "},
		{body("frequency", `"weekly"`, "day", `"someday"`), "day: "},
		{body("frequency", `"monthly"`, "day", `32`), "day: "},
		{body("time", `"25:00"`), "time: "},
		{body("time", `"7am"`), "time: "},
		{body("format", `"xls"`), "format: "},
		{body("recipients", `[]`), "recipients: "},
		{body("recipients", `["not-an-address"]`), "recipients: "},
		{body("recipients", `["a@acme.example","a@acme.example"]`), "recipients: "},
		{body("include", `[]`), "include: "},
		{body("include", `["usage_summary","usage_summary"]`), "include: "},
		{body("include", `["spend"]`), "include: "},
	}
	for _, c := range cases {
		st, b, _ := call(t, "POST", admin+"/api/organizations/acme/reports/schedule", map[string]string{"Authorization": "Bearer " + keyAlice}, c.body)
		j := gjson.ParseBytes(b)
		if st != 400 || j.Get("success").Bool() || j.Get("error.code").String() != "invalid_parameter" || !strings.HasPrefix(j.Get("error.message").String(), c.field) {
			t.Errorf("%s: %d %s, want 400 naming %q", c.body, st, b, c.field)
		}
	}
	st, b, _ := call(t, "GET", admin+"/api/organizations/acme/reports/schedule", map[string]string{"Authorization": "Bearer " + keyAlice}, "")
	if st != 200 || gjson.GetBytes(b, "schedules.#").Int() != 0 {
		t.Fatalf("nothing created: %d %s", st, b)
	}
	for _, p := range []string{"POST /reports/schedule", "GET /reports/schedule", "GET /reports/history", "DELETE /reports/schedule/x", "POST /reports/schedule/x/run"} {
		method, path, _ := strings.Cut(p, " ")
		st, b, _ := call(t, method, admin+"/api/organizations/acme"+path, map[string]string{"Authorization": "Bearer " + keyBob}, body())
		if st != 403 {
			t.Errorf("%s as a member: %d %s", p, st, b)
		}
	}
}
