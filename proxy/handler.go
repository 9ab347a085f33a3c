package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/meter/budget"
	"github.com/infermeter/infermeter/meter/usage"
	"github.com/infermeter/infermeter/proxy/dialect"
)

// Request headers of infermeter itself; they are never forwarded.
const (
	HeaderKey        = "X-Infermeter-Key"
	HeaderDepartment = "X-Infermeter-Department"
	HeaderTags       = "X-Infermeter-Tags"
)

// maxErrorMessage bounds the error message kept in a request log.
const maxErrorMessage = 512

// reqState is the per-request state, pooled. Nothing in it outlives the
// request: strings handed to the meter are interned or copied.
type reqState struct {
	p        *Proxy
	up       *upstream
	member   *account.Member
	model    *modelEntry
	ev       meter.Event
	ri       dialect.RequestInfo
	start    time.Time
	scratch  []byte
	reqBody  []byte // the request body, for estimation (a view, or bodyCopy)
	bodyCopy []byte // copy of a streamed request's body (the stream outlives the handler)

	// streaming
	upResp     *fasthttp.Response
	body       io.Reader
	sse        dialect.SSEScanner
	arr        dialect.ArrayScanner
	st         dialect.StreamState
	mode       streamMode
	collected  bool
	dropUsage  bool
	encoded    bool
	raw        []byte // compressed stream bytes, decoded at the end
	out        []byte // filtered bytes waiting for the client
	outPos     int
	buf        []byte
	gotFirst   bool
	eof        bool
	finished   bool
	upstreamOK bool
	large      bool // a non-streamed answer passed through (startLarge)

	cap    *capture      // nil unless capture_bodies is on
	ids    idSlab        // backs ev.ProviderRequestID
	ticket budget.Ticket // the request's reservation, settled by record
}

func (p *Proxy) getState() *reqState {
	s := p.states.Get().(*reqState)
	s.p = p
	return s
}

func (p *Proxy) putState(s *reqState) {
	s.up, s.member, s.model = nil, nil, nil
	s.ev = meter.Event{}
	s.ri = dialect.RequestInfo{}
	s.scratch = s.scratch[:0]
	s.reqBody = nil
	s.bodyCopy = s.bodyCopy[:0]
	s.upResp, s.body = nil, nil
	s.cap = nil
	s.ticket = budget.Ticket{}
	s.mode, s.collected = modeSSE, false
	s.dropUsage, s.encoded, s.gotFirst, s.eof, s.finished, s.upstreamOK = false, false, false, false, false, false
	s.large = false
	s.raw = s.raw[:0]
	s.out = s.out[:0]
	s.outPos = 0
	if cap(s.raw) > 1<<20 {
		s.raw = nil
	}
	if cap(s.out) > 1<<20 {
		s.out = nil // held the first part of a large body (takeBody)
	}
	if cap(s.bodyCopy) > 1<<20 {
		s.bodyCopy = nil
	}
	p.states.Put(s)
}

