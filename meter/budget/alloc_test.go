//go:build !race

package budget

import (
	"testing"
	"time"

	"github.com/infermeter/infermeter/meter/pricing"
)

// TestAllocs guards the request path: Estimate, Reserve and Settle do not
// allocate once the month's counters of the member exist.
func TestAllocs(t *testing.T) {
	c, err := pricing.Load("")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := c.Lookup("openai", "openai", "gpt-4o-mini")
	l := newLedger(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, berlin(t))
	bob, acme := member("bob", 1e15), org(1e15)
	n := testing.AllocsPerRun(1000, func() {
		est := Estimate(p, 400, 100)
		tk, err := l.Reserve(bob, acme, now, est)
		if err != nil {
			t.Fatal(err)
		}
		tk.Settle(est)
	})
	if n != 0 {
		t.Fatalf("%.0f allocations per request, want 0", n)
	}
}
