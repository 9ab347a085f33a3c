package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// clientFrom returns an HTTP client whose connections leave from the
// loopback address ip (127.0.0.0/8 is all local on Linux), so one test
// plays several client addresses.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// TestAuthFailureThrottle: on each surface that takes a key (the proxy in
// the three dialects, the admin API, the live feed), an address that sent
// 10 unknown keys within a minute gets 429 for every request, good keys
// included, until the minute from its first failure is over; requests
// without a key are not failures; other addresses are not affected; the
// proxy answers in the provider's shape, the admin API and the feed in
// the API's, with Retry-After.
func TestAuthFailureThrottle(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	clock := &testClock{}
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	clock.Set(t0)
	_, proxyURL, admin := startApp(t, cfg, appOptions{Now: clock.Now})

	post := func(path, header, prefix, body string) func(c *http.Client, key string) (int, string, http.Header) {
		return func(c *http.Client, key string) (int, string, http.Header) {
			h := map[string]string{}
			if key != "" {
				h[header] = prefix + key
			}
			return do(t, c, "POST", proxyURL+path, h, body)
		}
	}
	msg := func(secs int) string {
		return fmt.Sprintf("too many failed authentications from this address: retry in %d s", secs)
	}
	surfaces := []struct {
		name string
		do   func(c *http.Client, key string) (int, string, http.Header)
		ok   int
		// throttled is the body of a 429 with Retry-After secs.
		throttled func(secs int) string
	}{
		{"proxy openai", post("/v1/chat/completions", "Authorization", "Bearer ", `{"model":"gpt-4o-mini","messages":[]}`), 200,
			func(s int) string {
				return `{"error":{"message":"` + msg(s) + `","type":"rate_limit_error","param":null,"code":"rate_limit"}}`
			}},
		{"proxy anthropic", post("/v1/messages", "X-Api-Key", "", `{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}`), 200,
			func(s int) string {
				return `{"type":"error","error":{"type":"rate_limit_error","message":"` + msg(s) + `"}}`
			}},
		{"proxy gemini", post("/v1beta/models/gemini-2.5-flash:generateContent", "X-Goog-Api-Key", "", `{"contents":[]}`), 200,
			func(s int) string {
				return `{"error":{"code":429,"message":"` + msg(s) + `","status":"RESOURCE_EXHAUSTED"}}`
			}},
		{"admin API", func(c *http.Client, key string) (int, string, http.Header) {
			h := map[string]string{}
			if key != "" {
				h["Authorization"] = "Bearer " + key
			}
			return do(t, c, "GET", admin+"/api/account/request-logs?limit=1", h, "")
		}, 200, func(s int) string {
			return `{"success":false,"error":{"code":"rate_limited","message":"` + msg(s) + `"}}`
		}},
		{"live feed", func(c *http.Client, key string) (int, string, http.Header) {
			return dialFeedFrom(t, c, admin, key)
		}, 101, func(s int) string {
			return `{"success":false,"error":{"code":"rate_limited","message":"` + msg(s) + `"}}`
		}},
	}
	for i, s := range surfaces {
		t.Run(s.name, func(t *testing.T) {
			start := t0.Add(time.Duration(i) * time.Hour)
			clock.Set(start)
			c := clientFrom(t, fmt.Sprintf("127.0.0.%d", 10+i))
			expect := func(key string, status int, body, retryAfter string) {
				t.Helper()
				st, b, h := s.do(c, key)
				if st != status || (body != "" && b != body) || h.Get("Retry-After") != retryAfter {
					t.Fatalf("key %q at +%s: %d %s (Retry-After %q), want %d %s (Retry-After %q)",
						key, clock.Now().Sub(start), st, b, h.Get("Retry-After"), status, body, retryAfter)
				}
			}
			// Requests without a key are not failures.
			for range 15 {
				expect("", 401, "", "")
			}
			// Ten unknown keys within the minute: 401 each.
			for n := range 10 {
				clock.Set(start.Add(time.Duration(n) * time.Second))
				expect(fmt.Sprintf("im-guess-%d", n), 401, "", "")
			}
			// From then on every request of the address is refused, a good
			// key's too (a 200 among 429s would tell a guess right), until
			// the minute from the first failure is over.
			expect("im-guess-10", 429, s.throttled(51), "51")
			expect(keyAlice, 429, s.throttled(51), "51")
			expect("", 429, s.throttled(51), "51")
			clock.Set(start.Add(59*time.Second + time.Millisecond))
			expect(keyAlice, 429, s.throttled(1), "1")
			// Another address is not affected.
			other := clientFrom(t, fmt.Sprintf("127.0.0.%d", 100+i))
			if st, b, _ := s.do(other, keyAlice); st != s.ok {
				t.Fatalf("another address with a good key: %d %s", st, b)
			}
			clock.Set(start.Add(time.Minute))
			expect(keyAlice, s.ok, "", "")
			// A new window: nine more failures are not enough.
			for n := range 9 {
				expect(fmt.Sprintf("im-guess-%d", n), 401, "", "")
			}
			expect(keyAlice, s.ok, "", "")
		})
	}

	// One count per address across the listeners: 5 failures on the admin
	// API and 5 on the proxy throttle both.
	clock.Set(t0.Add(24 * time.Hour))
	c := clientFrom(t, "127.0.0.50")
	for n := range 5 {
		surfaces[3].do(c, fmt.Sprintf("im-guess-%d", n))
		surfaces[0].do(c, fmt.Sprintf("im-guess-%d", n))
	}
	for _, s := range []int{0, 3, 4} {
		if st, _, _ := surfaces[s].do(c, keyAlice); st != 429 {
			t.Fatalf("%s after failures on both listeners: %d, want 429", surfaces[s].name, st)
		}
	}

	// Metrics: per surface 10 + 9 failures and 4 refusals, then 10
	// failures and 3 refusals.
	_, m, _ := call(t, "GET", admin+"/metrics", nil, "")
	for _, want := range []string{"infermeter_auth_failures_total 105\n", "infermeter_auth_throttled_total 23\n"} {
		if !strings.Contains(string(m), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// do sends one request with c and returns status, body and headers.
func do(t *testing.T, c *http.Client, method, url string, headers map[string]string, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %s", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: cannot read the body: %s", method, url, err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// dialFeedFrom opens the live feed with ?token=key through c's dialer and
// returns the handshake's status, body and headers (101 on success; the
// connection is then closed).
func dialFeedFrom(t *testing.T, c *http.Client, admin, key string) (int, string, http.Header) {
	t.Helper()
	dial := c.Transport.(*http.Transport).DialContext
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dial(ctx, network, addr)
	}}
	url := "ws" + strings.TrimPrefix(admin, "http") + "/ws/analytics"
	if key != "" {
		url += "?token=" + key
	}
	conn, resp, err := d.Dial(url, nil)
	if err == nil {
		_ = conn.Close()
		return resp.StatusCode, "", resp.Header
	}
	if resp == nil {
		t.Fatalf("cannot dial the feed: %s", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestAuthThrottleConfigBehindProxy: auth_throttle from the config file:
// max_failures and trusted_proxies. Behind a trusted proxy (here 127.0.0.2,
// forwarding with X-Forwarded-For), one client's failures throttle that
// client only; the proxy's other clients and the proxy itself go on; a
// peer that is not a trusted proxy cannot choose its address with the
// header.
func TestAuthThrottleConfigBehindProxy(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), `auth_throttle: {max_failures: 3, window: 1m, exempt: [], trusted_proxies: ["127.0.0.2"]}`+"\n")
	_, _, admin := startApp(t, cfg, appOptions{})
	ingress, other := clientFrom(t, "127.0.0.2"), clientFrom(t, "127.0.0.3")
	get := func(c *http.Client, key, xff string) int {
		h := map[string]string{"Authorization": "Bearer " + key}
		if xff != "" {
			h["X-Forwarded-For"] = xff
		}
		st, _, _ := do(t, c, "GET", admin+"/api/account/request-logs?limit=1", h, "")
		return st
	}
	for i := range 3 {
		if st := get(ingress, "im-wrong", "198.51.100.7"); st != 401 {
			t.Fatalf("bad key %d: %d, want 401", i+1, st)
		}
	}
	if st := get(ingress, keyAlice, "198.51.100.7"); st != 429 {
		t.Fatalf("the client after 3 failures: %d, want 429", st)
	}
	if st := get(ingress, keyAlice, "198.51.100.8"); st != 200 {
		t.Fatalf("another client behind the proxy: %d, want 200", st)
	}
	if st := get(ingress, keyAlice, ""); st != 200 {
		t.Fatalf("the proxy itself: %d, want 200", st)
	}
	// 127.0.0.3 is not trusted: its header is ignored, its failures are
	// its own.
	for range 3 {
		get(other, "im-wrong", "198.51.100.9")
	}
	if st := get(other, keyAlice, "198.51.100.10"); st != 429 {
		t.Fatalf("an untrusted peer that changed its X-Forwarded-For: %d, want 429", st)
	}
	if st := get(ingress, keyAlice, "198.51.100.9"); st != 200 {
		t.Fatalf("a client named by an untrusted peer was throttled: %d, want 200", st)
	}
}
