package budget

import (
	"errors"
	"iter"
	"sync"
	"testing"
	"time"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
)

func berlin(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// newLedger returns a ledger whose org "acme" is in Europe/Berlin and every
// other org in UTC.
func newLedger(t testing.TB) *Ledger {
	loc := berlin(t)
	return New(Options{Location: func(org string) *time.Location {
		if org == "acme" {
			return loc
		}
		return nil
	}})
}

func member(id string, limit int64) *account.Member {
	return &account.Member{ID: id, Org: "acme", MonthlyLimitNano: limit}
}

func org(budget int64) *account.Org {
	return &account.Org{ID: "acme", MonthlyBudgetNano: budget}
}

// check compares the ledger's spend and reservations of member and acme at
// now.
func check(t *testing.T, l *Ledger, who string, now time.Time, mSpent, oSpent, mRes, oRes int64) {
	t.Helper()
	ms, os := l.Spent("acme", who, now)
	mr, or := l.Reserved("acme", who, now)
	if ms != mSpent || os != oSpent || mr != mRes || or != oRes {
		t.Fatalf("%s at %s: spent %d/%d reserved %d/%d (member/org), want %d/%d reserved %d/%d",
			who, now, ms, os, mr, or, mSpent, oSpent, mRes, oRes)
	}
}

func TestReserveSettle(t *testing.T) {
	l := newLedger(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, berlin(t))
	bob := member("bob", 0)
	t1, err := l.Reserve(bob, org(0), now, 700)
	if err != nil || !t1.Reserved() || t1.Estimate() != 700 {
		t.Fatalf("reserve: %v %+v", err, t1)
	}
	t2, err := l.Reserve(bob, org(0), now, 300)
	if err != nil {
		t.Fatal(err)
	}
	check(t, l, "bob", now, 0, 0, 1000, 1000)
	// Settled below the estimate: the difference is released.
	t1.Settle(650)
	check(t, l, "bob", now, 650, 650, 300, 300)
	if t1.Reserved() {
		t.Fatal("a settled ticket still holds a reservation")
	}
	// Settling again, or the zero ticket, does nothing.
	t1.Settle(650)
	var zero Ticket
	zero.Settle(1e9)
	check(t, l, "bob", now, 650, 650, 300, 300)
	// Settled above the estimate (the estimate did not hold): the actual
	// cost counts.
	t2.Settle(420)
	check(t, l, "bob", now, 1070, 1070, 0, 0)
	// A negative estimate or cost counts as 0.
	t3, err := l.Reserve(bob, org(0), now, -5)
	if err != nil || t3.Estimate() != 0 {
		t.Fatalf("negative estimate: %v %+v", err, t3)
	}
	t3.Settle(-7)
	check(t, l, "bob", now, 1070, 1070, 0, 0)
	// Another member of the org counts for the org only.
	t4, _ := l.Reserve(member("alice", 0), org(0), now, 30)
	t4.Settle(30)
	check(t, l, "bob", now, 1070, 1100, 0, 0)
	check(t, l, "alice", now, 30, 1100, 0, 0)
	check(t, l, "", now, 0, 1100, 0, 0)
	// Unknown orgs and members have spent nothing.
	if ms, os := l.Spent("globex", "eve", now); ms != 0 || os != 0 {
		t.Fatalf("globex: %d %d", ms, os)
	}
	check(t, l, "carol", now, 0, 1100, 0, 0)
}

func TestRefusalAtLimit(t *testing.T) {
	l := newLedger(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, berlin(t))
	bob := member("bob", 1000)
	f := func(est int64, want error) *Ticket {
		t.Helper()
		tk, err := l.Reserve(bob, org(0), now, est)
		if !errors.Is(err, want) || tk.Reserved() != (want == nil) {
			t.Fatalf("reserve %d: %v %+v, want %v", est, err, tk, want)
		}
		return &tk
	}
	a := f(600, nil)
	f(401, ErrMemberLimit) // 600 + 401 > 1000
	b := f(400, nil)       // 600 + 400 = 1000: at the limit is allowed
	f(0, ErrMemberLimit)   // reached: even an unpriced request is refused
	check(t, l, "bob", now, 0, 0, 1000, 1000)
	// The reservations settle below their estimates: room again.
	a.Settle(500)
	b.Settle(300)
	check(t, l, "bob", now, 800, 800, 0, 0)
	f(201, ErrMemberLimit)
	c := f(0, nil) // not reached: an estimate of 0 passes
	d := f(200, nil)
	c.Settle(0)
	d.Settle(200)
	check(t, l, "bob", now, 1000, 1000, 0, 0)
	f(0, ErrMemberLimit)
	f(1, ErrMemberLimit)
	// A limit lowered below the spend refuses everything; raised, it admits
	// again, counting the whole month.
	bob = member("bob", 999)
	f(0, ErrMemberLimit)
	bob = member("bob", 1500)
	f(500, nil).Settle(500)
	f(1, ErrMemberLimit)
	// No limit (0): nothing is refused, spend is still counted.
	bob = member("bob", 0)
	f(1e12, nil).Settle(7)
	check(t, l, "bob", now, 1507, 1507, 0, 0)
}

func TestOrgAndMemberLimits(t *testing.T) {
	l := newLedger(t)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, berlin(t))
	acme := org(1000)
	alice := member("alice", 0)
	bob := member("bob", 300)
	f := func(m *account.Member, est int64, want error) *Ticket {
		t.Helper()
		tk, err := l.Reserve(m, acme, now, est)
		if !errors.Is(err, want) {
			t.Fatalf("%s reserve %d: %v, want %v", m.ID, est, err, want)
		}
		return &tk
	}
	f(bob, 200, nil).Settle(200)
	f(bob, 101, ErrMemberLimit) // bob: 200 + 101 > 300, the org has room
	f(alice, 750, nil).Settle(750)
	check(t, l, "alice", now, 750, 950, 0, 0)
	// bob has room (200 + 100 ≤ 300) but the org does not (950 + 100 >
	// 1000): refused by the org, and nothing stays reserved on bob.
	f(bob, 100, ErrOrgBudget)
	check(t, l, "bob", now, 200, 950, 0, 0)
	f(alice, 51, ErrOrgBudget)
	a := f(alice, 50, nil)  // 950 + 50 = 1000
	f(bob, 0, ErrOrgBudget) // the org's budget is reached: bob is refused too
	check(t, l, "bob", now, 200, 950, 0, 50)
	a.Settle(50)
	f(alice, 0, ErrOrgBudget)
	// A nil org has no budget.
	tk, err := l.Reserve(alice, nil, now, 50)
	if err != nil {
		t.Fatal(err)
	}
	tk.Settle(50)
	check(t, l, "alice", now, 850, 1050, 0, 0)
}

