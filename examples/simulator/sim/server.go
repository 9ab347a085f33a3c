package sim

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Default values used for zero fields of Options.
const (
	DefaultInputTokens  = 25
	DefaultOutputTokens = 50
	DefaultChunks       = 10
	DefaultHangTimeout  = 60 * time.Second
	DefaultMaxRecorded  = 10000
)

// Options configures a Server. The zero value is usable: zero fields take the
// defaults named below.
type Options struct {
	// InputTokens is the input token count when the request has no
	// X-Sim-Input-Tokens header. Zero means DefaultInputTokens (25).
	InputTokens int64
	// OutputTokens is the output token count when the request has no
	// X-Sim-Output-Tokens header. Zero means DefaultOutputTokens (50).
	OutputTokens int64
	// CachedTokens is the cache-read part of the input (default 0).
	CachedTokens int64
	// CacheWriteTokens is the cache-write part of the input (default 0).
	CacheWriteTokens int64
	// ReasoningTokens is the reasoning part of the output (default 0).
	ReasoningTokens int64

	// Latency delays every non-streamed response (default 0).
	Latency time.Duration
	// TTFT delays the first event of a stream; headers are sent at once.
	TTFT time.Duration
	// Gap is the pause between two stream events carrying content.
	Gap time.Duration
	// Chunks is the number of content chunks of a stream, one word each.
	// Zero means DefaultChunks (10).
	Chunks int

	// ErrorRate is the share (0..1) of requests answered with a 429 or a
	// 500 in the dialect's error shape. The choice is pseudo-random but
	// deterministic for a given Seed and request order.
	ErrorRate float64
	// Seed seeds the ErrorRate sequence.
	Seed uint64

	// HangTimeout bounds how long X-Sim-Hang holds a response open.
	// Zero means DefaultHangTimeout (60s).
	HangTimeout time.Duration
	// MaxRecorded is how many requests Requests keeps (the most recent).
	// Zero means DefaultMaxRecorded (10000); a negative value disables
	// recording.
	MaxRecorded int
}

func (o Options) withDefaults() Options {
	if o.InputTokens <= 0 {
		o.InputTokens = DefaultInputTokens
	}
	if o.OutputTokens <= 0 {
		o.OutputTokens = DefaultOutputTokens
	}
	if o.Chunks <= 0 {
		o.Chunks = DefaultChunks
	}
	if o.HangTimeout <= 0 {
		o.HangTimeout = DefaultHangTimeout
	}
	if o.MaxRecorded == 0 {
		o.MaxRecorded = DefaultMaxRecorded
	}
	o.CachedTokens = max(o.CachedTokens, 0)
	o.CacheWriteTokens = max(o.CacheWriteTokens, 0)
	o.ReasoningTokens = max(o.ReasoningTokens, 0)
	return o
}

// Seen is the record of one request received, copied out of fasthttp's
// buffers so it stays valid after the handler returns.
type Seen struct {
	Method string
	Path   string
	// Query is the raw query string, without the '?'.
	Query string
	// Authorization, XAPIKey, XGoogAPIKey are the credential headers as
	// received (empty when absent); QueryKey is the `key` query parameter.
	Authorization string
	XAPIKey       string
	XGoogAPIKey   string
	QueryKey      string
	// Body is a copy of the request body.
	Body []byte
	// Header is the full request header as text, request line included.
	Header string
}

// Server is a simulated provider speaking the OpenAI, Anthropic and Gemini
// dialects. All its methods are safe for concurrent use. Build it with New,
// serve it with Serve (or mount Handler in a fasthttp server) and stop it
// with Close.
type Server struct {
	opt   Options
	words [][]byte

	count  atomic.Int64
	seq    atomic.Uint64
	errSeq atomic.Uint64

	bufs sync.Pool

	recMu sync.Mutex
	rec   []Seen
	recAt int

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	srvMu  sync.Mutex
	srvs   []*fasthttp.Server
	closed bool
}

const lorem = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua"

// New returns a Server configured by opt (zero fields take defaults).
func New(opt Options) *Server {
	s := &Server{opt: opt.withDefaults(), done: make(chan struct{})}
	for w := range strings.FieldsSeq(lorem) {
		s.words = append(s.words, []byte(w))
	}
	s.bufs.New = func() any { b := make([]byte, 0, 4096); return &b }
	return s
}

