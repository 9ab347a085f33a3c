package alert

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/config"
	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/notify"
	"github.com/infermeter/infermeter/notify/smtptest"
	"github.com/infermeter/infermeter/store"
)

// hooks is a loopback webhook receiver that answers statuses in turn (the
// last from then on) and keeps every body.
type hooks struct {
	mu       sync.Mutex
	statuses []int
	bodies   [][]byte
}

func startHooks(t *testing.T, statuses ...int) (*hooks, string) {
	t.Helper()
	h := &hooks{statuses: statuses}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		h.mu.Lock()
		defer h.mu.Unlock()
		ctx.SetStatusCode(h.statuses[min(len(h.bodies), len(h.statuses)-1)])
		h.bodies = append(h.bodies, append([]byte(nil), ctx.PostBody()...))
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return h, "http://" + ln.Addr().String() + "/hook"
}

func (h *hooks) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.bodies)
}

func (h *hooks) body(i int) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bodies[i]
}

// fixture is an engine over a real store and meter with org acme
// (Europe/Berlin): alice (admin), bob (member, limit 0.001 USD) and carl
// (member, limit 0.002 USD).
type fixture struct {
	t     *testing.T
	dir   *account.Directory
	meter *meter.Meter
	store *store.Store
	mail  *smtptest.Server
	opt   Options
	e     *Engine
	loc   *time.Location
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	dir := account.New()
	dir.PutOrg(account.Org{ID: "acme", Name: "Acme", Location: loc})
	for i, m := range []account.Member{
		{ID: "alice", Org: "acme", Role: account.RoleAdmin},
		{ID: "bob", Org: "acme", Role: account.RoleMember, MonthlyLimitNano: 1_000_000},
		{ID: "carl", Org: "acme", Role: account.RoleMember, MonthlyLimitNano: 2_000_000},
	} {
		m.KeyHash = account.HashKey([]byte{byte(i)})
		if err := dir.PutMember(m); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	srv := smtptest.Start(t)
	f := &fixture{t: t, dir: dir, store: st, mail: srv, loc: loc,
		meter: meter.New(meter.Options{Location: dir.Location, Logf: t.Logf})}
	f.opt = Options{
		Store: st, Meter: f.meter, Accounts: dir, Logf: t.Logf,
		Mailer:  notify.NewMailer(config.SMTP{Host: srv.Host(), Port: srv.Port(), From: "alerts@localhost"}),
		Webhook: notify.NewWebhook(notify.WebhookOptions{Backoff: time.Millisecond}),
	}
	f.open()
	return f
}

// open (re)builds the engine over the same store.
func (f *fixture) open() {
	f.t.Helper()
	e, err := New(f.opt)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = e.Close() })
	f.e = e
}

// spend adds a request of user at t costing nano (and failing when failed).
func (f *fixture) spend(user string, t time.Time, nano int64, failed bool) {
	c := meter.Cell{Requests: 1, CostNano: nano, InputTokens: 10, OutputTokens: 5, LatencyMicros: 2000}
	if failed {
		c.Errors = 1
	}
	f.meter.Load(meter.CellKey{Org: "acme", User: user, Model: "openai/gpt-4o-mini", Hour: meter.HourStart(t.UnixNano(), f.loc)}, c)
}

func (f *fixture) create(r Rule) Rule {
	f.t.Helper()
	if r.Org == "" {
		r.Org = "acme"
	}
	st, err := f.e.Create(r)
	if err != nil {
		f.t.Fatal(err)
	}
	return st.Rule
}

