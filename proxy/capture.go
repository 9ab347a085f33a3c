package proxy

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter"
)

// This file is capture_bodies: what the proxy keeps of a request's headers
// and bodies for the details view, and the redaction that makes sure no
// secret reaches the meter, the store or the API. It runs only when
// Options.CaptureBodies is on; otherwise reqState.cap is nil and the request
// path pays one nil check per step.
//
// Redaction, applied to both bodies and to every kept header value:
//   - the request's credentials (member key, the client's own provider key
//     in pass-through mode) and the upstream's key, wherever they appear
//     verbatim (values shorter than minSecretLen are not searched for);
//   - the string value of every JSON member whose name looks like a
//     credential (see sensitiveName), wherever it appears (also inside SSE
//     events);
//   - provider key patterns: "sk-…" (OpenAI, Anthropic "sk-ant-…"),
//     "AIza…" (Google) and the credential after "Bearer " (minimum lengths
//     below keep words such as "sk-learn" or "bearer of news").
//
// Every match becomes "[REDACTED]". Headers whose name is a credential, a
// cookie, or contains "key", "token", "secret" or "auth" are dropped.

// redacted replaces every secret found.
const redacted = "[REDACTED]"

// minSecretLen is the shortest verbatim secret searched for: shorter values
// would redact ordinary words.
const minSecretLen = 6

// captureMargin is how far past meter.MaxCaptureBody a body is redacted
// before it is cut, so that a secret across the cut is still recognised.
const captureMargin = 4 << 10

// captureWindow is how many bytes of a body are looked at.
const captureWindow = meter.MaxCaptureBody + captureMargin

// maxCompressedCapture bounds the compressed response bytes kept for a
// compressed stream, decoded at its end.
const maxCompressedCapture = 1 << 20

// capture collects what capture_bodies keeps of one request while it runs.
// It belongs to the request's reqState.
type capture struct {
	secrets [][]byte
	out     meter.Capture
	// resp holds the response bytes handed to the client (the first
	// captureWindow of them, or maxCompressedCapture when encoded).
	resp      []byte
	respTotal int64
	encoding  string // the response's Content-Encoding, "" for identity
	haveResp  bool   // out.ResponseBody is final (a whole body was captured)
}

// newCapture starts the capture of ctx's request, before the credentials
// are swapped: it keeps the secrets to redact (every credential the client
// sent and the upstream's key), the request headers without credentials and
// the request body.
func (p *Proxy) newCapture(ctx *fasthttp.RequestCtx, up *upstream) *capture {
	c := &capture{}
	req := &ctx.Request
	h := &req.Header
	c.addSecret(h.Peek(HeaderKey))
	c.addSecret(h.Peek("X-Api-Key"))
	c.addSecret(h.Peek("X-Goog-Api-Key"))
	c.addSecret(h.Peek("Proxy-Authorization"))
	c.addSecret(req.URI().QueryArgs().Peek("key"))
	if a := h.Peek("Authorization"); len(a) > 0 {
		if k := bearer(a); len(k) > 0 {
			c.addSecret(k)
		} else {
			c.addSecret(a)
		}
	}
	if up != nil {
		c.addSecret([]byte(up.key))
	}
	for k, v := range h.All() {
		if keepHeader(k) {
			c.out.RequestHeaders = append(c.out.RequestHeaders, meter.Header{Name: string(k), Value: c.redactString(v)})
		}
	}
	body := req.Body()
	if ce := h.ContentEncoding(); len(ce) > 0 && !bytes.EqualFold(ce, []byte("identity")) {
		b, err := req.BodyUncompressedWithLimit(captureWindow)
		if err != nil && len(b) == 0 {
			// Never keep bytes that redaction could not read.
			c.out.RequestBody, c.out.RequestTruncated = "", len(body) > 0
			return c
		}
		body = b
	}
	c.out.RequestBody, c.out.RequestTruncated = c.body(body)
	return c
}

// addSecret adds a value to redact verbatim (copied).
func (c *capture) addSecret(v []byte) {
	v = bytes.TrimSpace(v)
	if len(v) < minSecretLen {
		return
	}
	for _, s := range c.secrets {
		if bytes.Equal(s, v) {
			return
		}
	}
	c.secrets = append(c.secrets, bytes.Clone(v))
}

