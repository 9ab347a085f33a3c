package feed

import (
	"sync"
	"time"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
)

// thresholds are the limit percentages that raise a limit_warning.
var thresholds = [...]int{80, 100}

// limits follows the month-to-date spend of every org and member and tells
// when an event makes one cross a threshold of its limit: once per
// threshold per month, and again after the limit changes.
//
// The spend is kept incrementally (a map lookup per event, no scan of the
// cells): one pass over the meter's cells seeds it when the hub is built,
// then every published event adds its cost; an org or member without a
// spend yet starts from zero. It is therefore exact when the hub is built
// after the meter's cells are loaded and before the meter starts, and every
// aggregated event is published (Meter OnEvent).
type limits struct {
	dir *account.Directory

	mu      sync.Mutex
	orgs    map[string]*spend
	members map[memberKey]*spend
}

type memberKey struct{ org, user string }

// spend is the month-to-date spend of one org or member.
type spend struct {
	start, end int64 // the month, unix nanoseconds [start, end)
	nano       int64
	// limit is the limit the warned bits refer to.
	limit int64
	// warned has bit i set once thresholds[i] was crossed this month.
	warned uint8
}

func newLimits(dir *account.Directory, m *meter.Meter, now time.Time) *limits {
	l := &limits{dir: dir, orgs: map[string]*spend{}, members: map[memberKey]*spend{}}
	orgs, members := monthSpends(m, dir.Location, now)
	for id, nano := range orgs {
		var budget int64
		if o, ok := dir.Org(id); ok {
			budget = o.MonthlyBudgetNano
		}
		l.orgs[id] = seeded(now, locOf(dir.Location, id), nano, budget)
	}
	for k, nano := range members {
		var limit int64
		if mm, ok := dir.Member(k.org, k.user); ok {
			limit = mm.MonthlyLimitNano
		}
		l.members[k] = seeded(now, locOf(dir.Location, k.org), nano, limit)
	}
	return l
}

// seeded returns the spend nano of the month holding now, with the
// thresholds of limit it already crossed marked as warned: a restart does
// not repeat warnings.
func seeded(now time.Time, loc *time.Location, nano, limit int64) *spend {
	s := &spend{nano: nano, limit: limit}
	s.start, s.end = monthBounds(now.UnixNano(), loc)
	if limit > 0 {
		for i, pct := range thresholds {
			if nano >= crossAt(limit, pct) {
				s.warned |= 1 << i
			}
		}
	}
	return s
}

// add counts ev and appends to out the crossings it caused: the member's
// first, then the org's.
func (l *limits) add(ev *meter.Event, out []warning) []warning {
	o, ok := l.dir.Org(ev.Org)
	if !ok {
		return out
	}
	var memberLimit int64
	m, isMember := l.dir.Member(ev.Org, ev.User)
	if isMember {
		memberLimit = m.MonthlyLimitNano
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if ev.User != "" {
		k := memberKey{ev.Org, ev.User}
		s := l.members[k]
		if s == nil {
			s = &spend{}
			l.members[k] = s
		}
		out = s.add(ev, o.Location, memberLimit, ev.User, out)
	}
	s := l.orgs[ev.Org]
	if s == nil {
		s = &spend{}
		l.orgs[ev.Org] = s
	}
	return s.add(ev, o.Location, o.MonthlyBudgetNano, "", out)
}

func (s *spend) add(ev *meter.Event, loc *time.Location, limit int64, user string, out []warning) []warning {
	if ev.Time < s.start {
		return out // an event of a month already over
	}
	if ev.Time >= s.end {
		s.start, s.end = monthBounds(ev.Time, loc)
		s.nano, s.warned = 0, 0
	}
	s.nano += ev.CostNano
	if limit != s.limit {
		s.limit, s.warned = limit, 0
	}
	if limit <= 0 {
		return out
	}
	for i, pct := range thresholds {
		if s.warned&(1<<i) == 0 && s.nano >= crossAt(limit, pct) {
			s.warned |= 1 << i
			out = append(out, warning{org: ev.Org, user: user, pct: pct, spend: s.nano, limit: limit, time: ev.Time})
		}
	}
	return out
}

// crossAt returns the smallest spend that reaches pct percent of limit,
// without overflowing for any positive limit.
func crossAt(limit int64, pct int) int64 {
	p := int64(pct)
	return limit/100*p + (limit%100*p+99)/100
}