// Handler serves one proxied request.
func (p *Proxy) Handler(ctx *fasthttp.RequestCtx) {
	start := p.now()
	up, rest := p.route(ctx.Request.URI().PathOriginal())
	if up == nil {
		p.m.unrouted.Inc()
		writeError(ctx, dialect.OpenAI, fasthttp.StatusNotFound, usage.ErrInvalidRequest,
			"no upstream serves this path: use /{upstream}/..., /v1/..., /v1/messages or /v1beta/...")
		return
	}
	if wait, ok := p.opt.AuthLimit.Check(ctx, start); ok {
		p.throttle(ctx, up, wait)
		return
	}
	var cp *capture
	if p.opt.CaptureBodies {
		cp = p.newCapture(ctx, up) // before authenticate removes the credentials
	}
	member, ok := p.authenticate(ctx, up)
	if !ok {
		up.m.unauthorized.Inc()
		writeError(ctx, up.dialect, fasthttp.StatusUnauthorized, usage.ErrAuth,
			"invalid or missing infermeter key: send the member key where the SDK sends its API key")
		return
	}
	s := p.getState()
	s.up, s.member, s.start, s.cap = up, member, start, cp
	s.begin(ctx, rest)
	if !s.reserve(ctx) {
		if s.cap != nil {
			s.cap.response(&ctx.Response)
		}
		s.record()
		p.putState(s)
		return
	}
	if err := s.prepareUpstream(ctx, rest); err != nil {
		s.ev.Status = fasthttp.StatusBadRequest
		s.fail(usage.ErrInvalidRequest, err.Error())
		writeError(ctx, up.dialect, fasthttp.StatusBadRequest, usage.ErrInvalidRequest, err.Error())
		if s.cap != nil {
			s.cap.response(&ctx.Response)
		}
		s.record()
		p.putState(s)
		return
	}
	if s.ri.Stream {
		s.upResp = fasthttp.AcquireResponse()
		s.upResp.StreamBody = true
		err := up.client.Do(&ctx.Request, s.upResp)
		if err != nil {
			s.upstreamError(ctx, err)
			fasthttp.ReleaseResponse(s.upResp)
			s.upResp = nil
			if s.cap != nil {
				s.cap.response(&ctx.Response)
			}
			s.record()
			p.putState(s)
			return
		}
		s.startStream(ctx)
		s.scrubStream(&ctx.Response)
		// The stream reader owns s from here; its Close records and frees it.
		return
	}
	// The body is streamed from the upstream so that one too large to hold
	// (takeBody) is passed through as it arrives.
	s.upResp = fasthttp.AcquireResponse()
	s.upResp.StreamBody = true
	err := up.client.Do(&ctx.Request, s.upResp)
	if err == nil {
		var large bool
		if large, err = s.takeBody(ctx); large {
			s.startLarge(ctx)
			// The stream reader owns s from here; its Close records and frees it.
			return
		}
	}
	fasthttp.ReleaseResponse(s.upResp)
	s.upResp = nil
	if err != nil {
		s.upstreamError(ctx, err)
		if s.cap != nil {
			s.cap.response(&ctx.Response)
		}
		s.record()
		p.putState(s)
		return
	}
	s.finishBody(ctx)
	s.scrubResponse(&ctx.Response)
	if s.cap != nil {
		s.cap.response(&ctx.Response)
	}
	s.record()
	p.putState(s)
}

// begin fills the event fields known from the request.
func (s *reqState) begin(ctx *fasthttp.RequestCtx, rest []byte) {
	up, m := s.up, s.member
	ev := &s.ev
	ev.Time = s.start.UnixNano()
	ev.Org = m.Org
	ev.User = m.ID
	ev.Department = m.Department
	ev.BillingMode = m.BillingMode
	ev.Upstream = up.name
	body := ctx.Request.Body()
	ev.RequestBytes = int64(len(body))
	ev.PromptHash = promptHash(body)
	if d := ctx.Request.Header.Peek(HeaderDepartment); len(d) > 0 {
		ev.Department = s.p.internDepartment(d)
	}
	if t := ctx.Request.Header.Peek(HeaderTags); len(t) > 0 {
		ev.Tags = s.p.canonicalTags(t)
	}
	ev.Category = dialect.CategoryOf(up.dialect, rest)
	s.ri = dialect.InspectRequest(up.dialect, rest, ctx.Request.URI().QueryString(), ctx.Request.Body())
	s.model = up.model(s.p, s.ri.Model)
	ev.Model = s.model.name
	ev.Stream = s.ri.Stream
}

// Messages of the proxy's 429 budget_exceeded.
const (
	msgMemberLimit = "budget exceeded: this member's monthly_limit_usd is reached for this month " +
		"(spend plus the requests in flight, with this one's estimated cost); it resets on the 1st in the org's timezone"
	msgOrgBudget = "budget exceeded: the organisation's monthly_budget_usd is reached for this month " +
		"(spend plus the requests in flight, with this one's estimated cost); it resets on the 1st in the org's timezone"
)

