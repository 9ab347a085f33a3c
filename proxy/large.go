package proxy

import (
	"bytes"
	"io"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/proxy/dialect"
)

// maxBufferedBody is the largest successful non-streamed response body the
// proxy holds whole (to read its usage with gjson). A longer one (large
// embedding batches, base64 images) is passed through as it arrives, like a
// stream, and its usage is read from its last tailSize bytes: the proxy's
// memory stays bounded whatever the upstream sends. Error answers (status
// 400 and above) are always read whole: they are scrubbed of the upstream
// key before the client gets them.
const maxBufferedBody = 4 << 20

// bodyReadSize is the read buffer of a non-streamed body (most answers fit
// in one read; a request state that served a stream keeps the larger
// stream buffer and uses it). Each request in flight holds one, so it is
// kept small.
const bodyReadSize = 8 << 10

// tailSize is how much of the end of a large body is kept for its usage.
const tailSize = 64 << 10

// takeBody reads the upstream answer of a non-streamed request (s.upResp,
// its body streamed) into the client response when its body is at most
// maxBufferedBody bytes or it is an error. A longer successful body is
// reported large: the part read so far waits in s.out and startLarge passes
// the rest through. err is the error that cut the body.
func (s *reqState) takeBody(ctx *fasthttp.RequestCtx) (large bool, err error) {
	up, resp := s.upResp, &ctx.Response
	up.Header.CopyTo(&resp.Header)
	limit := maxBufferedBody
	if up.StatusCode() >= 400 {
		limit = -1
	}
	if limit >= 0 && up.Header.ContentLength() > limit {
		return true, nil
	}
	body := up.BodyStream()
	if body == nil {
		resp.SetBody(up.Body())
		return false, nil
	}
	if cap(s.buf) < bodyReadSize {
		s.buf = make([]byte, bodyReadSize)
	}
	resp.ResetBody()
	n := 0
	for {
		k, rerr := body.Read(s.buf[:cap(s.buf)])
		if k > 0 {
			if limit >= 0 && n+k > limit {
				s.out = append(append(s.out[:0], resp.Body()...), s.buf[:k]...)
				s.outPos = 0
				resp.ResetBody()
				return true, nil
			}
			resp.AppendBody(s.buf[:k])
			n += k
		}
		switch {
		case rerr == io.EOF:
			return false, nil
		case rerr != nil:
			return false, rerr
		}
	}
}

// startLarge passes a large non-streamed answer through as it arrives: the
// stream reader (streamBody) serves s.out first, then the rest of the
// upstream body, keeping its last bytes for meterTail.
func (s *reqState) startLarge(ctx *fasthttp.RequestCtx) {
	if s.reqBody != nil {
		// The response outlives the handler: keep the request body for
		// estimation.
		s.bodyCopy = append(s.bodyCopy[:0], s.reqBody...)
		s.reqBody = s.bodyCopy
	}
	s.large = true
	s.dropUsage = false
	s.startStream(ctx)
	if len(s.out) > 0 {
		s.onBytes(s.out)
		if s.cap != nil {
			s.cap.addResponse(s.out)
		}
	}
}

// keepTail keeps the last tailSize bytes (at least) of a large body in s.raw.
func (s *reqState) keepTail(p []byte) {
	if len(p) >= tailSize {
		s.raw = append(s.raw[:0], p[len(p)-tailSize:]...)
		return
	}
	if len(s.raw)+len(p) > 2*tailSize {
		n := copy(s.raw, s.raw[len(s.raw)-(tailSize-len(p)):])
		s.raw = s.raw[:n]
	}
	s.raw = append(s.raw, p...)
}

// meterTail meters a large body from its end: providers put usage at the
// top level, after the content, so the body from its last "usage" key
// (Gemini: "usageMetadata") to its end, reopened with "{", is a JSON
// object holding the usage and the top-level fields that follow it (a
// service tier, say). It is metered as if it were the whole body.
func (s *reqState) meterTail() {
	key := []byte(`"usage"`)
	if s.up.dialect == dialect.Gemini {
		key = []byte(`"usageMetadata"`)
	}
	i := bytes.LastIndex(s.raw, key)
	if i < 0 {
		return
	}
	b := make([]byte, 0, 1+len(s.raw)-i)
	b = append(b, '{')
	b = append(b, s.raw[i:]...)
	if !gjson.ValidBytes(b) {
		return
	}
	s.meterBody(b)
}
