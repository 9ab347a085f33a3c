package authlimit

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func requestFrom(peer string, xff ...string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(peer), Port: 4000}, nil)
	return ctx
}

func TestClient(t *testing.T) {
	trusted := New(Options{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}})
	plain := New(Options{})
	for _, c := range []struct {
		l    *Limiter
		peer string
		xff  []string
		want string
	}{
		{plain, "10.0.0.1", []string{"1.2.3.4"}, "10.0.0.1"},                         // no trusted proxies: XFF ignored
		{trusted, "192.0.2.9", []string{"1.2.3.4"}, "192.0.2.9"},                     // the peer is not a trusted proxy
		{trusted, "10.0.0.1", nil, "10.0.0.1"},                                       // no header
		{trusted, "10.0.0.1", []string{"1.2.3.4"}, "1.2.3.4"},                        // one hop
		{trusted, "10.0.0.1", []string{"1.2.3.4, 10.0.0.2"}, "1.2.3.4"},              // a trusted hop is skipped
		{trusted, "10.0.0.1", []string{"5.6.7.8, 1.2.3.4"}, "1.2.3.4"},               // what the client wrote is not believed
		{trusted, "10.0.0.1", []string{"5.6.7.8", "1.2.3.4"}, "1.2.3.4"},             // header lines in order
		{trusted, "10.0.0.1", []string{"10.0.0.3 , 10.0.0.2"}, "10.0.0.3"},           // all trusted: the leftmost
		{trusted, "10.0.0.1", []string{"1.2.3.4, bogus"}, "10.0.0.1"},                // garbage: the peer
		{trusted, "10.0.0.1", []string{"bogus, 1.2.3.4"}, "1.2.3.4"},                 // garbage beyond the client
		{trusted, "10.0.0.1", []string{"1.2.3.4:5555"}, "1.2.3.4"},                   // with a port
		{trusted, "10.0.0.1", []string{"[2001:db8::1]:443, fd00::7"}, "2001:db8::1"}, // IPv6
		{trusted, "10.0.0.1", []string{"::ffff:1.2.3.4"}, "1.2.3.4"},                 // mapped
		{trusted, "10.0.0.1", []string{""}, "10.0.0.1"},                              // empty
	} {
		got := c.l.Client(requestFrom(c.peer, c.xff...))
		if !got.Equal(net.ParseIP(c.want)) {
			t.Errorf("peer %s, X-Forwarded-For %q: client %s, want %s", c.peer, c.xff, got, c.want)
		}
	}
}

// TestThrottleBehindProxy: behind a trusted proxy, one client's failures
// throttle that client only, not everyone the proxy forwards.
func TestThrottleBehindProxy(t *testing.T) {
	l := New(Options{Max: 3, Exempt: []netip.Prefix{}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	now := time.Unix(1_800_000_000, 0)
	for range 3 {
		l.FailRequest(requestFrom("127.0.0.1", "198.51.100.7"), now)
	}
	if _, ok := l.Check(requestFrom("127.0.0.1", "198.51.100.7"), now); !ok {
		t.Fatal("the failing client is not throttled")
	}
	if _, ok := l.Check(requestFrom("127.0.0.1", "198.51.100.8"), now); ok {
		t.Fatal("another client behind the same proxy is throttled")
	}
	if _, ok := l.Check(requestFrom("127.0.0.1"), now); ok {
		t.Fatal("the proxy itself is throttled")
	}
}
