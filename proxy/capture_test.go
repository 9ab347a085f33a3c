package proxy

import (
	"bytes"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter"
)

func TestRedact(t *testing.T) {
	secrets := [][]byte{[]byte("im-alice-key"), []byte("upstream-gemini-key")}
	f := func(in, want string) {
		t.Helper()
		if got := string(redact([]byte(in), secrets)); got != want {
			t.Errorf("redact(%q)\n got %q\nwant %q", in, got, want)
		}
	}
	// Nothing to redact: unchanged, usage counts included.
	f(``, ``)
	f(`{"model":"gpt-4o","max_tokens":10,"usage":{"input_tokens":5}}`, `{"model":"gpt-4o","max_tokens":10,"usage":{"input_tokens":5}}`)
	f(`a task-management-system and sk-learn`, `a task-management-system and sk-learn`)
	f(`plain words: bearer of news`, `plain words: bearer of news`)

	// Verbatim secrets, anywhere.
	f(`{"content":"my key is im-alice-key!"}`, `{"content":"my key is [REDACTED]!"}`)
	f(`xim-alice-keyx upstream-gemini-key`, `x[REDACTED]x [REDACTED]`)

	// Credential-like JSON members (string values only), any case and
	// separator, spaces around the colon, in nested objects.
	f(`{"api_key":"abc","n":1}`, `{"api_key":"[REDACTED]","n":1}`)
	f(`{"apiKey" : "abc"}`, `{"apiKey" : "[REDACTED]"}`)
	f(`{"x":{"Authorization":"Basic Zm9vOmJhcg=="}}`, `{"x":{"Authorization":"[REDACTED]"}}`)
	f(`{"password":"p\"w","secret":"s","token":"t","key":"k","client_secret":"c","access-token":"a"}`,
		`{"password":"[REDACTED]","secret":"[REDACTED]","token":"[REDACTED]","key":"[REDACTED]","client_secret":"[REDACTED]","access-token":"[REDACTED]"}`)
	f(`{"token":5,"key":null,"secret":{"a":1}}`, `{"token":5,"key":null,"secret":{"a":1}}`)
	f(`{"content":"\"api_key\" is a name"}`, `{"content":"\"api_key\" is a name"}`)
	// Cut short: the open value is redacted to the end.
	f(`{"api_key":"abcdef`, `{"api_key":"[REDACTED]`)
	// In an SSE stream.
	f("data: {\"token\":\"x\"}\n\ndata: [DONE]\n\n", "data: {\"token\":\"[REDACTED]\"}\n\ndata: [DONE]\n\n")

	// Provider key patterns.
	f(`{"content":"use sk-test-SECRET123 please"}`, `{"content":"use [REDACTED] please"}`)
	f(`sk-ant-api03-AbCdEf_123-xyz`, `[REDACTED]`)
	f(`key=AIzaSyA1234567890abcdefghij&x=1`, `key=[REDACTED]&x=1`)
	f(`Authorization: Bearer eyJhbGciOi.J9.sig== rest`, `Authorization: Bearer [REDACTED] rest`)
	f(`BEARER  abcdefgh1`, `BEARER  [REDACTED]`)
	f(`Bearer abc`, `Bearer abc`)
	f(`sk-short`, `sk-short`)
	f(`AIzaShort`, `AIzaShort`)
	// Already redacted: stable.
	f(`{"api_key":"[REDACTED]","a":"Bearer [REDACTED]"}`, `{"api_key":"[REDACTED]","a":"Bearer [REDACTED]"}`)
}

func TestKeepHeader(t *testing.T) {
	f := func(name string, want bool) {
		t.Helper()
		if got := keepHeader([]byte(name)); got != want {
			t.Errorf("keepHeader(%q) = %v, want %v", name, got, want)
		}
	}
	for _, h := range []string{"Authorization", "Proxy-Authorization", "X-Api-Key", "x-goog-api-key", "Cookie",
		"Set-Cookie", "X-Infermeter-Key", "X-Custom-Token", "X-Client-Secret", "X-Auth-User", "Anthropic-Ratelimit-Tokens-Limit"} {
		f(h, false)
	}
	for _, h := range []string{"Content-Type", "X-Request-Id", "User-Agent", "X-Infermeter-Tags", "Openai-Processing-Ms"} {
		f(h, true)
	}
}

