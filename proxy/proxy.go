// Package proxy is the metering reverse proxy: it routes each request to an
// upstream provider, swaps the member's infermeter key for the provider key,
// forwards the response as it arrives (streams event by event, never
// buffered), reads the provider's usage from a copy of what passes, prices it
// and hands one meter.Event per request to the meter.
//
// Hot-path promise: no lock per request (lookups read immutable snapshots),
// per-request state comes from a pool, and the client's bytes are never
// delayed by metering: usage is scanned from the bytes after they are handed
// on (only the usage chunk that the proxy itself asked for is held back until
// its event is complete, so it can be removed).
package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/authlimit"
	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/meter/budget"
	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/proxy/dialect"
	"github.com/infermeter/infermeter/proxy/estimate"
)

// UpstreamConfig describes one provider the proxy forwards to.
type UpstreamConfig struct {
	// Name is the path prefix and model namespace ("openai" → /openai/...).
	Name string
	// Dialect is the wire format: "openai", "anthropic" or "gemini".
	Dialect string
	// BaseURL is the provider's base URL; its path is prepended.
	BaseURL string
	// APIKey replaces the member's key; empty passes the client's own
	// provider credentials through (the member then authenticates with
	// X-Infermeter-Key).
	APIKey string
}

// Options configure a Proxy.
type Options struct {
	Upstreams []UpstreamConfig
	Accounts  *account.Directory
	Meter     *meter.Meter
	Catalog   *pricing.Catalog
	// Estimator counts tokens when a provider reports none; nil disables
	// estimation.
	Estimator *estimate.Estimator
	// CaptureBodies keeps each request's headers and bodies (secrets
	// redacted, bodies cut at meter.MaxCaptureBody) in Event.Capture; off,
	// the request path does not pay for it.
	CaptureBodies bool
	// MaxRequestBytes bounds request bodies (413 beyond).
	MaxRequestBytes int
	// MaxHeaderBytes bounds request headers.
	MaxHeaderBytes int
	// Timeout bounds a whole upstream response; ConnectTimeout its dial.
	Timeout        time.Duration
	ConnectTimeout time.Duration
	// Metrics receives the proxy's metrics; nil creates a set.
	Metrics *metrics.Set
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logf receives the server's connection errors; nil discards them.
	Logf func(format string, args ...any)
	// Budget enforces the monthly limits of members and orgs (the month of
	// a request is the one holding its start on Now, in the org's
	// timezone); nil builds an empty ledger that counts spend from New (the
	// app seeds its own with the month's stored spend).
	Budget *budget.Ledger
	// AuthLimit throttles client addresses that keep sending unknown keys
	// (429 in the provider's shape, nothing forwarded); nil throttles
	// nothing. It is shared with the admin listener.
	AuthLimit *authlimit.Limiter
}

// Proxy is the metering reverse proxy. Its Handler is safe for concurrent use.
type Proxy struct {
	opt       Options
	upstreams []*upstream
	byName    map[string]*upstream
	first     [3]*upstream // first upstream of each dialect
	states    sync.Pool
	m         proxyMetrics
	now       func() time.Time
	server    *fasthttp.Server

	labels      atomic.Int64 // distinct model labels handed out
	departments *table[string]
	tags        *table[string]
}

type upstream struct {
	name     string
	dialect  dialect.Dialect
	basePath string
	host     string
	isTLS    bool
	key      string
	keyBytes []byte // key, for searching bodies
	bearer   string // "Bearer " + key
	client   *fasthttp.HostClient
	models   *table[*modelEntry]
	m        *upstreamMetrics
}