// TestMonthRollover follows a Europe/Berlin org across the end of March
// (CEST, UTC+2) and of October (the day after DST ends: CET, UTC+1) with an
// injected clock: the month turns at local midnight, two hours (one hour)
// before UTC's.
func TestMonthRollover(t *testing.T) {
	loc := berlin(t)
	l := newLedger(t)
	var clock time.Time
	bob := member("bob", 1000)
	f := func(est int64, want error) *Ticket {
		t.Helper()
		tk, err := l.Reserve(bob, org(0), clock, est)
		if !errors.Is(err, want) {
			t.Fatalf("at %s reserve %d: %v, want %v", clock, est, err, want)
		}
		return &tk
	}
	march := time.Date(2026, 3, 31, 23, 0, 0, 0, loc)
	clock = march
	a := f(600, nil)
	clock = time.Date(2026, 3, 31, 23, 59, 59, 999999999, loc) // 21:59:59.999Z
	f(401, ErrMemberLimit)
	// Midnight in Berlin is 22:00 UTC, still March 31 in UTC: April here.
	clock = time.Date(2026, 4, 1, 0, 0, 0, 0, loc)
	if clock.UTC().Day() != 31 {
		t.Fatalf("BUG: %s", clock.UTC())
	}
	b := f(1000, nil)
	check(t, l, "bob", clock, 0, 0, 1000, 1000)
	check(t, l, "bob", march, 0, 0, 600, 600)
	// The March request ends after the month turned: it settles in March.
	a.Settle(700)
	check(t, l, "bob", march, 700, 700, 0, 0)
	check(t, l, "bob", clock, 0, 0, 1000, 1000)
	b.Settle(900)
	check(t, l, "bob", clock, 900, 900, 0, 0)
	// A request that started in March but reserves after the turn counts in
	// March: 700 + 300 = 1000 fits, one more does not.
	clock = time.Date(2026, 3, 31, 23, 59, 59, 0, loc)
	f(300, nil).Settle(300)
	f(1, ErrMemberLimit)
	check(t, l, "bob", march, 1000, 1000, 0, 0)
	clock = time.Date(2026, 4, 30, 12, 0, 0, 0, loc)
	f(100, nil).Settle(100)
	f(1, ErrMemberLimit)
	check(t, l, "bob", clock, 1000, 1000, 0, 0)

	// October 31, 23:59:59 CET is 22:59:59Z; November starts at 23:00Z.
	clock = time.Date(2026, 10, 31, 22, 59, 59, 0, time.UTC)
	f(1000, nil).Settle(1000)
	f(1, ErrMemberLimit)
	clock = time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC)
	if got := clock.In(loc); got.Month() != time.November || got.Day() != 1 || got.Hour() != 0 {
		t.Fatalf("BUG: %s", got)
	}
	f(1000, nil).Settle(1000)
	check(t, l, "bob", clock, 1000, 1000, 0, 0)
	check(t, l, "bob", clock.Add(-time.Second), 1000, 1000, 0, 0)
	check(t, l, "bob", clock.AddDate(0, 1, 0), 0, 0, 0, 0) // December: nothing yet
	// An org in UTC turns at UTC midnight.
	eve := &account.Member{ID: "eve", Org: "globex", MonthlyLimitNano: 10}
	for _, at := range []time.Time{
		time.Date(2026, 10, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC),
	} {
		tk, err := l.Reserve(eve, nil, at, 10)
		if err != nil {
			t.Fatalf("eve at %s: %v", at, err)
		}
		tk.Settle(10)
		if ms, os := l.Spent("globex", "eve", at); ms != 10 || os != 10 {
			t.Fatalf("eve at %s: %d %d", at, ms, os)
		}
	}
}

