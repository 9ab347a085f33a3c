package main

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// taggedLog waits for the one request log tagged case=id and returns it.
func taggedLog(t *testing.T, admin, id string) gjson.Result {
	t.Helper()
	var logs gjson.Result
	waitFor(t, "the request to be logged", func() bool {
		_, logs = adminGet(t, admin, keyAlice, "/api/account/request-logs?tag=case%3D"+id)
		return len(logs.Get("logs").Array()) >= 1
	})
	if n := len(logs.Get("logs").Array()); n != 1 {
		t.Fatalf("case %s was logged %d times", id, n)
	}
	return logs.Get("logs.0")
}

// TestBadUpstreamAnswersAreMetered sends requests whose upstream answers
// badly: each reaches the client as the upstream sent it (or as a clear
// error in the provider's shape) and is metered with the right error type
// and usage source.
func TestBadUpstreamAnswersAreMetered(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "max_request_bytes: 4096\n")
	_, proxyURL, admin := startApp(t, cfg, appOptions{})
	chat := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]}`
	stream := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hello there"}]}`
	auth := map[string]string{"Authorization": "Bearer " + keyAlice}
	with := func(kv ...string) map[string]string {
		h := map[string]string{"Authorization": "Bearer " + keyAlice}
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	type want struct {
		status      int    // what the client gets
		bodyHas     string // in what the client gets
		errorType   string // in the request log
		usageSource string
		input       int64 // -1: do not check
		output      int64 // -1: any positive estimate
	}
	cases := []struct {
		name string
		path string
		hdr  map[string]string
		body string
		want want
	}{
		{"invalid JSON from the upstream", "/v1/chat/completions", with("X-Sim-Invalid-JSON", "1"), chat,
			want{200, `{"id"`, "model_error", "none", 0, 0}},
		{"HTML error page", "/v1/chat/completions", with("X-Sim-HTML", "502"), chat,
			want{502, "<html", "model_error", "none", 0, 0}},
		{"provider rate limit", "/v1/chat/completions", with("X-Sim-Status", "429"), chat,
			want{429, "rate_limit", "rate_limit", "none", 0, 0}},
		{"anthropic overloaded", "/v1/messages", map[string]string{"X-Api-Key": keyAlice, "X-Sim-Status": "529"},
			`{"model":"claude-haiku-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
			want{529, "overloaded_error", "model_error", "none", 0, 0}},
		{"error event after a 200", "/v1/messages", map[string]string{"X-Api-Key": keyAlice, "X-Sim-Stream-Error": "1"},
			`{"model":"claude-haiku-4-5","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			want{200, "overloaded_error", "model_error", "estimated", -1, -1}},
		{"stream cut before usage", "/v1/chat/completions", with("X-Sim-Cut", "3"), stream,
			want{200, "", "upstream_unreachable", "estimated", -1, -1}},
		{"no usage at all", "/v1/chat/completions", with("X-Sim-No-Usage", "1"), chat,
			want{200, `"choices"`, "", "estimated", -1, -1}},
		{"gzip body", "/v1/chat/completions", with("X-Sim-Encoding", "gzip", "X-Sim-Input-Tokens", "11", "X-Sim-Output-Tokens", "7"), chat,
			want{200, `"usage"`, "", "provider", 11, 7}},
		{"gzip stream", "/v1/chat/completions", with("X-Sim-Encoding", "gzip", "X-Sim-Input-Tokens", "13", "X-Sim-Output-Tokens", "5"), stream,
			want{200, "", "", "provider", 13, 5}},
		{"body over max_request_bytes", "/v1/chat/completions", auth, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("x", 5000) + `"}]}`,
			want{413, "max_request_bytes", "invalid_request", "none", 0, 0}},
		{"request body not JSON on a stream path", "/v1/chat/completions", auth, `{"model":"gpt-4o-mini","stream":true,`,
			want{-1, "", "", "", 0, 0}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := strconv.Itoa(i)
			h := map[string]string{"X-Infermeter-Tags": "case=" + id}
			for k, v := range c.hdr {
				h[k] = v
			}
			st, body := callLoose(t, "POST", proxyURL+c.path, h, c.body)
			if c.want.status == -1 {
				// Whatever the upstream makes of it, it is metered once.
				taggedLog(t, admin, id)
				return
			}
			if st != c.want.status || !strings.Contains(string(body), c.want.bodyHas) {
				t.Fatalf("client got %d %q, want %d containing %q", st, body, c.want.status, c.want.bodyHas)
			}
			if c.want.usageSource == "provider" && strings.Contains(c.path, "chat") && strings.Contains(c.body, `"stream":true`) {
				// A compressed stream reached the client decodable and whole.
				if !strings.Contains(string(body), "[DONE]") {
					t.Fatalf("stream not whole: %q", body)
				}
			}
			l := taggedLog(t, admin, id)
			if got := l.Get("error_type").String(); got != c.want.errorType {
				t.Fatalf("error_type %q, want %q: %s", got, c.want.errorType, l.Raw)
			}
			if got := l.Get("usage_source").String(); got != c.want.usageSource {
				t.Fatalf("usage_source %q, want %q: %s", got, c.want.usageSource, l.Raw)
			}
			if c.want.input >= 0 && l.Get("input_tokens").Int() != c.want.input {
				t.Fatalf("input_tokens %d, want %d: %s", l.Get("input_tokens").Int(), c.want.input, l.Raw)
			}
			if c.want.input < 0 && l.Get("input_tokens").Int() <= 0 {
				t.Fatalf("no input estimate: %s", l.Raw)
			}
			switch {
			case c.want.output >= 0 && l.Get("output_tokens").Int() != c.want.output:
				t.Fatalf("output_tokens %d, want %d: %s", l.Get("output_tokens").Int(), c.want.output, l.Raw)
			case c.want.output < 0 && l.Get("output_tokens").Int() <= 0:
				t.Fatalf("no output estimate: %s", l.Raw)
			}
			if c.want.errorType != "" && l.Get("status").String() != "error" {
				t.Fatalf("status %q: %s", l.Get("status"), l.Raw)
			}
		})
	}
}

func TestUnreachableUpstream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more
	cfg := testConfig(t, dead, t.TempDir(), "")
	_, proxyURL, admin := startApp(t, cfg, appOptions{})
	st, body, _ := call(t, "POST", proxyURL+"/v1/messages", map[string]string{"X-Api-Key": keyAlice},
		`{"model":"claude-haiku-4-5","max_tokens":10,"messages":[]}`)
	if st != 502 || gjson.GetBytes(body, "error.type").String() != "api_error" || gjson.GetBytes(body, "type").String() != "error" {
		t.Fatalf("client got %d %s", st, body)
	}
	var l gjson.Result
	waitFor(t, "the request to be logged", func() bool {
		_, logs := adminGet(t, admin, keyAlice, "/api/account/request-logs")
		l = logs.Get("logs.0")
		return l.Exists()
	})
	if l.Get("error_type").String() != "upstream_unreachable" || l.Get("model").String() != "anthropic/claude-haiku-4-5" {
		t.Fatalf("log %s", l.Raw)
	}
}

