package feed

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/fasthttp/websocket"

	"github.com/infermeter/infermeter/authlimit"
	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
)

// Options configure a Hub. Accounts and Meter are required.
type Options struct {
	// Accounts authenticates keys and holds the limits and timezones.
	Accounts *account.Directory
	// Meter holds the hourly cells: cost_update sums them, and New reads
	// the month-to-date spends of limit_warning from them.
	Meter *meter.Meter
	// Origins are the browser origins allowed besides the admin listener's
	// own: "*" or "https://host[:port]" (the config's cors_origins). A
	// request without an Origin header (not a browser) is always allowed.
	Origins []string
	// AuthLimit throttles client addresses that keep sending unknown keys
	// (429 before the upgrade); nil throttles nothing.
	AuthLimit *authlimit.Limiter
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// CostInterval is the period of cost_update (default 10s).
	CostInterval time.Duration
	// PingInterval is the period of pings (default 30s).
	PingInterval time.Duration
	// PongWait is how long a connection may send nothing, not even a
	// pong, before it is closed (default twice PingInterval).
	PongWait time.Duration
	// WriteTimeout bounds each write to a client (default 10s).
	WriteTimeout time.Duration
	// SubscribeTimeout bounds the wait for the subscribe message (default 10s).
	SubscribeTimeout time.Duration
	// Buffer is the number of messages queued per subscriber (default 1024:
	// four of the meter's largest batches); a subscriber whose queue is
	// full is dropped.
	Buffer int
	// MaxConns bounds the open connections (default 1024); beyond it an
	// upgrade answers 503.
	MaxConns int
	// Metrics receives the feed's metrics; nil creates a set.
	Metrics *metrics.Set
}

// Event kinds, as named in the subscribe message; a kind is one bit of a
// subscriber's mask.
const (
	kindRequest uint8 = 1 << iota
	kindError
	kindCostUpdate
	kindLimitWarning
)

var kindNames = [...]string{"request", "error", "cost_update", "limit_warning"}

// Hub fans metered events out to WebSocket subscribers. Publish is safe for
// concurrent use and never blocks; Serve is the HTTP handler of the route.
type Hub struct {
	opt Options
	up  websocket.FastHTTPUpgrader
	lim *limits

	// subs is the copy-on-write list Publish reads without a lock.
	subs atomic.Pointer[[]*sub]

	mu      sync.Mutex // guards what follows and writes of subs
	closed  bool
	conns   int
	pending map[*websocket.Conn]struct{} // upgraded, not yet subscribed
	wg      sync.WaitGroup               // connection goroutines
	quit    chan struct{}                // closed by Close

	// scratch is Publish's encoding buffer, under pubMu.
	pubMu   sync.Mutex
	scratch []byte
	warns   []warning

	dropped *metrics.Counter
	sent    *metrics.Counter
}

// sub is one subscriber: a connection that sent a valid subscribe message.
type sub struct {
	m    *account.Member // the authenticated member
	org  string
	user string // "" for an admin: the whole org
	mask uint8
	// out is the bounded queue of encoded messages; only Publish sends.
	out chan []byte
	// drop is closed, once, when the queue overflowed.
	drop    chan struct{}
	dropped atomic.Bool
}

// newSub returns the subscriber of member m to the kinds of mask: its whole
// org for an admin, its own events for a member.
func newSub(m *account.Member, mask uint8, buffer int) *sub {
	s := &sub{m: m, org: m.Org, mask: mask, out: make(chan []byte, buffer), drop: make(chan struct{})}
	if !m.IsAdmin() {
		s.user = m.ID
	}
	return s
}

