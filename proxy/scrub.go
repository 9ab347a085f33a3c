package proxy

import (
	"bytes"
	"io"
	"strings"

	"github.com/valyala/fasthttp"
)

// Some OpenAI-compatible servers quote the credential they were sent in
// their error answers ("Incorrect API key provided: sk-…"). The upstream
// key must reach neither the client nor the meter (request logs, the feed,
// alerts, reports, the store), so error answers and error messages are
// scrubbed here. Only errors pay for it: a success is never searched.

// scrubResponse replaces the upstream key in the headers and body of an
// error answer (status >= 400) before the client receives it. A compressed
// body that quotes the key is sent decoded.
func (s *reqState) scrubResponse(resp *fasthttp.Response) {
	key := s.up.keyBytes
	if len(key) < minSecretLen || resp.StatusCode() < 400 {
		return
	}
	scrubHeaders(&resp.Header, key)
	body := resp.Body()
	if ce := resp.Header.ContentEncoding(); len(ce) > 0 && !bytes.EqualFold(ce, []byte("identity")) {
		b, err := resp.BodyUncompressed()
		if err != nil || !bytes.Contains(b, key) {
			return
		}
		resp.Header.Del(fasthttp.HeaderContentEncoding)
		body = b
	} else if !bytes.Contains(body, key) {
		return
	}
	resp.SetBody(bytes.ReplaceAll(body, key, []byte(redacted)))
}

// scrubStream does what scrubResponse does for the error answer of a
// streamed request, once startStream has copied its headers to resp: the
// body is read whole (up to maxScrubBody; the rest passes unchanged) before
// the client gets it.
func (s *reqState) scrubStream(resp *fasthttp.Response) {
	key := s.up.keyBytes
	if len(key) < minSecretLen || s.ev.Status < 400 {
		return
	}
	scrubHeaders(&resp.Header, key)
	s.body = &scrubReader{r: s.body, key: key}
}

// maxScrubBody bounds the part of a streamed error answer that is searched
// for the upstream key.
const maxScrubBody = 64 << 10

// scrubReader serves the first maxScrubBody bytes of r with the key
// replaced, then the rest of r.
type scrubReader struct {
	r    io.Reader
	key  []byte
	head *bytes.Reader
	err  error
}

// Read implements io.Reader.
func (z *scrubReader) Read(p []byte) (int, error) {
	if z.head == nil {
		b, err := io.ReadAll(io.LimitReader(z.r, maxScrubBody))
		z.head = bytes.NewReader(bytes.ReplaceAll(b, z.key, []byte(redacted)))
		z.err = err
	}
	if z.head.Len() > 0 {
		return z.head.Read(p)
	}
	if z.err != nil {
		return 0, z.err
	}
	return z.r.Read(p)
}

// scrubHeaders replaces key in every header value of h.
func scrubHeaders(h *fasthttp.ResponseHeader, key []byte) {
	var names []string
	for k, v := range h.All() {
		if bytes.Contains(v, key) {
			names = append(names, string(k))
		}
	}
	for _, n := range names {
		h.Set(n, string(bytes.ReplaceAll(h.Peek(n), key, []byte(redacted))))
	}
}

// scrubMessage returns an error message without the upstream key and
// without anything that looks like a provider key or bearer credential
// (see redact); a message with none is returned as it is, without
// allocating.
func (s *reqState) scrubMessage(msg string) string {
	key := s.up.key
	if !(len(key) >= minSecretLen && strings.Contains(msg, key)) &&
		!strings.Contains(msg, "sk-") && !strings.Contains(msg, "AIza") && !containsFold(msg, "bearer ") {
		return msg
	}
	return string(redact([]byte(msg), [][]byte{s.up.keyBytes}))
}

// containsFold reports whether s contains the lower-case ASCII word w in
// any case.
func containsFold(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(w)], w) {
			return true
		}
	}
	return false
}
