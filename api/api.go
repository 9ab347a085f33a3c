// Package api serves the admin listener: the analytics REST API, health
// probes and /metrics. Every JSON answer carries "success"; failures carry
// {"error":{"code","message"}} with a fitting status.
//
// Reads come from the meter's in-memory hourly cells (aggregates) and from
// the store (request logs); nothing here touches the proxy's hot path.
package api

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/alert"
	"github.com/infermeter/infermeter/authlimit"
	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/schedule"
	"github.com/infermeter/infermeter/store"
)

// Options configure the API.
type Options struct {
	Accounts *account.Directory
	Meter    *meter.Meter
	Store    *store.Store
	// Catalog prices models (details breakdown, recommendations).
	Catalog *pricing.Catalog
	// CaptureBodies tells whether request/response bodies are kept.
	CaptureBodies bool
	// Price returns the catalog price the proxy applies to a model of an
	// upstream ("{upstream}/{model}" as in request logs), for the price
	// breakdown of request details; nil shows no breakdown.
	Price func(upstream, model string) (*pricing.Price, bool)
	// Metrics are written on /metrics, with the process metrics.
	Metrics []*metrics.Set
	// Ready reports whether the process is ready to serve (/readyz).
	Ready func() bool
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Feed serves GET /ws/analytics (the live feed, which authenticates
	// itself: it also takes ?token=); nil answers 404 there.
	Feed fasthttp.RequestHandler
	// Alerts keeps and evaluates the alert rules (/api/account/alerts);
	// nil answers 404 there.
	Alerts *alert.Engine
	// Schedules keeps and runs the scheduled reports (the routes under
	// /reports); nil answers 404 there.
	Schedules *schedule.Scheduler
	// Dashboard serves the web dashboard: GET / and everything under
	// /ui/ (it needs no key: the page signs in with the API); nil answers
	// 404 there.
	Dashboard fasthttp.RequestHandler
	// Origins are the browser origins allowed by CORS on /api/: "*" or
	// exact "scheme://host[:port]" values (the config's cors_origins).
	// Empty turns CORS off: no Access-Control-* header is ever sent.
	Origins []string
	// AuthLimit throttles client addresses that keep sending unknown keys
	// (429 rate_limited with Retry-After); nil throttles nothing.
	AuthLimit *authlimit.Limiter
}

// API is the admin HTTP handler. Safe for concurrent use.
type API struct {
	opt Options
	now func() time.Time
	// invoiceMu serialises the numbering of invoices: each org's numbers
	// form one sequence, persisted in the store, and a number is never
	// given twice.
	invoiceMu sync.Mutex
}

// New builds the API.
func New(opt Options) *API {
	a := &API{opt: opt, now: opt.Now}
	if a.now == nil {
		a.now = time.Now
	}
	return a
}

// Handler routes an admin request.
func (a *API) Handler(ctx *fasthttp.RequestCtx) {
	path := string(ctx.Path())
	method := string(ctx.Method())
	switch path {
	case "/healthz":
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok\n")
		return
	case "/readyz":
		ctx.SetContentType("text/plain; charset=utf-8")
		if a.opt.Ready != nil && !a.opt.Ready() {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBodyString("not ready\n")
			return
		}
		ctx.SetBodyString("ready\n")
		return
	case "/metrics":
		ctx.SetContentType("text/plain; version=0.0.4; charset=utf-8")
		w := ctx.Response.BodyWriter()
		for _, s := range a.opt.Metrics {
			s.WritePrometheus(w)
		}
		metrics.WriteProcessMetrics(w)
		return
	case "/ws/analytics":
		if a.opt.Feed != nil {
			a.opt.Feed(ctx)
			return
		}
	}
	if a.opt.Dashboard != nil && (path == "/" || strings.HasPrefix(path, "/ui/")) {
		a.opt.Dashboard(ctx)
		return
	}
	if !strings.HasPrefix(path, "/api/") {
		a.fail(ctx, fasthttp.StatusNotFound, "not_found", "no such route: "+path)
		return
	}
	if a.cors(ctx, method, path) {
		return
	}
	now := a.now()
	if wait, ok := a.opt.AuthLimit.Check(ctx, now); ok {
		a.throttled(ctx, wait)
		return
	}
	m, ok := a.authenticate(ctx)
	if !ok {
		if len(ctx.Request.Header.Peek("Authorization")) > 0 {
			a.opt.AuthLimit.FailRequest(ctx, now)
		}
		a.fail(ctx, fasthttp.StatusUnauthorized, "unauthorized", "missing or invalid bearer key")
		return
	}
	a.dispatch(ctx, m, method, path)
}

// throttled refuses a request from an address that failed to authenticate
// too often: 429 rate_limited with Retry-After in whole seconds (rounded
// up).
func (a *API) throttled(ctx *fasthttp.RequestCtx, wait time.Duration) {
	secs := strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10)
	ctx.Response.Header.Set("Retry-After", secs)
	a.fail(ctx, fasthttp.StatusTooManyRequests, "rate_limited",
		"too many failed authentications from this address: retry in "+secs+" s")
}

