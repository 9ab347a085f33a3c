package main

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/config"
	"github.com/infermeter/infermeter/examples/simulator/sim"
	"github.com/infermeter/infermeter/notify/smtptest"
)

// hookReceiver is a loopback webhook receiver: each path answers its
// statuses in turn (the last one from then on, 200 for a path without
// any) and keeps the bodies it got.
type hookReceiver struct {
	mu       sync.Mutex
	statuses map[string][]int
	bodies   map[string][]string
}

func startHookReceiver(t *testing.T, statuses map[string][]int) (*hookReceiver, string) {
	t.Helper()
	h := &hookReceiver{statuses: statuses, bodies: map[string][]string{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		h.mu.Lock()
		defer h.mu.Unlock()
		p := string(ctx.Path())
		st := 200
		if s := h.statuses[p]; len(s) > 0 {
			st = s[min(len(h.bodies[p]), len(s)-1)]
		}
		h.bodies[p] = append(h.bodies[p], string(ctx.PostBody()))
		ctx.SetStatusCode(st)
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return h, "http://" + ln.Addr().String()
}

func (h *hookReceiver) got(path string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.bodies[path]...)
}

// alertApp starts the simulator and an app whose smtp is an in-process
// server, with the evaluation loop at interval and an injected clock.
func alertApp(t *testing.T, interval time.Duration, clock *testClock) (*app, *smtptest.Server, string, string) {
	t.Helper()
	_, base := startSim(t, sim.Options{})
	mail := smtptest.Start(t)
	cfg := testConfig(t, base, t.TempDir(), "")
	cfg.SMTP = config.SMTP{Host: mail.Host(), Port: mail.Port(), From: "alerts@localhost"}
	cfg.Orgs[0].Members[1].MonthlyLimitUSD = 0.001 // bob: 1,000,000 nano
	opt := appOptions{AlertInterval: interval}
	if clock != nil {
		opt.Now = clock.Now
	}
	a, proxyURL, admin := startApp(t, cfg, opt)
	return a, mail, proxyURL, admin
}

// adminSend calls the admin API with a bearer key and a body.
func adminSend(t testing.TB, method, url, key, body string) (int, gjson.Result) {
	t.Helper()
	st, b, _ := call(t, method, url, map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/json"}, body)
	return st, gjson.ParseBytes(b)
}

// TestAlertsFireOncePerBreach drives real traffic through the proxy and
// evaluates the rules at the injected clock's time (the loop is idle):
// each breach is delivered exactly once, with the exact values, and again
// only after it cleared.
func TestAlertsFireOncePerBreach(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{}
	day1 := time.Date(2026, 11, 20, 12, 0, 0, 0, berlin)
	clock.Set(day1)
	a, mail, proxyURL, admin := alertApp(t, time.Hour, clock)
	hooks, hookBase := startHookReceiver(t, map[string][]int{"/flaky": {503, 503, 200}})
	hc := budgetClient(t)
	chat := budgetChat(t) // 75,000 nano-dollars at 100 in, 100 out

	create := func(key, body string) gjson.Result {
		t.Helper()
		st, j := adminSend(t, "POST", admin+"/api/account/alerts", key, body)
		if st != 201 || !j.Get("success").Bool() || j.Get("alert.state").String() != "ok" || !j.Get("alert.last_fired_at").Exists() {
			t.Fatalf("create: %d %s", st, j.Raw)
		}
		return j.Get("alert")
	}
	spend := create(keyAlice, `{"name":"Daily spend","type":"spending","condition":"daily_spend > 0.0002","action":"email","recipients":["finops@acme.example"]}`)
	errs := create(keyAlice, `{"name":"Errors","type":"error_rate","condition":"error_rate >= 25","action":"webhook","webhook_url":"`+hookBase+`/ok"}`)
	own := create(keyBob, `{"name":"My spend","type":"spending","condition":"daily_spend >= 0.00015","action":"webhook","webhook_url":"`+hookBase+`/ok","cooldown":"15m"}`)
	limits := create(keyAlice, `{"name":"Limits","type":"member_limit","condition":"member_spend_pct >= 50","action":"webhook","webhook_url":"`+hookBase+`/flaky"}`)
	if spend.Get("user_id").String() != "" || own.Get("user_id").String() != "bob" || own.Get("cooldown").String() != "15m0s" ||
		spend.Get("org_id").String() != "acme" || spend.Get("recipients.0").String() != "finops@acme.example" {
		t.Fatalf("rules %s %s", spend.Raw, own.Raw)
	}

	requests := 0
	send := func(key string, n int, status string) {
		t.Helper()
		for range n {
			h := simTokens(key, "100", "100")
			want := 200
			if status != "" {
				h["X-Sim-Status"] = status
				want = 500
			}
			st, b, _, err := post(hc, proxyURL+"/v1/chat/completions", h, chat)
			if err != nil || st != want {
				t.Fatalf("chat: %d %s %v", st, b, err)
			}
			requests++
		}
		waitFor(t, "the requests metered", func() bool {
			_, j := adminGet(t, admin, keyAlice, "/api/organizations/acme/usage?range=today")
			return j.Get("overview.requests").Int() == int64(requests)
		})
	}
	evaluate := func(rounds int) {
		for range rounds {
			a.alerts.Evaluate(clock.Now())
		}
	}
	var history []gjson.Result
	settled := func(n int) {
		t.Helper()
		waitFor(t, "the deliveries done", func() bool {
			_, j := adminGet(t, admin, keyAlice, "/api/account/alerts/history")
			history = j.Get("history").Array()
			if len(history) != n {
				return false
			}
			for _, h := range history {
				if h.Get("deliveries.0.status").String() == "pending" {
					return false
				}
			}
			return true
		})
	}

	// alice 2 × 75,000 and a failure, bob 75,000: the org 0.000225 USD with
	// 1 error in 4 requests (25%); bob's own 0.000075; bob at 7.5%.
	send(keyAlice, 2, "")
	send(keyAlice, 1, "500")
	send(keyBob, 1, "")
	evaluate(3)
	settled(2)
	msgs := mail.Wait(t, 1, 30*time.Second)
	wantText := `alert "Daily spend" (spending) fired for org acme: daily_spend = 0.000225 USD (condition: daily_spend > 0.0002) at 2026-11-20T12:00:00+01:00`
	if m := msgs[0]; m.Subject != `[infermeter] alert "Daily spend" fired` || !strings.HasPrefix(m.Text, wantText+"\n") ||
		!strings.Contains(m.Text, "  daily_spend = 0.000225 USD\n") || strings.Join(m.To, ",") != "finops@acme.example" || m.From != "alerts@localhost" {
		t.Fatalf("mail %q to %q:\n%s", m.Subject, m.To, m.Text)
	}
	waitFor(t, "the error_rate webhook", func() bool { return len(hooks.got("/ok")) == 1 })
	body := hooks.got("/ok")[0]
	if v := gjson.Get(body, "values").Raw; v != `{"error_rate":25}` ||
		gjson.Get(body, "text").String() != `alert "Errors" (error_rate) fired for org acme: error_rate = 25% (condition: error_rate >= 25) at 2026-11-20T12:00:00+01:00` ||
		gjson.Get(body, "alert.id").String() != errs.Get("id").String() || gjson.Get(body, "alert.type").String() != "error_rate" ||
		gjson.Get(body, "alert.condition").String() != "error_rate >= 25" || gjson.Get(body, "alert.org_id").String() != "acme" ||
		gjson.Get(body, "fired_at").String() != "2026-11-20T12:00:00+01:00" {
		t.Fatalf("webhook %s", body)
	}

	// bob 2 more: his own 0.000225 fires his rule (it sees only his
	// traffic); the org's spend rule keeps firing without a new mail; the
	// error rate drops to 1 in 6 and clears.
	clock.Set(day1.Add(10 * time.Minute))
	send(keyBob, 2, "")
	evaluate(3)
	settled(3)
	waitFor(t, "bob's webhook", func() bool { return len(hooks.got("/ok")) == 2 })
	body = hooks.got("/ok")[1]
	if gjson.Get(body, "values").Raw != `{"daily_spend":0.000225}` || gjson.Get(body, "alert.user_id").String() != "bob" ||
		gjson.Get(body, "alert.id").String() != own.Get("id").String() {
		t.Fatalf("bob's webhook %s", body)
	}

	// bob 5 more: 600,000 of his 1,000,000 (60%): the member_limit rule
	// names him; its webhook answers 503 twice, then 200.
	clock.Set(day1.Add(20 * time.Minute))
	send(keyBob, 5, "")
	// alice fails 5 times: 6 errors in 16 requests (37.5%): fires again.
	send(keyAlice, 5, "500")
	evaluate(3)
	settled(5)
	waitFor(t, "the flaky webhook", func() bool { return len(hooks.got("/flaky")) == 3 })
	for _, b := range hooks.got("/flaky") {
		if b != hooks.got("/flaky")[0] || gjson.Get(b, "values").Raw != `{"member_spend_pct":60}` || gjson.Get(b, "member_id").String() != "bob" ||
			!strings.Contains(gjson.Get(b, "text").String(), "member_spend_pct = 60% (member bob)") {
			t.Fatalf("limit webhook %s", b)
		}
	}
	waitFor(t, "the second error_rate webhook", func() bool { return len(hooks.got("/ok")) == 3 })
	if v := gjson.Get(hooks.got("/ok")[2], "values").Raw; v != `{"error_rate":37.5}` {
		t.Fatalf("second error_rate webhook %s", hooks.got("/ok")[2])
	}

	// The next day in Berlin the daily rules clear; alice's 3 chats breach
	// the spend rule again: a second mail. bob's limit stays breached (the
	// month's spend): no new webhook.
	day2 := time.Date(2026, 11, 21, 0, 30, 0, 0, berlin)
	clock.Set(day2)
	evaluate(2)
	requests = 0 // range=today counts the new day
	send(keyAlice, 3, "")
	evaluate(3)
	settled(6)
	msgs = mail.Wait(t, 2, 30*time.Second)
	if len(msgs) != 2 || !strings.HasPrefix(msgs[1].Text, `alert "Daily spend" (spending) fired for org acme: daily_spend = 0.000225 USD (condition: daily_spend > 0.0002) at 2026-11-21T00:30:00+01:00`) {
		t.Fatalf("second mail %q", msgs[len(msgs)-1].Text)
	}

	// History, newest first, with each firing's deliveries.
	type want struct {
		alert, fired, cleared, values, status string
		attempts                              int64
	}
	wants := []want{
		{spend.Get("id").String(), "2026-11-21T00:30:00+01:00", "", `{"daily_spend":0.000225}`, "sent", 1},
		{errs.Get("id").String(), "2026-11-20T12:20:00+01:00", "2026-11-21T00:30:00+01:00", `{"error_rate":37.5}`, "sent", 1},
		{limits.Get("id").String(), "2026-11-20T12:20:00+01:00", "", `{"member_spend_pct":60}`, "sent", 3},
		{own.Get("id").String(), "2026-11-20T12:10:00+01:00", "2026-11-21T00:30:00+01:00", `{"daily_spend":0.000225}`, "sent", 1},
		{errs.Get("id").String(), "2026-11-20T12:00:00+01:00", "2026-11-20T12:10:00+01:00", `{"error_rate":25}`, "sent", 1},
		{spend.Get("id").String(), "2026-11-20T12:00:00+01:00", "2026-11-21T00:30:00+01:00", `{"daily_spend":0.000225}`, "sent", 1},
	}
	// The two firings at 12:20, and the two at 12:00, may come in either
	// order (rules are evaluated in no particular order).
	if history[1].Get("alert_id").String() == limits.Get("id").String() {
		wants[1], wants[2] = wants[2], wants[1]
	}
	if history[4].Get("alert_id").String() == spend.Get("id").String() {
		wants[4], wants[5] = wants[5], wants[4]
	}
	for i, w := range wants {
		h := history[i]
		if h.Get("alert_id").String() != w.alert || h.Get("fired_at").String() != w.fired || h.Get("cleared_at").String() != w.cleared ||
			h.Get("values").Raw != w.values || h.Get("deliveries.#").Int() != 1 || h.Get("deliveries.0.status").String() != w.status ||
			h.Get("deliveries.0.attempts").Int() != w.attempts || h.Get("deliveries.0.error").String() != "" || h.Get("message").String() == "" {
			t.Errorf("history[%d] = %s, want %+v", i, h.Raw, w)
		}
	}
	first := history[len(history)-1]
	if first.Get("alert_id").String() != spend.Get("id").String() {
		first = history[len(history)-2]
	}
	if d := first.Get("deliveries.0"); d.Get("action").String() != "email" || d.Get("target").String() != "finops@acme.example" {
		t.Errorf("email delivery %s", d.Raw)
	}
	// bob sees his own rule and its firing only; eve sees nothing of acme.
	_, j := adminGet(t, admin, keyBob, "/api/account/alerts/history")
	if h := j.Get("history").Array(); len(h) != 1 || h[0].Get("alert_id").String() != own.Get("id").String() {
		t.Fatalf("bob's history %s", j.Raw)
	}
	_, j = adminGet(t, admin, keyBob, "/api/account/alerts")
	if r := j.Get("alerts").Array(); len(r) != 1 || r[0].Get("id").String() != own.Get("id").String() || r[0].Get("state").String() != "ok" ||
		r[0].Get("last_fired_at").String() != "2026-11-20T12:10:00+01:00" {
		t.Fatalf("bob's rules %s", j.Raw)
	}
	_, j = adminGet(t, admin, keyAlice, "/api/account/alerts/history?limit=2")
	if len(j.Get("history").Array()) != 2 {
		t.Fatalf("limit=2: %s", j.Raw)
	}
	_, j = adminGet(t, admin, keyAlice, "/api/account/alerts")
	states := map[string]string{}
	for _, r := range j.Get("alerts").Array() {
		states[r.Get("name").String()] = r.Get("state").String()
	}
	if states["Daily spend"] != "firing" || states["Limits"] != "firing" || states["Errors"] != "ok" || states["My spend"] != "ok" || len(states) != 4 {
		t.Fatalf("states %v", states)
	}
	_, j = adminGet(t, admin, keyEve, "/api/account/alerts/history")
	if len(j.Get("history").Array()) != 0 {
		t.Fatalf("eve sees %s", j.Raw)
	}
	for _, c := range []struct {
		key  string
		id   string
		want int
	}{{keyEve, spend.Get("id").String(), 404}, {keyBob, spend.Get("id").String(), 404}, {keyBob, own.Get("id").String(), 200}, {keyAlice, spend.Get("id").String(), 200}, {keyAlice, spend.Get("id").String(), 404}} {
		if st, j := adminSend(t, "DELETE", admin+"/api/account/alerts/"+c.id, c.key, ""); st != c.want {
			t.Fatalf("delete %s: %d %s", c.id, st, j.Raw)
		}
	}

	// Many more rounds: nothing more is delivered.
	evaluate(5)
	if n, o, f := len(mail.Messages()), len(hooks.got("/ok")), len(hooks.got("/flaky")); n != 2 || o != 3 || f != 3 {
		t.Fatalf("deliveries: %d mails, %d and %d posts; want 2, 3, 3", n, o, f)
	}
}

// TestAlertsLoop checks that the engine's own loop evaluates the rules
// (every 20ms here) and delivers a breach once.
func TestAlertsLoop(t *testing.T) {
	_, _, proxyURL, admin := alertApp(t, 20*time.Millisecond, nil)
	hooks, hookBase := startHookReceiver(t, nil)
	st, j := adminSend(t, "POST", admin+"/api/account/alerts", keyAlice,
		`{"name":"Any request","type":"usage","condition":"requests >= 1 && tokens > 0","action":"webhook","webhook_url":"`+hookBase+`/loop"}`)
	if st != 201 {
		t.Fatalf("create: %d %s", st, j.Raw)
	}
	if st, b, _ := call(t, "POST", proxyURL+"/v1/chat/completions", simTokens(keyAlice, "7", "3"), `{"model":"gpt-4o-mini","messages":[]}`); st != 200 {
		t.Fatalf("chat: %d %s", st, b)
	}
	waitFor(t, "the loop's webhook", func() bool { return len(hooks.got("/loop")) == 1 })
	if v := gjson.Get(hooks.got("/loop")[0], "values").Raw; v != `{"requests":1,"tokens":10}` {
		t.Fatalf("values %s", v)
	}
	waitFor(t, "the rule to show firing", func() bool {
		_, j := adminGet(t, admin, keyAlice, "/api/account/alerts")
		return j.Get("alerts.0.state").String() == "firing" && j.Get("alerts.0.last_fired_at").String() != ""
	})
	if n := len(hooks.got("/loop")); n != 1 {
		t.Fatalf("%d posts, want 1", n)
	}
}

// TestAlertsBadInputs: every bad rule is a 400 whose message names the
// field.
func TestAlertsBadInputs(t *testing.T) {
	_, _, _, admin := alertApp(t, time.Hour, nil)
	const hook = `"action":"webhook","webhook_url":"http://127.0.0.1:9/hook"`
	ok := `"name":"n","type":"spending","condition":"daily_spend > 1",` + hook
	cases := []struct{ body, want string }{
		{``, "body: empty"},
		{`{`, "body: invalid JSON"},
		{`[]`, "body: want a JSON object"},
		{`{` + ok + `,"colour":"red"}`, `body: unknown field "colour"`},
		{`{"type":"spending","condition":"daily_spend > 1",` + hook + `}`, "name: must be given"},
		{`{"name":5,"type":"spending","condition":"daily_spend > 1",` + hook + `}`, "name: want a string"},
		{`{"name":"` + strings.Repeat("n", 201) + `","type":"spending","condition":"daily_spend > 1",` + hook + `}`, "name: 201 characters, at most 200"},
		{`{"name":"n","type":"cost","condition":"daily_spend > 1",` + hook + `}`, `type: "cost" is not one of`},
		{`{"name":"n","type":"spending","condition":"daily_spend >",` + hook + `}`, `condition: at column 14: expected a number after ">"`},
		{`{"name":"n","type":"spending","condition":"daily_spend > 1 && spend > 2",` + hook + `}`, `condition: at column 20: unknown metric "spend"`},
		{`{"name":"n","type":"spending","condition":"error_rate > 1",` + hook + `}`, `condition: metric "error_rate" does not fit type "spending"`},
		{`{"name":"n","type":"latency","condition":"p95_latency_ms > 1 || requests > 1",` + hook + `}`, `condition: metric "requests" does not fit type "latency"`},
		{`{"name":"n","type":"spending","condition":"daily_spend > 1","action":"sms"}`, `action: "sms" is not one of email, webhook`},
		{`{"name":"n","type":"spending","condition":"daily_spend > 1","action":"email"}`, "recipients: at least one address"},
		{`{"name":"n","type":"spending","condition":"daily_spend > 1","action":"email","recipients":["ok@acme.example","not an address"]}`, `recipients[1]: "not an address" is not an email address`},
		{`{"name":"n","type":"spending","condition":"daily_spend > 1","action":"email","recipients":"ok@acme.example"}`, "recipients: want an array of strings"},
		{`{"name":"n","type":"spending","condition":"daily_spend > 1","action":"email","recipients":[` + strings.Repeat(`"a@acme.example",`, 50) + `"a@acme.example"]}`, "recipients: 51 addresses, at most 50"},
		{`{"name":"n","type":"spending","condition":"daily_spend > 1","action":"webhook"}`, "webhook_url: must be given"},
		{`{"name":"n","type":"spending","condition":"daily_spend > 1","action":"webhook","webhook_url":"hooks.example.com/x"}`, "webhook_url: \"hooks.example.com/x\" is not an absolute http or https URL"},
		{`{` + ok + `,"cooldown":"soon"}`, `cooldown: "soon" is not a duration`},
		{`{` + ok + `,"cooldown":"-5m"}`, `cooldown: "-5m" is negative`},
	}
	for _, c := range cases {
		st, j := adminSend(t, "POST", admin+"/api/account/alerts", keyAlice, c.body)
		if st != 400 || j.Get("success").Bool() || j.Get("error.code").String() != "invalid_parameter" ||
			!strings.HasPrefix(j.Get("error.message").String(), c.want) {
			t.Errorf("%s: %d %s, want 400 with %q", c.body, st, j.Raw, c.want)
		}
	}
	if st, j := adminGet(t, admin, keyAlice, "/api/account/alerts/history?limit=0"); st != 400 || !strings.HasPrefix(j.Get("error.message").String(), "limit: ") {
		t.Errorf("limit=0: %d %s", st, j.Raw)
	}
	if _, j := adminGet(t, admin, keyAlice, "/api/account/alerts"); len(j.Get("alerts").Array()) != 0 {
		t.Errorf("a bad input created a rule: %s", j.Raw)
	}

	// Without smtp the email action is refused.
	_, base := startSim(t, sim.Options{})
	_, _, admin2 := startApp(t, testConfig(t, base, t.TempDir(), ""), appOptions{})
	st, j := adminSend(t, "POST", admin2+"/api/account/alerts", keyAlice,
		`{"name":"n","type":"spending","condition":"daily_spend > 1","action":"email","recipients":["a@acme.example"]}`)
	if st != 400 || !strings.HasPrefix(j.Get("error.message").String(), "action: email needs an SMTP server") {
		t.Errorf("email without smtp: %d %s", st, j.Raw)
	}
}
