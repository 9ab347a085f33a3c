package meter

import (
	"iter"
	"strings"
	"time"

	"github.com/infermeter/infermeter/meter/usage"
)

// The meter keeps its cells in memory in a form without pointers, so that
// millions of them cost the garbage collector nothing to scan and little
// room: the strings of a CellKey are replaced by ids into the meter's
// names (each distinct name stored once), and the cells of an org live in
// chunks of slots, found through one map from compact key to slot number.

// ckey is a CellKey inside an org's index: its strings are ids of the
// meter's names, and day tells a day cell (hour is then the day's start)
// from an hourly one.
type ckey struct {
	user, model, dept, billing, tags uint32
	cat                              usage.Category
	err                              usage.ErrorType
	day                              bool
	hour                             int64
}

// slot holds one cell of an org. An hourly cell adds its events to the day
// cell of its day and dimensions too, once that day has more than one
// hourly cell of them; until then the hourly cell stands for the day itself
// (listed in the day's bucket), so a day cell never merely copies one.
type slot struct {
	key  ckey
	cell Cell
	// day is the slot of the day cell this hourly cell adds to, or noSlot.
	day uint32
	// pos is where the slot is listed in its day's bucket (day cells and
	// hourly cells that stand for their day).
	pos   uint32
	dirty bool // changed since the last successful flush (hourly cells)
}

const (
	noSlot    = ^uint32(0)
	dayBit    = 1 << 31
	chunkBits = 12
	chunkSize = 1 << chunkBits
)

// orgIndex holds the cells of one org and finds them by time: hours lists
// the hourly cells of each hour; days lists, for each calendar day of the
// org, one cell per dimension combination that summarises the day (a day
// cell, or the only hourly cell of that combination that day), so that a
// period of whole days is read from about 1/24 of the cells.
type orgIndex struct {
	org    string
	slots  map[ckey]uint32
	chunks [][]slot // hourly cells, chunkSize slots each; only the last one grows
	// dchunks holds the day cells apart, so that a scan of whole days,
	// which reads only them, reads dense memory (slot numbers with dayBit).
	dchunks [][]slot
	hours   map[int64]*hourBucket
	days    map[int64]*dayBucket
	dirty   []uint32 // hourly cells changed since the last successful flush
}

type hourBucket struct {
	day   int64 // start of the calendar day holding the hour
	cells []uint32
}

type dayBucket struct {
	end   int64 // start of the next day
	cells []uint32
}

func newOrgIndex(org string) *orgIndex {
	return &orgIndex{org: org, slots: map[ckey]uint32{}, hours: map[int64]*hourBucket{}, days: map[int64]*dayBucket{}}
}

// at returns slot i. The pointer is valid until the next add.
func (x *orgIndex) at(i uint32) *slot {
	if i&dayBit != 0 {
		i &^= dayBit
		return &x.dchunks[i>>chunkBits][i&(chunkSize-1)]
	}
	return &x.chunks[i>>chunkBits][i&(chunkSize-1)]
}

// add appends a slot for k and returns its number.
func (x *orgIndex) add(k ckey) uint32 {
	chunks, bit := &x.chunks, uint32(0)
	if k.day {
		chunks, bit = &x.dchunks, dayBit
	}
	n := len(*chunks)
	if n == 0 || len((*chunks)[n-1]) == chunkSize {
		*chunks = append(*chunks, make([]slot, 0, 8))
		n++
	}
	c := &(*chunks)[n-1]
	*c = append(*c, slot{key: k, day: noSlot, pos: noSlot})
	return uint32((n-1)<<chunkBits+len(*c)-1) | bit
}

// names interns the strings of cell keys: id 0 is "".
type names struct {
	list []string
	ids  map[string]uint32
}

func (n *names) init() {
	n.list = []string{""}
	n.ids = map[string]uint32{"": 0}
}

// id returns the id of s, adding it when new. The caller holds the write
// lock.
func (n *names) id(s string) uint32 {
	if id, ok := n.ids[s]; ok {
		return id
	}
	s = strings.Clone(s) // do not keep the buffer s may point into alive
	id := uint32(len(n.list))
	n.list = append(n.list, s)
	n.ids[s] = id
	return id
}

// DayStart returns the start of the calendar day holding t (unix seconds)
// in loc, as unix seconds.
func DayStart(t int64, loc *time.Location) int64 {
	y, mo, d := time.Unix(t, 0).In(loc).Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, loc).Unix()
}

// nextDay returns the start of the calendar day after the one starting at
// day (unix seconds) in loc.
func nextDay(day int64, loc *time.Location) int64 {
	y, mo, d := time.Unix(day, 0).In(loc).Date()
	return time.Date(y, mo, d+1, 0, 0, 0, 0, loc).Unix()
}

func (m *Meter) location(org string) *time.Location {
	if m.opt.Location != nil {
		if l := m.opt.Location(org); l != nil {
			return l
		}
	}
	return time.UTC
}

// orgOf returns the index of org, creating it when new. The caller holds
// the write lock.
func (m *Meter) orgOf(org string) *orgIndex {
	if x := m.lastOrg; x != nil && x.org == org {
		return x
	}
	x := m.orgs[org]
	if x == nil {
		x = newOrgIndex(strings.Clone(org))
		m.orgs[x.org] = x
	}
	m.lastOrg = x
	return x
}

// compact returns the key of k inside its org's index. The caller holds
// the write lock.
func (m *Meter) compact(k *CellKey) ckey {
	return ckey{
		user: m.names.id(k.User), model: m.names.id(k.Model), dept: m.names.id(k.Department),
		billing: m.names.id(k.BillingMode), tags: m.names.id(k.Tags),
		cat: k.Category, err: k.ErrorType, hour: k.Hour,
	}
}

