package budget

import (
	"errors"
	"iter"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
)

// Reasons Reserve refuses a request.
var (
	// ErrMemberLimit: the member's monthly_limit_usd is reached, or would be
	// passed by the request's estimate.
	ErrMemberLimit = errors.New("member's monthly_limit_usd reached")
	// ErrOrgBudget: the org's monthly_budget_usd is reached, or would be
	// passed by the request's estimate.
	ErrOrgBudget = errors.New("org's monthly_budget_usd reached")
)

// keepMonths is how far back (in seconds, about two months) a book keeps the
// counters of past months, for requests that started before the month
// turned and for a clock stepped back.
const keepMonths = 62 * 24 * 3600

// Options configure a Ledger.
type Options struct {
	// Location returns the timezone of an org, whose calendar months the
	// limits follow; nil, or a nil result, is UTC.
	Location func(org string) *time.Location
}

// Ledger holds the month's spend and reservations of every org and member.
// It is safe for concurrent use.
type Ledger struct {
	opt  Options
	mu   sync.Mutex // serialises adding orgs
	orgs atomic.Pointer[map[string]*orgBook]
}

// orgBook is the accounts of one org: its own and its members'.
type orgBook struct {
	own     book
	mu      sync.Mutex // serialises adding members
	members atomic.Pointer[map[string]*book]
}

// book is the spend of one org or member, month by month.
type book struct {
	cur    atomic.Pointer[month] // the latest month seen
	mu     sync.Mutex
	months map[int64]*month // by start; guarded by mu
}

// month is one calendar month of one book.
type month struct {
	start, end int64 // [start, end), unix seconds
	// committed is spent plus the estimates reserved by requests in flight.
	committed atomic.Int64
	spent     atomic.Int64
	// external is the spend of the other instances of a fleet (SetExternal),
	// counted against the limit with committed.
	external atomic.Int64
}

// Ticket is the reservation of one request, returned by Reserve. It is a
// small value meant to live in the request's state; the zero Ticket holds
// nothing. Settle it exactly once: Settle empties the ticket it is called
// on, but a copy kept from before would settle again.
type Ticket struct {
	org, member *month
	est         int64
}

// New returns an empty ledger.
func New(opt Options) *Ledger {
	l := &Ledger{opt: opt}
	l.orgs.Store(&map[string]*orgBook{})
	return l
}

// Reserve reserves estimateNano (nano-dollars, negative counts as 0) on the
// member's and its org's counters of the month holding at, in the org's
// timezone. It refuses, with ErrMemberLimit or ErrOrgBudget and nothing
// reserved, when for a limit greater than 0 (the member's MonthlyLimitNano,
// the org's MonthlyBudgetNano) the committed amount (spend plus reservations)
// has reached the limit or would exceed it with the estimate. Every request
// is counted, limited or not, so that a limit set during the month applies to
// the whole month. org may be nil (no org budget). Reserve is lock-free and
// does not allocate once the month's counters exist.
func (l *Ledger) Reserve(m *account.Member, org *account.Org, at time.Time, estimateNano int64) (Ticket, error) {
	est := max(estimateNano, 0)
	ob := l.org(m.Org)
	sec := at.Unix()
	mm := ob.member(m.ID).month(l, m.Org, at, sec)
	om := ob.own.month(l, m.Org, at, sec)
	if !mm.reserve(est, m.MonthlyLimitNano) {
		return Ticket{}, ErrMemberLimit
	}
	var budget int64
	if org != nil {
		budget = org.MonthlyBudgetNano
	}
	if !om.reserve(est, budget) {
		mm.committed.Add(-est)
		return Ticket{}, ErrOrgBudget
	}
	return Ticket{org: om, member: mm, est: est}, nil
}

// Settle replaces the ticket's reservation by actualNano, the request's
// metered cost (negative counts as 0), in the month it was reserved in, and
// empties the ticket: settling it again, or settling the zero Ticket, does
// nothing. It is lock-free and does not allocate.
func (t *Ticket) Settle(actualNano int64) {
	if t.member == nil {
		return
	}
	a := max(actualNano, 0)
	d := a - t.est
	t.member.committed.Add(d)
	t.member.spent.Add(a)
	t.org.committed.Add(d)
	t.org.spent.Add(a)
	*t = Ticket{}
}

