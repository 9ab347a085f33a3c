package sim

import (
	"errors"
	"io"
	"net"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/valyala/fasthttp"
)

// errCut ends a response body abruptly: fasthttp closes the connection
// without the terminating chunk.
var errCut = errors.New("simulated connection cut")

type flushWriter interface {
	io.WriteCloser
	Flush() error
}

// streamer writes the events of one stream. Each send is one flushed HTTP
// chunk, so the client can read an event before the next is written.
type streamer struct {
	s   *Server
	p   *params
	pw  *io.PipeWriter
	z   flushWriter // nil without compression
	buf []byte
}

// send writes the event in st.buf and flushes it.
func (st *streamer) send() bool {
	var err error
	if st.z != nil {
		if _, err = st.z.Write(st.buf); err == nil {
			err = st.z.Flush()
		}
	} else {
		_, err = st.pw.Write(st.buf)
	}
	st.buf = st.buf[:0]
	return err == nil
}

// pause waits the gap between two events; false when the server closes.
func (st *streamer) pause() bool { return st.s.sleep(st.p.gap) }

func (st *streamer) finish() {
	if st.z != nil {
		_ = st.z.Close()
	}
	_ = st.pw.Close()
}

func (st *streamer) abort() { _ = st.pw.CloseWithError(errCut) }

// begin sets the status and headers of a streamed response and starts fn in
// a goroutine that feeds the body. fn reports false to end the body
// abruptly.
func (s *Server) begin(ctx *fasthttp.RequestCtx, p *params, contentType string, fn func(st *streamer) bool) {
	setDialectHeaders(ctx, p)
	ctx.SetStatusCode(fasthttp.StatusOK)
	ctx.SetContentType(contentType)
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-cache")
	ctx.Response.ImmediateHeaderFlush = true
	pr, pw := io.Pipe()
	st := &streamer{s: s, p: p, pw: pw}
	switch p.enc {
	case encGzip:
		ctx.Response.Header.Set(fasthttp.HeaderContentEncoding, "gzip")
		st.z, _ = gzip.NewWriterLevel(pw, gzip.BestSpeed)
	case encBrotli:
		ctx.Response.Header.Set(fasthttp.HeaderContentEncoding, "br")
		st.z = brotli.NewWriterLevel(pw, brotli.BestSpeed)
	case encZstd:
		ctx.Response.Header.Set(fasthttp.HeaderContentEncoding, "zstd")
		zw, err := zstd.NewWriter(pw, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithWindowSize(1<<20))
		if err != nil {
			_ = pw.CloseWithError(err)
		} else {
			st.z = zw
		}
	}
	ctx.SetBodyStream(pr, -1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		bp := s.getBuf()
		st.buf = (*bp)[:0]
		if fn(st) {
			st.finish()
		} else {
			st.abort()
		}
		*bp = st.buf
		s.putBuf(bp)
	}()
}

func streamContentType(p *params) string {
	switch {
	case p.dialect == dGemini && !p.sse:
		return "application/json; charset=UTF-8"
	case p.dialect == dGemini:
		return "text/event-stream"
	}
	return "text/event-stream; charset=utf-8"
}

// startStream answers a streamed request in its dialect.
func (s *Server) startStream(ctx *fasthttp.RequestCtx, p *params) {
	var fn func(st *streamer) bool
	switch p.endpoint {
	case epChat, epCompletions:
		fn = s.streamChat
	case epResponses:
		fn = s.streamResponses
	case epMessages:
		fn = s.streamMessages
	case epStreamGenerate:
		fn = s.streamGemini
	default:
		fn = func(*streamer) bool { return true }
	}
	s.begin(ctx, p, streamContentType(p), func(st *streamer) bool {
		if !s.sleep(p.ttft) {
			return false
		}
		return fn(st)
	})
}

// startHang sends the headers, then nothing until the client goes away, the
// server closes or HangTimeout passes; then it cuts the connection.
func (s *Server) startHang(ctx *fasthttp.RequestCtx, p *params) {
	ct := "application/json"
	if p.stream {
		ct = streamContentType(p)
	}
	ctx.SetConnectionClose()
	conn := ctx.Conn()
	s.begin(ctx, p, ct, func(*streamer) bool {
		deadline := time.Now().Add(s.opt.HangTimeout)
		var one [1]byte
		for time.Now().Before(deadline) {
			select {
			case <-s.done:
				return false
			default:
			}
			// Nothing else reads the connection while the response is
			// being written, so a read tells whether the client left.
			if err := conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
				return false
			}
			_, err := conn.Read(one[:])
			var ne net.Error
			if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
				return false
			}
		}
		return false
	})
}
