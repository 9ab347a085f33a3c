package proxy

import (
	"bytes"
	"errors"
	"io"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter/usage"
	"github.com/infermeter/infermeter/proxy/dialect"
)

const streamBufSize = 32 << 10

// maxEncodedStream bounds the compressed stream bytes kept for metering.
const maxEncodedStream = 64 << 20

// startStream copies the upstream status and headers to the client response
// and makes s the client response body: fasthttp's server reads it and writes
// each read chunk to the client with a flush.
func (s *reqState) startStream(ctx *fasthttp.RequestCtx) {
	up := s.upResp
	s.ev.Status = up.StatusCode()
	up.Header.CopyTo(&ctx.Response.Header)
	ctx.Response.Header.Del("Content-Length")
	ctx.Response.Header.Del("Transfer-Encoding")
	ctx.Response.Header.Del("Connection")
	s.setProviderRequestID(&up.Header)
	if s.cap != nil {
		s.cap.responseHeaders(&ctx.Response.Header)
	}
	s.body = up.BodyStream()
	ce := up.Header.ContentEncoding()
	s.encoded = len(ce) > 0 && !bytes.EqualFold(ce, []byte("identity"))
	s.st.Reset(s.up.dialect, s.ev.Category)
	s.sse.Reset()
	s.arr.Reset()
	ct := up.Header.ContentType()
	switch {
	case s.ev.Status >= 300:
		s.mode = modeCollect
	case isEventStream(ct):
		s.mode = modeSSE
	case s.ri.StreamFormat == dialect.JSONArray:
		s.mode = modeArray
	case s.large:
		s.mode = modeTail
	default:
		// A stream request answered with one JSON body.
		s.mode = modeCollect
	}
	if s.encoded || s.mode != modeSSE {
		s.dropUsage = false
	}
	if cap(s.buf) < streamBufSize {
		s.buf = make([]byte, streamBufSize)
	}
	s.upstreamOK = true
	if s.body == nil {
		// No body at all (a 204, say): nothing to stream.
		s.body = bytes.NewReader(nil)
	}
	ctx.Response.SetBodyStream((*streamBody)(s), -1)
}

func isEventStream(ct []byte) bool {
	return bytes.HasPrefix(ct, []byte("text/event-stream"))
}

// streamBody is the client response body of a streamed request: it reads the
// upstream, meters what passes and hands the bytes on.
type streamBody reqState

// Read implements io.Reader for fasthttp's response writer.
func (b *streamBody) Read(p []byte) (int, error) {
	s := (*reqState)(b)
	if s.dropUsage {
		return s.readFiltered(p)
	}
	if s.outPos < len(s.out) {
		// What takeBody read of a large body, already metered.
		n := copy(p, s.out[s.outPos:])
		s.outPos += n
		return n, nil
	}
	if s.eof {
		return 0, io.EOF
	}
	n, err := s.body.Read(p)
	if n > 0 {
		s.onBytes(p[:n])
		if s.cap != nil {
			s.cap.addResponse(p[:n])
		}
	}
	if err != nil {
		s.onEnd(err)
		if err == io.EOF {
			return n, io.EOF
		}
		return n, err
	}
	return n, nil
}

// readFiltered serves the client from s.out: whole events, minus the usage
// chunk the proxy asked for on the client's behalf.
func (s *reqState) readFiltered(p []byte) (int, error) {
	for s.outPos >= len(s.out) {
		s.out, s.outPos = s.out[:0], 0
		if s.eof {
			return 0, io.EOF
		}
		n, err := s.body.Read(s.buf[:streamBufSize])
		if n > 0 {
			s.markFirst()
			s.ev.ResponseBytes += int64(n)
			s.sse.Feed(s.buf[:n], s.onFilteredEvent)
		}
		if err != nil {
			s.sse.Finish(s.onFilteredEvent)
			s.onEnd(err)
			if len(s.out) > 0 {
				break
			}
			if err == io.EOF {
				return 0, io.EOF
			}
			return 0, err
		}
	}
	n := copy(p, s.out[s.outPos:])
	s.outPos += n
	if s.cap != nil {
		s.cap.addResponse(p[:n])
	}
	return n, nil
}

func (s *reqState) onFilteredEvent(ev dialect.Event) {
	s.st.OnEvent(ev.Name, ev.Data)
	if s.st.LastWasUsageOnly() {
		return
	}
	s.out = append(s.out, ev.Raw...)
}

func (s *reqState) markFirst() {
	if !s.gotFirst {
		s.gotFirst = true
		s.ev.TTFTMicros = max(s.p.now().Sub(s.start).Microseconds(), 1)
	}
}

// streamMode is how the bytes of a streamed response are metered.
type streamMode uint8

const (
	modeSSE     streamMode = iota // text/event-stream events
	modeArray                     // gemini's streamed JSON array
	modeCollect                   // one JSON body (an error, or a stream refused)
	modeTail                      // a large non-streamed body: its last bytes are kept (meterTail)
)

