package sim

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// start serves a new simulator on an in-memory listener and returns it with
// an HTTP client dialling it.
func start(t testing.TB, opt Options) (*Server, *http.Client, *fasthttputil.InmemoryListener) {
	t.Helper()
	s := New(opt)
	ln := fasthttputil.NewInmemoryListener()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("cannot close simulator: %s", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Serve returned %s", err)
		}
	})
	tr := &http.Transport{
		DialContext:        func(context.Context, string, string) (net.Conn, error) { return ln.Dial() },
		DisableCompression: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return s, &http.Client{Transport: tr}, ln
}

type result struct {
	status  int
	header  http.Header
	body    []byte
	readErr error
}

func do(t testing.TB, c *http.Client, method, path, body string, hdr ...string) result {
	t.Helper()
	req, err := http.NewRequest(method, "http://sim"+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("cannot build request: %s", err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("cannot do %s %s: %s", method, path, err)
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: b, readErr: rerr}
}

func post(t testing.TB, c *http.Client, path, body string, hdr ...string) result {
	t.Helper()
	r := do(t, c, http.MethodPost, path, body, hdr...)
	if r.readErr != nil {
		t.Fatalf("cannot read body of %s: %s", path, r.readErr)
	}
	return r
}

// wantJSON checks that each path of body has the given raw JSON value.
func wantJSON(t *testing.T, body []byte, kv ...string) {
	t.Helper()
	if !gjson.ValidBytes(body) {
		t.Fatalf("invalid JSON: %s", body)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		got := gjson.GetBytes(body, kv[i]).Raw
		if got != kv[i+1] {
			t.Errorf("%s = %s, want %s\nbody: %s", kv[i], got, kv[i+1], body)
		}
	}
}

type event struct {
	name string
	data string
}

// events splits an SSE body into events; sep is "\n\n" or "\r\n\r\n".
func events(t *testing.T, body []byte, sep string) []event {
	t.Helper()
	var out []event
	for block := range strings.SplitSeq(string(body), sep) {
		if block == "" {
			continue
		}
		var ev event
		for line := range strings.SplitSeq(strings.TrimRight(block, "\r\n"), strings.TrimPrefix(sep[:len(sep)/2], "")) {
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[len("data: "):]
			default:
				t.Fatalf("unexpected line %q in block %q", line, block)
			}
		}
		out = append(out, ev)
	}
	return out
}

var tokens = []string{
	"X-Sim-Input-Tokens", "100", "X-Sim-Output-Tokens", "40", "X-Sim-Cached-Tokens", "30",
	"X-Sim-Cache-Write-Tokens", "5", "X-Sim-Reasoning-Tokens", "10", "X-Sim-Chunks", "4",
}

func hdrs(extra ...string) []string { return append(append([]string(nil), tokens...), extra...) }