// TestClientHangUpMidStream: the client reads one event and goes away; the
// proxy stops the upstream stream and meters what passed, estimated.
func TestClientHangUpMidStream(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	_, proxyURL, admin := startApp(t, cfg, appOptions{})
	req, _ := http.NewRequest("POST", proxyURL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"tell me a long story"}]}`))
	req.Header.Set("Authorization", "Bearer "+keyAlice)
	req.Header.Set("X-Sim-Chunks", "400")
	req.Header.Set("X-Sim-Gap", "25ms") // 10 s of stream if nobody hangs up
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "data: ") {
		t.Fatalf("first line %q, %v", line, err)
	}
	resp.Body.Close() // hang up
	var l gjson.Result
	waitFor(t, "the request to be logged", func() bool {
		_, logs := adminGet(t, admin, keyAlice, "/api/account/request-logs")
		l = logs.Get("logs.0")
		return l.Exists()
	})
	if l.Get("error_type").String() != "client_closed" || l.Get("usage_source").String() != "estimated" {
		t.Fatalf("log %s", l.Raw)
	}
	// The proxy stopped reading: far fewer than the 400 words were metered.
	if out := l.Get("output_tokens").Int(); out < 1 || out >= 300 {
		t.Fatalf("output estimate %d: the upstream stream was not stopped: %s", out, l.Raw)
	}
}
