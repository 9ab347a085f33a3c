package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// feedClient dials the admin listener's live feed with key (in the header,
// or as ?token= when query is true) and subscribes to events of org.
func feedClient(t testing.TB, admin, key string, query bool, org string, events ...string) *websocket.Conn {
	t.Helper()
	url := "ws" + strings.TrimPrefix(admin, "http") + "/ws/analytics"
	hdr := http.Header{}
	if query {
		url += "?token=" + key
	} else {
		hdr.Set("Authorization", "Bearer "+key)
	}
	c, resp, err := (&websocket.Dialer{HandshakeTimeout: 10 * time.Second}).Dial(url, hdr)
	if err != nil {
		t.Fatalf("cannot dial the feed: %s (%v)", err, resp)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.WriteJSON(map[string]any{"type": "subscribe", "org_id": org, "events": events}); err != nil {
		t.Fatal(err)
	}
	if ack := feedNext(t, c); ack.Get("type").String() != "subscribed" {
		t.Fatalf("ack %s", ack.Raw)
	}
	return c
}

// feedNext reads one message; 10s is a liveness bound.
func feedNext(t testing.TB, c *websocket.Conn) gjson.Result {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("cannot read the feed: %s", err)
	}
	return gjson.ParseBytes(b)
}

// feedEvent reads the next message that is not a cost_update.
func feedEvent(t testing.TB, c *websocket.Conn) gjson.Result {
	t.Helper()
	for {
		if j := feedNext(t, c); j.Get("type").String() != "cost_update" {
			return j
		}
	}
}