func TestNonStreamed(t *testing.T) {
	_, c, _ := start(t, Options{})
	f := func(path, body string, kv ...string) {
		t.Helper()
		r := post(t, c, path, body, tokens...)
		if r.status != 200 {
			t.Fatalf("%s: status %d: %s", path, r.status, r.body)
		}
		wantJSON(t, r.body, kv...)
	}
	f("/v1/chat/completions", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`,
		"model", `"gpt-4o-mini"`, "object", `"chat.completion"`,
		"choices.0.message.content", `"lorem ipsum dolor sit"`, "choices.0.finish_reason", `"stop"`,
		"usage.prompt_tokens", "100", "usage.completion_tokens", "40", "usage.total_tokens", "140",
		"usage.prompt_tokens_details.cached_tokens", "30", "usage.prompt_tokens_details.cache_write_tokens", "5",
		"usage.completion_tokens_details.reasoning_tokens", "10")
	f("/v1/completions", `{"model":"gpt-3.5-turbo-instruct","prompt":"x"}`,
		"model", `"gpt-3.5-turbo-instruct"`, "object", `"text_completion"`, "choices.0.text", `"lorem ipsum dolor sit"`,
		"usage.prompt_tokens", "100", "usage.completion_tokens", "40", "usage.total_tokens", "140",
		"usage.prompt_tokens_details.cached_tokens", "30")
	f("/v1/responses", `{"model":"gpt-4o","input":"hi"}`,
		"model", `"gpt-4o"`, "object", `"response"`, "status", `"completed"`,
		"output.0.content.0.text", `"lorem ipsum dolor sit"`,
		"usage.input_tokens", "100", "usage.input_tokens_details.cached_tokens", "30",
		"usage.input_tokens_details.cache_write_tokens", "5", "usage.output_tokens", "40",
		"usage.output_tokens_details.reasoning_tokens", "10", "usage.total_tokens", "140")
	f("/v1/embeddings", `{"model":"text-embedding-3-small","input":["a","b"]}`,
		"model", `"text-embedding-3-small"`, "data.#", "2", "data.1.index", "1", "data.0.embedding.#", "8",
		"usage.prompt_tokens", "100", "usage.total_tokens", "100", "usage.completion_tokens", "")
	f("/v1/embeddings", `{"model":"text-embedding-3-small","input":[1,2,3],"encoding_format":"base64"}`,
		"data.#", "1", "data.0.embedding", `"zczMvQ4tsr1QjZe9I9t5vaabRL0pXA+9WDm0vLx0E7w="`)
	// That base64 string is 8 little-endian float32: -0.1, -0.087, ...
	raw, err := base64.StdEncoding.DecodeString("zczMvQ4tsr1QjZe9I9t5vaabRL0pXA+9WDm0vLx0E7w=")
	if err != nil || len(raw) != 32 {
		t.Fatalf("bad base64: %v", err)
	}
	if v := math.Float32frombits(binary.LittleEndian.Uint32(raw)); v != -0.1 {
		t.Errorf("first component %v", v)
	}
	r0 := post(t, c, "/v1/embeddings", `{"model":"x","input":"a"}`)
	wantJSON(t, r0.body, "data.0.embedding.0", "-0.1", "data.0.embedding.1", "-0.087")
	f("/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`,
		"model", `"claude-sonnet-4-5"`, "type", `"message"`, "content.0.text", `"lorem ipsum dolor sit"`,
		"stop_reason", `"end_turn"`,
		"usage.input_tokens", "65", "usage.cache_read_input_tokens", "30", "usage.cache_creation_input_tokens", "5",
		"usage.cache_creation.ephemeral_5m_input_tokens", "5", "usage.cache_creation.ephemeral_1h_input_tokens", "0",
		"usage.output_tokens", "40", "usage.output_tokens_details.thinking_tokens", "10")
	f("/v1beta/models/gemini-2.5-flash:generateContent", `{"contents":[{"parts":[{"text":"hi"}]}]}`,
		"modelVersion", `"gemini-2.5-flash"`, "candidates.0.content.parts.0.text", `"lorem ipsum dolor sit"`,
		"candidates.0.finishReason", `"STOP"`,
		"usageMetadata.promptTokenCount", "100", "usageMetadata.cachedContentTokenCount", "30",
		"usageMetadata.candidatesTokenCount", "30", "usageMetadata.thoughtsTokenCount", "10",
		"usageMetadata.totalTokenCount", "140")

	r := do(t, c, http.MethodGet, "/v1/models", "")
	wantJSON(t, r.body, "object", `"list"`, "data.0.id", `"gpt-4o-mini"`, "data.#", "7")
}

