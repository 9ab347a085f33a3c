package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/examples/simulator/sim"
	"github.com/infermeter/infermeter/store"
)

// detailsFakeKey is a provider key a client pasted into a prompt.
const detailsFakeKey = "sk-test-SECRET123"

// detailsOf waits for the newest request log of key's member to be stored
// and returns its details.
func detailsOf(t *testing.T, admin, key string, logs int) gjson.Result {
	t.Helper()
	var list gjson.Result
	waitFor(t, "the request logs", func() bool {
		_, list = adminGet(t, admin, key, "/api/account/request-logs?limit=100")
		return len(list.Get("logs").Array()) >= logs
	})
	id := list.Get("logs.0.id").String()
	st, d := adminGet(t, admin, key, "/api/account/request-logs/"+id+"/details")
	if st != 200 || !d.Get("success").Bool() {
		t.Fatalf("details of %s: %d %s", id, st, d.Raw)
	}
	return d.Get("request")
}

// detailsNoSecrets fails when b holds a key.
func detailsNoSecrets(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, k := range []string{keyAlice, keyBob, keyOpenAI, keyAnthropic, detailsFakeKey, "SECRET123"} {
		if bytes.Contains(b, []byte(k)) {
			t.Errorf("%s holds %q", what, k)
		}
	}
}

var detailsReqID = regexp.MustCompile(`^req_[0-9]+$`)