// maxCollect bounds the body kept in modeCollect.
const maxCollect = 1 << 20

// onBytes meters bytes that are being handed to the client.
func (s *reqState) onBytes(p []byte) {
	s.markFirst()
	s.ev.ResponseBytes += int64(len(p))
	if s.encoded || s.mode == modeCollect {
		limit := maxEncodedStream
		if s.mode == modeCollect {
			limit = maxCollect
		}
		if len(s.raw)+len(p) <= limit {
			s.raw = append(s.raw, p...)
		}
		return
	}
	if s.mode == modeTail {
		s.keepTail(p)
		return
	}
	s.feed(p)
}

func (s *reqState) feed(p []byte) {
	switch s.mode {
	case modeArray:
		s.arr.Feed(p, s.onElement)
	case modeSSE:
		s.sse.Feed(p, s.onEvent)
	}
}

func (s *reqState) onEvent(ev dialect.Event) { s.st.OnEvent(ev.Name, ev.Data) }

func (s *reqState) onElement(elem []byte) { s.st.OnEvent(nil, elem) }

// onEnd is called once the upstream body ended (io.EOF) or failed.
func (s *reqState) onEnd(err error) {
	if s.eof {
		return
	}
	s.eof = true
	body := s.raw
	if s.encoded && len(s.raw) > 0 {
		body = s.decodeRaw()
		if s.mode != modeCollect {
			s.feed(body)
		}
	}
	if s.mode == modeSSE {
		s.sse.Finish(s.onEvent)
	}
	clean := err == io.EOF
	switch {
	case s.mode == modeCollect, s.mode == modeTail && s.encoded:
		s.collected = true
		s.meterBody(body)
	case s.mode == modeTail:
		s.collected = true
		s.meterTail()
	}
	s.finishStream(clean, usage.ErrNone, "")
	if !clean {
		et := usage.ErrUpstreamUnreachable
		if errors.Is(err, fasthttp.ErrTimeout) {
			et = usage.ErrTimeout
		}
		if s.ev.ErrorType == usage.ErrNone {
			s.fail(et, "upstream stream failed: "+err.Error())
		}
	}
}

// decodeRaw decodes the compressed bytes kept in s.raw.
func (s *reqState) decodeRaw() []byte {
	r := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(r)
	r.Header.SetContentEncodingBytes(s.upResp.Header.ContentEncoding())
	r.SetBodyRaw(s.raw)
	b, err := r.BodyUncompressed()
	if err != nil && len(b) == 0 {
		s.fail(usage.ErrOther, "cannot decode compressed stream: "+err.Error())
		return nil
	}
	// b belongs to r: copy it into s.raw's place.
	s.raw = append(s.raw[:0], b...)
	return s.raw
}

// finishStream settles the usage of a stream once it ended. clean is false
// when the stream was cut (client hang-up, upstream failure): the output
// reported so far is then a floor and the rest is estimated.
func (s *reqState) finishStream(clean bool, et usage.ErrorType, msg string) {
	if s.finished {
		return
	}
	s.finished = true
	s.ev.LatencyMicros = s.p.now().Sub(s.start).Microseconds()
	var ei dialect.ErrorInfo
	if !s.collected {
		ei = s.st.Result(&s.ev.Usage)
	}
	if ei.Type != usage.ErrNone {
		s.ev.ErrorType = ei.Type
		s.ev.ErrorMessage = string(truncate(ei.Message, maxErrorMessage))
	} else if s.ev.Status >= 400 {
		s.ev.ErrorType = usage.ErrorFromStatus(s.ev.Status)
	}
	if et != usage.ErrNone && s.ev.ErrorType == usage.ErrNone {
		s.fail(et, msg)
	}
	if s.ev.Status >= 400 {
		return
	}
	// Estimate when the stream was cut, when no usage came, and when an
	// Anthropic stream failed mid-way (its output count so far is only
	// message_start's provisional one).
	if !clean || !s.ev.Usage.Reported() || (ei.Type != usage.ErrNone && s.up.dialect == dialect.Anthropic) {
		s.estimate(nil, s.st.OutputText())
	}
}

// Close is called by fasthttp once the response is written or the client
// went away. It records the event and returns the state to the pool.
func (b *streamBody) Close() error {
	s := (*reqState)(b)
	if !s.eof {
		// The client hung up before the upstream finished: stop the upstream
		// request (closing its body closes its connection) and meter what
		// passed.
		s.eof = true
		s.finishStream(false, usage.ErrClientClosed, "client closed the connection mid-stream")
		s.p.m.clientClosed.Inc()
	}
	if s.upResp != nil {
		_ = s.upResp.CloseBodyStream()
		fasthttp.ReleaseResponse(s.upResp)
		s.upResp = nil
	}
	s.record()
	s.p.putState(s)
	return nil
}