func TestDefaultsAndClamping(t *testing.T) {
	_, c, _ := start(t, Options{CachedTokens: 5})
	r := post(t, c, "/v1/chat/completions", `{"model":"m"}`)
	wantJSON(t, r.body, "usage.prompt_tokens", "25", "usage.completion_tokens", "50",
		"usage.prompt_tokens_details.cached_tokens", "5", "choices.0.message.content",
		`"lorem ipsum dolor sit amet consectetur adipiscing elit sed do"`)
	// Gemini omits zero thoughts and cached counts, as the real API does.
	r = post(t, c, "/v1beta/models/g:generateContent", `{}`, "X-Sim-Cached-Tokens", "0")
	wantJSON(t, r.body, "usageMetadata.promptTokenCount", "25", "usageMetadata.candidatesTokenCount", "50",
		"usageMetadata.thoughtsTokenCount", "", "usageMetadata.cachedContentTokenCount", "")
	// Parts larger than their totals are clamped.
	r = post(t, c, "/v1/messages", `{"model":"c"}`, "X-Sim-Input-Tokens", "10", "X-Sim-Cached-Tokens", "8",
		"X-Sim-Cache-Write-Tokens", "7", "X-Sim-Output-Tokens", "3", "X-Sim-Reasoning-Tokens", "9")
	wantJSON(t, r.body, "usage.input_tokens", "0", "usage.cache_read_input_tokens", "8",
		"usage.cache_creation_input_tokens", "2", "usage.output_tokens", "3", "usage.output_tokens_details.thinking_tokens", "3")
	// Anthropic omits thinking tokens when there are none.
	r = post(t, c, "/v1/messages", `{"model":"c"}`)
	wantJSON(t, r.body, "usage.input_tokens", "20", "usage.output_tokens_details", "")
}

func TestChatStream(t *testing.T) {
	_, c, _ := start(t, Options{})
	body := `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true}}`
	r := post(t, c, "/v1/chat/completions", body, tokens...)
	if ct := r.header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Fatalf("content type %q", ct)
	}
	evs := events(t, r.body, "\n\n")
	// role chunk, 4 words, finish chunk, usage chunk, [DONE]
	if len(evs) != 8 {
		t.Fatalf("got %d events: %s", len(evs), r.body)
	}
	var text string
	for i, ev := range evs[:6] {
		wantJSON(t, []byte(ev.data), "usage", "null", "object", `"chat.completion.chunk"`, "model", `"gpt-4o"`)
		text += gjson.Get(ev.data, "choices.0.delta.content").Str
		if i == 5 {
			wantJSON(t, []byte(ev.data), "choices.0.finish_reason", `"stop"`)
		}
	}
	if text != "lorem ipsum dolor sit" {
		t.Errorf("text %q", text)
	}
	wantJSON(t, []byte(evs[6].data), "choices", "[]", "usage.prompt_tokens", "100", "usage.completion_tokens", "40",
		"usage.total_tokens", "140", "usage.prompt_tokens_details.cached_tokens", "30",
		"usage.completion_tokens_details.reasoning_tokens", "10")
	if evs[7].data != "[DONE]" {
		t.Errorf("last event %q", evs[7].data)
	}

	// Without include_usage: no usage key at all, as the real API.
	r = post(t, c, "/v1/chat/completions", `{"model":"gpt-4o","stream":true}`, tokens...)
	if bytes.Contains(r.body, []byte("usage")) {
		t.Errorf("usage without include_usage: %s", r.body)
	}
	if evs = events(t, r.body, "\n\n"); len(evs) != 7 || evs[6].data != "[DONE]" {
		t.Errorf("got %d events: %s", len(evs), r.body)
	}
}

func TestCompletionsStream(t *testing.T) {
	_, c, _ := start(t, Options{})
	r := post(t, c, "/v1/completions", `{"model":"gpt-3.5-turbo-instruct","stream":true,"stream_options":{"include_usage":true}}`, tokens...)
	evs := events(t, r.body, "\n\n")
	if len(evs) != 7 { // 4 words, finish, usage, [DONE]
		t.Fatalf("got %d events: %s", len(evs), r.body)
	}
	wantJSON(t, []byte(evs[0].data), "object", `"text_completion"`, "choices.0.text", `"lorem"`, "usage", "null")
	wantJSON(t, []byte(evs[4].data), "choices.0.finish_reason", `"stop"`)
	wantJSON(t, []byte(evs[5].data), "choices", "[]", "usage.prompt_tokens", "100", "usage.completion_tokens", "40")
}

