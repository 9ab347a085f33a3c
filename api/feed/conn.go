package feed

import (
	"bytes"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fasthttp/websocket"
	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter/account"
)

// maxSubscribeBytes bounds a message from a client (the subscribe message).
const maxSubscribeBytes = 4 << 10

// Close reasons, in the close frame.
const (
	droppedText = "slow consumer: dropped"
	revokedText = "key revoked"
	closingText = "the feed is shutting down"
)

// Serve handles GET /ws/analytics: it authenticates the bearer key (the
// Authorization header, or ?token= for browsers, which cannot set headers
// on a WebSocket) before upgrading, then serves the connection. A missing
// or bad key is a 401, a request that is not a WebSocket upgrade a 426,
// a foreign origin a 403, a closed or full hub a 503, an address throttled
// by Options.AuthLimit a 429; each answer has the admin API's error shape.
func (h *Hub) Serve(ctx *fasthttp.RequestCtx) {
	now := h.opt.Now()
	if wait, ok := h.opt.AuthLimit.Check(ctx, now); ok {
		secs := strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10)
		ctx.Response.Header.Set("Retry-After", secs)
		fail(ctx, fasthttp.StatusTooManyRequests, "rate_limited",
			"too many failed authentications from this address: retry in "+secs+" s")
		return
	}
	m, ok := h.authenticate(ctx)
	if !ok {
		if len(ctx.Request.Header.Peek("Authorization")) > 0 || len(ctx.QueryArgs().Peek("token")) > 0 {
			h.opt.AuthLimit.FailRequest(ctx, now)
		}
		fail(ctx, fasthttp.StatusUnauthorized, "unauthorized", "missing or invalid bearer key")
		return
	}
	if !websocket.FastHTTPIsWebSocketUpgrade(ctx) {
		ctx.Response.Header.Set("Upgrade", "websocket")
		fail(ctx, fasthttp.StatusUpgradeRequired, "upgrade_required", "this route is a WebSocket: send an upgrade request")
		return
	}
	h.mu.Lock()
	closed, full := h.closed, h.conns >= h.opt.MaxConns
	h.mu.Unlock()
	if closed || full {
		fail(ctx, fasthttp.StatusServiceUnavailable, "unavailable", "the live feed takes no more connections now")
		return
	}
	// Upgrade writes its own error answer (through handshakeError).
	_ = h.up.Upgrade(ctx, func(c *websocket.Conn) { h.serveConn(c, m) })
}

// authenticate finds the member of the bearer key: the Authorization header
// when present, else the token query parameter.
func (h *Hub) authenticate(ctx *fasthttp.RequestCtx) (*account.Member, bool) {
	key := ctx.QueryArgs().Peek("token")
	if v := ctx.Request.Header.Peek("Authorization"); len(v) > 0 {
		const prefix = "bearer "
		if len(v) <= len(prefix) || !strings.EqualFold(string(v[:len(prefix)]), prefix) {
			return nil, false
		}
		key = bytes.TrimSpace(v[len(prefix):])
	}
	m, ok := h.opt.Accounts.Authenticate(key)
	if !ok {
		return nil, false
	}
	if _, ok := h.opt.Accounts.Org(m.Org); !ok {
		return nil, false
	}
	return m, true
}