// expander writes CellKeys for a run of keys of one org, looking up only
// the names that changed since the previous key (in a scan most do not).
type expander struct {
	names []string
	last  ckey
	out   CellKey
}

func (m *Meter) expander(org string) expander {
	e := expander{names: m.names.list}
	e.out.Org = org
	return e
}

func (e *expander) expand(k *ckey) *CellKey {
	if k.user != e.last.user {
		e.out.User = e.names[k.user]
	}
	if k.model != e.last.model {
		e.out.Model = e.names[k.model]
	}
	if k.dept != e.last.dept {
		e.out.Department = e.names[k.dept]
	}
	if k.billing != e.last.billing {
		e.out.BillingMode = e.names[k.billing]
	}
	if k.tags != e.last.tags {
		e.out.Tags = e.names[k.tags]
	}
	e.out.Category, e.out.ErrorType, e.out.Hour = k.cat, k.err, k.hour
	e.last = *k
	return &e.out
}

// slotFor returns the hourly cell of k in x, creating it when new, with the
// day cell of its day and dimensions when it is the second hourly cell of
// them that day. The caller holds the write lock.
func (m *Meter) slotFor(x *orgIndex, k ckey) uint32 {
	if i, ok := x.slots[k]; ok {
		return i
	}
	hb := x.hours[k.hour]
	if hb == nil {
		hb = &hourBucket{day: DayStart(k.hour, m.location(x.org))}
		x.hours[k.hour] = hb
	}
	i := x.add(k)
	x.slots[k] = i
	hb.cells = append(hb.cells, i)
	m.hourly++

	db := x.days[hb.day]
	if db == nil {
		db = &dayBucket{end: nextDay(hb.day, m.location(x.org))}
		x.days[hb.day] = db
	}
	dk := k
	dk.hour, dk.day = hb.day, true
	j, ok := x.slots[dk]
	if !ok {
		// The first hourly cell of these dimensions this day stands for
		// the day.
		x.slots[dk] = i
		x.at(i).pos = uint32(len(db.cells))
		db.cells = append(db.cells, i)
		return i
	}
	if x.at(j).key.day {
		x.at(i).day = j
		return i
	}
	// The second one: a day cell takes over from the first, with its sums.
	d := x.add(dk)
	first, ds := x.at(j), x.at(d)
	ds.cell, ds.pos = first.cell, first.pos
	db.cells[first.pos] = d
	first.day, first.pos = d, noSlot
	x.at(i).day = d
	x.slots[dk] = d
	return i
}

// markDirty notes that hourly cell i of x changed. The caller holds the
// write lock.
func (m *Meter) markDirty(x *orgIndex, i uint32) {
	s := x.at(i)
	if s.dirty {
		return
	}
	s.dirty = true
	if len(x.dirty) == 0 {
		m.dirtyOrgs = append(m.dirtyOrgs, x)
	}
	x.dirty = append(x.dirty, i)
	m.ndirty++
}

// Scan calls fn for the cells of org (only user's when user is not "")
// that aggregate the requests of [start, end), unix seconds, under the
// meter's read lock; fn must be quick and must not keep the pointers (k
// is reused from call to call).
//
// With hourly false, the days of the org's timezone that lie wholly in the
// period come as one cell per day and dimension combination (Hour is then
// the day's start, or an hour of that day when the day had one hourly
// cell of the combination: read only the day from it) and the rest as
// hourly cells, so a long period costs one cell per day and dimension
// combination instead of one per hour. With hourly true every cell is an
// hourly cell. Either way each request of the period is counted exactly
// once; requests are attributed to hours, so start and end are in effect
// rounded to hour starts.
func (m *Meter) Scan(org, user string, start, end int64, hourly bool, fn func(k *CellKey, c *Cell)) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	x := m.orgs[org]
	if x == nil || start >= end {
		return
	}
	uid := uint32(0)
	if user != "" {
		id, ok := m.names.ids[user]
		if !ok {
			return
		}
		uid = id
	}
	e := m.expander(x.org)
	emit := func(cells []uint32) {
		for _, i := range cells {
			s := x.at(i)
			if user != "" && s.key.user != uid {
				continue
			}
			fn(e.expand(&s.key), &s.cell)
		}
	}
	whole := func(day int64, db *dayBucket) bool { return day >= start && db.end <= end }
	if !hourly {
		for day, db := range x.days {
			if whole(day, db) {
				emit(db.cells)
			}
		}
	}
	for h, hb := range x.hours {
		if h < start || h >= end {
			continue
		}
		if !hourly {
			if db := x.days[hb.day]; db != nil && whole(hb.day, db) {
				continue
			}
		}
		emit(hb.cells)
	}
}

// Cells yields every hourly cell under the meter's read lock (held until
// the loop ends): the loop body must be quick and must not keep the
// pointers (the key is reused from cell to cell).
func (m *Meter) Cells() iter.Seq2[*CellKey, *Cell] {
	return func(yield func(*CellKey, *Cell) bool) {
		m.mu.RLock()
		defer m.mu.RUnlock()
		for _, x := range m.orgs {
			e := m.expander(x.org)
			for _, hb := range x.hours {
				for _, i := range hb.cells {
					s := x.at(i)
					if !yield(e.expand(&s.key), &s.cell) {
						return
					}
				}
			}
		}
	}
}

// Orgs returns the orgs that have cells.
func (m *Meter) Orgs() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]string, 0, len(m.orgs))
	for o := range m.orgs {
		out = append(out, o)
	}
	return out
}
