package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	json "github.com/goccy/go-json"
	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// The browser tests drive Debian's chromium (found on PATH as chromium, or
// at $INFERMETER_CHROMIUM) against a whole infermeter and the simulated
// provider. Waits poll with generous liveness bounds: the machine may be
// loaded, and nothing here asserts on elapsed time.

// browserWait bounds one wait for the page.
const browserWait = 90 * time.Second

// chromiumPath finds the browser, or fails the test saying how to get it.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("INFERMETER_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("cannot find chromium for the dashboard's browser test: install it (apt-get install chromium; .ci/run does) or set INFERMETER_CHROMIUM to its path")
	return ""
}

// browser is one headless chromium with the problems its pages reported.
type browser struct {
	ctx context.Context
	mu  sync.Mutex
	// problems are console errors, uncaught exceptions and error log
	// entries (CSP violations, failed loads), as text.
	problems []string
	// allowed reports whether a failed network load was provoked on
	// purpose by the test (it is then not a problem).
	allowed func(url string) bool
}

// newBrowser starts chromium with a window of width×height and a fresh
// profile; the first tab is b.ctx.
func newBrowser(t testing.TB, width, height int) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{ctx: ctx}
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("cannot start chromium: %s", err)
	}
	b.listen(ctx)
	if err := chromedp.Do(ctx, berlinTime()); err != nil {
		t.Fatalf("cannot set the browser's timezone: %s", err)
	}
	return b
}

// berlinTime sets the tab's timezone to the test org's, so that the dates
// the page computes are the org's.
func berlinTime() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Berlin"})
		return err
	})
}

// tab opens a new tab (its own sessionStorage) in the browser.
func (b *browser) tab(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("cannot open a tab: %s", err)
	}
	b.listen(ctx)
	if err := chromedp.Do(ctx, berlinTime()); err != nil {
		t.Fatalf("cannot set the tab's timezone: %s", err)
	}
	return ctx
}

// listen collects the console errors, uncaught exceptions and error
// entries of the browser log (CSP violations, failed loads) of the tab of
// ctx, until ctx ends.
func (b *browser) listen(ctx context.Context) {
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && !m.IsException() {
				continue
			}
			if m.Source == "network" && b.allowed != nil && b.allowed(m.URL) {
				continue
			}
			b.mu.Lock()
			b.problems = append(b.problems, fmt.Sprintf("%s (%s %s:%d)", m, m.Source, m.URL, m.Line))
			b.mu.Unlock()
		}
	}()
}

// checkClean fails the test on any problem the pages reported.
func (b *browser) checkClean(t testing.TB) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("browser reported: %s", p)
	}
}

// run runs actions in the tab of ctx, failing the test with what.
func run(t testing.TB, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	if err := chromedp.Do(wctx, actions...); err != nil {
		t.Fatalf("%s: %s", what, err)
	}
}

// waitJS polls the JavaScript expression cond until it is true; on timeout
// it fails with what and the value of the expression show.
func waitJS(t testing.TB, ctx context.Context, what, cond, show string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	ok, err := chromedp.Run(wctx, chromedp.Poll[bool](cond, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(browserWait)))
	if err == nil && ok {
		return
	}
	got, _ := chromedp.Run(ctx, chromedp.Evaluate[any](show))
	t.Fatalf("gave up waiting for %s (%v): the page shows %v", what, err, got)
}

// js quotes s as a JavaScript string.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// evalJS evaluates a JavaScript expression in the tab of ctx.
func evalJS[T any](t testing.TB, ctx context.Context, what, expr string) T {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	v, err := chromedp.Run(wctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %s", what, err)
	}
	return v
}

// evalShot runs a screenshot action.
func evalShot(t testing.TB, ctx context.Context, what string, a chromedp.Action[[]byte]) []byte {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, browserWait)
	defer cancel()
	png, err := chromedp.Run(wctx, a)
	if err != nil {
		t.Fatalf("%s: %s", what, err)
	}
	return png
}

// textOf returns the text of the element of a CSS selector.
func textOf(t testing.TB, ctx context.Context, sel string) string {
	t.Helper()
	return evalJS[string](t, ctx, "read "+sel, `(document.querySelector(`+js(sel)+`)||{}).textContent||""`)
}