// checkOrigin allows requests without Origin (not browsers), the admin
// listener's own origin, and the configured origins.
func (h *Hub) checkOrigin(ctx *fasthttp.RequestCtx) bool {
	origin := string(ctx.Request.Header.Peek("Origin"))
	if origin == "" {
		return true
	}
	if u, err := url.Parse(origin); err == nil && strings.EqualFold(u.Host, string(ctx.Host())) {
		return true
	}
	for _, o := range h.opt.Origins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

func (h *Hub) handshakeError(ctx *fasthttp.RequestCtx, status int, reason error) {
	ctx.Response.Header.Set("Sec-Websocket-Version", "13")
	code := "bad_handshake"
	switch status {
	case fasthttp.StatusForbidden:
		code = "forbidden_origin"
	case fasthttp.StatusMethodNotAllowed:
		code = "method_not_allowed"
	}
	fail(ctx, status, code, reason.Error())
}

type errorBody struct {
	Success bool      `json:"success"`
	Error   errorInfo `json:"error"`
}

type errorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// fail answers an HTTP error in the admin API's shape.
func fail(ctx *fasthttp.RequestCtx, status int, code, msg string) {
	b, _ := json.Marshal(errorBody{Error: errorInfo{Code: code, Message: msg}})
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

// subscribeMsg is the first message of a client.
type subscribeMsg struct {
	Type   string   `json:"type"`
	OrgID  string   `json:"org_id"`
	Events []string `json:"events"`
}

// ackMsg answers a valid subscribe message.
type ackMsg struct {
	Type   string   `json:"type"` // "subscribed"
	OrgID  string   `json:"org_id"`
	Scope  string   `json:"scope"`
	UserID string   `json:"user_id"`
	Events []string `json:"events"`
}

// rejectMsg answers an invalid or forbidden subscribe message, before the
// close frame.
type rejectMsg struct {
	Type    string `json:"type"` // "subscribe_error"
	Code    string `json:"code"`
	Message string `json:"message"`
}

// subscribeError is a refused subscribe message.
type subscribeError struct {
	code      string
	msg       string
	closeCode int
}

// parseSubscribe checks a subscribe message of member m and returns the
// kinds it asks for.
func parseSubscribe(data []byte, m *account.Member) (mask uint8, e *subscribeError) {
	var msg subscribeMsg
	if err := json.Unmarshal(data, &msg); err != nil || msg.Type != "subscribe" {
		return 0, &subscribeError{"invalid_subscribe", `the first message must be {"type":"subscribe","org_id":"…","events":[…]}`, websocket.CloseInvalidFramePayloadData}
	}
	if msg.OrgID != "" && msg.OrgID != m.Org {
		return 0, &subscribeError{"forbidden", "no such organization: " + msg.OrgID, websocket.ClosePolicyViolation}
	}
	for _, name := range msg.Events {
		i := slices.Index(kindNames[:], name)
		if i < 0 {
			return 0, &subscribeError{"invalid_subscribe", "events: " + quote(name) + " is not one of request, error, cost_update, limit_warning", websocket.CloseInvalidFramePayloadData}
		}
		mask |= 1 << i
	}
	if mask == 0 {
		mask = kindRequest | kindError | kindCostUpdate | kindLimitWarning
	}
	return mask, nil
}

func quote(s string) string { return string(appendString(nil, s)) }

// serveConn runs one upgraded connection; it is the reader and owns the
// writer goroutine. It returns once both are done.
func (h *Hub) serveConn(c *websocket.Conn, m *account.Member) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.wg.Add(1)
	h.conns++
	h.pending[c] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.conns--
		delete(h.pending, c)
		h.mu.Unlock()
		h.wg.Done()
	}()

	c.SetReadLimit(maxSubscribeBytes)
	_ = c.SetReadDeadline(time.Now().Add(h.opt.SubscribeTimeout))
	_, data, err := c.ReadMessage()
	if err != nil {
		return // gone, too large (the library sent 1009) or too slow
	}
	mask, serr := parseSubscribe(data, m)
	if serr != nil {
		h.reject(c, serr)
		return
	}
	s := newSub(m, mask, h.opt.Buffer)
	scope := "org"
	if s.user != "" {
		scope = "member"
	}
	h.mu.Lock()
	delete(h.pending, c)
	h.mu.Unlock()
	if !h.add(s) {
		h.goodbye(c, websocket.CloseGoingAway, closingText)
		return
	}
	defer h.remove(s)
	ack := ackMsg{Type: "subscribed", OrgID: s.org, Scope: scope, UserID: s.user}
	for i, name := range kindNames {
		if mask&(1<<i) != 0 {
			ack.Events = append(ack.Events, name)
		}
	}
	b, _ := json.Marshal(ack)
	_ = c.SetWriteDeadline(time.Now().Add(h.opt.WriteTimeout))
	if err := c.WriteMessage(websocket.TextMessage, b); err != nil {
		return
	}

	stop := make(chan struct{})
	done := make(chan struct{})
	go h.write(c, s, stop, done)

	pongWait := h.opt.PongWait
	_ = c.SetReadDeadline(time.Now().Add(pongWait))
	c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		// Later messages are read (for their control frames) and ignored.
		if _, _, err := c.NextReader(); err != nil {
			break
		}
		_ = c.SetReadDeadline(time.Now().Add(pongWait))
	}
	close(stop)
	<-done
}