// reserve holds the request's estimated cost against the member's and the
// org's monthly limits before anything is forwarded. Refused, it answers 429
// budget_exceeded in the provider's error shape and reports false; the
// request is then metered (status 429, cost 0) and not forwarded.
func (s *reqState) reserve(ctx *fasthttp.RequestCtx) bool {
	m := s.member
	org, _ := s.p.opt.Accounts.Org(m.Org)
	est := budget.Estimate(s.model.price, s.ev.RequestBytes, s.ri.MaxOutputTokens)
	t, err := s.p.opt.Budget.Reserve(m, org, s.start, est)
	if err == nil {
		s.ticket = t
		return true
	}
	msg := msgMemberLimit
	if errors.Is(err, budget.ErrOrgBudget) {
		msg = msgOrgBudget
	}
	s.ev.Status = fasthttp.StatusTooManyRequests
	s.fail(usage.ErrBudgetExceeded, msg)
	s.ev.LatencyMicros = s.p.now().Sub(s.start).Microseconds()
	writeError(ctx, s.up.dialect, fasthttp.StatusTooManyRequests, usage.ErrBudgetExceeded, msg)
	// A retry would be refused again until the month turns: the OpenAI and
	// Anthropic SDKs retry a 429 unless told not to.
	ctx.Response.Header.Set("X-Should-Retry", "false")
	return false
}

// prepareUpstream rewrites ctx.Request in place into the upstream request.
func (s *reqState) prepareUpstream(ctx *fasthttp.RequestCtx, rest []byte) error {
	up := s.up
	req := &ctx.Request
	if s.p.opt.Estimator != nil {
		if s.ri.Stream {
			// The stream outlives the handler: keep a copy for estimation.
			s.bodyCopy = append(s.bodyCopy[:0], req.Body()...)
			s.reqBody = s.bodyCopy
		} else {
			s.reqBody = req.Body()
		}
	}
	if dialect.NeedsUsageInjection(up.dialect, s.ev.Category, s.ri) {
		nb, err := dialect.InjectIncludeUsage(s.scratch[:0], req.Body())
		if err != nil {
			return errors.New("request body is not valid JSON")
		}
		req.SetBody(nb)
		s.scratch = nb[:0]
		s.dropUsage = true
	}
	// Path: base path + rest, built in scratch (rest aliases the URI buffer).
	n := len(s.scratch)
	s.scratch = append(s.scratch, up.basePath...)
	s.scratch = append(s.scratch, rest...)
	uri := req.URI()
	uri.SetPathBytes(s.scratch[n:])
	s.scratch = s.scratch[:n]
	if up.isTLS {
		uri.SetScheme("https")
	} else {
		uri.SetScheme("http")
	}
	uri.SetHost(up.host)
	req.Header.SetHost(up.host)
	req.Header.Del(HeaderDepartment)
	req.Header.Del(HeaderTags)
	req.Header.Del("Connection")
	req.Header.Del("Proxy-Authorization")
	req.Header.Del("Keep-Alive")
	req.Header.Del("Te")
	req.Header.Del("Trailer")
	req.Header.Del("Upgrade")
	if s.ri.Stream {
		// Ask for an identity stream so usage can be read as it passes; a
		// provider that compresses anyway is still metered (decoded at the end).
		req.Header.Set("Accept-Encoding", "identity")
	}
	return nil
}

// upstreamError answers the client when the upstream could not be reached or
// did not answer in time.
func (s *reqState) upstreamError(ctx *fasthttp.RequestCtx, err error) {
	et, status, msg := usage.ErrUpstreamUnreachable, fasthttp.StatusBadGateway, "upstream unreachable"
	var ne net.Error
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) || (errors.As(err, &ne) && ne.Timeout()) {
		if !errors.Is(err, fasthttp.ErrDialTimeout) {
			et, status, msg = usage.ErrTimeout, fasthttp.StatusGatewayTimeout, "upstream timed out"
		}
	}
	ctx.Response.Reset()
	writeError(ctx, s.up.dialect, status, et, msg+" ("+s.up.name+")")
	s.ev.Status = status
	s.fail(et, msg+": "+err.Error())
	s.ev.LatencyMicros = s.p.now().Sub(s.start).Microseconds()
}

func (s *reqState) fail(et usage.ErrorType, msg string) {
	s.ev.ErrorType = et
	if len(msg) > maxErrorMessage {
		msg = msg[:maxErrorMessage]
	}
	s.ev.ErrorMessage = msg
}