func TestSeed(t *testing.T) {
	loc := berlin(t)
	now := time.Date(2026, 11, 15, 12, 0, 0, 0, loc)
	hour := func(l *time.Location, y int, mo time.Month, d, h int) int64 {
		return meter.HourStart(time.Date(y, mo, d, h, 30, 0, 0, l).UnixNano(), l)
	}
	cells := map[meter.CellKey]*meter.Cell{
		// October 31, 23:30 local (22:30Z): last month.
		{Org: "acme", User: "bob", Model: "m", Hour: hour(loc, 2026, 10, 31, 23)}: {CostNano: 1},
		// November 1, 00:30 local (October 31, 23:30Z): this month.
		{Org: "acme", User: "bob", Model: "m", Hour: hour(loc, 2026, 11, 1, 0)}:   {CostNano: 10},
		{Org: "acme", User: "bob", Model: "n", Hour: hour(loc, 2026, 11, 15, 11)}: {CostNano: 100},
		{Org: "acme", User: "alice", Model: "m", Hour: hour(loc, 2026, 11, 2, 9)}: {CostNano: 1000},
		// December: a later month (a clock that was ahead) is not seeded.
		{Org: "acme", User: "alice", Model: "m", Hour: hour(loc, 2026, 12, 1, 0)}: {CostNano: 10000},
		// globex is in UTC: October 31, 23:30Z is last month there.
		{Org: "globex", User: "eve", Model: "m", Hour: hour(time.UTC, 2026, 10, 31, 23)}: {CostNano: 100000},
		{Org: "globex", User: "eve", Model: "m", Hour: hour(time.UTC, 2026, 11, 1, 0)}:   {CostNano: 1000000},
	}
	l := newLedger(t)
	l.Seed(seq(cells), now)
	check(t, l, "bob", now, 110, 1110, 0, 0)
	check(t, l, "alice", now, 1000, 1110, 0, 0)
	if ms, os := l.Spent("globex", "eve", now); ms != 1000000 || os != 1000000 {
		t.Fatalf("globex: %d %d", ms, os)
	}
	// The seeded spend counts against the limits.
	_, err := l.Reserve(member("bob", 200), org(0), now, 91)
	if !errors.Is(err, ErrMemberLimit) {
		t.Fatalf("bob: %v", err)
	}
	tk, err := l.Reserve(member("bob", 200), org(1200), now, 90)
	if err != nil {
		t.Fatal(err)
	}
	tk.Settle(90)
	_, err = l.Reserve(member("alice", 0), org(1200), now, 1)
	if !errors.Is(err, ErrOrgBudget) {
		t.Fatalf("alice: %v", err)
	}
}

