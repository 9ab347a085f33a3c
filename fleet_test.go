package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/config"
	"github.com/infermeter/infermeter/examples/simulator/sim"
	"github.com/infermeter/infermeter/fleet/natstest"
)

// fleetYAML is the fleet section of an instance's config.
func fleetYAML(url, role, instance string) string {
	return fmt.Sprintf("fleet: {nats_url: %q, role: %s, instance_id: %q, stream: fleettest}\n", url, role, instance)
}

// fleetApp is one in-process instance of a fleet.
type fleetApp struct {
	a            *app
	proxy, admin string
}

func startFleetApp(t *testing.T, base, url, role, instance string) fleetApp {
	t.Helper()
	cfg := testConfig(t, base, t.TempDir(), fleetYAML(url, role, instance))
	a, proxy, admin := startApp(t, cfg, appOptions{})
	return fleetApp{a: a, proxy: proxy, admin: admin}
}

// cellTotals sums the meter's cells of an app: requests and cost in
// nano-dollars, overall and per "user|model".
func cellTotals(a *app) (req, cost int64, by map[string][2]int64) {
	by = map[string][2]int64{}
	for k, c := range a.meter.Cells() {
		req += c.Requests
		cost += c.CostNano
		key := k.Org + "|" + k.User + "|" + k.Model
		v := by[key]
		v[0] += c.Requests
		v[1] += c.CostNano
		by[key] = v
	}
	return req, cost, by
}

// usageRows returns the rows of the usage route grouped by group (user or
// model) as key → [requests, input tokens, output tokens, cost in nano-dollars].
func usageRows(t *testing.T, admin, key, group string) map[string][4]int64 {
	t.Helper()
	st, r := adminGet(t, admin, key, "/api/organizations/acme/usage?range=30d&group_by="+group)
	if st != 200 {
		t.Fatalf("usage by %s: status %d: %s", group, st, r.Raw)
	}
	out := map[string][4]int64{}
	field := map[string]string{"user": "user_id", "model": "model"}[group]
	r.Get("usage.by_" + group).ForEach(func(_, row gjson.Result) bool {
		out[row.Get(field).String()] = [4]int64{
			row.Get("requests").Int(), row.Get("input_tokens").Int(), row.Get("output_tokens").Int(),
			nanoOf(t, row.Get("cost_usd")),
		}
		return true
	})
	return out
}

