// Package authlimit throttles the client addresses that keep failing to
// authenticate. After Max failed authentications from one address within
// Window (counted from the first failure), every request from that address
// is refused until the window is over; then it starts again from zero.
//
// Hot-path promise: requests that are not refused only call Throttled,
// which reads one atomic while no address is throttled (no lock, no
// allocation); the table is locked only to record a failure and, while
// some address is throttled, to look the caller up. Memory is bounded:
// at most Options.Size addresses are tracked, the oldest window evicted
// first.
package authlimit

import (
	"bytes"
	"hash/maphash"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/valyala/fasthttp"
)

// Defaults of Options.
const (
	DefaultMax    = 10
	DefaultWindow = time.Minute
	DefaultSize   = 1 << 16
)

// numShards splits the table so that failures from many addresses do not
// queue on one lock.
const numShards = 16

// Options configure a Limiter.
type Options struct {
	// Max is how many failed authentications an address may have in a
	// window; the next request is refused. Default 10.
	Max int
	// Window is how long an address's count lasts, from its first failure.
	// Default 1 minute.
	Window time.Duration
	// Size is how many addresses are tracked at most (rounded up to a
	// multiple of 16); when the table is full, the address whose window
	// started first is forgotten. Default 65536 (about 5 MiB at most).
	Size int
	// Metrics receives infermeter_auth_failures_total and
	// infermeter_auth_throttled_total; nil creates a set.
	Metrics *metrics.Set
	// Exempt lists the addresses that are never throttled (their failures
	// are counted in the metric only). nil means 127.0.0.1 and ::1: the
	// app of a sidecar's own pod calls from there, and one of its
	// components sending a wrong key must not lock the whole pod out.
	// An empty non-nil list exempts nobody.
	Exempt []netip.Prefix
	// TrustedProxies lists the proxies (an ingress, a load balancer) whose
	// X-Forwarded-For names the client: for a request from one of them,
	// the client is the rightmost address of that header that is not a
	// trusted proxy itself (the leftmost when all are). Empty (the
	// default): the client is always the TCP peer, and X-Forwarded-For is
	// ignored, as anyone can send it.
	TrustedProxies []netip.Prefix
}

// Limiter counts failed authentications per client address. A nil
// *Limiter throttles nothing. Safe for concurrent use.
type Limiter struct {
	exempt  []netip.Prefix
	trusted []netip.Prefix
	max     int32
	window  int64 // nanoseconds
	// until is the instant (Unix nanoseconds) from which no address is
	// throttled any more: requests at or after it skip the table.
	until     atomic.Int64
	seed      maphash.Seed
	shards    [numShards]shard
	failures  *metrics.Counter
	throttled *metrics.Counter
}

// key is a client address: an IPv4 address, or the /64 prefix of an IPv6
// address (one host usually holds a whole /64).
type key [16]byte

// shard is one part of the table: a ring of entries in the order their
// windows started, and an index by address.
type shard struct {
	mu   sync.Mutex
	idx  map[key]int
	ring []entry // allocated at the shard's first failure
	head int     // the oldest slot in use
	n    int     // slots in use from head (dead ones included)
	size int
}

// entry is the count of one address in its current window.
type entry struct {
	k     key
	start int64 // Unix nanoseconds of the window's first failure
	fails int32
	live  bool
}

// New builds a Limiter.
func New(opt Options) *Limiter {
	if opt.Max <= 0 {
		opt.Max = DefaultMax
	}
	if opt.Window <= 0 {
		opt.Window = DefaultWindow
	}
	if opt.Size <= 0 {
		opt.Size = DefaultSize
	}
	if opt.Metrics == nil {
		opt.Metrics = metrics.NewSet()
	}
	if opt.Exempt == nil {
		opt.Exempt = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	}
	l := &Limiter{
		exempt:    opt.Exempt,
		trusted:   opt.TrustedProxies,
		max:       int32(min(opt.Max, 1<<30)),
		window:    int64(opt.Window),
		seed:      maphash.MakeSeed(),
		failures:  opt.Metrics.NewCounter(`infermeter_auth_failures_total`),
		throttled: opt.Metrics.NewCounter(`infermeter_auth_throttled_total`),
	}
	per := (opt.Size + numShards - 1) / numShards
	for i := range l.shards {
		l.shards[i].size = per
	}
	return l
}

// Check is Throttled for the client of ctx (see Client): while no address
// is throttled it reads one atomic and nothing of the request.
func (l *Limiter) Check(ctx *fasthttp.RequestCtx, now time.Time) (time.Duration, bool) {
	if l == nil || now.UnixNano() >= l.until.Load() {
		return 0, false
	}
	return l.Throttled(l.Client(ctx), now)
}

// FailRequest is Fail for the client of ctx (see Client).
func (l *Limiter) FailRequest(ctx *fasthttp.RequestCtx, now time.Time) {
	if l == nil {
		return
	}
	l.Fail(l.Client(ctx), now)
}