// waitText waits until the element of sel shows want.
func waitText(t testing.TB, ctx context.Context, what, sel, want string) {
	t.Helper()
	q := `(document.querySelector(` + js(sel) + `)||{}).textContent`
	waitJS(t, ctx, what+" = "+want, q+` === `+js(want), q)
}

// pageSeq returns the render count of the page shown (main's data-ready).
func pageSeq(t testing.TB, ctx context.Context) string {
	t.Helper()
	return evalJS[string](t, ctx, "read the render count", `document.getElementById("main").dataset.ready||""`)
}

// waitPage waits until page is rendered, after the render numbered prev.
func waitPage(t testing.TB, ctx context.Context, page, prev string) {
	t.Helper()
	waitJS(t, ctx, "the "+page+" page",
		`(() => { const m = document.getElementById("main"); return m.dataset.page === `+js(page)+` && m.getAttribute("aria-busy") === "false" && m.dataset.ready !== `+js(prev)+`; })()`,
		`(() => { const m = document.getElementById("main"); return [m.dataset.page, m.getAttribute("aria-busy"), m.textContent.slice(0, 300)]; })()`)
}

// goPage clicks the nav link of page and waits for it.
func goPage(t testing.TB, ctx context.Context, page string) {
	t.Helper()
	prev := pageSeq(t, ctx)
	run(t, ctx, "open "+page, chromedp.Click(chromedp.CSS(`#nav a[data-page="`+page+`"]`)))
	waitPage(t, ctx, page, prev)
}

// signIn loads the dashboard in the tab of ctx and signs in with key.
func signIn(t testing.TB, ctx context.Context, admin, key string) {
	t.Helper()
	run(t, ctx, "sign in",
		chromedp.Navigate(admin+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#signin-key`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-key`), key),
		chromedp.Click(chromedp.CSS(`#signin-submit`)))
	waitPage(t, ctx, "overview", "")
}

// setRange picks a time range in the range bar; for "custom", start and end
// (YYYY-MM-DD) are applied.
func setRange(t testing.TB, ctx context.Context, kind, start, end string) {
	t.Helper()
	prev := pageSeq(t, ctx)
	run(t, ctx, "choose the range "+kind,
		chromedp.SetValue(chromedp.CSS(`#range`), kind),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`document.getElementById("range").dispatchEvent(new Event("change"))`)(ctx, tg)
			return err
		}))
	if kind == "custom" {
		run(t, ctx, "set the custom range",
			chromedp.WaitVisible(chromedp.CSS(`#range-start`)),
			chromedp.SetValue(chromedp.CSS(`#range-start`), start),
			chromedp.SetValue(chromedp.CSS(`#range-end`), end),
			chromedp.Click(chromedp.CSS(`#custom-range button[type=submit]`)))
	}
	waitJS(t, ctx, "the page after the range change",
		`(() => { const m = document.getElementById("main"); return m.getAttribute("aria-busy") === "false" && m.dataset.ready !== `+js(prev)+`; })()`,
		`document.getElementById("main").dataset.ready`)
}

// The formats of the dashboard (dashboard/assets/js/format.js).

