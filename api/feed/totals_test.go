package feed

import (
	"testing"
	"time"

	"github.com/infermeter/infermeter/meter/account"
)

// TestTotals: day and month follow the org's timezone, on the cells' hour
// starts.
func TestTotals(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	dir := account.New()
	dir.PutOrg(account.Org{ID: "acme", Location: berlin})
	dir.PutOrg(account.Org{ID: "globex"})
	m := newMeter(t, dir)
	// now: 2026-03-10 00:30 in Berlin, still the 9th in UTC.
	now := time.Date(2026, 3, 10, 0, 30, 0, 0, berlin)
	at := func(mo time.Month, d, h int) time.Time { return time.Date(2026, mo, d, h, 0, 0, 0, berlin) }
	loadCell(m, "acme", "bob", at(3, 10, 0), 1, 1)      // today
	loadCell(m, "acme", "alice", at(3, 10, 23), 2, 20)  // today, later
	loadCell(m, "acme", "bob", at(3, 9, 23), 4, 400)    // yesterday
	loadCell(m, "acme", "bob", at(3, 1, 0), 8, 8000)    // the month's first hour
	loadCell(m, "acme", "bob", at(2, 28, 23), 16, 1600) // last month
	loadCell(m, "acme", "bob", at(4, 1, 0), 32, 3200)   // next month
	loadCell(m, "globex", "bob", at(3, 10, 0), 64, 64)  // 23:00 UTC on the 9th
	loadCell(m, "globex", "eve", at(3, 1, 0), 128, 128) // 23:00 UTC on February 28th
	f := func(org, user string, want totals) {
		t.Helper()
		if got := totalsOf(m, locOf(dir.Location, org), org, user, now); got != want {
			t.Fatalf("%s/%s: %+v, want %+v", org, user, got, want)
		}
	}
	f("acme", "", totals{todayNano: 21, todayRequests: 3, monthNano: 8421, monthRequests: 15})
	f("acme", "bob", totals{todayNano: 1, todayRequests: 1, monthNano: 8401, monthRequests: 13})
	// globex is in UTC: now is 2026-03-09 23:30 there.
	f("globex", "", totals{todayNano: 64, todayRequests: 64, monthNano: 64, monthRequests: 64})

	orgs, members := monthSpends(m, dir.Location, now)
	if len(orgs) != 2 || orgs["acme"] != 8421 || orgs["globex"] != 64 {
		t.Fatalf("orgs %v", orgs)
	}
	if len(members) != 3 || members[memberKey{"acme", "bob"}] != 8401 || members[memberKey{"acme", "alice"}] != 20 ||
		members[memberKey{"globex", "bob"}] != 64 {
		t.Fatalf("members %v", members)
	}
}