func (f *fixture) history(user string) []Firing {
	f.t.Helper()
	h, err := f.e.History("acme", user, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return h
}

// waitDelivered waits until every firing of the history has its delivery
// done (a liveness bound, not a timing assertion).
func (f *fixture) waitDelivered() []Firing {
	f.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		h := f.history("")
		done := true
		for _, x := range h {
			if x.Deliveries[0].Status == DeliveryPending {
				done = false
			}
		}
		if done {
			return h
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("deliveries still pending: %+v", h)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitCount(t *testing.T, what string, n int, get func() int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for get() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want %d", what, get(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := get(); got != n {
		t.Fatalf("%s: %d, want %d", what, got, n)
	}
}

func TestFiresOncePerBreachAndAgainAfterClearing(t *testing.T) {
	f := newFixture(t)
	h, url := startHooks(t, 200)
	r := f.create(Rule{Name: "Daily spend", Type: TypeSpending, Condition: "daily_spend > 0.001", Action: ActionWebhook, WebhookURL: url, CreatedBy: "alice"})
	day1 := time.Date(2026, 11, 20, 12, 30, 0, 0, f.loc)

	f.e.Evaluate(day1)
	f.spend("bob", day1, 600_000, false)
	f.spend("carl", day1, 900_000, false)
	for i := range 4 {
		f.e.Evaluate(day1.Add(time.Duration(i) * time.Minute))
	}
	f.waitDelivered()
	waitCount(t, "webhook posts", 1, h.count)
	var p struct {
		Text   string             `json:"text"`
		Alert  map[string]string  `json:"alert"`
		Values map[string]float64 `json:"values"`
		Fired  string             `json:"fired_at"`
	}
	if err := json.Unmarshal(h.body(0), &p); err != nil {
		t.Fatal(err)
	}
	wantText := `alert "Daily spend" (spending) fired for org acme: daily_spend = 0.0015 USD (condition: daily_spend > 0.001) at 2026-11-20T12:30:00+01:00`
	if p.Text != wantText || p.Values[DailySpend] != 0.0015 || len(p.Values) != 1 || p.Fired != "2026-11-20T12:30:00+01:00" {
		t.Fatalf("payload %s", h.body(0))
	}
	if p.Alert["id"] != r.ID || p.Alert["name"] != "Daily spend" || p.Alert["type"] != "spending" ||
		p.Alert["condition"] != "daily_spend > 0.001" || p.Alert["org_id"] != "acme" || p.Alert["user_id"] != "" {
		t.Fatalf("payload alert %v", p.Alert)
	}
	if st := f.e.Rules("acme", ""); len(st) != 1 || !st[0].Firing || !st[0].LastFiredAt.Equal(day1) {
		t.Fatalf("status %+v", st)
	}

	// The next day in Berlin the daily spend is 0 again: cleared.
	day2 := time.Date(2026, 11, 21, 0, 5, 0, 0, f.loc)
	f.e.Evaluate(day2)
	if st := f.e.Rules("acme", ""); st[0].Firing {
		t.Fatal("still firing on a new day")
	}
	f.spend("bob", day2, 2_000_000, false)
	f.e.Evaluate(day2.Add(time.Minute))
	f.e.Evaluate(day2.Add(2 * time.Minute))
	hist := f.waitDelivered()
	waitCount(t, "webhook posts", 2, h.count)
	if len(hist) != 2 {
		t.Fatalf("%d history entries, want 2", len(hist))
	}
	// Newest first; the first firing was cleared at day2.
	if hist[0].Values[DailySpend] != 0.002 || hist[0].ClearedAt != nil || !hist[0].FiredAt.Equal(day2.Add(time.Minute)) {
		t.Fatalf("newest %+v", hist[0])
	}
	if hist[1].Values[DailySpend] != 0.0015 || hist[1].ClearedAt == nil || !hist[1].ClearedAt.Equal(day2) {
		t.Fatalf("oldest %+v", hist[1])
	}
	for _, x := range hist {
		d := x.Deliveries[0]
		if d != (Delivery{Action: ActionWebhook, Target: url, Status: DeliverySent, Attempts: 1}) {
			t.Fatalf("delivery %+v", d)
		}
	}

	// A restart during the breach does not fire it again.
	_ = f.e.Close()
	f.open()
	f.e.Evaluate(day2.Add(3 * time.Minute))
	f.e.Close()
	if n := len(f.history("")); n != 2 || h.count() != 2 {
		t.Fatalf("after a restart: %d entries, %d posts", n, h.count())
	}
}

func TestCooldown(t *testing.T) {
	f := newFixture(t)
	h, url := startHooks(t, 200)
	f.create(Rule{Name: "Hourly", Type: TypeSpending, Condition: "hourly_spend >= 0.001", Action: ActionWebhook, WebhookURL: url, Cooldown: 2 * time.Hour})
	t0 := time.Date(2026, 11, 20, 9, 10, 0, 0, f.loc)
	f.spend("bob", t0, 1_000_000, false)
	f.e.Evaluate(t0) // fires
	f.e.Evaluate(t0.Add(time.Hour))
	// 10:10: the hour is new, hourly_spend is 0: cleared. A breach at
	// 10:20 is within the cooldown: no firing until 11:10.
	f.spend("bob", t0.Add(70*time.Minute), 1_000_000, false)
	f.e.Evaluate(t0.Add(70 * time.Minute))
	f.e.Evaluate(t0.Add(119 * time.Minute))
	if n := len(f.history("")); n != 1 {
		t.Fatalf("%d firings within the cooldown, want 1", n)
	}
	f.spend("bob", t0.Add(120*time.Minute), 1_000_000, false)
	f.e.Evaluate(t0.Add(120 * time.Minute))
	f.waitDelivered()
	waitCount(t, "webhook posts", 2, h.count)
}

func TestScopesAndMemberLimit(t *testing.T) {
	f := newFixture(t)
	h, url := startHooks(t, 200)
	now := time.Date(2026, 11, 20, 15, 0, 0, 0, f.loc)
	own := f.create(Rule{Name: "bob's spend", Type: TypeSpending, Condition: "daily_spend > 0.0005", Action: ActionWebhook, WebhookURL: url, User: "bob"})
	lim := f.create(Rule{Name: "limits", Type: TypeMemberLimit, Condition: "member_spend_pct >= 75", Action: ActionEmail, Recipients: []string{"finops@acme.example"}})
	// carl spends 1,600,000 of his 2,000,000 (80%); bob nothing yet.
	f.spend("carl", now, 800_000, true)
	f.spend("carl", now, 800_000, false)
	f.spend("alice", now, 0, false)
	f.spend("alice", now, 0, false)
	f.e.Evaluate(now)
	hist := f.waitDelivered()
	if len(hist) != 1 || hist[0].AlertID != lim.ID || hist[0].Member != "carl" || hist[0].Values[MemberSpendPct] != 80 {
		t.Fatalf("history %+v", hist)
	}
	msgs := f.mail.Wait(t, 1, 60*time.Second)
	want := `alert "limits" (member_limit) fired for org acme: member_spend_pct = 80% (member carl) (condition: member_spend_pct >= 75) at 2026-11-20T15:00:00+01:00`
	if msgs[0].Subject != `[infermeter] alert "limits" fired` || !strings.HasPrefix(msgs[0].Text, want+"\n") ||
		!strings.Contains(msgs[0].Text, "  member_spend_pct = 80%\n") || msgs[0].To[0] != "finops@acme.example" {
		t.Fatalf("mail %q %q", msgs[0].Subject, msgs[0].Text)
	}
	// With bob's request the org has 1 failure in 5 requests: 20%; bob's
	// own rule sees only his 0.0006 USD.
	f.create(Rule{Name: "errors", Type: TypeErrorRate, Condition: "error_rate >= 20", Action: ActionWebhook, WebhookURL: url})
	f.spend("bob", now, 600_000, false)
	f.e.Evaluate(now.Add(time.Minute))
	hist = f.waitDelivered()
	if len(hist) != 3 {
		t.Fatalf("%d entries, want 3: %+v", len(hist), hist)
	}
	got := map[string]Firing{}
	for _, x := range hist[:2] {
		got[x.AlertName] = x
	}
	if x, ok := got["bob's spend"]; !ok || x.User != "bob" || x.Values[DailySpend] != 0.0006 {
		t.Fatalf("bob's rule: %+v", got)
	}
	if x, ok := got["errors"]; !ok || x.Values[ErrorRate] != 20 || len(x.Values) != 1 {
		t.Fatalf("errors rule: %+v", got)
	}
	if mine := f.history("bob"); len(mine) != 1 || mine[0].AlertID != own.ID {
		t.Fatalf("bob's history %+v", mine)
	}
	if rules := f.e.Rules("acme", "bob"); len(rules) != 1 || rules[0].ID != own.ID {
		t.Fatalf("bob's rules %+v", rules)
	}
	if err := f.e.Delete("acme", "bob", lim.ID); err != ErrNotFound {
		t.Fatalf("bob deletes the org's rule: %v", err)
	}
	if err := f.e.Delete("acme", "", lim.ID); err != nil {
		t.Fatal(err)
	}
	waitCount(t, "webhook posts", 2, h.count)
}

func TestFailingDeliveriesAreRecorded(t *testing.T) {
	f := newFixture(t)
	_, flaky := startHooks(t, 503, 503, 200)
	_, broken := startHooks(t, 400)
	f.mail.Refuse("nobody@acme.example")
	now := time.Date(2026, 11, 20, 15, 0, 0, 0, f.loc)
	f.create(Rule{Name: "flaky", Type: TypeUsage, Condition: "requests > 0", Action: ActionWebhook, WebhookURL: flaky})
	f.create(Rule{Name: "broken", Type: TypeUsage, Condition: "requests > 0", Action: ActionWebhook, WebhookURL: broken})
	f.create(Rule{Name: "refused", Type: TypeUsage, Condition: "tokens > 0", Action: ActionEmail, Recipients: []string{"nobody@acme.example"}})
	f.spend("bob", now, 1, false)
	f.e.Evaluate(now)
	hist := f.waitDelivered()
	got := map[string]Delivery{}
	for _, x := range hist {
		got[x.AlertName] = x.Deliveries[0]
	}
	if d := got["flaky"]; d.Status != DeliverySent || d.Attempts != 3 || d.Error != "" {
		t.Fatalf("flaky %+v", d)
	}
	if d := got["broken"]; d.Status != DeliveryFailed || d.Attempts != 1 || !strings.Contains(d.Error, "status 400") {
		t.Fatalf("broken %+v", d)
	}
	if d := got["refused"]; d.Status != DeliveryFailed || d.Attempts != 1 || !strings.Contains(d.Error, "550") {
		t.Fatalf("refused %+v", d)
	}
}

func TestHistoryIsBounded(t *testing.T) {
	f := newFixture(t)
	f.opt.MaxHistory = 3
	_ = f.e.Close()
	f.open()
	_, url := startHooks(t, 200)
	f.create(Rule{Name: "daily", Type: TypeSpending, Condition: "daily_spend > 0", Action: ActionWebhook, WebhookURL: url})
	day := time.Date(2026, 11, 1, 12, 0, 0, 0, f.loc)
	for i := range 5 {
		d := day.AddDate(0, 0, i)
		f.e.Evaluate(d) // clears the previous day's firing
		f.spend("bob", d, 1000, false)
		f.e.Evaluate(d.Add(time.Minute))
	}
	hist := f.waitDelivered()
	if len(hist) != 3 || !hist[0].FiredAt.Equal(day.AddDate(0, 0, 4).Add(time.Minute)) || !hist[2].FiredAt.Equal(day.AddDate(0, 0, 2).Add(time.Minute)) {
		t.Fatalf("history %+v", hist)
	}
}

func TestValidate(t *testing.T) {
	ok := Rule{Name: "n", Type: TypeSpending, Condition: "daily_spend > 1", Action: ActionWebhook, WebhookURL: "https://hooks.example.com/x"}
	cases := []struct {
		edit   func(r *Rule)
		mailOn bool
		want   string
	}{
		{func(r *Rule) {}, false, ""},
		{func(r *Rule) { r.Name = " " }, false, "name: must be given"},
		{func(r *Rule) { r.Name = strings.Repeat("é", 201) }, false, "name: 201 characters, at most 200"},
		{func(r *Rule) { r.Type = "cost" }, false, `type: "cost" is not one of spending, usage, error_rate, latency, member_limit`},
		{func(r *Rule) { r.Condition = "daily_spend >" }, false, `condition: at column 14: expected a number after ">", got the end of the condition`},
		{func(r *Rule) { r.Condition = "requests > 1" }, false, `condition: metric "requests" does not fit type "spending", which takes daily_spend, monthly_spend, hourly_spend`},
		{func(r *Rule) { r.Action = "sms" }, false, `action: "sms" is not one of email, webhook`},
		{func(r *Rule) { r.Action = ActionEmail }, false, "action: email needs an SMTP server, and smtp.host is not configured; use webhook"},
		{func(r *Rule) { r.Action = ActionEmail }, true, "recipients: at least one address is needed for the email action"},
		{func(r *Rule) { r.Action, r.Recipients = ActionEmail, []string{"a@acme.example", "nope"} }, true, `recipients[1]: "nope" is not an email address: mail: missing '@' or angle-addr`},
		{func(r *Rule) { r.Action, r.Recipients = ActionEmail, make([]string, 51) }, true, "recipients: 51 addresses, at most 50"},
		{func(r *Rule) { r.WebhookURL = "" }, false, "webhook_url: must be given for the webhook action"},
		{func(r *Rule) { r.WebhookURL = "/relative" }, false, `webhook_url: "/relative" is not an absolute http or https URL`},
		{func(r *Rule) { r.WebhookURL = "ftp://h/x" }, false, `webhook_url: "ftp://h/x" is not an absolute http or https URL`},
		{func(r *Rule) { r.Cooldown = -time.Second }, false, "cooldown: -1s is negative"},
	}
	for i, c := range cases {
		r := ok
		c.edit(&r)
		err := Validate(&r, c.mailOn)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("case %d: %q, want %q", i, got, c.want)
		}
	}
}