// ErrClosed is returned by Serve once Close was called.
var ErrClosed = errors.New("simulator closed")

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// Serve serves the simulator on ln until Close is called. It may be called
// several times with different listeners. It returns nil after Close.
func (s *Server) Serve(ln net.Listener) error {
	srv := &fasthttp.Server{
		Handler:               s.Handler,
		Name:                  "sim",
		NoDefaultServerHeader: true,
		Logger:                discardLogger{},
		MaxRequestBodySize:    64 << 20,
		CloseOnShutdown:       true,
	}
	s.srvMu.Lock()
	if s.closed {
		s.srvMu.Unlock()
		_ = ln.Close()
		return ErrClosed
	}
	s.srvs = append(s.srvs, srv)
	s.srvMu.Unlock()
	if err := srv.Serve(ln); err != nil {
		select {
		case <-s.done:
			return nil
		default:
		}
		return fmt.Errorf("cannot serve on %q: %w", ln.Addr().String(), err)
	}
	return nil
}

// Close ends pending streams and hangs, shuts down every server started by
// Serve and waits for the stream goroutines to end. It is safe to call more
// than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.done) })
	s.srvMu.Lock()
	s.closed = true
	srvs := s.srvs
	s.srvs = nil
	s.srvMu.Unlock()
	var errs []error
	for _, srv := range srvs {
		if err := srv.Shutdown(); err != nil {
			errs = append(errs, fmt.Errorf("cannot shut down simulator: %w", err))
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

// Count returns the number of requests served since New.
func (s *Server) Count() int64 { return s.count.Load() }

// Requests returns a copy of the recorded requests, oldest first (at most
// Options.MaxRecorded of the most recent ones).
func (s *Server) Requests() []Seen {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	out := make([]Seen, 0, len(s.rec))
	if len(s.rec) < s.opt.MaxRecorded {
		return append(out, s.rec...)
	}
	out = append(out, s.rec[s.recAt:]...)
	return append(out, s.rec[:s.recAt]...)
}

// Reset forgets the recorded requests (Count is not reset).
func (s *Server) Reset() {
	s.recMu.Lock()
	s.rec = nil
	s.recAt = 0
	s.recMu.Unlock()
}

func (s *Server) record(ctx *fasthttp.RequestCtx) {
	if s.opt.MaxRecorded < 0 {
		return
	}
	h := &ctx.Request.Header
	sn := Seen{
		Method:        string(h.Method()),
		Path:          string(ctx.Path()),
		Query:         string(ctx.URI().QueryString()),
		Authorization: string(h.Peek("Authorization")),
		XAPIKey:       string(h.Peek("X-Api-Key")),
		XGoogAPIKey:   string(h.Peek("X-Goog-Api-Key")),
		QueryKey:      string(ctx.QueryArgs().Peek("key")),
		Body:          append([]byte(nil), ctx.Request.Body()...),
		Header:        h.String(),
	}
	s.recMu.Lock()
	if len(s.rec) < s.opt.MaxRecorded {
		s.rec = append(s.rec, sn)
	} else {
		s.rec[s.recAt] = sn
		s.recAt = (s.recAt + 1) % len(s.rec)
	}
	s.recMu.Unlock()
}

func (s *Server) getBuf() *[]byte { return s.bufs.Get().(*[]byte) }

func (s *Server) putBuf(b *[]byte) {
	if cap(*b) > 1<<20 {
		return
	}
	*b = (*b)[:0]
	s.bufs.Put(b)
}

// sleep waits d, or less when the server closes; it reports whether the full
// duration elapsed.
func (s *Server) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.done:
		return false
	}
}

// injectError decides, from ErrorRate and Seed, whether this request fails
// and with which status.
func (s *Server) injectError() int {
	if s.opt.ErrorRate <= 0 {
		return 0
	}
	x := splitmix64(s.opt.Seed + s.errSeq.Add(1)*0x9e3779b97f4a7c15)
	if float64(x>>11)/(1<<53) >= s.opt.ErrorRate {
		return 0
	}
	if x&1 == 0 {
		return fasthttp.StatusTooManyRequests
	}
	return fasthttp.StatusInternalServerError
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
