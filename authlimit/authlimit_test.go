package authlimit

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// TestThrottle plays failures and checks of addresses against a clock:
// each step is at t0 plus its offset.
func TestThrottle(t *testing.T) {
	type step struct {
		at   time.Duration
		ip   string
		fail bool          // record a failure; else check
		want time.Duration // expected wait of a check (0: accepted)
	}
	a, b := "192.0.2.1", "192.0.2.2"
	fails := func(ip string, at time.Duration, n int) []step {
		out := make([]step, n)
		for i := range out {
			out[i] = step{at: at, ip: ip, fail: true}
		}
		return out
	}
	cat := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"nine failures are not enough", cat(fails(a, 0, 9), []step{{at: 59 * time.Second, ip: a}})},
		{"the tenth failure throttles until the window ends", cat(fails(a, 0, 9), []step{
			{at: 30 * time.Second, ip: a, fail: true},
			{at: 30 * time.Second, ip: a, want: 30 * time.Second},
			{at: 59 * time.Second, ip: a, want: time.Second},
			{at: 60 * time.Second, ip: a},
		})},
		{"another address is not throttled", cat(fails(a, 0, 10), []step{{at: time.Second, ip: b}, {at: time.Second, ip: a, want: 59 * time.Second}})},
		{"failures of an old window do not add up", cat(fails(a, 0, 9), fails(a, 61*time.Second, 9), []step{{at: 62 * time.Second, ip: a}})},
		{"a new window after the old one ends", cat(fails(a, 0, 10), fails(a, 70*time.Second, 10), []step{
			{at: 71 * time.Second, ip: a, want: 59 * time.Second},
			{at: 130 * time.Second, ip: a},
		})},
		{"an IPv4-mapped IPv6 address is the IPv4 one", cat(fails("::ffff:192.0.2.1", 0, 10), []step{{at: 0, ip: a, want: time.Minute}})},
		{"IPv6 addresses count by their /64", cat(fails("2001:db8::1", 0, 5), fails("2001:db8::2", 0, 5), []step{
			{at: 0, ip: "2001:db8::ffff", want: time.Minute},
			{at: 0, ip: "2001:db8:0:1::1"},
		})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := New(Options{})
			for i, s := range c.steps {
				ip := net.ParseIP(s.ip)
				now := t0.Add(s.at)
				if s.fail {
					l.Fail(ip, now)
					continue
				}
				got, ok := l.Throttled(ip, now)
				if ok != (s.want > 0) || got != s.want {
					t.Fatalf("step %d (%s at +%s): throttled %v for %s, want %s", i, s.ip, s.at, ok, got, s.want)
				}
			}
		})
	}
}

// TestBound fills the table with more addresses than it holds: it keeps
// Size of them, the newest windows, and the throttled newest address is
// still refused.
func TestBound(t *testing.T) {
	l := New(Options{Size: 64, Max: 2})
	ip := func(i int) net.IP { return net.IPv4(10, 0, byte(i>>8), byte(i)) }
	for i := range 1000 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		l.Fail(ip(i), now)
		l.Fail(ip(i), now)
	}
	if got := l.Tracked(); got > 64 {
		t.Fatalf("tracked %d addresses, want at most 64", got)
	}
	now := t0.Add(time.Second)
	if _, ok := l.Throttled(ip(999), now); !ok {
		t.Fatal("the newest address is not throttled")
	}
	if _, ok := l.Throttled(ip(0), now); ok {
		t.Fatal("the oldest address is still tracked")
	}
	// Once every window is over, nothing is throttled and the table
	// empties as new failures arrive.
	later := t0.Add(2 * time.Minute)
	if _, ok := l.Throttled(ip(999), later); ok {
		t.Fatal("throttled after the window")
	}
	for i := range 16 * 64 {
		l.Fail(net.IPv4(172, 16, byte(i>>8), byte(i)), later)
	}
	for i := 0; i < 1000; i++ {
		if _, ok := l.Throttled(ip(i), later); ok {
			t.Fatalf("address %d throttled after its window", i)
		}
	}
}

func TestMetricsAndNil(t *testing.T) {
	set := metrics.NewSet()
	l := New(Options{Metrics: set, Max: 1})
	ip := net.ParseIP("192.0.2.9")
	l.Fail(ip, t0)
	l.Fail(ip, t0)
	l.Throttled(ip, t0)
	l.Throttled(net.ParseIP("192.0.2.10"), t0)
	var b bytes.Buffer
	set.WritePrometheus(&b)
	want := "infermeter_auth_failures_total 2\ninfermeter_auth_throttled_total 1\n"
	if b.String() != want {
		t.Fatalf("metrics:\n%s\nwant\n%s", b.String(), want)
	}
	var nl *Limiter
	nl.Fail(ip, t0)
	if _, ok := nl.Throttled(ip, t0); ok || nl.Tracked() != 0 {
		t.Fatal("a nil limiter throttles")
	}
}

// TestExempt: by default 127.0.0.1 and ::1 (a sidecar's own pod) are never
// throttled, other addresses are; an empty list exempts nobody.
func TestExempt(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		exempt []netip.Prefix
		ip     string
		want   bool
	}{
		{"default, 127.0.0.1", nil, "127.0.0.1", false},
		{"default, ::1", nil, "::1", false},
		{"default, 127.0.0.2", nil, "127.0.0.2", true},
		{"default, 10.1.2.3", nil, "10.1.2.3", true},
		{"none exempt, 127.0.0.1", []netip.Prefix{}, "127.0.0.1", true},
		{"a listed range", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "10.1.2.3", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := New(Options{Exempt: c.exempt})
			ip := net.ParseIP(c.ip)
			for range 20 {
				l.Fail(ip, now)
			}
			if _, got := l.Throttled(ip, now); got != c.want {
				t.Fatalf("throttled %v, want %v", got, c.want)
			}
		})
	}
}