// finishBody meters a whole (non-streamed) response in ctx.Response.
func (s *reqState) finishBody(ctx *fasthttp.RequestCtx) {
	resp := &ctx.Response
	now := s.p.now()
	s.ev.LatencyMicros = now.Sub(s.start).Microseconds()
	s.ev.TTFTMicros = s.ev.LatencyMicros
	s.ev.Status = resp.StatusCode()
	s.setProviderRequestID(&resp.Header)
	body := resp.Body()
	s.ev.ResponseBytes = int64(len(body))
	if ce := resp.Header.ContentEncoding(); len(ce) > 0 && !bytes.EqualFold(ce, []byte("identity")) {
		b, err := resp.BodyUncompressed()
		if err != nil {
			s.ev.ErrorType = usage.ErrorFromStatus(s.ev.Status)
			s.fail(orOther(s.ev.ErrorType), "cannot decode "+string(ce)+" response body: "+err.Error())
			return
		}
		body = b
	}
	s.meterBody(body)
	if !s.ev.Usage.Reported() && s.ev.ErrorType == usage.ErrNone {
		s.estimate(body, nil)
	}
}

// meterBody reads usage and errors from a whole response body. A success
// whose body is not JSON is an upstream fault (model_error): the client gets
// the body as sent, and nothing is estimated for it.
func (s *reqState) meterBody(body []byte) {
	ei := dialect.ExtractBody(s.up.dialect, s.ev.Category, s.ev.Status, body, &s.ev.Usage)
	if ei.Type != usage.ErrNone {
		s.ev.ErrorType = ei.Type
		s.ev.ErrorMessage = string(truncate(ei.Message, maxErrorMessage))
		return
	}
	if s.ev.Status < 300 && !s.ev.Usage.Reported() && len(body) > 0 && !gjson.ValidBytes(body) {
		s.fail(usage.ErrModel, "upstream answered "+strconv.Itoa(s.ev.Status)+" with a body that is not valid JSON")
	}
}

func orOther(et usage.ErrorType) usage.ErrorType {
	if et == usage.ErrNone {
		return usage.ErrOther
	}
	return et
}

// estimate fills the usage with tokenizer counts: the prompt from the request
// body, the output from body (a whole response) or text (stream deltas).
// Counts the provider did report are kept when larger.
func (s *reqState) estimate(body, text []byte) {
	e := s.p.opt.Estimator
	if e == nil {
		return
	}
	model := s.model.bare
	u := &s.ev.Usage
	if !u.Input.OK {
		pt := dialect.PromptText(s.up.dialect, s.reqBody, s.scratch[:0])
		u.Input.Set(e.Count(model, pt))
		s.scratch = pt[:0]
	}
	if body != nil {
		text = dialect.OutputTextOf(s.up.dialect, s.ev.Category, body, s.scratch[:0])
		s.scratch = text[:0]
	}
	if n := e.Count(model, text); !u.Output.OK || n > u.Output.N {
		u.Output.Set(n)
	}
	u.Source = usage.SourceEstimated
	s.p.m.estimated.Inc()
}

// record prices the usage, settles the request's budget reservation with
// that cost and hands the event to the meter.
func (s *reqState) record() {
	ev := &s.ev
	if ev.ErrorType == usage.ErrNone && ev.Status >= 400 {
		ev.ErrorType = usage.ErrorFromStatus(ev.Status)
	}
	me := s.model
	if me != nil && me.price != nil {
		ev.CostNano = me.price.Cost(&ev.Usage)
		ev.Priced = true
	} else if ev.Usage.ProviderCostNano.OK {
		ev.CostNano = ev.Usage.ProviderCostNano.N
		ev.Priced = true
	}
	s.ticket.Settle(ev.CostNano)
	if ev.ErrorMessage != "" {
		ev.ErrorMessage = s.scrubMessage(ev.ErrorMessage)
	}
	if s.cap != nil {
		ev.Capture = s.cap.finish()
	}
	s.p.observe(s.up, me, ev)
	s.p.opt.Meter.Record(ev)
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// promptSample is how much of a large body the prompt fingerprint reads at
// each end.
const promptSample = 32 << 10

// promptHash fingerprints a request body for the repeated-prompt insight:
// xxhash64 of the body, or of its first and last 32 KiB and its length when
// it is larger (a few µs at most). 0 means no body.
func promptHash(body []byte) uint64 {
	if len(body) == 0 {
		return 0
	}
	if len(body) <= 2*promptSample {
		return xxhash.Sum64(body) | 1
	}
	var d xxhash.Digest
	d.Reset()
	_, _ = d.Write(body[:promptSample])
	_, _ = d.Write(body[len(body)-promptSample:])
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(body)))
	_, _ = d.Write(n[:])
	return d.Sum64() | 1
}
