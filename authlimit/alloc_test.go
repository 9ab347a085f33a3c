//go:build !race

package authlimit

import (
	"net"
	"testing"
)

// TestThrottledAllocs: the check every request makes allocates nothing,
// throttled or not.
func TestThrottledAllocs(t *testing.T) {
	l := New(Options{Max: 1})
	ip := net.IPv4(192, 0, 2, 1).To4()
	if n := testing.AllocsPerRun(100, func() { l.Throttled(ip, t0) }); n != 0 {
		t.Fatalf("Throttled without throttled addresses: %v allocs", n)
	}
	l.Fail(net.IPv4(192, 0, 2, 2), t0)
	if n := testing.AllocsPerRun(100, func() { l.Throttled(ip, t0) }); n != 0 {
		t.Fatalf("Throttled while an address is throttled: %v allocs", n)
	}
}