// New builds a Hub. It reads the month-to-date spend of every org and
// member from the meter's cells (one pass), so build it after the cells
// are loaded and before the meter starts: the events published afterwards
// keep those spends exact.
func New(opt Options) *Hub {
	if opt.Accounts == nil || opt.Meter == nil {
		panic("BUG: feed.New needs Accounts and Meter")
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.CostInterval <= 0 {
		opt.CostInterval = 10 * time.Second
	}
	if opt.PingInterval <= 0 {
		opt.PingInterval = 30 * time.Second
	}
	if opt.PongWait <= 0 {
		opt.PongWait = 2 * opt.PingInterval
	}
	if opt.WriteTimeout <= 0 {
		opt.WriteTimeout = 10 * time.Second
	}
	if opt.SubscribeTimeout <= 0 {
		opt.SubscribeTimeout = 10 * time.Second
	}
	if opt.Buffer <= 0 {
		opt.Buffer = 1024
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 1024
	}
	if opt.Metrics == nil {
		opt.Metrics = metrics.NewSet()
	}
	h := &Hub{
		opt:     opt,
		lim:     newLimits(opt.Accounts, opt.Meter, opt.Now()),
		pending: map[*websocket.Conn]struct{}{},
		quit:    make(chan struct{}),
		dropped: opt.Metrics.NewCounter("infermeter_feed_dropped_subscribers_total"),
		sent:    opt.Metrics.NewCounter("infermeter_feed_sent_messages_total"),
	}
	h.subs.Store(new([]*sub))
	opt.Metrics.NewGauge("infermeter_feed_subscribers", func() float64 { return float64(len(*h.subs.Load())) })
	h.up = websocket.FastHTTPUpgrader{
		CheckOrigin: h.checkOrigin,
		Error:       h.handshakeError,
	}
	return h
}

// Publish sends ev to the subscribers that may see it: a request or error
// event, then the limit_warning events ev caused. It is called from the
// meter's goroutine (Meter OnEvent) after ev is aggregated; it never
// blocks and does not keep ev. Safe for concurrent use.
func (h *Hub) Publish(ev *meter.Event) {
	h.pubMu.Lock()
	defer h.pubMu.Unlock()
	h.warns = h.lim.add(ev, h.warns[:0])
	subs := *h.subs.Load()
	if len(subs) == 0 {
		return
	}
	kind := kindRequest
	if ev.Failed() {
		kind = kindError
	}
	var msg []byte
	for _, s := range subs {
		if s.org != ev.Org || s.mask&kind == 0 || (s.user != "" && s.user != ev.User) || s.dropped.Load() {
			continue
		}
		if msg == nil {
			if kind == kindRequest {
				h.scratch = appendRequest(h.scratch[:0], ev)
			} else {
				h.scratch = appendError(h.scratch[:0], ev)
			}
			msg = append([]byte(nil), h.scratch...)
		}
		h.offer(s, msg)
	}
	for i := range h.warns {
		w := &h.warns[i]
		msg = nil
		for _, s := range subs {
			// A member sees its own warnings; an admin every warning of its org.
			if s.org != w.org || s.mask&kindLimitWarning == 0 || (s.user != "" && s.user != w.user) || s.dropped.Load() {
				continue
			}
			if msg == nil {
				h.scratch = appendWarning(h.scratch[:0], w)
				msg = append([]byte(nil), h.scratch...)
			}
			h.offer(s, msg)
		}
	}
}

// offer queues msg for s without waiting; a full queue drops s.
func (h *Hub) offer(s *sub, msg []byte) {
	if s.dropped.Load() {
		return
	}
	select {
	case s.out <- msg:
	default:
		if s.dropped.CompareAndSwap(false, true) {
			close(s.drop)
			h.dropped.Inc()
		}
	}
}

// add publishes s to Publish; it reports false when the hub is closed.
func (h *Hub) add(s *sub) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	old := *h.subs.Load()
	next := make([]*sub, 0, len(old)+1)
	next = append(append(next, old...), s)
	h.subs.Store(&next)
	return true
}

// remove takes s out of Publish's list.
func (h *Hub) remove(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.subs.Load()
	next := make([]*sub, 0, len(old))
	for _, x := range old {
		if x != s {
			next = append(next, x)
		}
	}
	h.subs.Store(&next)
}

// Close closes every connection (with a going-away close frame for
// subscribers) and waits for their goroutines. Later upgrades answer 503;
// Publish keeps working and reaches nobody. Close is idempotent.
func (h *Hub) Close() error {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		close(h.quit)
		for c := range h.pending {
			closeNet(c)
		}
	}
	h.mu.Unlock()
	h.wg.Wait()
	return nil
}
