package proxy

import (
	"testing"

	"github.com/valyala/fasthttp"
)

func TestScrubMessage(t *testing.T) {
	s := &reqState{up: &upstream{key: "upstream-secret-1", keyBytes: []byte("upstream-secret-1")}}
	for _, c := range []struct{ in, want string }{
		{"Rate limit reached for gpt-4o-mini", "Rate limit reached for gpt-4o-mini"},
		{"Incorrect API key provided: upstream-secret-1.", "Incorrect API key provided: [REDACTED]."},
		{"invalid x-api-key: sk-ant-api03-abcdefgh", "invalid x-api-key: [REDACTED]"},
		{"API key not valid: AIzaSyA1234567890abcdefgh", "API key not valid: [REDACTED]"},
		{"bad header: BEARER abcdefgh12", "bad header: BEARER [REDACTED]"},
		{"sk-learn is a library", "sk-learn is a library"},
	} {
		if got := s.scrubMessage(c.in); got != c.want {
			t.Errorf("scrubMessage(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestScrubResponse(t *testing.T) {
	s := &reqState{up: &upstream{key: "upstream-secret-1", keyBytes: []byte("upstream-secret-1")}}
	for _, c := range []struct {
		status               int
		body, header         string
		wantBody, wantHeader string
	}{
		{401, `{"error":{"message":"Incorrect API key provided: upstream-secret-1"}}`, "Bearer upstream-secret-1",
			`{"error":{"message":"Incorrect API key provided: [REDACTED]"}}`, "Bearer [REDACTED]"},
		// A success is not searched.
		{200, `{"echo":"upstream-secret-1"}`, "upstream-secret-1", `{"echo":"upstream-secret-1"}`, "upstream-secret-1"},
	} {
		var r fasthttp.Response
		r.SetStatusCode(c.status)
		r.SetBodyString(c.body)
		r.Header.Set("X-Seen", c.header)
		s.ev.Status = c.status
		s.scrubResponse(&r)
		if string(r.Body()) != c.wantBody || string(r.Header.Peek("X-Seen")) != c.wantHeader {
			t.Errorf("%d: body %s header %s", c.status, r.Body(), r.Header.Peek("X-Seen"))
		}
	}
}
