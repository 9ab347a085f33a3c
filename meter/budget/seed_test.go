package budget

import (
	"strconv"
	"testing"
	"time"

	"github.com/infermeter/infermeter/meter"
)

// TestSeedManyMembers seeds 100k members of one org (quadratic before the
// bulk publish) and checks every member's and the org's spend.
func TestSeedManyMembers(t *testing.T) {
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)
	hour := time.Date(2026, 11, 10, 3, 0, 0, 0, time.UTC).Unix()
	cells := map[meter.CellKey]*meter.Cell{}
	const n = 100000
	for i := 0; i < n; i++ {
		cells[meter.CellKey{Org: "acme", User: "m" + strconv.Itoa(i), Model: "x", Hour: hour}] = &meter.Cell{CostNano: 7}
	}
	l := New(Options{})
	l.Seed(seq(cells), now)
	for _, i := range []int{0, 1, n / 2, n - 1} {
		m, o := l.Spent("acme", "m"+strconv.Itoa(i), now)
		if m != 7 || o != 7*n {
			t.Fatalf("member %d: %d, org %d", i, m, o)
		}
	}
}