func TestCaptureBodies(t *testing.T) {
	p := &Proxy{}
	up := &upstream{name: "openai", key: "sk-upstream-openai"}
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(fasthttp.MethodPost)
	ctx.Request.SetRequestURI("/v1/chat/completions?key=im-query-key-1")
	ctx.Request.Header.Set("Authorization", "Bearer im-alice-key")
	ctx.Request.Header.Set("X-Custom", "carries im-alice-key")
	ctx.Request.Header.Set("X-Infermeter-Tags", "env=prod")
	ctx.Request.Header.SetContentType("application/json")
	ctx.Request.SetBodyString(`{"model":"gpt-4o","messages":[{"role":"user","content":"im-alice-key im-query-key-1 sk-upstream-openai"}]}`)
	c := p.newCapture(&ctx, up)

	ctx.Response.Header.Set("X-Request-Id", "req_1")
	ctx.Response.Header.Set("Set-Cookie", "a=b")
	ctx.Response.Header.SetContentType("application/json")
	var gz bytes.Buffer
	if _, err := fasthttp.WriteGzip(&gz, []byte(`{"echo":"sk-upstream-openai"}`)); err != nil {
		t.Fatal(err)
	}
	ctx.Response.Header.SetContentEncoding("gzip")
	ctx.Response.SetBodyRaw(gz.Bytes())
	c.response(&ctx.Response)
	got := c.finish()

	want := `{"model":"gpt-4o","messages":[{"role":"user","content":"[REDACTED] [REDACTED] [REDACTED]"}]}`
	if got.RequestBody != want || got.RequestTruncated {
		t.Errorf("request body %q (truncated %v), want %q", got.RequestBody, got.RequestTruncated, want)
	}
	if got.ResponseBody != `{"echo":"[REDACTED]"}` || got.ResponseTruncated {
		t.Errorf("response body %q (truncated %v)", got.ResponseBody, got.ResponseTruncated)
	}
	headers := func(hs []meter.Header) map[string]string {
		m := map[string]string{}
		for _, h := range hs {
			m[h.Name] = h.Value
		}
		return m
	}
	rq := headers(got.RequestHeaders)
	if _, ok := rq["Authorization"]; ok {
		t.Errorf("Authorization captured: %v", rq)
	}
	if rq["X-Custom"] != "carries [REDACTED]" || rq["X-Infermeter-Tags"] != "env=prod" || rq["Content-Type"] != "application/json" {
		t.Errorf("request headers %v", rq)
	}
	rs := headers(got.ResponseHeaders)
	if _, ok := rs["Set-Cookie"]; ok || rs["X-Request-Id"] != "req_1" || rs["Content-Encoding"] != "gzip" {
		t.Errorf("response headers %v", rs)
	}
}

func TestCaptureTruncates(t *testing.T) {
	c := &capture{secrets: [][]byte{[]byte("im-alice-key")}}
	// A secret across the cut is still redacted, and the cut keeps UTF-8
	// whole.
	body := strings.Repeat("é", meter.MaxCaptureBody/2-3) + "xim-alice-key" + strings.Repeat("z", 100)
	got, truncated := c.body([]byte(body))
	if !truncated || len(got) > meter.MaxCaptureBody || strings.Contains(got, "im-al") {
		t.Fatalf("len %d, truncated %v, tail %q", len(got), truncated, got[len(got)-20:])
	}
	if !strings.HasSuffix(got, "éx[REDA") {
		t.Fatalf("tail %q", got[len(got)-20:])
	}
	// A stream longer than the window.
	c = &capture{}
	chunk := []byte(strings.Repeat("data: {}\n\n", 1000))
	for range 10 {
		c.addResponse(chunk)
	}
	out := c.finish()
	if !out.ResponseTruncated || len(out.ResponseBody) != meter.MaxCaptureBody {
		t.Fatalf("stream: len %d, truncated %v", len(out.ResponseBody), out.ResponseTruncated)
	}
	// Short bodies are whole.
	c = &capture{}
	c.addResponse([]byte("data: {\"api_key\":\"x\"}\n\n"))
	if out := c.finish(); out.ResponseTruncated || out.ResponseBody != "data: {\"api_key\":\"[REDACTED]\"}\n\n" {
		t.Fatalf("short stream: %+v", out)
	}
}

func TestIDSlab(t *testing.T) {
	var a idSlab
	var got []string
	for i := range 1000 {
		got = append(got, a.string([]byte(strings.Repeat(string(rune('a'+i%26)), 1+i%40))))
	}
	for i, s := range got {
		if want := strings.Repeat(string(rune('a'+i%26)), 1+i%40); s != want {
			t.Fatalf("string %d = %q, want %q", i, s, want)
		}
	}
	if a.string(nil) != "" {
		t.Fatal("empty")
	}
	long := strings.Repeat("x", idSlabSize+1)
	if a.string([]byte(long)) != long {
		t.Fatal("long")
	}
}

func FuzzRedact(f *testing.F) {
	f.Add(`{"api_key":"abc","content":"sk-test-SECRET123 im-alice-key"}`, "im-alice-key")
	f.Add("data: {\"token\":\"x\"}\n\nBearer abc.def", "secret-value")
	f.Add(`{"a":"\"key\":\"v\"","key":"`, "AIzaSyA1234567890abcdefghij")
	f.Fuzz(func(t *testing.T, in, secret string) {
		out := redact([]byte(in), [][]byte{[]byte(secret)})
		// The secret never survives (one that could be made of the
		// replacement's own bytes aside).
		if len(secret) >= minSecretLen && !strings.ContainsAny(secret, "[]") && bytes.Contains(out, []byte(secret)) {
			t.Fatalf("secret %q survives in %q", secret, out)
		}
		// No provider key pattern survives.
		if again := redactPatterns(bytes.Clone(out)); !bytes.Equal(again, out) {
			t.Fatalf("patterns survive: %q -> %q", out, again)
		}
		// Redacting twice changes nothing more for key patterns and
		// fields (verbatim secrets aside, which may contain quotes).
		if len(secret) < minSecretLen {
			if twice := redact(out, nil); !bytes.Equal(twice, out) {
				t.Fatalf("not stable: %q -> %q -> %q", in, out, twice)
			}
		}
	})
}