// responseHeaders keeps the headers of the response as sent to the client.
func (c *capture) responseHeaders(h *fasthttp.ResponseHeader) {
	c.out.ResponseHeaders = c.out.ResponseHeaders[:0]
	for k, v := range h.All() {
		if keepHeader(k) {
			c.out.ResponseHeaders = append(c.out.ResponseHeaders, meter.Header{Name: string(k), Value: c.redactString(v)})
		}
	}
	c.encoding = ""
	if ce := h.ContentEncoding(); len(ce) > 0 && !bytes.EqualFold(ce, []byte("identity")) {
		c.encoding = string(ce)
	}
}

// response captures a whole (non-streamed) response: headers and body,
// decoded when the provider compressed it.
func (c *capture) response(resp *fasthttp.Response) {
	c.responseHeaders(&resp.Header)
	body := resp.Body()
	if c.encoding != "" {
		b, err := resp.BodyUncompressed()
		if err != nil {
			c.out.ResponseBody, c.out.ResponseTruncated, c.haveResp = "", len(body) > 0, true
			return
		}
		body = b
	}
	c.out.ResponseBody, c.out.ResponseTruncated = c.body(body)
	c.haveResp = true
}

// addResponse keeps stream bytes as they are handed to the client.
func (c *capture) addResponse(p []byte) {
	c.respTotal += int64(len(p))
	limit := captureWindow
	if c.encoding != "" {
		limit = maxCompressedCapture
	}
	if n := min(len(p), limit-len(c.resp)); n > 0 {
		c.resp = append(c.resp, p[:n]...)
	}
}

// finish returns the capture of the request, response included.
func (c *capture) finish() *meter.Capture {
	if !c.haveResp {
		body := c.resp
		cut := c.respTotal > int64(len(c.resp))
		if c.encoding != "" {
			body, cut = c.decodeStream()
		}
		c.out.ResponseBody, c.out.ResponseTruncated = c.body(body)
		c.out.ResponseTruncated = c.out.ResponseTruncated || cut
	}
	out := c.out
	return &out
}

// decodeStream decodes the compressed stream bytes kept; what cannot be
// decoded is not kept (redaction cannot read it).
func (c *capture) decodeStream() ([]byte, bool) {
	if c.respTotal > int64(len(c.resp)) {
		return nil, true
	}
	r := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(r)
	r.Header.SetContentEncoding(c.encoding)
	r.SetBodyRaw(c.resp)
	b, err := r.BodyUncompressedWithLimit(maxCompressedCapture * 8)
	if err != nil {
		return nil, len(c.resp) > 0
	}
	return bytes.Clone(b), false
}

// body redacts the first captureWindow bytes of b and cuts the result at
// meter.MaxCaptureBody (on a UTF-8 boundary); truncated tells that b did not
// fit.
func (c *capture) body(b []byte) (string, bool) {
	truncated := len(b) > captureWindow
	if truncated {
		b = b[:captureWindow]
	}
	out := redact(b, c.secrets)
	if len(out) > meter.MaxCaptureBody {
		n := meter.MaxCaptureBody
		for n > 0 && n > meter.MaxCaptureBody-utf8.UTFMax && !utf8.RuneStart(out[n]) {
			n--
		}
		out, truncated = out[:n], true
	}
	return string(out), truncated
}

func (c *capture) redactString(v []byte) string { return string(redact(v, c.secrets)) }

// keepHeader reports whether a header may be captured: credentials, cookies
// and anything named like a key, token, secret or auth are not.
func keepHeader(name []byte) bool {
	n := strings.ToLower(string(name))
	switch n {
	case "authorization", "proxy-authorization", "x-api-key", "x-goog-api-key", "cookie", "set-cookie",
		strings.ToLower(HeaderKey):
		return false
	}
	for _, w := range [...]string{"key", "token", "secret", "auth"} {
		if strings.Contains(n, w) {
			return false
		}
	}
	return true
}

// redact returns a copy of b with the secrets (verbatim values), the string
// values of credential-like JSON members and provider key patterns replaced
// by "[REDACTED]". It never fails: b need not be JSON.
func redact(b []byte, secrets [][]byte) []byte {
	out := bytes.Clone(b)
	for _, s := range secrets {
		if len(s) >= minSecretLen && bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, []byte(redacted))
		}
	}
	out = redactJSONFields(out)
	return redactPatterns(out)
}