func fmtInt(n int64) string {
	s := strconv.FormatInt(max(n, -n), 10)
	var b strings.Builder
	if n < 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func fmtUSD(v float64) string {
	if v == 0 {
		return "$0"
	}
	if math.Abs(v) >= 1 {
		s := strconv.FormatFloat(math.Abs(v), 'f', 2, 64)
		whole, frac, _ := strings.Cut(s, ".")
		n, _ := strconv.ParseInt(whole, 10, 64)
		return map[bool]string{true: "-$", false: "$"}[v < 0] + fmtInt(n) + "." + frac
	}
	return map[bool]string{true: "-$", false: "$"}[v < 0] + strconv.FormatFloat(math.Abs(v), 'f', 4, 64)
}

func fmtUSDExact(v float64) string {
	s := strings.TrimRight(strconv.FormatFloat(v, 'f', 9, 64), "0")
	return "$" + strings.TrimSuffix(s, ".")
}

func fmtRate(r float64) string { return strconv.FormatFloat(r*100, 'f', 1, 64) + "%" }

func fmtMs(ms int64) string { return fmtInt(ms) + " ms" }

// checkOverview compares the six numbers of the overview with the usage
// route's overview for query q, as the page formats them.
func checkOverview(t testing.TB, ctx context.Context, admin, key, q string) gjson.Result {
	t.Helper()
	st, j := adminGet(t, admin, key, "/api/organizations/acme/usage?group_by=day&"+q)
	if st != 200 {
		t.Fatalf("usage %s: %d %s", q, st, j.Raw)
	}
	o := j.Get("overview")
	want := map[string]string{
		"#ov-requests":   fmtInt(o.Get("requests").Int()),
		"#ov-tokens":     fmtInt(o.Get("input_tokens").Int() + o.Get("output_tokens").Int()),
		"#ov-cost":       fmtUSD(o.Get("cost_usd").Float()),
		"#ov-members":    fmtInt(o.Get("active_members").Int()),
		"#ov-error-rate": fmtRate(o.Get("error_rate").Float()),
		"#ov-latency":    fmtMs(o.Get("avg_latency_ms").Int()),
	}
	for sel, w := range want {
		waitText(t, ctx, "overview "+sel+" ("+q+")", sel, w)
	}
	return o
}

// dashboardTraffic sends the requests of the browser test: alice (admin)
// 3 gpt-4o-mini, 1 gpt-4o, 1 rate-limited; bob (member) 2 gpt-4o-mini.
func dashboardTraffic(t testing.TB, proxyURL string) {
	t.Helper()
	chat := func(key, model, in, out string, status int) {
		t.Helper()
		h := map[string]string{"Authorization": "Bearer " + key, "X-Sim-Input-Tokens": in, "X-Sim-Output-Tokens": out}
		if status != 200 {
			h["X-Sim-Status"] = strconv.Itoa(status)
		}
		st, b, _ := call(t, "POST", proxyURL+"/v1/chat/completions", h, `{"model":"`+model+`","max_tokens":100,"messages":[]}`)
		if st != status {
			t.Fatalf("chat %s %s: %d %s", key, model, st, b)
		}
	}
	for range 3 {
		chat(keyAlice, "gpt-4o-mini", "1000", "100", 200)
	}
	chat(keyAlice, "gpt-4o", "2000", "300", 200)
	chat(keyAlice, "gpt-4o-mini", "10", "0", 429)
	chat(keyBob, "gpt-4o-mini", "500", "50", 200)
	chat(keyBob, "gpt-4o-mini", "700", "70", 200)
}

// waitLogged waits until the org has n requests in its usage and its logs.
func waitLogged(t testing.TB, admin string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d requests metered and logged", n), func() bool {
		_, u := adminGet(t, admin, keyAlice, "/api/organizations/acme/usage")
		_, l := adminGet(t, admin, keyAlice, "/api/account/request-logs?limit=1000")
		return u.Get("overview.requests").Int() == int64(n) && len(l.Get("logs").Array()) == n
	})
}

