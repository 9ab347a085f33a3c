package feed

import (
	"time"

	"github.com/infermeter/infermeter/meter"
)

// totals are the running totals of one org, or of one member, at an instant.
type totals struct {
	// todayNano and todayRequests cover the calendar day holding the
	// instant, in the org's timezone.
	todayNano, todayRequests int64
	// monthNano and monthRequests cover its calendar month.
	monthNano, monthRequests int64
}

// totalsOf sums the cells of org (only user's when user is not "") for
// the day and the month holding now in loc. It scans the cells under the
// meter's read lock.
func totalsOf(m *meter.Meter, loc *time.Location, org, user string, now time.Time) totals {
	n := now.In(loc)
	y, mo, d := n.Date()
	dayStart := time.Date(y, mo, d, 0, 0, 0, 0, loc).Unix()
	dayEnd := time.Date(y, mo, d+1, 0, 0, 0, 0, loc).Unix()
	monthStart := time.Date(y, mo, 1, 0, 0, 0, 0, loc).Unix()
	monthEnd := time.Date(y, mo+1, 1, 0, 0, 0, 0, loc).Unix()
	var t totals
	m.Scan(org, user, monthStart, monthEnd, false, func(_ *meter.CellKey, c *meter.Cell) {
		t.monthNano += c.CostNano
		t.monthRequests += c.Requests
	})
	m.Scan(org, user, dayStart, dayEnd, false, func(_ *meter.CellKey, c *meter.Cell) {
		t.todayNano += c.CostNano
		t.todayRequests += c.Requests
	})
	return t
}

// monthSpends sums, in one pass over the cells, the spend of the month
// holding now (each org's month, in its timezone from loc) of every org and
// of every member.
func monthSpends(m *meter.Meter, loc func(org string) *time.Location, now time.Time) (orgs map[string]int64, members map[memberKey]int64) {
	orgs, members = map[string]int64{}, map[memberKey]int64{}
	months := map[string][2]int64{} // org → its month, unix seconds
	for k, c := range m.Cells() {
		b, ok := months[k.Org]
		if !ok {
			start, end := monthBounds(now.UnixNano(), locOf(loc, k.Org))
			b = [2]int64{start / 1e9, end / 1e9}
			months[k.Org] = b
		}
		if k.Hour < b[0] || k.Hour >= b[1] || c.CostNano == 0 {
			continue
		}
		orgs[k.Org] += c.CostNano
		members[memberKey{k.Org, k.User}] += c.CostNano
	}
	return orgs, members
}

// locOf returns the timezone of org, UTC when loc does not know it.
func locOf(loc func(org string) *time.Location, org string) *time.Location {
	if l := loc(org); l != nil {
		return l
	}
	return time.UTC
}

// monthBounds returns the calendar month holding t (unix nanoseconds) in
// loc, as unix nanoseconds [start, end).
func monthBounds(t int64, loc *time.Location) (start, end int64) {
	y, mo, _ := time.Unix(0, t).In(loc).Date()
	return time.Date(y, mo, 1, 0, 0, 0, 0, loc).UnixNano(), time.Date(y, mo+1, 1, 0, 0, 0, 0, loc).UnixNano()
}