// sendSpread sends n requests round-robin over the sidecars, members and
// models, from a few goroutines; it returns how many got a 200.
func sendSpread(t *testing.T, sidecars []fleetApp, n int) int {
	t.Helper()
	keys := []string{keyAlice, keyBob}
	bodies := []struct{ path, auth, body string }{
		{"/v1/chat/completions", "Authorization", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/chat/completions", "Authorization", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"/v1/messages", "x-api-key", `{"model":"claude-3-5-sonnet-20241022","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`},
	}
	client := budgetClient(t)
	var ok sync.WaitGroup
	var mu sync.Mutex
	good := 0
	jobs := make(chan int)
	for w := 0; w < 6; w++ {
		ok.Add(1)
		go func() {
			defer ok.Done()
			for i := range jobs {
				s := sidecars[i%len(sidecars)]
				b := bodies[i%len(bodies)]
				h := map[string]string{"X-Sim-Chunks": "2"}
				if b.auth == "Authorization" {
					h[b.auth] = "Bearer " + keys[(i/3)%2]
				} else {
					h[b.auth] = keys[(i/3)%2]
				}
				st, _, _, err := post(client, s.proxy+b.path, h, b.body)
				if err == nil && st == 200 {
					mu.Lock()
					good++
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		jobs <- i
	}
	close(jobs)
	ok.Wait()
	return good
}

// waitFleet polls cond every 50ms for up to d (a liveness bound on a shared,
// loaded machine, not a timing assertion).
func waitFleet(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gave up after %s waiting for %s", d, what)
}

// TestFleetAggregatorEqualsSumOfSidecars spreads traffic over three
// sidecars; the aggregator's usage equals their sum exactly.
func TestFleetAggregatorEqualsSumOfSidecars(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nats-server")
	}
	nats := natstest.Start(t)
	_, base := startSim(t, sim.Options{})
	agg := startFleetApp(t, base, nats.URL, "aggregator", "agg-1")
	var sidecars []fleetApp
	for i := 1; i <= 3; i++ {
		sidecars = append(sidecars, startFleetApp(t, base, nats.URL, "sidecar", fmt.Sprintf("sidecar-%d", i)))
	}
	const n = 150
	if good := sendSpread(t, sidecars, n); good != n {
		t.Fatalf("%d of %d requests succeeded", good, n)
	}
	sum := func() (int64, int64, map[string][2]int64) {
		var req, cost int64
		by := map[string][2]int64{}
		for _, s := range sidecars {
			r, c, b := cellTotals(s.a)
			req, cost = req+r, cost+c
			for k, v := range b {
				w := by[k]
				by[k] = [2]int64{w[0] + v[0], w[1] + v[1]}
			}
		}
		return req, cost, by
	}
	waitFleet(t, 30*time.Second, "the aggregator to count every request", func() bool {
		r, _, _ := cellTotals(agg.a)
		return r >= n
	})
	time.Sleep(300 * time.Millisecond) // anything counted twice would show now
	wantReq, wantCost, wantBy := sum()
	gotReq, gotCost, gotBy := cellTotals(agg.a)
	if wantReq != n || gotReq != wantReq || gotCost != wantCost {
		t.Fatalf("aggregator: %d requests, %d nano-dollars; sidecars: %d requests, %d nano-dollars (sent %d)", gotReq, gotCost, wantReq, wantCost, n)
	}
	for k, v := range wantBy {
		if gotBy[k] != v {
			t.Errorf("%s: aggregator %v, sidecars %v", k, gotBy[k], v)
		}
	}
	for _, s := range sidecars {
		if r, _, _ := cellTotals(s.a); r == 0 {
			t.Errorf("sidecar at %s metered nothing: traffic was not spread", s.proxy)
		}
	}
	// The usage route, per member and per model: the aggregator's rows are
	// the sums of the sidecars' rows.
	for _, group := range []string{"user", "model"} {
		want := map[string][4]int64{}
		for _, s := range sidecars {
			for k, v := range usageRows(t, s.admin, keyAlice, group) {
				w := want[k]
				for i := range w {
					w[i] += v[i]
				}
				want[k] = w
			}
		}
		got := usageRows(t, agg.admin, keyAlice, group)
		if len(got) != len(want) || len(got) < 2 {
			t.Fatalf("usage by %s: aggregator %v, sidecars %v", group, got, want)
		}
		for k, w := range want {
			g := got[k]
			// Requests, tokens and cost (exact nano-dollars) equal.
			if g != w {
				t.Errorf("usage by %s, %s: aggregator %v, sidecars %v", group, k, g, w)
			}
		}
	}
	// Request logs name their origin: the sidecar's log and the request's
	// id there, where the same request is found.
	st, r := adminGet(t, agg.admin, keyAlice, "/api/account/request-logs?limit=1")
	if st != 200 || len(r.Get("logs").Array()) != 1 {
		t.Fatalf("aggregator request logs: %d %s", st, r.Raw)
	}
	l := r.Get("logs.0")
	origin, originID := l.Get("origin").String(), l.Get("origin_id").String()
	instance, _, _ := strings.Cut(origin, "/")
	var from *fleetApp
	for i := range sidecars {
		if instance == fmt.Sprintf("sidecar-%d", i+1) {
			from = &sidecars[i]
		}
	}
	if from == nil || originID == "" {
		t.Fatalf("aggregator log without a sidecar origin: %s", l.Raw)
	}
	st, d := adminGet(t, from.admin, keyAlice, "/api/account/request-logs/"+originID+"/details")
	if st != 200 || d.Get("request.cost_usd").Raw != l.Get("cost_usd").Raw || d.Get("request.model").String() != l.Get("model").String() ||
		d.Get("request.timestamp").String() != l.Get("timestamp").String() {
		t.Fatalf("the origin's log %s of %s: %d %s\nthe aggregator's: %s", originID, instance, st, d.Raw, l.Raw)
	}
	if d.Get("request.origin").Exists() {
		t.Errorf("a sidecar's own log names an origin: %s", d.Raw)
	}
}

// TestFleetNATSOutage stops NATS for 10 s under load, then restarts it on
// the same port and store: the aggregator counts every request once.
func TestFleetNATSOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nats-server")
	}
	nats := natstest.Start(t)
	_, base := startSim(t, sim.Options{Gap: time.Millisecond, Latency: 2 * time.Millisecond})
	agg := startFleetApp(t, base, nats.URL, "aggregator", "agg-1")
	var sidecars []fleetApp
	for i := 1; i <= 3; i++ {
		sidecars = append(sidecars, startFleetApp(t, base, nats.URL, "sidecar", fmt.Sprintf("sidecar-%d", i)))
	}
	stop := make(chan struct{})
	var waits []func() []time.Time
	for _, s := range sidecars {
		waits = append(waits, load(strings.TrimPrefix(s.proxy, "http://"), 2, stop))
	}
	time.Sleep(time.Second)
	nats.Stop()
	stoppedAt := time.Now()
	time.Sleep(10 * time.Second)
	nats.Restart()
	t.Logf("NATS was down for %s", time.Since(stoppedAt).Round(time.Millisecond))
	time.Sleep(time.Second)
	close(stop)
	answered := 0
	for _, w := range waits {
		answered += len(w())
	}
	var want int64
	waitFleet(t, 30*time.Second, "the sidecars to meter every answered request", func() bool {
		want = 0
		for _, s := range sidecars {
			r, _, _ := cellTotals(s.a)
			want += r
		}
		return want >= int64(answered) && answered > 0
	})
	waitFleet(t, 60*time.Second, fmt.Sprintf("the aggregator to count %d requests", want), func() bool {
		r, _, _ := cellTotals(agg.a)
		return r >= want
	})
	time.Sleep(500 * time.Millisecond)
	got, gotCost, _ := cellTotals(agg.a)
	var wantCost int64
	for _, s := range sidecars {
		_, c, _ := cellTotals(s.a)
		wantCost += c
	}
	t.Logf("answered %d, metered by the sidecars %d, counted by the aggregator %d", answered, want, got)
	if got != want || gotCost != wantCost {
		t.Fatalf("the aggregator counts %d requests (%d nano-dollars), the sidecars %d (%d)", got, gotCost, want, wantCost)
	}
	if n := agg.a.store.LogCount(); int64(n) != want {
		t.Fatalf("the aggregator stores %d request logs, want %d", n, want)
	}
}

// startFleetChild runs the binary as a sidecar of the fleet.
func startFleetChild(t *testing.T, base, dataDir, url, instance string) *child {
	t.Helper()
	bin := buildBinary(t)
	c := &child{proxy: freeAddr(t), admin: freeAddr(t), log: &bytes.Buffer{}}
	extra := fmt.Sprintf("proxy_listen: %q\nadmin_listen: %q\nflush_interval: \"200ms\"\n", c.proxy, c.admin) + fleetYAML(url, "sidecar", instance)
	path := filepath.Join(t.TempDir(), "child.yaml")
	if err := os.WriteFile(path, []byte(childConfig(base, dataDir)+extra), 0o600); err != nil {
		t.Fatal(err)
	}
	c.cmd = exec.Command(bin, "-config", path)
	c.cmd.Env = append(os.Environ(), "OK="+keyOpenAI, "AK="+keyAnthropic, "GK="+keyGemini)
	c.cmd.Stdout = &lockedWriter{c: c}
	c.cmd.Stderr = &lockedWriter{c: c}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			_ = c.cmd.Wait()
		}
	})
	waitFleet(t, 30*time.Second, "the sidecar binary to be ready", func() bool {
		resp, err := http.Get("http://" + c.admin + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return c
}

// TestFleetSidecarSIGKILL kills a sidecar binary under load and restarts
// it on its data_dir: every event it stored is counted once by the
// aggregator.
func TestFleetSidecarSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nats-server and the binary")
	}
	nats := natstest.Start(t)
	_, base := startSim(t, sim.Options{Gap: time.Millisecond})
	agg := startFleetApp(t, base, nats.URL, "aggregator", "agg-1")
	dataDir := t.TempDir()
	for round, after := range []time.Duration{1500 * time.Millisecond, 900 * time.Millisecond} {
		c := startFleetChild(t, base, dataDir, nats.URL, "sidecar-k")
		stop := make(chan struct{})
		wait := load(c.proxy, 6, stop)
		time.Sleep(after)
		if err := c.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = c.cmd.Wait()
		close(stop)
		t.Logf("round %d: %d requests answered before the kill", round, len(wait()))
	}
	// A last run publishes what the killed one had stored and not
	// published; SIGTERM then stores everything.
	c := startFleetChild(t, base, dataDir, nats.URL, "sidecar-k")
	if st, _, _ := call(t, "POST", "http://"+c.proxy+"/v1/chat/completions", map[string]string{"Authorization": "Bearer " + keyAlice},
		`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`); st != 200 {
		t.Fatalf("request after the restart: %d", st)
	}
	waitFleet(t, 60*time.Second, "the restarted sidecar to publish its backlog", func() bool {
		return metricValue(t, c.admin, "infermeter_fleet_published_events_total") > 0
	})
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("the sidecar did not exit cleanly: %s\n%s", err, c.output())
	}
	stored := storedRequests(t, dataDir)
	// The events of the last flush at SIGTERM were published on the way out.
	waitFleet(t, 60*time.Second, fmt.Sprintf("the aggregator to count the %d stored requests", stored), func() bool {
		r, _, _ := cellTotals(agg.a)
		return r >= stored
	})
	time.Sleep(500 * time.Millisecond)
	if got, _, _ := cellTotals(agg.a); got != stored {
		t.Fatalf("the aggregator counts %d requests; the sidecar stored %d\n%s", got, stored, c.output())
	}
	t.Logf("the sidecar stored %d requests over two SIGKILLs; the aggregator counts %d", stored, stored)
}

// metricValue reads one unlabelled metric of an instance's /metrics.
func metricValue(t *testing.T, admin, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	for _, line := range strings.Split(buf.String(), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// TestFleetBudget sends concurrent requests on three sidecars against a
// member limit of ten requests' cost. Each sidecar alone would admit ten
// (thirty in all); fleet budgets keep the fleet's spend within the limit
// plus the documented bound: (N−1) × (what one sidecar has in flight plus
// what it settles within one sync lag), here (3−1) × (2 + 2) requests,
// since each sidecar runs 2 requests at a time and a request (3 s) outlasts
// the sync lag (500 ms and a watch delivery).
func TestFleetBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nats-server")
	}
	const (
		n        = 3 // sidecars
		k        = 2 // requests in flight per sidecar
		perSlot  = 12
		limit    = 10 * estChat
		boundReq = (n - 1) * (k + k)
	)
	nats := natstest.Start(t)
	_, base := startSim(t, sim.Options{Latency: 3 * time.Second})
	var sidecars []fleetApp
	for i := 1; i <= n; i++ {
		y := fmt.Sprintf(`
proxy_listen: "127.0.0.1:0"
admin_listen: "127.0.0.1:0"
data_dir: %q
flush_interval: "50ms"
shutdown_timeout: "10s"
upstreams:
  - {name: openai, dialect: openai, base_url: %q, api_key: "sk-up"}
orgs:
  - id: acme
    members:
      - {id: alice, role: admin, api_key: %q, monthly_limit_usd: %g}
%s`, t.TempDir(), base, keyAlice, float64(limit)/1e9, fleetYAML(nats.URL, "sidecar", fmt.Sprintf("sidecar-%d", i)))
		path := filepath.Join(t.TempDir(), "infermeter.yaml")
		if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		a, proxy, admin := startApp(t, cfg, appOptions{})
		sidecars = append(sidecars, fleetApp{a: a, proxy: proxy, admin: admin})
	}
	client := budgetClient(t)
	body := budgetChat(t)
	h := simTokens(keyAlice, "100", "100")
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for _, s := range sidecars {
		for range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range perSlot {
					st, _, _, err := post(client, s.proxy+"/v1/chat/completions", h, body)
					mu.Lock()
					codes[st]++
					mu.Unlock()
					if err != nil || st != 200 {
						time.Sleep(100 * time.Millisecond)
					}
				}
			}()
		}
	}
	wg.Wait()
	var spent int64
	for _, s := range sidecars {
		waitFleet(t, 10*time.Second, "the sidecar to settle", func() bool {
			m, _ := s.a.budget.Reserved("acme", "alice", time.Now())
			return m == 0
		})
		m, _ := s.a.budget.Spent("acme", "alice", time.Now())
		spent += m
	}
	t.Logf("statuses %v; fleet spend %d nano-dollars = %d requests; limit %d requests, bound +%d", codes, spent, spent/estChat, limit/estChat, boundReq)
	if codes[200] == 0 || codes[429] == 0 {
		t.Fatalf("want both admitted and refused requests, got %v", codes)
	}
	if spent > limit+boundReq*estChat {
		t.Fatalf("the fleet spent %d nano-dollars, more than the limit %d plus the bound %d", spent, limit, boundReq*estChat)
	}
	if int64(codes[200])*estChat != spent {
		t.Fatalf("%d requests answered, %d nano-dollars spent", codes[200], spent)
	}
}

// TestFleetBothRestartSeedsOwnSpend restarts a `both` instance whose store
// holds another sidecar's events: its budget ledger starts from its own
// month spend (kept in its store), not from its cells, which would count the
// sidecar's spend a second time besides the spend bucket.
func TestFleetBothRestartSeedsOwnSpend(t *testing.T) {
	if testing.Short() {
		t.Skip("runs nats-server")
	}
	nats := natstest.Start(t)
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), fleetYAML(nats.URL, "both", "both-1"))
	a, proxy, admin := startApp(t, cfg, appOptions{})
	both := fleetApp{a: a, proxy: proxy, admin: admin}
	side := startFleetApp(t, base, nats.URL, "sidecar", "sidecar-1")
	if good := sendSpread(t, []fleetApp{both}, 12); good != 12 {
		t.Fatalf("%d of 12 requests through the both instance succeeded", good)
	}
	if good := sendSpread(t, []fleetApp{side}, 18); good != 18 {
		t.Fatalf("%d of 18 requests through the sidecar succeeded", good)
	}
	waitFleet(t, 30*time.Second, "the both instance to store the sidecar's events", func() bool {
		r, _, _ := cellTotals(both.a)
		return r == 30
	})
	now := time.Now()
	aliceOwn, orgOwn := both.a.budget.Spent("acme", "alice", now)
	bobOwn, _ := both.a.budget.Spent("acme", "bob", now)
	_, cellCost, _ := cellTotals(both.a)
	if aliceOwn == 0 || bobOwn == 0 || orgOwn != aliceOwn+bobOwn || cellCost <= orgOwn {
		t.Fatalf("before the restart: alice %d, bob %d, org %d nano-dollars of own spend; cells %d", aliceOwn, bobOwn, orgOwn, cellCost)
	}
	// The own spend is stored with the next flush.
	time.Sleep(300 * time.Millisecond)
	if err := both.a.Close(); err != nil {
		t.Fatal(err)
	}
	a2, _, _ := startApp(t, cfg, appOptions{})
	alice, org := a2.budget.Spent("acme", "alice", time.Now())
	bob, _ := a2.budget.Spent("acme", "bob", time.Now())
	if alice != aliceOwn || bob != bobOwn || org != orgOwn {
		t.Fatalf("after the restart the ledger counts alice %d, bob %d, org %d nano-dollars; its own spend was %d, %d, %d (cells: %d)",
			alice, bob, org, aliceOwn, bobOwn, orgOwn, cellCost)
	}
}