// Reserved reports whether the ticket holds a reservation.
func (t *Ticket) Reserved() bool { return t.member != nil }

// Estimate returns the amount the ticket reserved.
func (t *Ticket) Estimate() int64 { return t.est }

// Spent returns the settled spend of member (0 for "") and of org in the
// month holding now in the org's timezone, in nano-dollars. Requests in
// flight are not included (see Reserved). Safe for concurrent use.
func (l *Ledger) Spent(org, member string, now time.Time) (memberNano, orgNano int64) {
	mm, om := l.peek(org, member, now)
	if mm != nil {
		memberNano = mm.spent.Load()
	}
	if om != nil {
		orgNano = om.spent.Load()
	}
	return memberNano, orgNano
}

// Reserved returns the estimates held by the requests in flight of member (0
// for "") and of org in the month holding now, in nano-dollars.
func (l *Ledger) Reserved(org, member string, now time.Time) (memberNano, orgNano int64) {
	mm, om := l.peek(org, member, now)
	if mm != nil {
		memberNano = mm.committed.Load() - mm.spent.Load()
	}
	if om != nil {
		orgNano = om.committed.Load() - om.spent.Load()
	}
	return memberNano, orgNano
}

// Seed adds the month-to-date spend of the meter's cells: for each org, the
// CostNano of its cells whose hour lies in the calendar month holding now in
// the org's timezone, to the org's and the cell member's spend. Call it once
// at start, inside Meter.View, before the proxy serves; older months are not
// seeded.
func (l *Ledger) Seed(cells iter.Seq2[*meter.CellKey, *meter.Cell], now time.Time) {
	sec := now.Unix()
	// New member books are gathered per org and published with one copy of
	// the org's member map: adding them one by one copies the map once per
	// member (quadratic with 100k members).
	added := map[*orgBook]map[string]*book{}
	for k, c := range cells {
		if c.CostNano == 0 {
			continue
		}
		ob := l.org(k.Org)
		om := ob.own.month(l, k.Org, now, sec)
		if k.Hour < om.start || k.Hour >= om.end {
			continue
		}
		b, ok := (*ob.members.Load())[k.User]
		if !ok {
			nb := added[ob]
			if nb == nil {
				nb = map[string]*book{}
				added[ob] = nb
			}
			if b = nb[k.User]; b == nil {
				b = &book{}
				nb[k.User] = b
			}
		}
		mm := b.month(l, k.Org, now, sec)
		for _, m := range [2]*month{om, mm} {
			m.committed.Add(c.CostNano)
			m.spent.Add(c.CostNano)
		}
	}
	for ob, nb := range added {
		ob.addMembers(nb)
	}
}

// addMembers publishes the books of nb that ob does not hold yet, with one
// copy of its member map.
func (ob *orgBook) addMembers(nb map[string]*book) {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	old := *ob.members.Load()
	n := make(map[string]*book, len(old)+len(nb))
	for k, v := range old {
		n[k] = v
	}
	for k, v := range nb {
		if _, ok := n[k]; !ok {
			n[k] = v
		}
	}
	ob.members.Store(&n)
}

// reserve adds est to the committed amount unless limit > 0 and the
// committed amount has reached limit or would exceed it.
func (m *month) reserve(est, limit int64) bool {
	if limit <= 0 {
		m.committed.Add(est)
		return true
	}
	ext := m.external.Load()
	for {
		c := m.committed.Load() + ext
		if c >= limit || est > limit-c {
			return false
		}
		if m.committed.CompareAndSwap(c-ext, c-ext+est) {
			return true
		}
	}
}

func (l *Ledger) location(org string) *time.Location {
	if l.opt.Location != nil {
		if loc := l.opt.Location(org); loc != nil {
			return loc
		}
	}
	return time.UTC
}