// TestDashboard signs in to the dashboard in chromium as an admin and as a
// member, and checks that it shows what the API answers: the overview's
// numbers for several ranges, a request's details, an alert created through
// the form (and its validation message), and a request arriving live on the
// feed; the pages must report no console error.
func TestDashboard(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	cfg.Orgs[0].MonthlyBudgetUSD = 1
	_, proxyURL, admin := startApp(t, cfg, appOptions{})
	dashboardTraffic(t, proxyURL)
	waitLogged(t, admin, 7)

	b := newBrowser(t, 1280, 900)
	// The invalid alert below is answered 400 on purpose.
	b.allowed = func(url string) bool { return strings.HasSuffix(url, "/api/account/alerts") }
	ctx := b.ctx

	// The dashboard's own answers: types and security headers.
	st, body, hdr := call(t, "GET", admin+"/", nil, "")
	if st != 200 || !strings.Contains(string(body), `<script type="module" src="/ui/js/app.js">`) ||
		!strings.Contains(hdr.Get("Content-Security-Policy"), "frame-ancestors 'none'") || hdr.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("GET /: %d %v", st, hdr)
	}

	signIn(t, ctx, admin, keyAlice)
	waitText(t, ctx, "who", "#who", "acme · admin")
	checkOverview(t, ctx, admin, keyAlice, "range=30d")
	// Admins see the top members and the budget.
	waitJS(t, ctx, "top members", `[...document.querySelectorAll("#overview h2")].some(h => h.textContent === "Top members")`, `document.getElementById("overview").textContent`)
	waitJS(t, ctx, "the budget gauge", `!!document.querySelector("#budget [role=meter]")`, `(document.getElementById("budget")||{}).textContent`)

	t.Run("range", func(t *testing.T) {
		setRange(t, ctx, "today", "", "")
		checkOverview(t, ctx, admin, keyAlice, "range=today")
		berlin, err := time.LoadLocation("Europe/Berlin")
		if err != nil {
			t.Fatal(err)
		}
		today := time.Now().In(berlin)
		start, end := today.AddDate(0, 0, -6).Format(time.DateOnly), today.Format(time.DateOnly)
		setRange(t, ctx, "custom", start, end)
		checkOverview(t, ctx, admin, keyAlice, "start_date="+start+"&end_date="+end)
		waitJS(t, ctx, "the period label", `document.getElementById("period").textContent.startsWith(`+js(start+" → "+end)+`)`, `document.getElementById("period").textContent`)
		setRange(t, ctx, "30d", "", "")
		checkOverview(t, ctx, admin, keyAlice, "range=30d")
	})

	t.Run("details", func(t *testing.T) {
		goPage(t, ctx, "logs")
		waitJS(t, ctx, "7 log rows", `document.querySelectorAll("#logs-body tr[data-id]").length === 7`, `document.getElementById("logs-body").textContent`)
		// The gpt-4o request: the only one with 2,000 input tokens.
		id := evalJS[string](t, ctx, "find the gpt-4o row",
			`[...document.querySelectorAll("#logs-body tr[data-id]")].find(tr => tr.children[2].textContent === "openai/gpt-4o").dataset.id`)
		run(t, ctx, "open the details", chromedp.Click(chromedp.CSS(`button[data-detail="`+id+`"]`)))
		waitJS(t, ctx, "the drawer", `!!document.querySelector('#drawer[open] #drawer-body[data-id="`+id+`"] #detail-cost')`, `document.getElementById("drawer-body").textContent`)
		_, d := adminGet(t, admin, keyAlice, "/api/account/request-logs/"+id+"/details")
		r := d.Get("request")
		if r.Get("model").String() != "openai/gpt-4o" {
			t.Fatalf("details %s", d.Raw)
		}
		waitText(t, ctx, "drawer cost", "#detail-cost", fmtUSDExact(r.Get("price.total_usd").Float()))
		waitText(t, ctx, "drawer input tokens", "#detail-input-tokens", fmtInt(r.Get("usage.input_tokens").Int()))
		waitText(t, ctx, "drawer output tokens", "#detail-output-tokens", fmtInt(r.Get("usage.output_tokens").Int()))
		if got := textOf(t, ctx, "#detail-cost"); got != "$0.008" { // 2000×2.5 + 300×10 per million
			t.Errorf("drawer cost %q, want $0.008", got)
		}
		run(t, ctx, "close the drawer", chromedp.Click(chromedp.CSS(`#drawer-close`)))
		waitJS(t, ctx, "the drawer closed", `!document.getElementById("drawer").open`, `document.getElementById("drawer").open`)
	})

	t.Run("alert", func(t *testing.T) {
		goPage(t, ctx, "alerts")
		const cond = `#alert-form [name=condition]`
		errorOf := `(() => { const c = document.querySelector("` + cond + `"); return document.getElementById(c.getAttribute("aria-describedby")).textContent; })()`
		// A bad condition: the API's message shows under the condition.
		bad := map[string]any{"name": "Daily spend guard", "type": "spending", "condition": "daily_spend >", "action": "webhook", "webhook_url": "http://127.0.0.1:9/hook"}
		raw, _ := json.Marshal(bad)
		st, ans, _ := call(t, "POST", admin+"/api/account/alerts", map[string]string{"Authorization": "Bearer " + keyAlice}, string(raw))
		alertsAPI := st != 404
		run(t, ctx, "fill the alert form",
			chromedp.SendKeys(chromedp.CSS(`#alert-form [name=name]`), "Daily spend guard"),
			chromedp.SetValue(chromedp.CSS(`#alert-form [name=type]`), "spending"),
			chromedp.SendKeys(chromedp.CSS(cond), "daily_spend >"),
			chromedp.SetValue(chromedp.CSS(`#alert-form [name=action]`), "webhook"),
			chromedp.SendKeys(chromedp.CSS(`#alert-form [name=webhook_url]`), "http://127.0.0.1:9/hook"),
			chromedp.Click(chromedp.CSS(`#alert-create`)))
		if !alertsAPI {
			// The alerts API is not on this server: the form shows the answer.
			waitJS(t, ctx, "the form's error", `document.getElementById("alert-form-error").textContent !== ""`, `document.getElementById("alert-form-error").textContent`)
			return
		}
		if st != 400 {
			t.Fatalf("bad condition: %d %s", st, ans)
		}
		msg := gjson.GetBytes(ans, "error.message").String()
		if !strings.HasPrefix(msg, "condition:") {
			t.Fatalf("bad condition message %q", msg)
		}
		waitJS(t, ctx, "the condition's error", errorOf+` === `+js(msg), errorOf)
		waitJS(t, ctx, "the condition marked invalid", `document.querySelector("`+cond+`").getAttribute("aria-invalid") === "true"`, `document.querySelector("`+cond+`").outerHTML`)

		run(t, ctx, "fix the condition",
			chromedp.SetValue(chromedp.CSS(cond), "daily_spend > 100"),
			chromedp.Click(chromedp.CSS(`#alert-create`)))
		waitJS(t, ctx, "the alert created", `document.getElementById("alert-form-ok").textContent === `+js(`Alert "Daily spend guard" created.`),
			`document.getElementById("alert-form").textContent`)
		waitJS(t, ctx, "the alert listed", `document.getElementById("alerts-list").textContent.includes("daily_spend > 100")`, `document.getElementById("alerts-list").textContent`)
		waitJS(t, ctx, "the condition's error cleared", errorOf+` === ""`, errorOf)
		_, list := adminGet(t, admin, keyAlice, "/api/account/alerts")
		if a := list.Get("alerts"); len(a.Array()) != 1 || a.Get("0.condition").String() != "daily_spend > 100" || a.Get("0.name").String() != "Daily spend guard" {
			t.Fatalf("alerts %s", list.Raw)
		}
	})

	t.Run("live", func(t *testing.T) {
		goPage(t, ctx, "overview")
		o := checkOverview(t, ctx, admin, keyAlice, "range=30d")
		waitText(t, ctx, "the live feed", "#live", "live")
		waitJS(t, ctx, "the live feed connected", `document.getElementById("live").dataset.state === "on"`, `document.getElementById("live").dataset.state`)
		h := map[string]string{"Authorization": "Bearer " + keyBob, "X-Sim-Input-Tokens": "4321", "X-Sim-Output-Tokens": "123"}
		if st, b, _ := call(t, "POST", proxyURL+"/v1/chat/completions", h, `{"model":"gpt-4o","messages":[]}`); st != 200 {
			t.Fatalf("%d %s", st, b)
		}
		waitJS(t, ctx, "the request in the live list",
			`[...document.querySelectorAll("#live-list li")].some(li => li.textContent.includes("openai/gpt-4o · bob") && li.textContent.includes("4,321 in · 123 out"))`,
			`document.getElementById("live-list").textContent`)
		waitText(t, ctx, "the live request count", "#ov-requests", fmtInt(o.Get("requests").Int()+1))
		waitText(t, ctx, "the live token count", "#ov-tokens", fmtInt(o.Get("input_tokens").Int()+o.Get("output_tokens").Int()+4321+123))
		// Once metered, the page and the API agree again.
		waitLogged(t, admin, 8)
		checkOverview(t, ctx, admin, keyAlice, "range=30d")
	})

	t.Run("pages", func(t *testing.T) {
		// Every page loads without an error card.
		for _, page := range []string{"usage", "insights", "errors", "reports", "alerts", "logs", "overview"} {
			goPage(t, ctx, page)
			waitJS(t, ctx, page+" without a load error", `!document.querySelector("#main .field-error:not(:empty)")`,
				`document.getElementById("main").textContent.slice(0, 400)`)
		}
		// Usage by member, sorted by requests ascending with two clicks.
		goPage(t, ctx, "usage")
		run(t, ctx, "group by member", chromedp.SetValue(chromedp.CSS(`#main select[name=group_by]`), "user"))
		evalJS[bool](t, ctx, "change the grouping", `document.querySelector("#main select[name=group_by]").dispatchEvent(new Event("change"))`)
		waitJS(t, ctx, "the members table", `document.querySelector("#usage-table th button")?.textContent === "Member"`, `document.getElementById("usage-table").textContent`)
		col := `[...document.querySelectorAll("#usage-table th button")].find(b => b.textContent === "Requests")`
		evalJS[bool](t, ctx, "sort by requests", `(() => { const b = `+col+`; b.click(); b.click(); return true; })()`)
		waitJS(t, ctx, "members by requests, fewest first",
			`[...document.querySelectorAll("#usage-table tbody tr")].map(tr => tr.children[0].textContent).join(",") === "bob@acme.example,alice@acme.example"`,
			`document.getElementById("usage-table").textContent`)
		goPage(t, ctx, "overview")
	})

	t.Run("member", func(t *testing.T) {
		mctx := b.tab(t)
		signIn(t, mctx, admin, keyBob)
		waitText(t, mctx, "who", "#who", "bob · acme")
		checkOverview(t, mctx, admin, keyBob, "range=30d")
		waitJS(t, mctx, "no admin pages", `document.querySelector("#nav [data-admin]").hidden && ![...document.querySelectorAll("#overview h2")].some(h => h.textContent === "Top members")`,
			`document.getElementById("nav").textContent`)
		goPage(t, mctx, "logs")
		_, l := adminGet(t, admin, keyBob, "/api/account/request-logs")
		n := len(l.Get("logs").Array())
		if n != 3 {
			t.Fatalf("bob's logs: %s", l.Raw)
		}
		waitJS(t, mctx, "only bob's requests",
			fmt.Sprintf(`(() => { const r = [...document.querySelectorAll("#logs-body tr[data-id]")]; return r.length === %d && r.every(tr => tr.children[1].textContent === "bob"); })()`, n),
			`document.getElementById("logs-body").textContent`)
	})

	b.checkClean(t)
}

