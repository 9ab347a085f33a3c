package main

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/examples/simulator/sim"
	"github.com/infermeter/infermeter/notify/smtptest"
)

// Secrets of TestSecretsNeverLeak: upstream keys and member keys, each a
// unique marker.
const (
	secretOpenAI    = "sk-live-MARKER-openai-7f3a9c41d2"
	secretAnthropic = "sk-ant-MARKER-anthropic-2b8d0e77"
	secretGemini    = "AIzaMARKER-gemini-5e1f00aa93bc"
	secretAlice     = "im-MEMBERKEY-alice-91c2f0"
	secretBob       = "im-MEMBERKEY-bob-44d0be"
	secretEve       = "im-MEMBERKEY-eve-d81a6c"
	secretNobody    = "im-MEMBERKEY-nobody-0000"
)

// startEchoUpstream serves the simulator behind a front that, for
// requests with X-Echo-Key, answers 401 quoting the credential it got, as
// some OpenAI-compatible servers do: the proxy must not pass the upstream
// key on, to the client or anywhere else.
func startEchoUpstream(t *testing.T) string {
	t.Helper()
	s := sim.New(sim.Options{})
	t.Cleanup(func() { _ = s.Close() })
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if len(ctx.Request.Header.Peek("X-Echo-Key")) == 0 {
			s.Handler(ctx)
			return
		}
		h := &ctx.Request.Header
		ctx.SetStatusCode(401)
		ctx.SetContentType("application/json")
		switch path := string(ctx.Path()); {
		case strings.HasPrefix(path, "/v1/messages"):
			ctx.SetBodyString(`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key: ` + string(h.Peek("X-Api-Key")) + `"}}`)
		case strings.HasPrefix(path, "/v1beta/"):
			ctx.SetBodyString(`{"error":{"code":400,"message":"API key not valid: ` + string(h.Peek("X-Goog-Api-Key")) + `","status":"INVALID_ARGUMENT"}}`)
		default:
			ctx.SetBodyString(`{"error":{"message":"Incorrect API key provided: ` + string(h.Peek("Authorization")) +
				`. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`)
		}
		ctx.Response.Header.Set("X-Seen-Key", "Bearer "+string(h.Peek("Authorization")))
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// TestSecretsNeverLeak runs every kind of traffic through the proxy with
// capture_bodies on and secrets in headers, query and bodies, then reads
// every output — the log, every admin API answer (details with captured
// headers and bodies, exports in each format, invoices, errors, insights,
// queries, alerts, members), scheduled report mails, the live feed,
// /metrics, the answers the clients got and the store's files — and finds
// no upstream key anywhere, and no member key except where a key is shown
// once by design (a created or rotated member).
func TestSecretsNeverLeak(t *testing.T) {
	base := startEchoUpstream(t)
	mail := smtptest.Start(t)
	dataDir := t.TempDir()
	cfg := testConfig(t, base, dataDir, fmt.Sprintf("capture_bodies: true\nsmtp: {host: %q, port: %d, from: \"infermeter@acme.example\"}\n", mail.Host(), mail.Port()))
	cfg.Upstreams[0].APIKey, cfg.Upstreams[1].APIKey, cfg.Upstreams[2].APIKey = secretOpenAI, secretAnthropic, secretGemini
	cfg.Orgs[0].Members[0].APIKey, cfg.Orgs[0].Members[1].APIKey, cfg.Orgs[1].Members[0].APIKey = secretAlice, secretBob, secretEve
	var logs logBuffer
	a, proxyURL, admin := startApp(t, cfg, appOptions{Logf: logs.Logf, AlertInterval: 20 * time.Millisecond})

	var out bytes.Buffer // every output, to be searched
	record := func(what string, status int, body []byte, hdr map[string][]string) {
		fmt.Fprintf(&out, "\n== %s: %d\n", what, status)
		for k, v := range hdr {
			fmt.Fprintf(&out, "%s: %s\n", k, strings.Join(v, ", "))
		}
		out.Write(body)
	}
	feed := feedClient(t, admin, secretAlice, true, "acme")

	// The traffic: every dialect, streamed and not, provider errors,
	// errors quoting the upstream key, an unknown key, secrets in bodies,
	// headers and the query.
	chatBody := `{"model":"gpt-4o-mini","api_key":"` + secretOpenAI + `","user":"` + secretAlice + `","messages":[{"role":"user","content":"my key is ` + secretOpenAI + ` and ` + secretAlice + `"}]}`
	streamBody := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Bearer ` + secretBob + `"}]}`
	msgBody := `{"model":"claude-haiku-4-5","max_tokens":10,"metadata":{"token":"` + secretAnthropic + `"},"messages":[{"role":"user","content":"hi ` + secretAnthropic + `"}]}`
	msgStream := `{"model":"claude-haiku-4-5","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}`
	gemBody := `{"contents":[{"parts":[{"text":"key=` + secretGemini + `"}]}]}`
	alice := map[string]string{"Authorization": "Bearer " + secretAlice, "X-Debug": "Bearer " + secretOpenAI, "X-Note": secretAlice}
	bob := map[string]string{"X-Api-Key": secretBob, "X-Infermeter-Tags": "team=core"}
	with := func(h map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range h {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	requests := []struct {
		path string
		hdr  map[string]string
		body string
	}{
		{"/v1/chat/completions", alice, chatBody},
		{"/v1/chat/completions", with(alice, "X-Sim-Encoding", "gzip"), chatBody},
		{"/v1/chat/completions", alice, streamBody},
		{"/v1/chat/completions", with(alice, "X-Sim-Status", "429"), chatBody},
		{"/v1/chat/completions", with(alice, "X-Sim-Status", "500"), streamBody},
		{"/v1/chat/completions", with(alice, "X-Sim-Stream-Error", "1"), streamBody},
		{"/v1/chat/completions", with(alice, "X-Echo-Key", "1"), chatBody},
		{"/v1/chat/completions", with(alice, "X-Echo-Key", "1"), streamBody},
		{"/v1/responses", alice, `{"model":"gpt-4o-mini","input":"` + secretOpenAI + `"}`},
		{"/v1/embeddings", alice, `{"model":"text-embedding-3-small","input":"x"}`},
		{"/v1/messages", bob, msgBody},
		{"/v1/messages", bob, msgStream},
		{"/v1/messages", with(bob, "X-Echo-Key", "1"), msgBody},
		{"/v1/messages", with(bob, "X-Sim-Status", "529"), msgBody},
		{"/v1beta/models/gemini-2.5-flash:generateContent?key=" + secretBob, nil, gemBody},
		{"/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", map[string]string{"X-Goog-Api-Key": secretBob}, gemBody},
		{"/v1beta/models/gemini-2.5-flash:generateContent", map[string]string{"X-Goog-Api-Key": secretBob, "X-Echo-Key": "1"}, gemBody},
		{"/v1/chat/completions", map[string]string{"Authorization": "Bearer " + secretNobody}, chatBody},
		{"/v1/chat/completions", with(alice, "X-Sim-Cut", "3"), streamBody},
	}
	for i, r := range requests {
		st, b, h, _ := send(t, "POST", proxyURL+r.path, r.hdr, r.body)
		record(fmt.Sprintf("proxy request %d", i), st, b, h)
	}
	const metered = 18 // all but the unknown key
	api := func(method, path, key, body string) gjson.Result {
		t.Helper()
		st, b, h := call(t, method, admin+path, map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/json"}, body)
		record(method+" "+path, st, b, h)
		return gjson.ParseBytes(b)
	}
	var logIDs []string
	waitFor(t, "the request logs", func() bool {
		_, j := adminGet(t, admin, secretAlice, "/api/account/request-logs?limit=1000")
		logIDs = logIDs[:0]
		for _, l := range j.Get("logs.#.id").Array() {
			logIDs = append(logIDs, l.String())
		}
		return len(logIDs) == metered
	})

	// The admin API, every route that shows data.
	created := api("POST", "/api/organizations/acme/members", secretAlice, `{"id":"carl","email":"carl@acme.example"}`).Get("api_key").String()
	rotated := api("POST", "/api/organizations/acme/members/carl/rotate", secretAlice, "").Get("api_key").String()
	if created == "" || rotated == "" {
		t.Fatal("no key shown at create or rotate")
	}
	shownOnce := out.Len() // outputs before this may show those two keys
	api("GET", "/api/organizations/acme/members", secretAlice, "")
	api("GET", "/api/organizations/acme/members/carl", secretAlice, "")
	api("PATCH", "/api/organizations/acme/members/carl", secretAlice, `{"department":"ops"}`)
	for _, g := range []string{"user", "model", "department", "billing_mode", "day", "tag:team"} {
		api("GET", "/api/organizations/acme/usage?include_budget=true&group_by="+g, secretAlice, "")
	}
	api("GET", "/api/account/request-logs?limit=1000", secretAlice, "")
	api("GET", "/api/account/request-logs?status=error", secretBob, "")
	for _, id := range logIDs {
		j := api("GET", "/api/account/request-logs/"+id+"/details", secretAlice, "")
		if !j.Get("request.captured").Bool() {
			t.Fatalf("details of %s: nothing captured: %s", id, j.Raw)
		}
	}
	api("GET", "/api/account/cost-insights", secretAlice, "")
	api("GET", "/api/account/errors", secretAlice, "")
	api("GET", "/api/account/errors", secretBob, "")
	api("GET", "/api/analytics/metrics", secretAlice, "")
	api("POST", "/api/analytics/query", secretAlice, `{"metrics":["requests","cost","errors"],"dimensions":["user","model","error_type","tag:team"]}`)
	for _, q := range []string{"format=csv", "format=json", "format=ndjson", "format=pdf", "summary=true", "summary=true&format=json"} {
		api("GET", "/api/organizations/acme/export/usage?"+q, secretAlice, "")
	}
	api("POST", "/api/account/alerts", secretAlice, `{"name":"errors","type":"error_rate","condition":"error_rate > 1","action":"email","recipients":["ops@acme.example"]}`)
	waitFor(t, "the alert", func() bool {
		_, j := adminGet(t, admin, secretAlice, "/api/account/alerts/history")
		return len(j.Get("history").Array()) == 1
	})
	api("GET", "/api/account/alerts", secretAlice, "")
	api("GET", "/api/account/alerts/history", secretAlice, "")
	today := time.Now().In(cfg.Orgs[0].Location()).Format(time.DateOnly)
	inv := api("POST", "/api/billing/invoices/generate", secretAlice, `{"period_start":"`+today+`","period_end":"`+today+`","group_by":"user"}`).Get("invoice.id").String()
	for _, f := range []string{"json", "csv", "pdf"} {
		api("GET", "/api/billing/invoices/"+inv+"?format="+f, secretAlice, "")
	}
	api("GET", "/api/billing/invoices", secretAlice, "")
	sched := api("POST", "/api/organizations/acme/reports/schedule", secretAlice,
		`{"name":"d","frequency":"daily","time":"07:00","format":"csv","recipients":["cfo@acme.example"],"include":["usage_summary","top_users","cost_breakdown","errors"]}`).Get("schedule.id").String()
	api("POST", "/api/organizations/acme/reports/schedule/"+sched+"/run", secretAlice, "")
	for _, m := range mail.Wait(t, 2, 10*time.Second) { // the alert and the report
		record("mail "+m.Subject, 0, m.Raw, nil)
		for _, at := range m.Attachments {
			record("attachment "+at.Name, 0, at.Data, nil)
		}
	}
	api("GET", "/api/organizations/acme/reports/schedule", secretAlice, "")
	api("GET", "/api/organizations/acme/reports/history", secretAlice, "")
	st, b, h := call(t, "GET", admin+"/metrics", nil, "")
	record("/metrics", st, b, h)
	st, b, h = call(t, "GET", admin+"/api/account/errors", map[string]string{"Authorization": "Bearer " + secretNobody}, "")
	record("admin 401", st, b, h)

	// The feed: one request or error event per metered request.
	for n := 0; n < metered; {
		_ = feed.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, msg, err := feed.ReadMessage()
		if err != nil {
			t.Fatalf("feed after %d events: %s", n, err)
		}
		record("feed", 0, msg, nil)
		if ty := gjson.GetBytes(msg, "type").String(); ty == "request" || ty == "error" {
			n++
		}
	}
	_ = feed.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))

	// The store's files, once closed.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dataDir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no store files: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		record("store file "+filepath.Base(f), 0, b, nil)
	}
	record("log", 0, []byte(logs.String()), nil)

	// PDF content streams are compressed: search their text too.
	all := out.Bytes()
	all = append(all, inflateStreams(all)...)
	for _, s := range []string{secretOpenAI, secretAnthropic, secretGemini, secretAlice, secretBob, secretEve, secretNobody} {
		for rest, off := all, 0; ; {
			i := bytes.Index(rest, []byte(s))
			if i < 0 {
				break
			}
			t.Errorf("secret %s found in %s: …%s…", s, section(all, off+i), around(rest, i))
			rest, off = rest[i+len(s):], off+i+len(s)
		}
	}
	for _, s := range []string{created, rotated} {
		if i := bytes.Index(all[shownOnce:], []byte(s)); i >= 0 {
			t.Errorf("a member key shown once found again: …%s…", around(all[shownOnce:], i))
		}
	}
	// The search saw what it should: redaction marks, the scrubbed
	// upstream errors, the store, the mails and the feed.
	for _, want := range []string{"[REDACTED]", "Incorrect API key provided: Bearer [REDACTED]", "invalid x-api-key: [REDACTED]", "== store file infermeter.db", "== attachment ", "== feed"} {
		if !bytes.Contains(all, []byte(want)) {
			t.Errorf("the outputs lack %q: the test did not see what it should", want)
		}
	}
}

// section returns the "== …" title of the output holding b[i].
func section(b []byte, i int) string {
	j := bytes.LastIndex(b[:i], []byte("\n== "))
	if j < 0 {
		return "?"
	}
	line, _, _ := bytes.Cut(b[j+4:], []byte("\n"))
	return string(line)
}

// around returns up to 200 bytes around b[i].
func around(b []byte, i int) string {
	return string(b[max(0, i-150):min(len(b), i+50)])
}

// inflateStreams returns the zlib-decoded contents of every PDF stream in
// b (those that decode).
func inflateStreams(b []byte) []byte {
	var out []byte
	for {
		i := bytes.Index(b, []byte("stream\n"))
		if i < 0 {
			return out
		}
		b = b[i+len("stream\n"):]
		j := bytes.Index(b, []byte("endstream"))
		if j < 0 {
			return out
		}
		if r, err := zlib.NewReader(bytes.NewReader(b[:j])); err == nil {
			d, _ := io.ReadAll(r)
			out = append(out, d...)
		}
		b = b[j:]
	}
}