// org returns the book of org, creating it.
func (l *Ledger) org(id string) *orgBook {
	if b, ok := (*l.orgs.Load())[id]; ok {
		return b
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	old := *l.orgs.Load()
	if b, ok := old[id]; ok {
		return b
	}
	b := &orgBook{}
	b.members.Store(&map[string]*book{})
	n := make(map[string]*orgBook, len(old)+1)
	for k, v := range old {
		n[k] = v
	}
	n[id] = b
	l.orgs.Store(&n)
	return b
}

// member returns the book of member id, creating it.
func (ob *orgBook) member(id string) *book {
	if b, ok := (*ob.members.Load())[id]; ok {
		return b
	}
	ob.mu.Lock()
	defer ob.mu.Unlock()
	old := *ob.members.Load()
	if b, ok := old[id]; ok {
		return b
	}
	b := &book{}
	n := make(map[string]*book, len(old)+1)
	for k, v := range old {
		n[k] = v
	}
	n[id] = b
	ob.members.Store(&n)
	return b
}

// month returns the counters of the month holding at (sec is at.Unix()),
// creating them. The latest month is found without a lock.
func (b *book) month(l *Ledger, org string, at time.Time, sec int64) *month {
	if c := b.cur.Load(); c != nil && sec >= c.start && sec < c.end {
		return c
	}
	start, end := monthOf(at, l.location(org))
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.months[start]
	if m == nil {
		m = &month{start: start, end: end}
		if b.months == nil {
			b.months = map[int64]*month{}
		}
		b.months[start] = m
	}
	if c := b.cur.Load(); c == nil || start > c.start {
		b.cur.Store(m)
		for k := range b.months {
			if k < start-keepMonths {
				delete(b.months, k)
			}
		}
	}
	return m
}

// find returns the counters of the month holding at, or nil.
func (b *book) find(l *Ledger, org string, at time.Time) *month {
	sec := at.Unix()
	if c := b.cur.Load(); c != nil && sec >= c.start && sec < c.end {
		return c
	}
	start, _ := monthOf(at, l.location(org))
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.months[start]
}

// peek returns the month counters of member and org at now, without
// creating them.
func (l *Ledger) peek(org, member string, now time.Time) (mm, om *month) {
	ob, ok := (*l.orgs.Load())[org]
	if !ok {
		return nil, nil
	}
	om = ob.own.find(l, org, now)
	if member != "" {
		if b, ok := (*ob.members.Load())[member]; ok {
			mm = b.find(l, org, now)
		}
	}
	return mm, om
}

// monthOf returns the calendar month holding t in loc, as unix seconds
// [start, end).
func monthOf(t time.Time, loc *time.Location) (start, end int64) {
	y, mo, _ := t.In(loc).Date()
	return time.Date(y, mo, 1, 0, 0, 0, 0, loc).Unix(), time.Date(y, mo+1, 1, 0, 0, 0, 0, loc).Unix()
}

// SetExternal sets the spend that the other instances of a fleet report for
// member (or for the org itself when member is "") in the month holding at,
// in nano-dollars. Reserve counts it against the limit together with the
// local committed amount; Spent and Reserved stay local. It replaces the
// previous value (the fleet reports totals, not increments) and is safe for
// concurrent use; it takes a lock only to create the month's counters.
func (l *Ledger) SetExternal(org, member string, at time.Time, nano int64) {
	ob := l.org(org)
	b := &ob.own
	if member != "" {
		b = ob.member(member)
	}
	b.month(l, org, at, at.Unix()).external.Store(max(nano, 0))
}

// External returns the spend of the rest of the fleet set by SetExternal for
// member (0 for "") and org in the month holding now.
func (l *Ledger) External(org, member string, now time.Time) (memberNano, orgNano int64) {
	mm, om := l.peek(org, member, now)
	if mm != nil {
		memberNano = mm.external.Load()
	}
	if om != nil {
		orgNano = om.external.Load()
	}
	return memberNano, orgNano
}

// EachSpent calls fn with the settled local spend of every org (member "")
// and member that has counters in the month holding now, with the start of
// that month (unix seconds, in the org's timezone). The order is not
// specified. Safe for concurrent use.
func (l *Ledger) EachSpent(now time.Time, fn func(org, member string, monthStart, spentNano int64)) {
	for org, ob := range *l.orgs.Load() {
		if m := ob.own.find(l, org, now); m != nil {
			fn(org, "", m.start, m.spent.Load())
		}
		for id, b := range *ob.members.Load() {
			if m := b.find(l, org, now); m != nil {
				fn(org, id, m.start, m.spent.Load())
			}
		}
	}
}
