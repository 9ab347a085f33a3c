package main

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// e2eRequest is one request of the end-to-end scenario with the usage the
// simulator reports for it and the cost worked out by hand from the
// embedded LiteLLM catalog (nano-dollars).
type e2eRequest struct {
	name     string
	key      string
	hdr      map[string]string // auth header name → value template
	path     string
	body     string
	sim      map[string]string
	stream   bool
	model    string
	in, out  int64
	costNano int64
}

func e2eRequests() []e2eRequest {
	bearer := func(k string) map[string]string { return map[string]string{"Authorization": "Bearer " + k} }
	xkey := func(k string) map[string]string {
		return map[string]string{"X-Api-Key": k, "Anthropic-Version": "2023-06-01"}
	}
	goog := func(k string) map[string]string { return map[string]string{"X-Goog-Api-Key": k} }
	tok := func(in, out, cached, write, reasoning string) map[string]string {
		return map[string]string{"X-Sim-Input-Tokens": in, "X-Sim-Output-Tokens": out, "X-Sim-Cached-Tokens": cached,
			"X-Sim-Cache-Write-Tokens": write, "X-Sim-Reasoning-Tokens": reasoning}
	}
	return []e2eRequest{
		// gpt-4o-mini: input 1.5e-07, cache read 7.5e-08, output 6e-07 USD/token.
		// (1000−400)×150 + 400×75 + 200×600 = 90000 + 30000 + 120000 nano.
		{name: "openai chat", key: keyAlice, hdr: bearer(keyAlice), path: "/v1/chat/completions",
			body: `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
			sim:  tok("1000", "200", "400", "0", "0"), model: "openai/gpt-4o-mini", in: 1000, out: 200, costNano: 240000},
		// Streamed without include_usage: the proxy injects it. 100×150 + 50×600.
		{name: "openai chat stream", key: keyAlice, hdr: bearer(keyAlice), path: "/v1/chat/completions",
			body: `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			sim:  tok("100", "50", "0", "0", "0"), stream: true, model: "openai/gpt-4o-mini", in: 100, out: 50, costNano: 45000},
		// Responses API through the /openai prefix. 300×150 + 100×600.
		{name: "openai responses", key: keyAlice, hdr: bearer(keyAlice), path: "/openai/v1/responses",
			body: `{"model":"gpt-4o-mini","input":"hi"}`,
			sim:  tok("300", "100", "0", "0", "0"), model: "openai/gpt-4o-mini", in: 300, out: 100, costNano: 105000},
		// claude-haiku-4-5: input 1e-06, cache read 1e-07, cache write 1.25e-06, output 5e-06.
		// (2000−1000−500)×1000 + 1000×100 + 500×1250 + 300×5000 = 500000 + 100000 + 625000 + 1500000.
		{name: "anthropic messages", key: keyBob, hdr: xkey(keyBob), path: "/v1/messages",
			body: `{"model":"claude-haiku-4-5","max_tokens":512,"messages":[{"role":"user","content":"hi"}]}`,
			sim:  tok("2000", "300", "1000", "500", "0"), model: "anthropic/claude-haiku-4-5", in: 2000, out: 300, costNano: 2725000},
		// 100×1000 + 40×5000.
		{name: "anthropic messages stream", key: keyBob, hdr: xkey(keyBob), path: "/v1/messages",
			body: `{"model":"claude-haiku-4-5","max_tokens":512,"stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			sim:  tok("100", "40", "0", "0", "0"), stream: true, model: "anthropic/claude-haiku-4-5", in: 100, out: 40, costNano: 300000},
		// gemini-2.5-flash: input 3e-07, output and reasoning 2.5e-06. 500×300 + 120×2500.
		{name: "gemini generateContent", key: keyAlice, hdr: goog(keyAlice), path: "/v1beta/models/gemini-2.5-flash:generateContent",
			body: `{"contents":[{"parts":[{"text":"hi"}]}]}`,
			sim:  tok("500", "120", "0", "0", "20"), model: "gemini/gemini-2.5-flash", in: 500, out: 120, costNano: 450000},
		// SSE stream, key in ?key=. 80×300 + 30×2500.
		{name: "gemini stream sse", key: keyBob, path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=" + keyBob,
			body: `{"contents":[{"parts":[{"text":"hi"}]}]}`,
			sim:  tok("80", "30", "0", "0", "0"), stream: true, model: "gemini/gemini-2.5-flash", in: 80, out: 30, costNano: 99000},
		// JSON-array stream. 60×300 + 10×2500.
		{name: "gemini stream array", key: keyAlice, hdr: goog(keyAlice), path: "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
			body: `{"contents":[{"parts":[{"text":"hi"}]}]}`,
			sim:  tok("60", "10", "0", "0", "0"), stream: true, model: "gemini/gemini-2.5-flash", in: 60, out: 10, costNano: 43000},
		// text-embedding-3-small: 2e-08. 1000×20.
		{name: "openai embeddings", key: keyBob, hdr: bearer(keyBob), path: "/v1/embeddings",
			body: `{"model":"text-embedding-3-small","input":"hello"}`,
			sim:  tok("1000", "0", "0", "0", "0"), model: "openai/text-embedding-3-small", in: 1000, out: 0, costNano: 20000},
	}
}

func TestEndToEnd(t *testing.T) {
	s, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	_, proxyURL, admin := startApp(t, cfg, appOptions{})

	reqs := e2eRequests()
	for _, r := range reqs {
		h := map[string]string{"Content-Type": "application/json"}
		for k, v := range r.hdr {
			h[k] = v
		}
		for k, v := range r.sim {
			h[k] = v
		}
		st, body, _ := call(t, "POST", proxyURL+r.path, h, r.body)
		if st != 200 {
			t.Fatalf("%s: status %d: %s", r.name, st, body)
		}
		if r.name == "openai chat stream" {
			// The usage chunk the proxy asked for is not shown to a client
			// that did not ask for it; the stream still ends with [DONE].
			evs := sseEvents(t, body)
			if len(evs) == 0 || evs[len(evs)-1] != "[DONE]" {
				t.Fatalf("%s: stream does not end with [DONE]: %q", r.name, evs)
			}
			for _, e := range evs[:len(evs)-1] {
				if u := gjson.Get(e, "usage"); u.IsObject() {
					t.Fatalf("%s: the client received a usage chunk it did not ask for: %s", r.name, e)
				}
			}
		}
	}

	// The provider saw the upstream keys, never a member key.
	seen := s.Requests()
	if len(seen) != len(reqs) {
		t.Fatalf("simulator saw %d requests, want %d", len(seen), len(reqs))
	}
	for _, r := range seen {
		for _, k := range []string{keyAlice, keyBob} {
			if strings.Contains(r.Header, k) || strings.Contains(r.Query, k) || strings.Contains(string(r.Body), k) {
				t.Fatalf("a member key reached the provider: %s", r.Header)
			}
		}
		switch {
		case strings.HasPrefix(r.Path, "/v1/messages"):
			if r.XAPIKey != keyAnthropic {
				t.Fatalf("anthropic got x-api-key %q", r.XAPIKey)
			}
		case strings.HasPrefix(r.Path, "/v1beta/"):
			if r.XGoogAPIKey != keyGemini {
				t.Fatalf("gemini got x-goog-api-key %q", r.XGoogAPIKey)
			}
		default:
			if r.Authorization != "Bearer "+keyOpenAI {
				t.Fatalf("openai got authorization %q", r.Authorization)
			}
		}
	}

	// Wait until the meter has aggregated every request.
	waitFor(t, "all requests aggregated", func() bool {
		_, j := adminGet(t, admin, keyAlice, "/api/organizations/acme/usage?group_by=user")
		return j.Get("overview.requests").Int() == int64(len(reqs))
	})

	type sums struct{ n, in, out, cost int64 }
	byUser, byModel := map[string]*sums{}, map[string]*sums{}
	users := map[string]string{keyAlice: "alice", keyBob: "bob"}
	for _, r := range reqs {
		for _, g := range []struct {
			m map[string]*sums
			k string
		}{{byUser, users[r.key]}, {byModel, r.model}} {
			if g.m[g.k] == nil {
				g.m[g.k] = &sums{}
			}
			s := g.m[g.k]
			s.n++
			s.in += r.in
			s.out += r.out
			s.cost += r.costNano
		}
	}
	// Hand totals: alice 883000 nano, bob 3144000 nano.
	if byUser["alice"].cost != 883000 || byUser["bob"].cost != 3144000 {
		t.Fatalf("BUG in the test's hand totals: %+v %+v", byUser["alice"], byUser["bob"])
	}
	check := func(group, field string, want map[string]*sums, key string) {
		t.Helper()
		st, j := adminGet(t, admin, key, "/api/organizations/acme/usage?group_by="+group)
		if st != 200 || !j.Get("success").Bool() {
			t.Fatalf("usage by %s: %d %s", group, st, j.Raw)
		}
		rows := j.Get("usage.by_" + group).Array()
		if len(rows) != len(want) {
			t.Fatalf("usage by %s: %d rows, want %d: %s", group, len(rows), len(want), j.Raw)
		}
		for _, row := range rows {
			w := want[row.Get(field).String()]
			if w == nil {
				t.Fatalf("usage by %s: unexpected row %s", group, row.Raw)
			}
			got := sums{row.Get("requests").Int(), row.Get("input_tokens").Int(), row.Get("output_tokens").Int(), nanoOf(t, row.Get("cost_usd"))}
			if got != *w {
				t.Fatalf("usage by %s, %s: got %+v, want %+v", group, row.Get(field), got, *w)
			}
		}
	}
	check("user", "user_id", byUser, keyAlice)
	check("model", "model", byModel, keyAlice)
	// A member sees only itself.
	check("user", "user_id", map[string]*sums{"bob": byUser["bob"]}, keyBob)

	_, j := adminGet(t, admin, keyAlice, "/api/organizations/acme/usage?group_by=user")
	if got := nanoOf(t, j.Get("overview.cost_usd")); got != 4027000 {
		t.Fatalf("overview cost %d nano, want 4027000", got)
	}
	if got := j.Get("overview.active_members").Int(); got != 2 {
		t.Fatalf("active members %d, want 2", got)
	}

	// Request logs (written at the next flush): the admin sees all nine,
	// the member its own four.
	var logs gjson.Result
	waitFor(t, "request logs flushed", func() bool {
		_, logs = adminGet(t, admin, keyAlice, "/api/account/request-logs?limit=100")
		return len(logs.Get("logs").Array()) == len(reqs)
	})
	for _, l := range logs.Get("logs").Array() {
		if l.Get("usage_source").String() != "provider" || l.Get("status").String() != "success" {
			t.Fatalf("log %s", l.Raw)
		}
	}
	_, logs = adminGet(t, admin, keyBob, "/api/account/request-logs?limit=100")
	if n := len(logs.Get("logs").Array()); n != 4 {
		t.Fatalf("bob sees %d logs, want 4", n)
	}
	for _, l := range logs.Get("logs").Array() {
		if l.Get("user_id").String() != "bob" {
			t.Fatalf("bob sees another member's log: %s", l.Raw)
		}
	}
	// Another org's admin sees none of acme.
	st, _ := adminGet(t, admin, keyEve, "/api/organizations/acme/usage")
	if st != 404 {
		t.Fatalf("another org's admin got %d, want 404", st)
	}
}

// nanoOf converts a JSON USD number to nano-dollars exactly.
func nanoOf(t testing.TB, v gjson.Result) int64 {
	t.Helper()
	s := v.Raw
	whole, frac, _ := strings.Cut(s, ".")
	for len(frac) < 9 {
		frac += "0"
	}
	var n int64
	for _, c := range whole + frac[:9] {
		if c < '0' || c > '9' {
			t.Fatalf("not a USD amount: %q", s)
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

func TestUnknownKeyIsRefusedInTheProviderShape(t *testing.T) {
	s, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	_, proxyURL, _ := startApp(t, cfg, appOptions{})
	cases := []struct {
		path string
		hdr  map[string]string
		want string // gjson path that must exist in the error body
		val  string
	}{
		{"/v1/chat/completions", map[string]string{"Authorization": "Bearer nope"}, "error.code", "invalid_api_key"},
		{"/v1/chat/completions", nil, "error.type", "invalid_request_error"},
		{"/v1/messages", map[string]string{"X-Api-Key": "nope"}, "error.type", "authentication_error"},
		{"/v1beta/models/gemini-2.5-flash:generateContent", map[string]string{"X-Goog-Api-Key": "nope"}, "error.status", "UNAUTHENTICATED"},
		{"/v1beta/models/gemini-2.5-flash:generateContent?key=" + keyOpenAI, nil, "error.code", "401"},
	}
	for _, c := range cases {
		st, body, _ := call(t, "POST", proxyURL+c.path, c.hdr, `{"model":"x"}`)
		if st != 401 || gjson.GetBytes(body, c.want).String() != c.val {
			t.Fatalf("%s %v: %d %s", c.path, c.hdr, st, body)
		}
	}
	if n := s.Count(); n != 0 {
		t.Fatalf("%d refused requests reached the provider", n)
	}
}

// TestStreamReachesClientBeforeUpstreamFinishes holds the upstream after its
// first event until the client has read that event through the proxy: a
// proxy that buffered would never deliver it.
func TestStreamReachesClientBeforeUpstreamFinishes(t *testing.T) {
	release := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/event-stream")
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			w.WriteString("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"first\"}}]}\n\n")
			w.Flush()
			select {
			case <-release:
			case <-time.After(20 * time.Second):
			}
			w.WriteString("data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":3,\"total_tokens\":10}}\n\n")
			w.WriteString("data: [DONE]\n\n")
			w.Flush()
		})
	}}
	go func() { _ = up.Serve(ln) }()
	t.Cleanup(func() { _ = up.Shutdown() })

	cfg := testConfig(t, "http://"+ln.Addr().String(), t.TempDir(), "")
	_, proxyURL, admin := startApp(t, cfg, appOptions{})
	req, _ := http.NewRequest("POST", proxyURL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[]}`))
	req.Header.Set("Authorization", "Bearer "+keyAlice)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make(chan string, 1)
	go func() {
		br := bufio.NewReader(resp.Body)
		line, _ := br.ReadString('\n')
		first <- line
	}()
	select {
	case line := <-first:
		if !strings.Contains(line, `"first"`) {
			t.Fatalf("first line %q", line)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the first event did not reach the client while the upstream held the rest: the proxy buffers")
	}
	close(release)
	waitFor(t, "the stream metered", func() bool {
		_, j := adminGet(t, admin, keyAlice, "/api/organizations/acme/usage?group_by=model")
		return j.Get("overview.input_tokens").Int() == 7 && j.Get("overview.output_tokens").Int() == 3
	})
}