func TestResponsesStream(t *testing.T) {
	_, c, _ := start(t, Options{})
	r := post(t, c, "/v1/responses", `{"model":"gpt-4o","stream":true}`, tokens...)
	evs := events(t, r.body, "\n\n")
	var names []string
	for i, ev := range evs {
		names = append(names, ev.name)
		wantJSON(t, []byte(ev.data), "type", `"`+ev.name+`"`, "sequence_number", itoa(i))
	}
	want := "response.created response.in_progress response.output_item.added response.content_part.added " +
		strings.Repeat("response.output_text.delta ", 4) +
		"response.output_text.done response.content_part.done response.output_item.done response.completed"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("events\n%s\nwant\n%s", got, want)
	}
	wantJSON(t, []byte(evs[0].data), "response.usage", "null", "response.model", `"gpt-4o"`)
	wantJSON(t, []byte(evs[4].data), "delta", `"lorem"`)
	last := []byte(evs[len(evs)-1].data)
	wantJSON(t, last, "response.status", `"completed"`, "response.usage.input_tokens", "100",
		"response.usage.input_tokens_details.cached_tokens", "30", "response.usage.output_tokens", "40",
		"response.usage.output_tokens_details.reasoning_tokens", "10", "response.usage.total_tokens", "140",
		"response.output.0.content.0.text", `"lorem ipsum dolor sit"`)
	if bytes.Contains(r.body, []byte("[DONE]")) {
		t.Errorf("Responses stream must not end with [DONE]")
	}
}

func itoa(i int) string { return string(appendInt(nil, int64(i))) }

func TestMessagesStream(t *testing.T) {
	_, c, _ := start(t, Options{})
	r := post(t, c, "/v1/messages", `{"model":"claude-haiku-4-5","stream":true}`, tokens...)
	evs := events(t, r.body, "\n\n")
	var names []string
	for _, ev := range evs {
		names = append(names, ev.name)
		wantJSON(t, []byte(ev.data), "type", `"`+ev.name+`"`)
	}
	want := "message_start content_block_start ping " + strings.Repeat("content_block_delta ", 4) +
		"content_block_stop message_delta message_stop"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("events\n%s\nwant\n%s", got, want)
	}
	wantJSON(t, []byte(evs[0].data), "message.model", `"claude-haiku-4-5"`, "message.usage.input_tokens", "65",
		"message.usage.cache_read_input_tokens", "30", "message.usage.cache_creation_input_tokens", "5",
		"message.usage.cache_creation.ephemeral_5m_input_tokens", "5", "message.usage.output_tokens", "1",
		"message.usage.output_tokens_details", "")
	wantJSON(t, []byte(evs[3].data), "delta.text", `"lorem"`)
	wantJSON(t, []byte(evs[8].data), "delta.stop_reason", `"end_turn"`, "usage.input_tokens", "65",
		"usage.cache_read_input_tokens", "30", "usage.cache_creation_input_tokens", "5",
		"usage.output_tokens", "40", "usage.output_tokens_details.thinking_tokens", "10")
}

func TestGeminiSSE(t *testing.T) {
	_, c, _ := start(t, Options{})
	r := post(t, c, "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", `{}`, tokens...)
	if ct := r.header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	if !bytes.HasPrefix(r.body, []byte("data: {")) || !bytes.HasSuffix(r.body, []byte("}\r\n\r\n")) ||
		bytes.Count(r.body, []byte("\r\n\r\n")) != 4 {
		t.Fatalf("framing: %q", r.body)
	}
	evs := events(t, r.body, "\r\n\r\n")
	for i, want := range []string{"7", "15", "22", "30"} { // (40-10)*k/4
		wantJSON(t, []byte(evs[i].data), "modelVersion", `"gemini-2.5-pro"`,
			"usageMetadata.promptTokenCount", "100", "usageMetadata.cachedContentTokenCount", "30",
			"usageMetadata.thoughtsTokenCount", "10", "usageMetadata.candidatesTokenCount", want)
	}
	wantJSON(t, []byte(evs[0].data), "candidates.0.finishReason", "", "candidates.0.content.parts.0.text", `"lorem"`)
	wantJSON(t, []byte(evs[3].data), "candidates.0.finishReason", `"STOP"`, "usageMetadata.totalTokenCount", "140")
}