func TestRequestDetailsWithCapture(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	dir := t.TempDir()
	cfg := testConfig(t, base, dir, "capture_bodies: true\n")
	_, proxy, admin := startApp(t, cfg, appOptions{})

	// A chat completion whose prompt holds a provider key and the member's
	// own key, and a header that carries the fake key.
	body := `{"model":"gpt-4o-mini","api_key":"whatever-1234","messages":[{"role":"user","content":"my keys: ` +
		detailsFakeKey + ` and ` + keyAlice + `"}]}`
	st, resp, h := call(t, "POST", proxy+"/v1/chat/completions", map[string]string{
		"Authorization":      "Bearer " + keyAlice,
		"Content-Type":       "application/json",
		"X-Note":             "pasted " + detailsFakeKey,
		"X-Sim-Input-Tokens": "1000", "X-Sim-Cached-Tokens": "400", "X-Sim-Output-Tokens": "200",
	}, body)
	if st != 200 {
		t.Fatalf("chat: %d %s", st, resp)
	}
	d := detailsOf(t, admin, keyAlice, 1)
	if id := d.Get("provider_request_id").String(); id != h.Get("X-Request-Id") || !detailsReqID.MatchString(id) {
		t.Errorf("provider_request_id %q, the client got X-Request-Id %q", id, h.Get("X-Request-Id"))
	}
	// The simulator reports audio token counts of 0, no image counts.
	wantUsage := `{"input_tokens":1000,"cached_tokens":400,"cache_write_tokens":0,"cache_write_1h_tokens":null,` +
		`"input_audio_tokens":0,"input_image_tokens":null,"output_tokens":200,"reasoning_tokens":0,` +
		`"output_audio_tokens":0,"output_image_tokens":null,"audio_seconds":null,"web_search_requests":null,` +
		`"provider_cost_usd":null,"service_tier":"default","source":"provider"}`
	if u := d.Get("usage").Raw; u != wantUsage {
		t.Errorf("usage\n got %s\nwant %s", u, wantUsage)
	}
	// gpt-4o-mini: input $0.15/M, cached input $0.075/M, output $0.60/M.
	wantPrice := `{"priced":true,"catalog_key":"gpt-4o-mini","parts":[` +
		`{"name":"input","tokens":600,"rate_usd_per_million":0.15,"cost_usd":0.00009},` +
		`{"name":"cache_read","tokens":400,"rate_usd_per_million":0.075,"cost_usd":0.00003},` +
		`{"name":"output","tokens":200,"rate_usd_per_million":0.6,"cost_usd":0.00012}],"total_usd":0.00024}`
	if p := d.Get("price").Raw; p != wantPrice {
		t.Errorf("price\n got %s\nwant %s", p, wantPrice)
	}
	if c := d.Get("cost_usd").Raw; c != "0.00024" {
		t.Errorf("cost_usd %s, want the sum of the parts 0.00024", c)
	}
	for _, k := range []string{"latency_ms", "ttft_ms", "latency_us", "ttft_us"} {
		if !d.Get("timings." + k).Exists() {
			t.Errorf("timings.%s missing: %s", k, d.Get("timings").Raw)
		}
	}
	if d.Get("upstream").String() != "openai" || d.Get("http_status").Int() != 200 || !d.Get("captured").Bool() {
		t.Errorf("upstream %s, status %s, captured %s", d.Get("upstream").Raw, d.Get("http_status").Raw, d.Get("captured").Raw)
	}
	rq := d.Get("headers.request")
	if rq.Get("Authorization").Exists() || rq.Get("X-Api-Key").Exists() || rq.Get("Content-Type").String() != "application/json" ||
		rq.Get("X-Note").String() != "pasted [REDACTED]" {
		t.Errorf("request headers %s", rq.Raw)
	}
	if rs := d.Get("headers.response"); rs.Get("X-Request-Id").String() != h.Get("X-Request-Id") {
		t.Errorf("response headers %s", rs.Raw)
	}
	wantBody := `{"model":"gpt-4o-mini","api_key":"[REDACTED]","messages":[{"role":"user","content":"my keys: [REDACTED] and [REDACTED]"}]}`
	if b := d.Get("bodies.request").String(); b != wantBody {
		t.Errorf("request body\n got %s\nwant %s", b, wantBody)
	}
	if b := d.Get("bodies.response").String(); b != string(resp) || d.Get("bodies.truncated").Bool() {
		t.Errorf("response body %q (truncated %s), the client got %q", b, d.Get("bodies.truncated").Raw, resp)
	}

	// A stream, with Anthropic's key header: the bytes the client read.
	st, stream, h := call(t, "POST", proxy+"/v1/messages", map[string]string{
		"X-Api-Key": keyBob, "Content-Type": "application/json", "Anthropic-Version": "2023-06-01",
	}, `{"model":"claude-3-5-haiku-20241022","max_tokens":50,"stream":true,"messages":[{"role":"user","content":"`+detailsFakeKey+`"}]}`)
	if st != 200 {
		t.Fatalf("stream: %d %s", st, stream)
	}
	d = detailsOf(t, admin, keyBob, 1)
	if id := d.Get("provider_request_id").String(); id != h.Get("Request-Id") || !detailsReqID.MatchString(id) {
		t.Errorf("stream provider_request_id %q, the client got Request-Id %q", id, h.Get("Request-Id"))
	}
	if d.Get("headers.request.X-Api-Key").Exists() || d.Get("headers.request.Anthropic-Version").String() != "2023-06-01" {
		t.Errorf("stream request headers %s", d.Get("headers.request").Raw)
	}
	if b := d.Get("bodies.response").String(); b != string(stream) || !strings.Contains(b, "event: message_stop") {
		t.Errorf("stream response body %q, the client got %q", b, stream)
	}
	if b := d.Get("bodies.request").String(); !strings.Contains(b, `"content":"[REDACTED]"`) {
		t.Errorf("stream request body %s", b)
	}

	// An OpenAI stream without include_usage: the proxy asks for usage and
	// removes the usage chunk; the capture is what the client read.
	st, stream, _ = call(t, "POST", proxy+"/openai/v1/chat/completions", map[string]string{
		"Authorization": "Bearer " + keyBob, "Content-Type": "application/json",
	}, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	if st != 200 {
		t.Fatalf("openai stream: %d %s", st, stream)
	}
	d = detailsOf(t, admin, keyBob, 2)
	if b := d.Get("bodies.response").String(); b != string(stream) || !strings.Contains(b, "[DONE]") || d.Get("usage.output_tokens").Int() != 50 {
		t.Errorf("openai stream response body %q, the client got %q; usage %s", b, stream, d.Get("usage").Raw)
	}

	// A compressed answer is kept decoded.
	st, gz, h := call(t, "POST", proxy+"/v1/chat/completions", map[string]string{
		"Authorization": "Bearer " + keyBob, "Content-Type": "application/json",
		"Accept-Encoding": "gzip", "X-Sim-Encoding": "gzip",
	}, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`)
	if st != 200 || h.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %d %q", st, h.Get("Content-Encoding"))
	}
	d = detailsOf(t, admin, keyBob, 3)
	if b := d.Get("bodies.response").String(); !gjson.Valid(b) || gjson.Get(b, "object").String() != "chat.completion" ||
		bytes.Equal([]byte(b), gz) {
		t.Errorf("gzip response body %q", b)
	}

	// No key anywhere: not in the answers, not in the store file.
	for _, key := range []string{keyAlice, keyBob} {
		_, list := adminGet(t, admin, key, "/api/account/request-logs?limit=100")
		for _, l := range list.Get("logs").Array() {
			_, dd := adminGet(t, admin, key, "/api/account/request-logs/"+l.Get("id").String()+"/details")
			detailsNoSecrets(t, "the details answer", []byte(dd.Raw))
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("[REDACTED]")) {
		t.Fatalf("the store file holds no capture")
	}
	detailsNoSecrets(t, "the store file", b)
}

func TestRequestDetailsWithoutCapture(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	dir := t.TempDir()
	_, proxy, admin := startApp(t, testConfig(t, base, dir, ""), appOptions{})
	st, resp, h := call(t, "POST", proxy+"/v1/chat/completions", map[string]string{
		"Authorization": "Bearer " + keyBob, "Content-Type": "application/json",
	}, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"`+detailsFakeKey+`"}]}`)
	if st != 200 {
		t.Fatalf("chat: %d %s", st, resp)
	}
	d := detailsOf(t, admin, keyBob, 1)
	if d.Get("captured").Bool() || d.Get("headers").Exists() || d.Get("bodies").Exists() {
		t.Errorf("captured without capture_bodies: %s", d.Raw)
	}
	if id := d.Get("provider_request_id").String(); id != h.Get("X-Request-Id") || !detailsReqID.MatchString(id) {
		t.Errorf("provider_request_id %q, the client got X-Request-Id %q", id, h.Get("X-Request-Id"))
	}
	// Simulator defaults: 25 input, 50 output tokens.
	if u := d.Get("usage"); u.Get("input_tokens").Int() != 25 || u.Get("output_tokens").Int() != 50 || u.Get("cached_tokens").Int() != 0 {
		t.Errorf("usage %s", u.Raw)
	}
	if p := d.Get("price"); !p.Get("priced").Bool() || p.Get("total_usd").Raw != d.Get("cost_usd").Raw {
		t.Errorf("price %s, cost %s", p.Raw, d.Get("cost_usd").Raw)
	}
	b, err := os.ReadFile(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	detailsNoSecrets(t, "the store file", b)
}
