package feed

import (
	"math"
	"testing"
	"time"

	"github.com/infermeter/infermeter/meter/account"
)

func TestCrossAt(t *testing.T) {
	f := func(limit int64, pct int, want int64) {
		t.Helper()
		if got := crossAt(limit, pct); got != want {
			t.Fatalf("crossAt(%d, %d) = %d, want %d", limit, pct, got, want)
		}
	}
	f(1_000_000, 80, 800_000)
	f(1_000_000, 100, 1_000_000)
	f(3, 80, 3)    // 2.4 rounds up
	f(101, 80, 81) // 80.8
	f(100, 80, 80) // exact
	f(math.MaxInt64, 100, math.MaxInt64)
	f(math.MaxInt64, 80, 7378697629483820646) // ceil(0.8 × MaxInt64)
}

// TestLimitsSeedAndChange: thresholds crossed before the hub started are
// not warned again; a changed limit is warned anew; events of a month
// already over do not count.
func TestLimitsSeedAndChange(t *testing.T) {
	dir := testDir(t)
	m := newMeter(t, dir)
	loadCell(m, "acme", "bob", testNow, 1, 850_000) // 85%: 80 already crossed
	l := newLimits(dir, m, testNow)
	add := func(cost int64, at time.Time) []warning {
		t.Helper()
		ev := gpt(1, "acme", "bob", cost)
		ev.Time = at.UnixNano()
		return l.add(ev, nil)
	}
	if w := add(100_000, testNow); len(w) != 0 {
		t.Fatalf("95%%: %+v", w)
	}
	// A February event: its month is over, it counts nowhere.
	if w := add(500_000, testNow.AddDate(0, -1, 0)); len(w) != 0 {
		t.Fatalf("february: %+v", w)
	}
	w := add(50_000, testNow)
	if len(w) != 1 || w[0].pct != 100 || w[0].spend != 1_000_000 || w[0].user != "bob" {
		t.Fatalf("100%%: %+v", w)
	}
	// The limit is raised to 0.00125: 1,000,000 is 80% of it.
	bob, _ := dir.Member("acme", "bob")
	raised := *bob
	raised.MonthlyLimitNano = 1_250_000
	if err := dir.PutMember(raised); err != nil {
		t.Fatal(err)
	}
	w = add(0, testNow)
	if len(w) != 1 || w[0].pct != 80 || w[0].limit != 1_250_000 {
		t.Fatalf("new limit: %+v", w)
	}
	// No limit, unknown org: nothing.
	d := account.New()
	d.PutOrg(account.Org{ID: "acme"})
	l = newLimits(d, newMeter(t, d), testNow)
	if w := l.add(gpt(1, "acme", "zed", 1<<40), nil); len(w) != 0 {
		t.Fatalf("no limit: %+v", w)
	}
	if w := l.add(gpt(1, "nope", "zed", 1<<40), nil); len(w) != 0 {
		t.Fatalf("unknown org: %+v", w)
	}
}
