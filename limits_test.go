package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// TestRequestLimits: the proxy refuses headers over max_header_bytes (431)
// and bodies over max_request_bytes (413) in the provider's shape; the
// admin listener refuses bodies over 1 MiB (413) and headers over 16 KiB
// (431) in the API's shape, with messages that say which limit.
func TestRequestLimits(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "max_header_bytes: 4096\nmax_request_bytes: 65536\n")
	_, proxyURL, admin := startApp(t, cfg, appOptions{})
	chat := `{"model":"gpt-4o-mini","messages":[]}`
	big := func(n int) string { return `{"model":"gpt-4o-mini","pad":"` + strings.Repeat("x", n) + `"}` }
	cases := []struct {
		name, method, url string
		hdr               map[string]string
		body              string
		status            int
		want              string // the whole body
	}{
		{"proxy: headers at the limit pass", "POST", proxyURL + "/v1/chat/completions",
			map[string]string{"Authorization": "Bearer " + keyAlice, "X-Pad": strings.Repeat("p", 3000)}, chat, 200, ""},
		{"proxy: headers over max_header_bytes", "POST", proxyURL + "/v1/chat/completions",
			map[string]string{"Authorization": "Bearer " + keyAlice, "X-Pad": strings.Repeat("p", 5000)}, chat, 431,
			`{"error":{"message":"request headers exceed max_header_bytes","type":"invalid_request_error","param":null,"code":"invalid_request"}}`},
		{"proxy: body over max_request_bytes", "POST", proxyURL + "/anthropic/v1/messages",
			map[string]string{"X-Api-Key": keyAlice}, big(70000), 413,
			`{"type":"error","error":{"type":"request_too_large","message":"request body exceeds max_request_bytes (65536 bytes)"}}`},
		{"admin: a body of 1 MiB passes the listener", "POST", admin + "/api/analytics/query",
			map[string]string{"Authorization": "Bearer " + keyAlice}, `{"metrics":["requests"],"pad":"` + strings.Repeat("x", 1<<20-40) + `"}`, 400, ""},
		{"admin: body over 1 MiB", "POST", admin + "/api/analytics/query",
			map[string]string{"Authorization": "Bearer " + keyAlice}, big(1 << 20), 413,
			`{"success":false,"error":{"code":"request_too_large","message":"the request body exceeds 1048576 bytes"}}`},
		{"admin: headers over 16 KiB", "GET", admin + "/api/account/request-logs",
			map[string]string{"Authorization": "Bearer " + keyAlice, "X-Pad": strings.Repeat("p", 17<<10)}, "", 431,
			`{"success":false,"error":{"code":"headers_too_large","message":"the request headers exceed 16384 bytes"}}`},
	}
	for _, c := range cases {
		var st int
		var b []byte
		if len(c.body) > 65536 && c.status == 413 {
			st, b = announce(t, c.method, c.url, c.hdr, len(c.body))
		} else {
			st, b, _ = call(t, c.method, c.url, c.hdr, c.body)
		}
		if st != c.status || (c.want != "" && string(b) != c.want) {
			t.Errorf("%s: %d %s\nwant %d %s", c.name, st, b, c.status, c.want)
		}
	}
}

// announce sends only the head of a request whose body would be n bytes:
// a server that refuses the length answers before reading a body. (Sending
// the body as well could meet a reset instead of the answer, the server
// having closed with bytes unread.)
func announce(t *testing.T, method, url string, hdr map[string]string, n int) (int, []byte) {
	t.Helper()
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", method, u.RequestURI(), u.Host, n)
	for k, v := range hdr {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	head.WriteString("\r\n")
	if _, err := c.Write([]byte(head.String())); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s %s: %s", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestDateRangeBound: every route that takes dates refuses a period longer
// than 3660 days with a 400 naming the parameter.
func TestDateRangeBound(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	_, _, admin := startApp(t, testConfig(t, base, t.TempDir(), ""), appOptions{})
	const long = "start_date=2000-01-01&end_date=2026-01-01"
	msg := "the period from 2000-01-01T00:00:00+01:00 to 2026-01-02T00:00:00+01:00 is longer than 3660 days"
	for _, c := range []struct {
		method, path, body, want string
	}{
		{"GET", "/api/organizations/acme/usage?" + long, "", "end_date: " + msg},
		{"GET", "/api/account/request-logs?" + long, "", "end_date: " + msg},
		{"GET", "/api/account/cost-insights?" + long, "", "end_date: " + msg},
		{"GET", "/api/account/errors?" + long, "", "end_date: " + msg},
		{"GET", "/api/organizations/acme/export/usage?" + long, "", "end_date: " + msg},
		{"GET", "/api/organizations/acme/export/usage?start_date=2000-01-01", "", "start_date: the period from 2000-01-01T00:00:00+01:00 to "},
		{"POST", "/api/analytics/query", `{"metrics":["requests"],"filters":{"start_date":"2000-01-01","end_date":"2026-01-01"}}`, "filters.end_date: " + msg},
		{"POST", "/api/billing/invoices/generate", `{"period_start":"2000-01-01","period_end":"2026-01-01"}`, "period_end: the period is longer than "},
	} {
		st, b, _ := call(t, c.method, admin+c.path, map[string]string{"Authorization": "Bearer " + keyAlice}, c.body)
		j := gjson.ParseBytes(b)
		if st != 400 || j.Get("error.code").String() != "invalid_parameter" || !strings.HasPrefix(j.Get("error.message").String(), c.want) {
			t.Errorf("%s %s: %d %s, want 400 invalid_parameter %q", c.method, c.path, st, b, c.want)
		}
	}
}