// redactJSONFields replaces the content of every JSON string that is the
// value of a member named like a credential. It scans string tokens only,
// so it works on JSON cut short, on SSE streams and on JSON inside text; an
// unterminated value is redacted to the end.
func redactJSONFields(b []byte) []byte {
	var dst []byte
	last := 0
	for i := 0; i < len(b); {
		if b[i] != '"' {
			i++
			continue
		}
		end, closed := stringEnd(b, i)
		if !closed {
			break
		}
		name := b[i+1 : end-1]
		j := skipSpace(b, end)
		if j >= len(b) || b[j] != ':' || !sensitiveName(name) {
			i = end
			continue
		}
		k := skipSpace(b, j+1)
		if k >= len(b) || b[k] != '"' {
			i = end
			continue
		}
		vend, vclosed := stringEnd(b, k)
		dst = append(dst, b[last:k+1]...)
		dst = append(dst, redacted...)
		if !vclosed {
			last = len(b)
			break
		}
		last = vend - 1 // keep the closing quote
		i = vend
	}
	if dst == nil {
		return b
	}
	return append(dst, b[last:]...)
}

// stringEnd returns the index after the JSON string that starts at b[i]
// (a '"'), and whether it is closed; an unclosed one runs to len(b).
func stringEnd(b []byte, i int) (int, bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(b), false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// sensitiveName reports whether a JSON member name looks like a credential:
// compared without case, "_", "-" and ".", it is one of key, apikey, secret,
// token, password, passwd, authorization, auth, credential(s), bearer, or
// ends with apikey, secret, password, token, secretkey, accesskey,
// privatekey, authorization. Counts such as "max_tokens" do not match.
func sensitiveName(name []byte) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	var buf [64]byte
	n := buf[:0]
	for _, c := range name {
		switch {
		case c == '_' || c == '-' || c == '.':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		n = append(n, c)
	}
	s := string(n)
	switch s {
	case "key", "apikey", "secret", "token", "password", "passwd", "authorization", "auth",
		"credential", "credentials", "bearer":
		return true
	}
	for _, suffix := range [...]string{"apikey", "secret", "password", "token", "secretkey", "accesskey", "privatekey", "authorization"} {
		if strings.HasSuffix(s, suffix) {
			return true
		}
	}
	return false
}

// Minimum lengths of the provider key patterns after their prefix.
const (
	minSKRun     = 8  // "sk-" + at least 8 key characters
	minGoogleRun = 16 // "AIza" + at least 16 key characters
	minBearerRun = 8  // "Bearer " + a credential of at least 8 characters
)

// redactPatterns replaces provider keys ("sk-…", "AIza…") and bearer
// credentials ("Bearer …", any case) that start at a word boundary and are
// long enough to be keys (see the minimum runs above).
func redactPatterns(b []byte) []byte {
	var dst []byte
	last := 0
	for i := 0; i < len(b); i++ {
		if i > 0 && isWordByte(b[i-1]) {
			continue
		}
		start, end := i, 0
		switch b[i] {
		case 's':
			if n := keyRun(b, i+3); hasPrefixAt(b, i, "sk-") && n >= minSKRun {
				end = i + 3 + n
			}
		case 'A':
			if n := keyRun(b, i+4); hasPrefixAt(b, i, "AIza") && n >= minGoogleRun {
				end = i + 4 + n
			}
		case 'b', 'B':
			if len(b)-i > 7 && strings.EqualFold(string(b[i:i+6]), "bearer") && b[i+6] == ' ' {
				j := i + 6
				for j < len(b) && b[j] == ' ' {
					j++
				}
				if n := tokenRun(b, j); n >= minBearerRun {
					start, end = j, j+n
				}
			}
		}
		if end == 0 {
			continue
		}
		dst = append(dst, b[last:start]...)
		dst = append(dst, redacted...)
		last = end
		i = end - 1
	}
	if dst == nil {
		return b
	}
	return append(dst, b[last:]...)
}

func hasPrefixAt(b []byte, i int, p string) bool {
	return len(b)-i >= len(p) && string(b[i:i+len(p)]) == p
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// keyRun returns the length of the run of key characters [A-Za-z0-9_-]
// at b[i:].
func keyRun(b []byte, i int) int {
	n := 0
	for i+n < len(b) && isWordByte(b[i+n]) {
		n++
	}
	return n
}

// tokenRun returns the length of the RFC 6750 b64token at b[i:]
// ([A-Za-z0-9-._~+/]+=*).
func tokenRun(b []byte, i int) int {
	n := 0
	for i+n < len(b) {
		c := b[i+n]
		if isWordByte(c) || c == '.' || c == '~' || c == '+' || c == '/' || c == '=' {
			n++
			continue
		}
		break
	}
	return n
}