// TestConcurrentBurst runs 200 goroutines against a nearly spent limit.
func TestConcurrentBurst(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, berlin(t))
	const (
		n     = 200
		limit = 1_000_000
		pre   = 990_000 // spent before the burst: 10,000 left
		est   = 100
	)
	members := []*account.Member{member("m0", 0), member("m1", 0), member("m2", 0), member("m3", 0)}
	// start reserves pre on the org, with members without limits.
	start := func() *Ledger {
		l := newLedger(t)
		tk, err := l.Reserve(member("pre", 0), org(limit), now, pre)
		if err != nil {
			t.Fatal(err)
		}
		tk.Settle(pre)
		return l
	}
	orgSpent := func(l *Ledger) int64 { _, os := l.Spent("acme", "", now); return os }

	// 1. Every estimate holds exactly (actual = estimate): whatever the
	// interleaving, exactly (limit − pre) / est = 100 requests are admitted
	// and the spend ends at the limit, not a nano-dollar over.
	t.Run("exact", func(t *testing.T) {
		l := start()
		var mu sync.Mutex
		in, out := 0, 0
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				tk, err := l.Reserve(members[i%4], org(limit), now, est)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					out++
					return
				}
				in++
				tk.Settle(est)
			})
		}
		wg.Wait()
		if in != 100 || out != 100 || orgSpent(l) != limit {
			t.Fatalf("admitted %d, refused %d, spend %d; want 100, 100, %d", in, out, orgSpent(l), limit)
		}
	})

	// 2. Every estimate is off for a third of the requests (actual 160 for
	// an estimate of 100) and all 200 are in flight at once: all reserve,
	// then all settle. Exactly 100 are admitted; the spend exceeds the limit
	// by at most Σ over them of (actual − estimate)⁺, here 60 per admitted
	// request whose estimate was off.
	t.Run("all in flight", func(t *testing.T) {
		l := start()
		tickets := make([]Ticket, n)
		ok := make([]bool, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				tk, err := l.Reserve(members[i%4], org(limit), now, est)
				tickets[i], ok[i] = tk, err == nil
			})
		}
		wg.Wait()
		actual := func(i int) int64 {
			if i%3 == 0 {
				return 160
			}
			return 80
		}
		var in, sum, over int64
		for i := range n {
			if !ok[i] {
				continue
			}
			in++
			sum += actual(i)
			over += max(actual(i)-est, 0)
			wg.Go(func() { tickets[i].Settle(actual(i)) })
		}
		wg.Wait()
		got := orgSpent(l)
		if in != 100 || got != pre+sum {
			t.Fatalf("admitted %d, spend %d; want 100, %d", in, got, pre+sum)
		}
		if got > limit+over {
			t.Fatalf("spend %d exceeds the bound %d + %d", got, limit, over)
		}
		if _, r := l.Reserved("acme", "", now); r != 0 {
			t.Fatalf("reserved %d after every settle", r)
		}
	})

	// 3. Reserve and settle interleaved, every fourth estimate off by 400:
	// the spend stays within the limit plus the overshoot of the admitted
	// requests (a superset of those in flight at the last admission).
	t.Run("interleaved", func(t *testing.T) {
		l := start()
		var mu sync.Mutex
		var in, sum, over int64
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				a := int64(50)
				if i%4 == 0 {
					a = est + 400
				}
				tk, err := l.Reserve(members[i%4], org(limit), now, est)
				if err != nil {
					return
				}
				tk.Settle(a)
				mu.Lock()
				in, sum, over = in+1, sum+a, over+max(a-est, 0)
				mu.Unlock()
			})
		}
		wg.Wait()
		got := orgSpent(l)
		if in < 1 || got != pre+sum || got > limit+over {
			t.Fatalf("admitted %d, spend %d (want %d), bound %d + %d", in, got, pre+sum, limit, over)
		}
	})

	// 4. A member's limit under the same burst, with the org unlimited.
	t.Run("member", func(t *testing.T) {
		l := newLedger(t)
		bob := member("bob", limit)
		tk, _ := l.Reserve(bob, nil, now, pre)
		tk.Settle(pre)
		var mu sync.Mutex
		in := 0
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				tk, err := l.Reserve(bob, nil, now, est)
				if err == nil {
					tk.Settle(est)
					mu.Lock()
					in++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if ms, os := l.Spent("acme", "bob", now); in != 100 || ms != limit || os != limit {
			t.Fatalf("admitted %d, spend %d/%d", in, ms, os)
		}
	})
}

// seq yields the cells of a map, as the meter's Cells does.
func seq(cells map[meter.CellKey]*meter.Cell) iter.Seq2[*meter.CellKey, *meter.Cell] {
	return func(yield func(*meter.CellKey, *meter.Cell) bool) {
		for k, c := range cells {
			if !yield(&k, c) {
				return
			}
		}
	}
}