func TestGeminiJSONArray(t *testing.T) {
	_, c, _ := start(t, Options{})
	r := post(t, c, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", `{}`, tokens...)
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
		t.Fatalf("content type %q", ct)
	}
	if !bytes.HasPrefix(r.body, []byte("[{")) || !bytes.HasSuffix(r.body, []byte("}\n]")) ||
		bytes.Count(r.body, []byte("}\n,\r\n{")) != 3 {
		t.Fatalf("framing: %q", r.body)
	}
	wantJSON(t, r.body, "#", "4", "3.usageMetadata.candidatesTokenCount", "30", "3.usageMetadata.thoughtsTokenCount", "10",
		"3.candidates.0.finishReason", `"STOP"`, "0.candidates.0.content.parts.0.text", `"lorem"`)
}

// TestStreamIsIncremental reads the first event of each kind of stream
// while the simulator is still waiting to send the next one.
func TestStreamIsIncremental(t *testing.T) {
	_, _, ln := start(t, Options{})
	f := func(path, body, first string) {
		t.Helper()
		conn, err := ln.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		req := "POST " + path + " HTTP/1.1\r\nHost: sim\r\nX-Sim-Gap: 1h\r\nContent-Type: application/json\r\nContent-Length: " +
			itoa(len(body)) + "\r\n\r\n" + body
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(conn)
		var got strings.Builder
		for !strings.Contains(got.String(), first) {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: read %q then %s", path, got.String(), err)
			}
			got.WriteString(line)
		}
		if strings.Contains(got.String(), "0\r\n\r\n") {
			t.Errorf("%s: stream ended early: %q", path, got.String())
		}
	}
	f("/v1/chat/completions", `{"model":"m","stream":true}`, `"role":"assistant"`)
	f("/v1/messages", `{"model":"m","stream":true}`, `event: ping`)
	f("/v1/responses", `{"model":"m","stream":true}`, `response.content_part.added`)
	f("/v1beta/models/m:streamGenerateContent?alt=sse", `{}`, `"lorem"`)
}