// Limits of the admin listener's requests (the server is built by the
// caller, with ErrorHandler).
const (
	// MaxBodyBytes bounds a request body: the API takes small JSON bodies.
	MaxBodyBytes = 1 << 20
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes = 16 << 10
)

// ErrorHandler answers the requests the admin server refused before the
// handler, in the API's error shape: a body over MaxBodyBytes (413),
// headers over MaxHeaderBytes (431), anything else malformed (400).
func (a *API) ErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		a.fail(ctx, fasthttp.StatusRequestEntityTooLarge, "request_too_large",
			"the request body exceeds "+strconv.Itoa(MaxBodyBytes)+" bytes")
	case errors.As(err, &small):
		a.fail(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "headers_too_large",
			"the request headers exceed "+strconv.Itoa(MaxHeaderBytes)+" bytes")
	default:
		a.fail(ctx, fasthttp.StatusBadRequest, "bad_request", "malformed request")
	}
	ctx.SetConnectionClose()
}

// authenticate finds the member of the bearer key.
func (a *API) authenticate(ctx *fasthttp.RequestCtx) (*account.Member, bool) {
	v := ctx.Request.Header.Peek("Authorization")
	const prefix = "bearer "
	if len(v) <= len(prefix) || !strings.EqualFold(string(v[:len(prefix)]), prefix) {
		return nil, false
	}
	return a.opt.Accounts.Authenticate(bytes.TrimSpace(v[len(prefix):]))
}

type errorBody struct {
	Success bool      `json:"success"`
	Error   errorInfo `json:"error"`
}

type errorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (a *API) fail(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	ctx.SetStatusCode(status)
	a.writeJSON(ctx, errorBody{Error: errorInfo{Code: code, Message: msg}})
}

// badParam answers 400 naming the parameter.
func (a *API) badParam(ctx *fasthttp.RequestCtx, err error) {
	a.fail(ctx, fasthttp.StatusBadRequest, "invalid_parameter", err.Error())
}

func (a *API) writeJSON(ctx *fasthttp.RequestCtx, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		ctx.SetStatusCode(fasthttp.StatusInternalServerError)
		b = []byte(`{"success":false,"error":{"code":"internal","message":"cannot encode the answer"}}`)
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// USD is an amount of nano-dollars rendered as an exact JSON number of USD.
type USD int64

// MarshalJSON renders the amount with up to nine decimals, exactly.
func (u USD) MarshalJSON() ([]byte, error) {
	return AppendUSD(nil, int64(u)), nil
}

// AppendUSD appends nano-dollars n as a decimal USD number.
func AppendUSD(dst []byte, n int64) []byte {
	if n < 0 {
		dst = append(dst, '-')
		n = -n
	}
	dst = strconv.AppendInt(dst, n/1e9, 10)
	frac := n % 1e9
	if frac == 0 {
		return dst
	}
	var buf [9]byte
	for i := 8; i >= 0; i-- {
		buf[i] = byte('0' + frac%10)
		frac /= 10
	}
	end := 9
	for end > 0 && buf[end-1] == '0' {
		end--
	}
	dst = append(dst, '.')
	return append(dst, buf[:end]...)
}