// TestLiveFeed drives traffic through the proxy and checks what an
// admin's feed shows, to the nano-dollar, and that another org's feed
// shows none of it.
func TestLiveFeed(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	// bob: 0.00105 USD, five gpt-4o-mini requests of 0.00021: the fourth
	// reaches 80%, the fifth 100%.
	cfg.Orgs[0].Members[1].MonthlyLimitUSD = 0.00105
	clock := &testClock{}
	clock.Set(time.Date(2026, 11, 2, 10, 30, 0, 0, berlin))
	_, proxyURL, admin := startApp(t, cfg, appOptions{Now: clock.Now, FeedCostInterval: 20 * time.Millisecond})

	alice := feedClient(t, admin, keyAlice, false, "acme", "request", "error", "cost_update", "limit_warning")
	eve := feedClient(t, admin, keyEve, true, "globex", "request", "error", "limit_warning")
	// The first cost_update comes with the subscription: nothing yet.
	if j := feedNext(t, alice); j.Raw != `{"type":"cost_update","org_id":"acme","scope":"org","user_id":"",`+
		`"today":{"cost_usd":0,"requests":0},"month":{"cost_usd":0,"requests":0},"timestamp":"2026-11-02T09:30:00Z"}` {
		t.Fatalf("first cost_update %s", j.Raw)
	}

	chat := func(hdr map[string]string, extra map[string]string) {
		t.Helper()
		h := map[string]string{"X-Sim-Input-Tokens": "1000", "X-Sim-Output-Tokens": "100"}
		for k, v := range hdr {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		want := 200
		if s, ok := extra["X-Sim-Status"]; ok {
			want, _ = strconv.Atoi(s)
		}
		st, b, _ := call(t, "POST", proxyURL+"/v1/chat/completions", h, `{"model":"gpt-4o-mini","max_tokens":100,"messages":[]}`)
		if st != want {
			t.Fatalf("%d %s", st, b)
		}
	}
	asAlice := map[string]string{"Authorization": "Bearer " + keyAlice}
	asBob := map[string]string{"Authorization": "Bearer " + keyBob}
	expect := func(c *websocket.Conn, fields ...string) gjson.Result {
		t.Helper()
		j := feedEvent(t, c)
		for i := 0; i < len(fields); i += 2 {
			if got := j.Get(fields[i]).Raw; got != fields[i+1] {
				t.Fatalf("%s: %s, want %s in %s", fields[i], got, fields[i+1], j.Raw)
			}
		}
		return j
	}

	// gpt-4o-mini 1000 in + 100 out: 1000×150 + 100×600 = 210000 nano.
	chat(asAlice, nil)
	expect(alice, "type", `"request"`, "org_id", `"acme"`, "user_id", `"alice"`, "model", `"openai/gpt-4o-mini"`,
		"input_tokens", "1000", "output_tokens", "100", "cost_usd", "0.00021", "priced", "true",
		"stream", "false", "status", `"success"`, "http_status", "200", "timestamp", `"2026-11-02T09:30:00Z"`)

	chat(asAlice, map[string]string{"X-Sim-Status": "429"})
	ev := expect(alice, "type", `"error"`, "user_id", `"alice"`, "model", `"openai/gpt-4o-mini"`,
		"error_type", `"rate_limit"`, "status", `"error"`, "http_status", "429", "cost_usd", "0")
	// The message is the request log's.
	waitFor(t, "the error logged", func() bool {
		_, j := adminGet(t, admin, keyAlice, "/api/account/request-logs?status=error")
		return len(j.Get("logs").Array()) == 1
	})
	_, logs := adminGet(t, admin, keyAlice, "/api/account/request-logs?status=error")
	if got, want := ev.Get("message").String(), logs.Get("logs.0.error_message").String(); got != want || got == "" {
		t.Fatalf("message %q, the log's %q", got, want)
	}
	if got, want := ev.Get("id").String(), logs.Get("logs.0.id").String(); got != want {
		t.Fatalf("id %s, the log's %s", got, want)
	}

	for i := 1; i <= 5; i++ {
		chat(asBob, nil)
		expect(alice, "type", `"request"`, "user_id", `"bob"`, "cost_usd", "0.00021")
		switch i {
		case 4:
			expect(alice, "type", `"limit_warning"`, "scope", `"member"`, "user_id", `"bob"`,
				"threshold_pct", "80", "spend_usd", "0.00084", "limit_usd", "0.00105")
		case 5:
			expect(alice, "type", `"limit_warning"`, "scope", `"member"`, "user_id", `"bob"`,
				"threshold_pct", "100", "spend_usd", "0.00105", "limit_usd", "0.00105")
		}
	}

	// cost_update: 7 requests today and this month, 6 of them priced at
	// 0.00021.
	for {
		j := feedNext(t, alice)
		if j.Get("type").String() != "cost_update" {
			t.Fatalf("unexpected %s", j.Raw)
		}
		if j.Get("today.requests").Int() != 7 {
			continue
		}
		if j.Raw != `{"type":"cost_update","org_id":"acme","scope":"org","user_id":"",`+
			`"today":{"cost_usd":0.00126,"requests":7},"month":{"cost_usd":0.00126,"requests":7},"timestamp":"2026-11-02T09:30:00Z"}` {
			t.Fatalf("cost_update %s", j.Raw)
		}
		break
	}

	// Globex's admin saw none of it: its first event is its own request,
	// sent after all of acme's.
	chat(map[string]string{"Authorization": "Bearer " + keyEve}, nil)
	expect(eve, "type", `"request"`, "org_id", `"globex"`, "user_id", `"eve"`)
	// And acme's admin does not see globex's.
	chat(asAlice, nil)
	expect(alice, "type", `"request"`, "user_id", `"alice"`)
}

// TestLiveFeedAfterRestart: limit warnings follow the stored spend. bob
// passes 80% of his limit, the process restarts on the same data, and his
// next request brings only the 100% warning, at the exact month-to-date
// spend.
func TestLiveFeedAfterRestart(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	cfg.Orgs[0].Members[1].MonthlyLimitUSD = 0.00105
	clock := &testClock{}
	clock.Set(time.Date(2026, 11, 2, 10, 30, 0, 0, berlin))
	h := map[string]string{"Authorization": "Bearer " + keyBob, "X-Sim-Input-Tokens": "1000", "X-Sim-Output-Tokens": "100"}
	body := `{"model":"gpt-4o-mini","max_tokens":100,"messages":[]}`

	first, proxyURL, admin := startApp(t, cfg, appOptions{Now: clock.Now})
	alice := feedClient(t, admin, keyAlice, false, "acme", "limit_warning")
	for range 4 {
		if st, b, _ := call(t, "POST", proxyURL+"/v1/chat/completions", h, body); st != 200 {
			t.Fatalf("%d %s", st, b)
		}
	}
	if j := feedEvent(t, alice); j.Get("threshold_pct").Int() != 80 || j.Get("spend_usd").Raw != "0.00084" {
		t.Fatalf("before the restart: %s", j.Raw)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	_, proxyURL, admin = startApp(t, cfg, appOptions{Now: clock.Now})
	alice = feedClient(t, admin, keyAlice, false, "acme", "request", "limit_warning")
	if st, b, _ := call(t, "POST", proxyURL+"/v1/chat/completions", h, body); st != 200 {
		t.Fatalf("%d %s", st, b)
	}
	if j := feedEvent(t, alice); j.Get("type").String() != "request" {
		t.Fatalf("after the restart: %s", j.Raw)
	}
	want := `{"type":"limit_warning","org_id":"acme","scope":"member","user_id":"bob","threshold_pct":100,` +
		`"spend_usd":0.00105,"limit_usd":0.00105,"timestamp":"2026-11-02T09:30:00Z"}`
	if j := feedEvent(t, alice); j.Raw != want {
		t.Fatalf("after the restart\n got %s\nwant %s", j.Raw, want)
	}
}

// BenchmarkProxyFeed measures proxied requests (sequential, loopback,
// simulated provider) without a feed client, with one that reads, and with
// one that never reads: the proxy's throughput does not depend on the feed.
func BenchmarkProxyFeed(b *testing.B) {
	for _, mode := range []string{"no_client", "reading_client", "stuck_client"} {
		b.Run(mode, func(b *testing.B) {
			_, base := startSim(b, sim.Options{})
			cfg := testConfig(b, base, b.TempDir(), "")
			_, proxyURL, admin := startApp(b, cfg, appOptions{Logf: func(string, ...any) {}})
			switch mode {
			case "reading_client":
				c := feedClient(b, admin, keyAlice, false, "acme", "request")
				go func() {
					for {
						if _, _, err := c.ReadMessage(); err != nil {
							return
						}
					}
				}()
			case "stuck_client":
				feedClient(b, admin, keyAlice, false, "acme", "request")
			}
			h := map[string]string{"Authorization": "Bearer " + keyBob}
			body := `{"model":"gpt-4o-mini","messages":[]}`
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if st, out, _ := call(b, "POST", proxyURL+"/v1/chat/completions", h, body); st != 200 {
					b.Fatalf("%d %s", st, out)
				}
			}
			b.StopTimer()
			_, m, _ := call(b, "GET", admin+"/metrics", nil, "")
			for _, line := range strings.Split(string(m), "\n") {
				if v, ok := strings.CutPrefix(line, "infermeter_feed_dropped_subscribers_total "); ok {
					n, _ := strconv.ParseFloat(v, 64)
					b.ReportMetric(n, "dropped")
				}
			}
		})
	}
}