func TestNoUsage(t *testing.T) {
	_, c, _ := start(t, Options{})
	f := func(path, body string) {
		t.Helper()
		r := post(t, c, path, body, hdrs("X-Sim-No-Usage", "1")...)
		if r.status != 200 || len(r.body) < 100 {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		for _, key := range []string{`"usage":{`, "usageMetadata", "prompt_tokens", "input_tokens"} {
			if bytes.Contains(r.body, []byte(key)) {
				t.Errorf("%s: %s in %s", path, key, r.body)
			}
		}
	}
	f("/v1/chat/completions", `{"model":"m"}`)
	f("/v1/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`)
	f("/v1/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`)
	f("/v1/responses", `{"model":"m"}`)
	f("/v1/responses", `{"model":"m","stream":true}`)
	f("/v1/embeddings", `{"model":"m","input":"x"}`)
	f("/v1/messages", `{"model":"m"}`)
	f("/v1/messages", `{"model":"m","stream":true}`)
	f("/v1beta/models/m:generateContent", `{}`)
	f("/v1beta/models/m:streamGenerateContent?alt=sse", `{}`)
	f("/v1beta/models/m:streamGenerateContent", `{}`)
}

func TestCut(t *testing.T) {
	_, c, _ := start(t, Options{})
	f := func(path, body, word string, wantWords int) {
		t.Helper()
		r := do(t, c, http.MethodPost, path, body, hdrs("X-Sim-Cut", "2")...)
		if r.status != 200 {
			t.Fatalf("%s: status %d", path, r.status)
		}
		if !errors.Is(r.readErr, io.ErrUnexpectedEOF) {
			t.Errorf("%s: read error %v, want unexpected EOF", path, r.readErr)
		}
		if n := bytes.Count(r.body, []byte(word)); n != wantWords {
			t.Errorf("%s: %d content chunks, want %d: %s", path, n, wantWords, r.body)
		}
		for _, key := range []string{"[DONE]", `"usage":{`, "usageMetadata", `"finish_reason":"stop"`, "STOP", "message_delta", "response.completed"} {
			if bytes.Contains(r.body, []byte(key)) {
				t.Errorf("%s: %s in cut stream %s", path, key, r.body)
			}
		}
	}
	f("/v1/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, `"delta":{"content":"`, 2)
	f("/v1/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, `{"text":"`, 2)
	f("/v1/responses", `{"model":"m","stream":true}`, "event: response.output_text.delta", 2)
	f("/v1/messages", `{"model":"m","stream":true}`, "event: content_block_delta", 2)
	f("/v1beta/models/m:streamGenerateContent?alt=sse", `{}`, `"parts"`, 2)
	f("/v1beta/models/m:streamGenerateContent", `{}`, `"parts"`, 2)
}

func TestStreamError(t *testing.T) {
	_, c, _ := start(t, Options{})
	h := hdrs("X-Sim-Stream-Error", "1")
	r := post(t, c, "/v1/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, h...)
	evs := events(t, r.body, "\n\n")
	if len(evs) != 5 { // role, 2 words, error, [DONE]
		t.Fatalf("%d events: %s", len(evs), r.body)
	}
	wantJSON(t, []byte(evs[3].data), "error.code", "502", "error.message",
		`"Upstream provider error: the model stopped unexpectedly"`, "usage", "")

	r = post(t, c, "/v1/responses", `{"model":"m","stream":true}`, h...)
	evs = events(t, r.body, "\n\n")
	n := len(evs)
	if n != 8 || evs[n-2].name != "error" || evs[n-1].name != "response.failed" {
		t.Fatalf("events: %s", r.body)
	}
	wantJSON(t, []byte(evs[n-2].data), "error.code", `"server_error"`)
	wantJSON(t, []byte(evs[n-1].data), "response.status", `"failed"`, "response.error.code", `"server_error"`, "response.usage", "null")

	r = post(t, c, "/v1/messages", `{"model":"m","stream":true}`, h...)
	evs = events(t, r.body, "\n\n")
	n = len(evs)
	if n != 6 || evs[n-1].name != "error" {
		t.Fatalf("events: %s", r.body)
	}
	wantJSON(t, []byte(evs[n-1].data), "error.type", `"overloaded_error"`, "error.message", `"Overloaded"`)

	r = post(t, c, "/v1beta/models/m:streamGenerateContent?alt=sse", `{}`, h...)
	evs = events(t, r.body, "\r\n\r\n")
	if len(evs) != 3 {
		t.Fatalf("events: %s", r.body)
	}
	wantJSON(t, []byte(evs[2].data), "error.code", "503", "error.status", `"UNAVAILABLE"`)
}

func TestErrorStatuses(t *testing.T) {
	_, c, _ := start(t, Options{})
	f := func(path string, status int, kv ...string) {
		t.Helper()
		r := post(t, c, path, `{"model":"mm"}`, "X-Sim-Status", itoa(status))
		if r.status != status {
			t.Fatalf("%s: status %d, want %d", path, r.status, status)
		}
		wantJSON(t, r.body, kv...)
	}
	const oa, an, ge = "/v1/chat/completions", "/v1/messages", "/v1beta/models/mm:generateContent"
	f(oa, 400, "error.type", `"invalid_request_error"`, "error.code", "null", "error.param", "null")
	f(oa, 401, "error.type", `"invalid_request_error"`, "error.code", `"invalid_api_key"`)
	f(oa, 404, "error.code", `"model_not_found"`, "error.message", "\"The model `mm` does not exist or you do not have access to it.\"")
	f(oa, 429, "error.type", `"requests"`, "error.code", `"rate_limit_exceeded"`)
	f(oa, 500, "error.type", `"server_error"`, "error.code", "null")
	f(oa, 503, "error.type", `"server_error"`)
	f(oa, 529, "error.type", `"server_error"`)
	f(an, 400, "type", `"error"`, "error.type", `"invalid_request_error"`)
	f(an, 401, "error.type", `"authentication_error"`, "error.message", `"invalid x-api-key"`)
	f(an, 404, "error.type", `"not_found_error"`, "error.message", `"model: mm"`)
	f(an, 429, "error.type", `"rate_limit_error"`)
	f(an, 500, "error.type", `"api_error"`)
	f(an, 503, "error.type", `"api_error"`)
	f(an, 529, "error.type", `"overloaded_error"`, "error.message", `"Overloaded"`)
	f(ge, 400, "error.code", "400", "error.status", `"INVALID_ARGUMENT"`)
	f(ge, 401, "error.code", "401", "error.status", `"UNAUTHENTICATED"`)
	f(ge, 404, "error.status", `"NOT_FOUND"`)
	f(ge, 429, "error.status", `"RESOURCE_EXHAUSTED"`, "error.details.1.retryDelay", `"0.01s"`)
	f(ge, 500, "error.status", `"INTERNAL"`)
	f(ge, 503, "error.status", `"UNAVAILABLE"`)
	f(ge, 529, "error.code", "529", "error.status", `"UNAVAILABLE"`)

	r := post(t, c, an, `{}`, "X-Sim-Status", "429")
	if got := r.header.Get("Retry-After-Ms"); got != "10" {
		t.Errorf("Retry-After-Ms %q", got)
	}
	if !strings.HasPrefix(r.header.Get("Request-Id"), "req_") {
		t.Errorf("Request-Id %q", r.header.Get("Request-Id"))
	}
	// Streams fail before the first byte, as real providers do.
	r = post(t, c, oa, `{"model":"m","stream":true}`, "X-Sim-Status", "429")
	wantJSON(t, r.body, "error.code", `"rate_limit_exceeded"`)
	// Routing and header errors are in the dialect too.
	r = post(t, c, "/v1/nope", `{}`)
	if r.status != 404 {
		t.Errorf("status %d", r.status)
	}
	wantJSON(t, r.body, "error.message", `"Invalid URL (POST /v1/nope)"`)
	r = post(t, c, an, `{"model":"m"}`, "X-Sim-Output-Tokens", "many")
	if r.status != 400 {
		t.Errorf("status %d", r.status)
	}
	wantJSON(t, r.body, "error.message", `"invalid X-Sim-Output-Tokens header: want a non-negative integer"`)
	r = post(t, c, oa, `{"messages":[]}`)
	wantJSON(t, r.body, "error.message", `"you must provide a model parameter"`)
}

func TestHTMLAndInvalidJSON(t *testing.T) {
	_, c, _ := start(t, Options{})
	r := post(t, c, "/v1/chat/completions", `{"model":"m"}`, "X-Sim-HTML", "502")
	if r.status != 502 || r.header.Get("Content-Type") != "text/html" || !bytes.Contains(r.body, []byte("<h1>502 Bad Gateway</h1>")) {
		t.Errorf("got %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}
	r = post(t, c, "/v1/messages", `{"model":"m"}`, "X-Sim-Invalid-JSON", "1")
	if r.status != 200 || gjson.ValidBytes(r.body) || len(r.body) == 0 {
		t.Errorf("got %d %s", r.status, r.body)
	}
}

func TestHang(t *testing.T) {
	s, c, _ := start(t, Options{})
	req, err := http.NewRequest(http.MethodPost, "http://sim/v1/chat/completions", strings.NewReader(`{"model":"m"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Sim-Hang", "1")
	resp, err := c.Do(req) // returns once the headers arrived
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	// The client goes away; the simulator notices and Close returns.
	resp.Body.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestHangEndsOnClose(t *testing.T) {
	s, c, _ := start(t, Options{})
	req, err := http.NewRequest(http.MethodPost, "http://sim/v1/messages", strings.NewReader(`{"model":"m","stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Sim-Hang", "1")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("content type %q", ct)
	}
	go func() { _ = s.Close() }()
	b, err := io.ReadAll(resp.Body)
	if len(b) != 0 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read %q, %v", b, err)
	}
}

func TestCompression(t *testing.T) {
	_, c, _ := start(t, Options{})
	decode := func(enc string, b []byte) []byte {
		t.Helper()
		var out []byte
		var err error
		switch enc {
		case "gzip":
			out, err = fasthttp.AppendGunzipBytes(nil, b)
		case "br":
			out, err = fasthttp.AppendUnbrotliBytes(nil, b)
		case "zstd":
			out, err = fasthttp.AppendUnzstdBytes(nil, b)
		}
		if err != nil {
			t.Fatalf("cannot decode %s: %s", enc, err)
		}
		return out
	}
	for _, enc := range []string{"gzip", "br", "zstd"} {
		r := post(t, c, "/v1/chat/completions", `{"model":"m"}`, hdrs("X-Sim-Encoding", enc)...)
		if got := r.header.Get("Content-Encoding"); got != enc {
			t.Fatalf("Content-Encoding %q, want %q", got, enc)
		}
		wantJSON(t, decode(enc, r.body), "usage.prompt_tokens", "100", "choices.0.message.content", `"lorem ipsum dolor sit"`)

		r = post(t, c, "/v1/messages", `{"model":"m","stream":true}`, hdrs("X-Sim-Encoding", enc)...)
		if got := r.header.Get("Content-Encoding"); got != enc {
			t.Fatalf("stream Content-Encoding %q, want %q", got, enc)
		}
		evs := events(t, decode(enc, r.body), "\n\n")
		if len(evs) != 10 || evs[9].name != "message_stop" {
			t.Fatalf("%s: %d events", enc, len(evs))
		}
		wantJSON(t, []byte(evs[8].data), "usage.output_tokens", "40")
	}
}

func TestRecording(t *testing.T) {
	s, c, _ := start(t, Options{MaxRecorded: 3})
	post(t, c, "/v1/chat/completions", `{"model":"a"}`, "Authorization", "Bearer sk-1")
	post(t, c, "/v1/messages", `{"model":"b"}`, "X-Api-Key", "ak-2")
	post(t, c, "/v1beta/models/g:generateContent?key=gk-3&alt=x", `{}`, "X-Goog-Api-Key", "gh-3")
	got := s.Requests()
	if len(got) != 3 {
		t.Fatalf("%d recorded", len(got))
	}
	if g := got[0]; g.Method != "POST" || g.Path != "/v1/chat/completions" || g.Authorization != "Bearer sk-1" ||
		string(g.Body) != `{"model":"a"}` || !strings.HasPrefix(g.Header, "POST /v1/chat/completions HTTP/1.1\r\n") {
		t.Errorf("first: %+v", g)
	}
	if g := got[1]; g.XAPIKey != "ak-2" || g.Authorization != "" {
		t.Errorf("second: %+v", g)
	}
	if g := got[2]; g.XGoogAPIKey != "gh-3" || g.QueryKey != "gk-3" || g.Query != "key=gk-3&alt=x" ||
		!strings.Contains(g.Header, "X-Goog-Api-Key: gh-3\r\n") {
		t.Errorf("third: %+v", g)
	}
	// Only the last MaxRecorded are kept, oldest first.
	post(t, c, "/v1/chat/completions", `{"model":"d"}`)
	post(t, c, "/v1/chat/completions", `{"model":"e"}`)
	var models []string
	for _, g := range s.Requests() {
		models = append(models, gjson.GetBytes(g.Body, "model").Str)
	}
	if strings.Join(models, ",") != ",d,e" {
		t.Errorf("kept %q", models)
	}
	if s.Count() != 5 {
		t.Errorf("Count %d", s.Count())
	}
	s.Reset()
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d after Reset", n)
	}
}

func TestErrorRate(t *testing.T) {
	seq := func(seed uint64, rate float64) string {
		_, c, _ := start(t, Options{ErrorRate: rate, Seed: seed})
		var b strings.Builder
		for range 40 {
			r := post(t, c, "/v1/messages", `{"model":"m"}`)
			switch r.status {
			case 200:
				b.WriteByte('.')
			case 429:
				wantJSON(t, r.body, "error.type", `"rate_limit_error"`)
				b.WriteByte('r')
			case 500:
				wantJSON(t, r.body, "error.type", `"api_error"`)
				b.WriteByte('e')
			default:
				t.Fatalf("status %d", r.status)
			}
		}
		return b.String()
	}
	a, b := seq(7, 0.5), seq(7, 0.5)
	if a != b {
		t.Errorf("same seed, different sequences:\n%s\n%s", a, b)
	}
	if !strings.Contains(a, ".") || !strings.Contains(a, "r") || !strings.Contains(a, "e") {
		t.Errorf("sequence %s lacks a kind", a)
	}
	if got := seq(7, 0); got != strings.Repeat(".", 40) {
		t.Errorf("rate 0: %s", got)
	}
	if got := seq(7, 1); strings.Contains(got, ".") {
		t.Errorf("rate 1: %s", got)
	}
}