// New builds a Proxy from opt.
func New(opt Options) (*Proxy, error) {
	if opt.Accounts == nil || opt.Meter == nil || opt.Catalog == nil {
		return nil, errors.New("BUG: proxy needs accounts, meter and catalog")
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 600 * time.Second
	}
	if opt.ConnectTimeout <= 0 {
		opt.ConnectTimeout = 10 * time.Second
	}
	if opt.MaxRequestBytes <= 0 {
		opt.MaxRequestBytes = 32 << 20
	}
	if opt.MaxHeaderBytes <= 0 {
		opt.MaxHeaderBytes = 64 << 10
	}
	if opt.Metrics == nil {
		opt.Metrics = metrics.NewSet()
	}
	if opt.Budget == nil {
		opt.Budget = budget.New(budget.Options{Location: opt.Accounts.Location})
	}
	p := &Proxy{
		opt:         opt,
		byName:      map[string]*upstream{},
		now:         opt.Now,
		departments: newTable[string](4096),
		tags:        newTable[string](4096),
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.m = newProxyMetrics(opt.Metrics)
	for i, uc := range opt.Upstreams {
		u, err := p.newUpstream(uc)
		if err != nil {
			return nil, fmt.Errorf("cannot set up upstreams[%d] %q: %w", i, uc.Name, err)
		}
		if _, dup := p.byName[u.name]; dup {
			return nil, fmt.Errorf("cannot set up upstreams[%d]: duplicate name %q", i, uc.Name)
		}
		p.upstreams = append(p.upstreams, u)
		p.byName[u.name] = u
		if p.first[u.dialect] == nil {
			p.first[u.dialect] = u
		}
	}
	p.states.New = func() any { return new(reqState) }
	return p, nil
}

func (p *Proxy) newUpstream(uc UpstreamConfig) (*upstream, error) {
	d, ok := dialect.ParseDialect(uc.Dialect)
	if !ok {
		return nil, fmt.Errorf("unknown dialect %q", uc.Dialect)
	}
	bu, err := url.Parse(uc.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("cannot parse base_url %q: %w", uc.BaseURL, err)
	}
	if bu.Scheme != "http" && bu.Scheme != "https" || bu.Host == "" {
		return nil, fmt.Errorf("base_url %q is not an absolute http(s) URL", uc.BaseURL)
	}
	isTLS := bu.Scheme == "https"
	addr := bu.Host
	if _, _, err := net.SplitHostPort(addr); err != nil {
		if isTLS {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	timeout := p.opt.Timeout
	connect := p.opt.ConnectTimeout
	u := &upstream{
		name:     uc.Name,
		dialect:  d,
		basePath: strings.TrimSuffix(bu.EscapedPath(), "/"),
		host:     bu.Host,
		isTLS:    isTLS,
		key:      uc.APIKey,
		keyBytes: []byte(uc.APIKey),
		bearer:   "Bearer " + uc.APIKey,
		models:   newTable[*modelEntry](2048),
		m:        newUpstreamMetrics(p.opt.Metrics, uc.Name),
	}
	u.client = &fasthttp.HostClient{
		Addr:                     addr,
		Name:                     "infermeter",
		NoDefaultUserAgentHeader: true,
		IsTLS:                    isTLS,
		MaxConns:                 4096,
		ReadTimeout:              timeout,
		WriteTimeout:             timeout,
		MaxIdleConnDuration:      30 * time.Second,
		DisablePathNormalizing:   true,
		MaxResponseBodySize:      0,
		ReadBufferSize:           16 << 10,
		Dial: func(a string) (net.Conn, error) {
			return fasthttp.DialTimeout(a, connect)
		},
		RetryIfErr: func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
	}
	return u, nil
}

// Server returns a fasthttp server running the proxy's handler with its
// limits. The same server is returned on each call.
func (p *Proxy) Server() *fasthttp.Server {
	if p.server == nil {
		p.server = &fasthttp.Server{
			Handler:               p.Handler,
			ErrorHandler:          p.errorHandler,
			Logger:                serverLogger{logf: p.opt.Logf},
			Name:                  "infermeter",
			MaxRequestBodySize:    p.opt.MaxRequestBytes,
			ReadBufferSize:        p.opt.MaxHeaderBytes,
			NoDefaultServerHeader: true,
			NoDefaultContentType:  true,
			NoDefaultDate:         true,
			ReduceMemoryUsage:     true,
			CloseOnShutdown:       true,
			IdleTimeout:           90 * time.Second,
		}
	}
	return p.server
}

// serverLogger passes fasthttp's connection errors to Logf, except those the
// proxy already answers and meters itself (a body over max_request_bytes).
type serverLogger struct {
	logf func(format string, args ...any)
}

// Printf implements fasthttp.Logger.
func (l serverLogger) Printf(format string, args ...any) {
	if l.logf == nil {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if strings.Contains(msg, fasthttp.ErrBodyTooLarge.Error()) {
		return
	}
	l.logf("proxy: %s", msg)
}
