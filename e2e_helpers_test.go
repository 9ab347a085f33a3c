package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/config"
	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// Upstream keys the proxy must send; member keys it must never forward.
const (
	keyOpenAI    = "sk-upstream-openai"
	keyAnthropic = "sk-upstream-anthropic"
	keyGemini    = "upstream-gemini"
	keyAlice     = "im-alice-key"
	keyBob       = "im-bob-key"
	keyEve       = "im-eve-key" // admin of another org
)

// startSim starts the simulated provider on a loopback port.
func startSim(t testing.TB, opt sim.Options) (*sim.Server, string) {
	t.Helper()
	s := sim.New(opt)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return s, "http://" + ln.Addr().String()
}

// testConfig writes a config for upstreams at base and loads it through
// config.Load, as the binary does.
func testConfig(t testing.TB, base, dataDir string, extra string) *config.Config {
	t.Helper()
	y := fmt.Sprintf(`
proxy_listen: "127.0.0.1:0"
admin_listen: "127.0.0.1:0"
data_dir: %q
flush_interval: "50ms"
shutdown_timeout: "10s"
upstream_timeout: "30s"
upstreams:
  - {name: openai, dialect: openai, base_url: %q, api_key: "${OK}"}
  - {name: anthropic, dialect: anthropic, base_url: %q, api_key: "${AK}"}
  - {name: gemini, dialect: gemini, base_url: %q, api_key: "${GK}"}
orgs:
  - id: acme
    name: Acme
    timezone: Europe/Berlin
    members:
      - {id: alice, email: alice@acme.example, department: research, role: admin, billing_mode: org_pays, api_key: %q}
      - {id: bob, email: bob@acme.example, department: platform, role: member, billing_mode: member_pays, api_key: %q}
  - id: globex
    name: Globex
    members:
      - {id: eve, email: eve@globex.example, department: ops, role: admin, api_key: %q}
%s`, dataDir, base, base, base, keyAlice, keyBob, keyEve, extra)
	return loadTestYAML(t, y)
}

// loadTestYAML writes a config file of y and loads it through config.Load,
// as the binary does, with the upstream keys of the tests as ${OK}, ${AK}
// and ${GK}.
func loadTestYAML(t testing.TB, y string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "infermeter.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"OK": keyOpenAI, "AK": keyAnthropic, "GK": keyGemini}
	cfg, err := config.Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("cannot load the test config: %s", err)
	}
	return cfg
}

// startApp runs a whole infermeter in-process; it returns the proxy and
// admin base URLs.
func startApp(t testing.TB, cfg *config.Config, opt appOptions) (*app, string, string) {
	t.Helper()
	if opt.Logf == nil {
		opt.Logf = t.Logf
	}
	a, err := newApp(cfg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, "http://" + a.proxyLn.Addr().String(), "http://" + a.adminLn.Addr().String()
}

// call sends one request and returns status, body and headers; a body that
// cannot be read whole fails the test.
func call(t testing.TB, method, url string, headers map[string]string, body string) (int, []byte, http.Header) {
	t.Helper()
	st, b, h, err := send(t, method, url, headers, body)
	if err != nil {
		t.Fatalf("%s %s: cannot read body: %s", method, url, err)
	}
	return st, b, h
}

// callLoose is call for a response that may end abruptly: it returns what
// arrived.
func callLoose(t testing.TB, method, url string, headers map[string]string, body string) (int, []byte) {
	t.Helper()
	st, b, _, _ := send(t, method, url, headers, body)
	return st, b
}

// send sends one request; it returns what arrived of the body and the
// error that ended reading it.
func send(t testing.TB, method, url string, headers map[string]string, body string) (int, []byte, http.Header, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %s", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// adminGet calls the admin API with a bearer key.
func adminGet(t testing.TB, admin, key, path string) (int, gjson.Result) {
	t.Helper()
	st, b, _ := call(t, "GET", admin+path, map[string]string{"Authorization": "Bearer " + key}, "")
	return st, gjson.ParseBytes(b)
}

// waitFor polls cond every 20ms for up to 10s (a liveness bound, not a
// timing assertion).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

// sseEvents reads a whole SSE body and returns the data payloads.
func sseEvents(t testing.TB, body []byte) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if d, ok := strings.CutPrefix(line, "data:"); ok {
			out = append(out, strings.TrimSpace(d))
		}
	}
	return out
}

// jsonString returns the value at path of a JSON body as a string.
func jsonString(b []byte, path string) string { return gjson.GetBytes(b, path).String() }