// Client returns the client address of a request: its TCP peer, or, when
// the peer is a trusted proxy, the rightmost address of X-Forwarded-For
// (its header lines in order) that is not a trusted proxy (the leftmost
// when all are). An entry that is not an address (with or without a
// port) ends the walk: the last address before it, right to left, is the
// client, or the peer when there was none.
func (l *Limiter) Client(ctx *fasthttp.RequestCtx) net.IP {
	peer := ctx.RemoteIP()
	if len(l.trusted) == 0 || !inPrefixes(l.trusted, peer) {
		return peer
	}
	lines := ctx.Request.Header.PeekAll(fasthttp.HeaderXForwardedFor)
	client := peer
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for len(rest) > 0 {
			var entry []byte
			if j := bytes.LastIndexByte(rest, ','); j >= 0 {
				entry, rest = rest[j+1:], rest[:j]
			} else {
				entry, rest = rest, nil
			}
			a, ok := parseForwarded(bytes.TrimSpace(entry))
			if !ok {
				return client
			}
			client = net.IP(a.AsSlice())
			if !inPrefixes(l.trusted, client) {
				return client
			}
		}
	}
	return client
}

// parseForwarded parses one X-Forwarded-For entry: an address, or an
// address and port ("1.2.3.4:80", "[::1]:80").
func parseForwarded(b []byte) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(string(b)); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(string(b)); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// inPrefixes reports whether ip is in one of ps.
func inPrefixes(ps []netip.Prefix, ip net.IP) bool {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Throttled reports whether requests from ip are refused at now, and how
// long until they are accepted again (at least a nanosecond). Each refusal
// counts in infermeter_auth_throttled_total.
func (l *Limiter) Throttled(ip net.IP, now time.Time) (time.Duration, bool) {
	if l == nil {
		return 0, false
	}
	t := now.UnixNano()
	if t >= l.until.Load() {
		return 0, false
	}
	k, ok := l.keyOf(ip)
	if !ok {
		return 0, false
	}
	s := l.shard(k)
	s.mu.Lock()
	var left int64
	if i, ok := s.idx[k]; ok {
		e := &s.ring[i]
		if e.fails >= l.max && t-e.start < l.window {
			left = e.start + l.window - t
		}
	}
	s.mu.Unlock()
	if left <= 0 {
		return 0, false
	}
	l.throttled.Inc()
	return time.Duration(left), true
}

// Fail records a failed authentication from ip at now: a key was sent and
// it is nobody's. Requests that sent no key at all are not failures.
func (l *Limiter) Fail(ip net.IP, now time.Time) {
	if l == nil {
		return
	}
	l.failures.Inc()
	k, ok := l.keyOf(ip)
	if !ok {
		return
	}
	t := now.UnixNano()
	s := l.shard(k)
	s.mu.Lock()
	e := s.count(k, t, l.window)
	blockedUntil := int64(0)
	if e.fails == l.max {
		blockedUntil = e.start + l.window
	}
	s.mu.Unlock()
	for blockedUntil > 0 {
		cur := l.until.Load()
		if cur >= blockedUntil || l.until.CompareAndSwap(cur, blockedUntil) {
			break
		}
	}
}

// Tracked returns how many addresses the table holds now (expired ones
// included until they are evicted).
func (l *Limiter) Tracked() int {
	if l == nil {
		return 0
	}
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.idx)
		s.mu.Unlock()
	}
	return n
}

func (l *Limiter) shard(k key) *shard {
	return &l.shards[maphash.Bytes(l.seed, k[:])%numShards]
}

// count adds one failure of k at t and returns its entry; s.mu is held.
func (s *shard) count(k key, t, window int64) *entry {
	if s.ring == nil {
		s.ring = make([]entry, s.size)
		s.idx = make(map[key]int)
	}
	if i, ok := s.idx[k]; ok {
		e := &s.ring[i]
		if t-e.start < window {
			if e.fails < 1<<30 {
				e.fails++
			}
			return e
		}
		// The window is over: the address starts a new one at the end.
		e.live = false
		delete(s.idx, k)
	}
	// Drop dead and expired entries at the head, then the oldest window
	// when the ring is still full.
	for s.n > 0 && (!s.ring[s.head].live || t-s.ring[s.head].start >= window) {
		s.pop()
	}
	if s.n == len(s.ring) {
		s.pop()
	}
	i := (s.head + s.n) % len(s.ring)
	s.ring[i] = entry{k: k, start: t, fails: 1, live: true}
	s.idx[k] = i
	s.n++
	return &s.ring[i]
}

// pop removes the oldest slot.
func (s *shard) pop() {
	e := &s.ring[s.head]
	if e.live {
		delete(s.idx, e.k)
		e.live = false
	}
	s.head = (s.head + 1) % len(s.ring)
	s.n--
}

// keyOf returns the table key of ip: IPv4 addresses whole, IPv6 addresses
// by their /64 prefix; false for an exempt address or no address.
func (l *Limiter) keyOf(ip net.IP) (key, bool) {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return key{}, false
	}
	a = a.Unmap()
	for _, p := range l.exempt {
		if p.Contains(a) {
			return key{}, false
		}
	}
	k := key(a.As16())
	if a.Is6() {
		clear(k[8:])
	}
	return k, true
}