// write is the writer goroutine of s: queued events, cost updates, pings,
// and the close frame when the hub closes or s is dropped. It closes the
// connection when it ends, which ends the reader too.
func (h *Hub) write(c *websocket.Conn, s *sub, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	defer closeNet(c)
	ping := time.NewTicker(h.opt.PingInterval)
	defer ping.Stop()
	var costC <-chan time.Time
	var buf []byte
	if s.mask&kindCostUpdate != 0 {
		cost := time.NewTicker(h.opt.CostInterval)
		defer cost.Stop()
		costC = cost.C
		if buf = h.costUpdate(buf[:0], s); !h.send(c, buf) {
			return
		}
	}
	for {
		select {
		case <-stop:
			return
		case <-s.drop:
			h.goodbye(c, websocket.ClosePolicyViolation, droppedText)
			return
		case <-h.quit:
			h.goodbye(c, websocket.CloseGoingAway, closingText)
			return
		case msg := <-s.out:
			if s.dropped.Load() {
				h.goodbye(c, websocket.ClosePolicyViolation, droppedText)
				return
			}
			if !h.send(c, msg) {
				return
			}
		case <-ping.C:
			if !h.current(s.m) {
				h.goodbye(c, websocket.ClosePolicyViolation, revokedText)
				return
			}
			if err := c.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.opt.WriteTimeout)); err != nil {
				return
			}
		case <-costC:
			if !h.current(s.m) {
				h.goodbye(c, websocket.ClosePolicyViolation, revokedText)
				return
			}
			if buf = h.costUpdate(buf[:0], s); !h.send(c, buf) {
				return
			}
		}
	}
}

// send writes one text message; it reports false when the connection failed.
func (h *Hub) send(c *websocket.Conn, msg []byte) bool {
	_ = c.SetWriteDeadline(time.Now().Add(h.opt.WriteTimeout))
	if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
		return false
	}
	h.sent.Inc()
	return true
}

// costUpdate appends the cost_update of s at the hub's now.
func (h *Hub) costUpdate(dst []byte, s *sub) []byte {
	now := h.opt.Now()
	t := totalsOf(h.opt.Meter, locOf(h.opt.Accounts.Location, s.org), s.org, s.user, now)
	return appendCostUpdate(dst, s.org, s.user, t, now)
}

// current reports whether m still holds its key and role: a revoked or
// rotated key, or a changed role, ends the connection at the next tick.
func (h *Hub) current(m *account.Member) bool {
	cur, ok := h.opt.Accounts.Member(m.Org, m.ID)
	return ok && cur.KeyHash == m.KeyHash && cur.Role == m.Role
}

// reject sends the reason a subscribe message was refused, then closes.
func (h *Hub) reject(c *websocket.Conn, e *subscribeError) {
	b, _ := json.Marshal(rejectMsg{Type: "subscribe_error", Code: e.code, Message: e.msg})
	_ = c.SetWriteDeadline(time.Now().Add(h.opt.WriteTimeout))
	if err := c.WriteMessage(websocket.TextMessage, b); err == nil {
		h.goodbye(c, e.closeCode, e.code)
	}
}

// goodbye sends a close frame (best effort, bounded by WriteTimeout).
func (h *Hub) goodbye(c *websocket.Conn, code int, text string) {
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(h.opt.WriteTimeout))
}

// closeNet closes the network connection under c. The server's hijacked
// connection ignores Close (the server closes it after the handler), so
// the real one is closed: that is what wakes a reader blocked on it.
func closeNet(c *websocket.Conn) {
	nc := c.NetConn()
	if u, ok := nc.(interface{ UnsafeConn() net.Conn }); ok {
		nc = u.UnsafeConn()
	}
	_ = nc.Close()
}
