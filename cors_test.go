package main

import (
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// corsHeaders returns the response's Access-Control-* and Vary headers as
// "Name: value" lines, sorted.
func corsHeaders(h http.Header) string {
	var out []string
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") || k == "Vary" {
			out = append(out, k+": "+strings.Join(v, ","))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestCORSOff: without cors_origins no answer carries an Access-Control-*
// header, whatever the Origin, and a preflight is not answered as one.
func TestCORSOff(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	_, _, admin := startApp(t, testConfig(t, base, t.TempDir(), ""), appOptions{})
	origin := "https://finops.example.com"
	for _, c := range []struct {
		method, path string
		hdr          map[string]string
		status       int
	}{
		{"GET", "/api/account/request-logs", map[string]string{"Origin": origin, "Authorization": "Bearer " + keyAlice}, 200},
		{"GET", "/api/account/request-logs", map[string]string{"Origin": origin}, 401},
		{"OPTIONS", "/api/account/request-logs", map[string]string{"Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}, 401},
	} {
		st, b, h := call(t, c.method, admin+c.path, c.hdr, "")
		if st != c.status || corsHeaders(h) != "" {
			t.Errorf("%s %s: %d %s with CORS headers %q; want %d and none", c.method, c.path, st, b, corsHeaders(h), c.status)
		}
	}
}

// TestCORS: with cors_origins, a listed origin gets its exact origin back,
// Vary: Origin, and preflights answered with the route's methods; an
// unlisted origin gets no Access-Control-* header and a 403 preflight.
func TestCORS(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "cors_origins: [\"https://finops.example.com\", \"http://localhost:5173/\"]\n")
	_, _, admin := startApp(t, cfg, appOptions{})
	listed, slash, unlisted := "https://finops.example.com", "http://localhost:5173", "https://evil.example"
	preflight := func(origin, method string) map[string]string {
		return map[string]string{"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": "authorization,content-type"}
	}
	withKey := func(origin, key string) map[string]string {
		h := map[string]string{"Origin": origin}
		if key != "" {
			h["Authorization"] = "Bearer " + key
		}
		return h
	}
	allowed := func(origin, methods string) string {
		return "Access-Control-Allow-Headers: Authorization, Content-Type\n" +
			"Access-Control-Allow-Methods: " + methods + "\n" +
			"Access-Control-Allow-Origin: " + origin + "\n" +
			"Access-Control-Max-Age: 600\nVary: Origin"
	}
	simple := func(origin string) string {
		return "Access-Control-Allow-Origin: " + origin + "\nAccess-Control-Expose-Headers: Retry-After, Content-Disposition\nVary: Origin"
	}
	cases := []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		headers            string
	}{
		{"preflight of a collection", "OPTIONS", "/api/organizations/acme/members", preflight(listed, "POST"), 204, allowed(listed, "GET, POST")},
		{"preflight of an item", "OPTIONS", "/api/organizations/acme/members/bob", preflight(listed, "PATCH"), 204, allowed(listed, "GET, PATCH, DELETE")},
		{"preflight of the query", "OPTIONS", "/api/analytics/query", preflight(listed, "POST"), 204, allowed(listed, "POST")},
		{"preflight, configured with a slash", "OPTIONS", "/api/account/alerts/al_1", preflight(slash, "DELETE"), 204, allowed(slash, "DELETE")},
		{"preflight of no route", "OPTIONS", "/api/nothing", preflight(listed, "GET"), 404, "Access-Control-Allow-Origin: " + listed + "\nVary: Origin"},
		{"simple GET", "GET", "/api/account/request-logs", withKey(listed, keyAlice), 200, simple(listed)},
		{"an error is readable", "GET", "/api/account/request-logs", withKey(listed, ""), 401, simple(listed)},
		{"unlisted origin", "GET", "/api/account/request-logs", withKey(unlisted, keyAlice), 200, "Vary: Origin"},
		{"unlisted preflight", "OPTIONS", "/api/organizations/acme/members", preflight(unlisted, "POST"), 403, "Vary: Origin"},
		{"no origin", "GET", "/api/account/request-logs", withKey("", keyAlice), 200, "Vary: Origin"},
		{"not the API", "GET", "/healthz", withKey(listed, ""), 200, ""},
	}
	for _, c := range cases {
		st, b, h := call(t, c.method, admin+c.path, c.hdr, "")
		if st != c.status || corsHeaders(h) != c.headers {
			t.Errorf("%s: %d %s\n%s\nwant %d\n%s", c.name, st, b, corsHeaders(h), c.status, c.headers)
		}
	}
}

// TestFeedOrigin: the live feed refuses a browser origin that is neither
// listed nor the admin listener's own (the dashboard's), before the
// upgrade; clients that send no Origin are not browsers and pass.
func TestFeedOrigin(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "cors_origins: [\"https://finops.example.com\"]\n")
	_, _, admin := startApp(t, cfg, appOptions{})
	url := "ws" + strings.TrimPrefix(admin, "http") + "/ws/analytics"
	for _, c := range []struct {
		origin string
		status int
	}{
		{"https://finops.example.com", 101},
		{admin, 101}, // the dashboard, served by the admin listener itself
		{"", 101},
		{"https://evil.example", 403},
		{"https://finops.example.com.evil.example", 403},
		{"http://finops.example.com", 403},
	} {
		h := http.Header{"Authorization": {"Bearer " + keyAlice}}
		if c.origin != "" {
			h.Set("Origin", c.origin)
		}
		conn, resp, err := (&websocket.Dialer{HandshakeTimeout: 10 * time.Second}).Dial(url, h)
		if err == nil {
			_ = conn.Close()
		}
		if resp == nil || resp.StatusCode != c.status {
			t.Errorf("origin %q: %v %v, want %d", c.origin, resp, err, c.status)
		}
	}
}