// TestDashboardScreenshots writes a PNG of every page of the dashboard into
// the directory $INFERMETER_SCREENSHOTS (make screenshots): 1280 px wide,
// and the overview at a phone's width. It is skipped without the variable.
func TestDashboardScreenshots(t *testing.T) {
	dir := os.Getenv("INFERMETER_SCREENSHOTS")
	if dir == "" {
		t.Skip("set INFERMETER_SCREENSHOTS to a directory (make screenshots)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, base := startSim(t, sim.Options{Latency: 25 * time.Millisecond})
	// A mail server that is never reached: schedules need one configured.
	cfg := testConfig(t, base, t.TempDir(), `smtp: {host: "127.0.0.1", port: 2525, from: "infermeter@acme.example"}`)
	cfg.Orgs[0].MonthlyBudgetUSD = 2
	// A clock that runs at the real pace (latencies are real) from a
	// moment of the past that the traffic below moves.
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	at := func(t time.Time) { offset.Store(int64(time.Until(t))) }
	now := time.Now()
	at(now.AddDate(0, 0, -13))
	_, proxyURL, admin := startApp(t, cfg, appOptions{Now: clock})

	// Two weeks of traffic from both members, three providers, a few errors.
	n := 0
	send := func(key, path string, hdr map[string]string, body string) {
		h := map[string]string{"Authorization": "Bearer " + key, "X-Api-Key": key, "X-Goog-Api-Key": key}
		for k, v := range hdr {
			h[k] = v
		}
		callLoose(t, "POST", proxyURL+path, h, body)
		n++
	}
	for d := 13; d >= 0; d-- {
		day := now.AddDate(0, 0, -d)
		for i := 0; i < 6+(13-d)%5*2; i++ {
			at(day.Add(-time.Duration(10*i) * time.Minute))
			in, out := strconv.Itoa(800+137*i+50*d), strconv.Itoa(120+31*i)
			tok := map[string]string{"X-Sim-Input-Tokens": in, "X-Sim-Output-Tokens": out}
			switch i % 4 {
			case 0:
				send(keyAlice, "/v1/chat/completions", tok, `{"model":"gpt-4o","messages":[]}`)
			case 1:
				send(keyBob, "/v1/chat/completions", map[string]string{"X-Sim-Input-Tokens": in, "X-Sim-Output-Tokens": out, "X-Infermeter-Department": "search"}, `{"model":"gpt-4o-mini","messages":[]}`)
			case 2:
				send(keyBob, "/v1/messages", tok, `{"model":"claude-haiku-4-5","max_tokens":512,"messages":[{"role":"user","content":"hi"}]}`)
			default:
				send(keyAlice, "/v1beta/models/gemini-2.5-flash:generateContent", tok, `{"contents":[{"parts":[{"text":"hi"}]}]}`)
			}
			if i == 3 && d%3 == 0 {
				send(keyAlice, "/v1/chat/completions", map[string]string{"X-Sim-Status": "429"}, `{"model":"gpt-4o-mini","messages":[]}`)
			}
			if i == 5 && d%4 == 1 {
				send(keyBob, "/v1/chat/completions", map[string]string{"X-Sim-Status": "500"}, `{"model":"gpt-4o","messages":[]}`)
			}
		}
	}
	offset.Store(0)
	waitLogged(t, admin, n)
	auth := map[string]string{"Authorization": "Bearer " + keyAlice}
	apiPost := func(path, body string) {
		t.Helper()
		if st, b, _ := call(t, "POST", admin+path, auth, body); st != 200 && st != 201 {
			t.Logf("POST %s: %d %s", path, st, b)
		}
	}
	apiPost("/api/account/alerts", `{"name":"Daily spend over $50","type":"spending","condition":"daily_spend > 50","action":"webhook","webhook_url":"http://127.0.0.1:9/hook","cooldown":"1h"}`)
	apiPost("/api/account/alerts", `{"name":"Error rate","type":"error_rate","condition":"error_rate > 0.05","action":"webhook","webhook_url":"http://127.0.0.1:9/hook"}`)
	apiPost("/api/organizations/acme/reports/schedule", `{"name":"Monthly FinOps","frequency":"monthly","day":1,"time":"08:00","format":"pdf","recipients":["finops@acme.example"],"include":["usage_summary","top_users","cost_breakdown","errors"]}`)
	start := now.AddDate(0, 0, -13).Format(time.DateOnly)
	apiPost("/api/billing/invoices/generate", `{"period_start":"`+start+`","period_end":"`+now.Format(time.DateOnly)+`","group_by":"department"}`)

	shot := func(ctx context.Context, name string) {
		t.Helper()
		run(t, ctx, "settle", chromedp.Sleep(400*time.Millisecond))
		png := evalShot(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
		p := filepath.Join(dir, name+".png")
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", p, len(png))
	}
	b := newBrowser(t, 1280, 900)
	ctx := b.ctx
	run(t, ctx, "load", chromedp.Navigate(admin+"/"), chromedp.WaitVisible(chromedp.CSS(`#signin-key`)))
	shot(ctx, "signin")
	signIn(t, ctx, admin, keyAlice)
	// One live request, so the live list is not empty.
	call(t, "POST", proxyURL+"/v1/chat/completions", map[string]string{"Authorization": "Bearer " + keyAlice}, `{"model":"gpt-4o","messages":[]}`)
	waitJS(t, ctx, "a live request", `document.querySelectorAll("#live-list li").length > 0`, `document.getElementById("live-list").textContent`)
	shot(ctx, "overview")
	for _, page := range []string{"usage", "insights", "logs", "errors", "alerts", "reports"} {
		goPage(t, ctx, page)
		shot(ctx, page)
	}
	goPage(t, ctx, "logs")
	run(t, ctx, "open a request", chromedp.Click(chromedp.CSS(`#logs-body tr[data-id] button[data-detail]`)))
	waitJS(t, ctx, "the drawer", `!!document.querySelector("#drawer[open] #detail-cost")`, `document.getElementById("drawer-body").textContent`)
	run(t, ctx, "settle", chromedp.Sleep(300*time.Millisecond))
	png := evalShot(t, ctx, "screenshot the drawer", chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(dir, "logs-detail.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}

	// The same overview with the system in dark mode.
	run(t, ctx, "close the drawer", chromedp.Click(chromedp.CSS(`#drawer-close`)))
	run(t, ctx, "dark mode", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		})
		return err
	}))
	goPage(t, ctx, "overview")
	shot(ctx, "overview-dark")

	phone := newBrowser(t, 390, 844)
	run(t, phone.ctx, "phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait))
	signIn(t, phone.ctx, admin, keyAlice)
	shot(phone.ctx, "overview-phone")
	b.checkClean(t)
	phone.checkClean(t)
}
