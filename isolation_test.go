package main

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/api"
	"github.com/infermeter/infermeter/authlimit"
	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// TestIsolationMatrix calls every API route as five identities: the org's
// admin, a member of the org, the admin of another org, no key and a revoked
// key; it checks the status and which members' rows are visible.
func TestIsolationMatrix(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	// The matrix sends dozens of revoked keys from one address: the
	// failed-authentication throttle (authlimit_test.go) is set out of reach.
	_, proxyURL, admin := startApp(t, cfg, appOptions{AuthLimit: authlimit.Options{Max: 1000}})

	do := func(method, path, key, body string) (int, gjson.Result) {
		t.Helper()
		h := map[string]string{"Content-Type": "application/json"}
		if key != "" {
			h["Authorization"] = "Bearer " + key
		}
		st, b, _ := call(t, method, admin+path, h, body)
		return st, gjson.ParseBytes(b)
	}
	// A revoked key: created through the API, then deleted.
	st, j := do("POST", "/api/organizations/acme/members", keyAlice, `{"id":"carl","email":"carl@acme.example","role":"member"}`)
	revoked := j.Get("api_key").String()
	if st != 201 || revoked == "" {
		t.Fatalf("create: %d %s", st, j.Raw)
	}
	if st, j := do("DELETE", "/api/organizations/acme/members/carl", keyAlice, ""); st != 200 {
		t.Fatalf("delete: %d %s", st, j.Raw)
	}

	// Traffic: one request each for alice, bob (plus a failed one) and eve.
	chat := `{"model":"gpt-4o-mini","messages":[]}`
	for _, r := range []struct{ key, status string }{{keyAlice, ""}, {keyBob, ""}, {keyBob, "429"}, {keyEve, ""}} {
		h := map[string]string{"Authorization": "Bearer " + r.key}
		if r.status != "" {
			h["X-Sim-Status"] = r.status
		}
		call(t, "POST", proxyURL+"/v1/chat/completions", h, chat)
	}
	var aliceLog string
	waitFor(t, "four request logs", func() bool {
		_, a := do("GET", "/api/account/request-logs", keyAlice, "")
		_, e := do("GET", "/api/account/request-logs", keyEve, "")
		for _, l := range a.Get("logs").Array() {
			if l.Get("user_id").String() == "alice" {
				aliceLog = l.Get("id").String()
			}
		}
		return len(a.Get("logs").Array()) == 3 && len(e.Get("logs").Array()) == 1
	})

	type who struct {
		name, key string
	}
	ids := []who{{"admin", keyAlice}, {"member", keyBob}, {"other-admin", keyEve}, {"no-key", ""}, {"revoked", revoked}}
	// users extracts the visible member ids of an answer ("" when the
	// route shows no per-member rows).
	type check func(j gjson.Result) string
	paths := func(p ...string) check {
		return func(j gjson.Result) string {
			seen := map[string]bool{}
			for _, path := range p {
				for _, v := range j.Get(path).Array() {
					seen[v.String()] = true
				}
			}
			out := make([]string, 0, len(seen))
			for k := range seen {
				out = append(out, k)
			}
			sort.Strings(out)
			return strings.Join(out, ",")
		}
	}
	field := func(p string) check { return func(j gjson.Result) string { return j.Get(p).String() } }
	type expect struct {
		status int
		rows   string // what check returns; "-" skips the check
	}
	cases := []struct {
		method, pattern, path, body string
		check                       check
		want                        [5]expect // admin, member, other admin, no key, revoked
	}{
		{"GET", "/api/organizations/{org}/usage", "/api/organizations/acme/usage?group_by=user", "", paths("usage.by_user.#.user_id"),
			[5]expect{{200, "alice,bob"}, {200, "bob"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/account/request-logs", "/api/account/request-logs", "", paths("logs.#.user_id"),
			[5]expect{{200, "alice,bob"}, {200, "bob"}, {200, "eve"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/account/request-logs/{id}/details", "/api/account/request-logs/ALICELOG/details", "", field("request.user_id"),
			[5]expect{{200, "alice"}, {404, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/account/cost-insights", "/api/account/cost-insights", "", field("insights.total_requests"),
			[5]expect{{200, "3"}, {200, "2"}, {200, "1"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/account/errors", "/api/account/errors", "", field("errors.total_errors"),
			[5]expect{{200, "1"}, {200, "1"}, {200, "0"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/organizations/{org}/members", "/api/organizations/acme/members", "", paths("members.#.id"),
			[5]expect{{200, "alice,bob"}, {403, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		{"POST", "/api/organizations/{org}/members", "/api/organizations/acme/members", `{"email":"x@acme.example"}`, field("member.role"),
			[5]expect{{201, "member"}, {403, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/organizations/{org}/members/{id}", "/api/organizations/acme/members/bob", "", field("member.id"),
			[5]expect{{200, "bob"}, {403, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		{"PATCH", "/api/organizations/{org}/members/{id}", "/api/organizations/acme/members/bob", `{"department":"platform"}`, field("member.department"),
			[5]expect{{200, "platform"}, {403, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		{"POST", "/api/organizations/{org}/members/{id}/rotate", "/api/organizations/acme/members/NEWMEMBER/rotate", "", field("member.id"),
			[5]expect{{200, "NEWMEMBER"}, {403, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		{"DELETE", "/api/organizations/{org}/members/{id}", "/api/organizations/acme/members/NEWMEMBER", "", field("success"),
			[5]expect{{200, "true"}, {403, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/organizations/{org}/export/usage", "/api/organizations/acme/export/usage?format=json", "", paths("rows.#.user_id"),
			[5]expect{{200, "alice,bob"}, {403, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/analytics/metrics", "/api/analytics/metrics", "", field("success"),
			[5]expect{{200, "true"}, {200, "true"}, {200, "true"}, {401, "-"}, {401, "-"}}},
		{"POST", "/api/analytics/query", "/api/analytics/query", `{"metrics":["requests"],"dimensions":["user"]}`, paths("rows.#.user"),
			[5]expect{{200, "alice,bob"}, {200, "bob"}, {200, "eve"}, {401, "-"}, {401, "-"}}},
		// Scheduled reports (admins only): without smtp creating one is a
		// 400 saying so; the lists are the org's (empty here); an unknown
		// schedule is a 404.
		{"POST", "/api/organizations/{org}/reports/schedule", "/api/organizations/acme/reports/schedule", `{"name":"d","frequency":"daily","time":"07:00","format":"csv","recipients":["a@acme.example"],"include":["errors"]}`, field("error.code"),
			[5]expect{{400, "smtp_not_configured"}, {403, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/organizations/{org}/reports/schedule", "/api/organizations/acme/reports/schedule", "", paths("schedules.#.id"),
			[5]expect{{200, ""}, {403, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		{"DELETE", "/api/organizations/{org}/reports/schedule/{id}", "/api/organizations/acme/reports/schedule/0123456789abcdef", "", field("success"),
			[5]expect{{404, "-"}, {403, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		{"POST", "/api/organizations/{org}/reports/schedule/{id}/run", "/api/organizations/acme/reports/schedule/0123456789abcdef/run", "", field("success"),
			[5]expect{{404, "-"}, {403, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/organizations/{org}/reports/history", "/api/organizations/acme/reports/history", "", paths("deliveries.#.schedule_id"),
			[5]expect{{200, ""}, {403, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		// Alerts: an admin's rule watches its org, a member's its own
		// traffic; each sees the rules it may (created by whom), and a rule
		// that does not exist (or is not visible) is a 404.
		{"POST", "/api/account/alerts", "/api/account/alerts", `{"name":"big day","type":"spending","condition":"daily_spend > 1000","action":"webhook","webhook_url":"http://127.0.0.1:9/hook"}`, paths("alert.org_id", "alert.created_by"),
			[5]expect{{201, "acme,alice"}, {201, "acme,bob"}, {201, "eve,globex"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/account/alerts", "/api/account/alerts", "", paths("alerts.#.created_by"),
			[5]expect{{200, "alice,bob"}, {200, "bob"}, {200, "eve"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/account/alerts/history", "/api/account/alerts/history?limit=10", "", paths("history.#.alert_id"),
			[5]expect{{200, ""}, {200, ""}, {200, ""}, {401, "-"}, {401, "-"}}},
		{"DELETE", "/api/account/alerts/{id}", "/api/account/alerts/al_0123456789abcdef", "", field("success"),
			[5]expect{{404, "-"}, {404, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
		// Invoices: each admin generates one for its own org; the list shows
		// only the caller's org; another org's (or no) invoice is a 404.
		{"POST", "/api/billing/invoices/generate", "/api/billing/invoices/generate", `{"period_start":"2025-01-01","period_end":"2025-01-31","group_by":"user"}`, field("invoice.org_id"),
			[5]expect{{201, "acme"}, {403, "-"}, {201, "globex"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/billing/invoices", "/api/billing/invoices", "", paths("invoices.#.org_id"),
			[5]expect{{200, "acme"}, {403, "-"}, {200, "globex"}, {401, "-"}, {401, "-"}}},
		{"GET", "/api/billing/invoices/{id}", "/api/billing/invoices/inv_0123456789abcdef0123", "", field("invoice.id"),
			[5]expect{{404, "-"}, {403, "-"}, {404, "-"}, {401, "-"}, {401, "-"}}},
	}

	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.method+" "+c.pattern] = true
		for i, id := range ids {
			path := strings.ReplaceAll(c.path, "ALICELOG", aliceLog)
			if strings.Contains(path, "NEWMEMBER") {
				// Each identity gets a fresh member to rotate or delete.
				st, j := do("POST", "/api/organizations/acme/members", keyAlice, `{"email":"tmp@acme.example"}`)
				if st != 201 {
					t.Fatalf("create a temporary member: %d %s", st, j.Raw)
				}
				path = strings.ReplaceAll(path, "NEWMEMBER", j.Get("member.id").String())
			}
			st, j := do(c.method, path, id.key, c.body)
			w := c.want[i]
			want := strings.ReplaceAll(w.rows, "NEWMEMBER", "")
			if st != w.status {
				t.Errorf("%s %s as %s: status %d, want %d: %s", c.method, c.path, id.name, st, w.status, j.Raw)
				continue
			}
			if st >= 400 && (j.Get("success").Bool() || j.Get("error.code").String() == "") {
				t.Errorf("%s %s as %s: a failure without the error envelope: %s", c.method, c.path, id.name, j.Raw)
			}
			if w.rows == "-" {
				continue
			}
			got := c.check(j)
			if strings.Contains(w.rows, "NEWMEMBER") {
				if !strings.HasPrefix(path, c.path[:strings.Index(c.path, "NEWMEMBER")]+got) {
					t.Errorf("%s %s as %s: %q", c.method, path, id.name, got)
				}
				continue
			}
			if got != want {
				t.Errorf("%s %s as %s: visible %q, want %q", c.method, c.path, id.name, got, want)
			}
		}
	}
	// The live feed, as the same identities.
	isolateFeed(t, admin, proxyURL, revoked)
	covered["GET /ws/analytics"] = true
	// The matrix covers every route the API serves, and the feed.
	for _, r := range append(api.Routes(), api.RouteInfo{Method: "GET", Pattern: "/ws/analytics"}) {
		if !covered[r.Method+" "+r.Pattern] {
			t.Errorf("the isolation matrix does not cover %s %s", r.Method, r.Pattern)
		}
	}
	// The revoked key is refused by the proxy too.
	st, _, _ = call(t, "POST", proxyURL+"/v1/chat/completions", map[string]string{"Authorization": "Bearer " + revoked}, chat)
	if st != http.StatusUnauthorized {
		t.Fatalf("revoked key on the proxy: %d", st)
	}
}

// isolateFeed checks /ws/analytics as the five identities: the org's admin
// receives the whole org, a member only its own events, another org's
// admin is refused the org (subscribe_error forbidden, close 1008) and
// receives only its own org, no key and a revoked key get 401 before the
// upgrade.
func isolateFeed(t *testing.T, admin, proxyURL, revoked string) {
	t.Helper()
	url := "ws" + strings.TrimPrefix(admin, "http") + "/ws/analytics"
	dial := func(key string) (*websocket.Conn, int) {
		t.Helper()
		h := http.Header{}
		if key != "" {
			h.Set("Authorization", "Bearer "+key)
		}
		c, resp, err := (&websocket.Dialer{HandshakeTimeout: 10 * time.Second}).Dial(url, h)
		if err != nil {
			if resp == nil {
				t.Fatalf("cannot dial the feed: %s", err)
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { _ = c.Close() })
		return c, resp.StatusCode
	}
	for _, k := range []struct{ name, key string }{{"no key", ""}, {"revoked", revoked}} {
		if _, st := dial(k.key); st != http.StatusUnauthorized {
			t.Errorf("feed as %s: status %d, want 401", k.name, st)
		}
	}
	// Another org's admin asking for acme.
	c, _ := dial(keyEve)
	if err := c.WriteJSON(map[string]any{"type": "subscribe", "org_id": "acme"}); err != nil {
		t.Fatal(err)
	}
	if j := feedNext(t, c); j.Get("type").String() != "subscribe_error" || j.Get("code").String() != "forbidden" {
		t.Errorf("feed: eve subscribing to acme: %s", j.Raw)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
		t.Errorf("feed: eve subscribing to acme: %v, want close 1008", err)
	}

	alice := feedClient(t, admin, keyAlice, false, "acme", "request")
	bob := feedClient(t, admin, keyBob, false, "acme", "request")
	eve := feedClient(t, admin, keyEve, false, "globex", "request")
	// Each connection delivers in order: alice, eve, bob, eve again.
	for _, k := range []string{keyAlice, keyEve, keyBob, keyEve} {
		st, b, _ := call(t, "POST", proxyURL+"/v1/chat/completions", map[string]string{"Authorization": "Bearer " + k}, `{"model":"gpt-4o-mini","messages":[]}`)
		if st != 200 {
			t.Fatalf("chat: %d %s", st, b)
		}
	}
	for _, w := range []struct {
		name string
		c    *websocket.Conn
		want []string
	}{
		{"admin", alice, []string{"acme/alice", "acme/bob"}},
		{"member", bob, []string{"acme/bob"}},
		{"other-admin", eve, []string{"globex/eve", "globex/eve"}},
	} {
		for i, want := range w.want {
			j := feedEvent(t, w.c)
			if got := j.Get("org_id").String() + "/" + j.Get("user_id").String(); got != want {
				t.Errorf("feed as %s: event %d is %s, want %s", w.name, i, got, want)
			}
		}
	}
}
