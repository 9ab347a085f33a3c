package meter

import (
	"iter"
	"time"
)

// entry is one aggregate cell with its key, so that the per-org index can
// hand both to a reader without a map lookup.
type entry struct {
	key  CellKey
	cell Cell
	day  *entry // the day cell this hourly cell adds to; nil for day cells
}

// orgIndex finds the cells of one org by time. hours holds the hourly
// cells of each hour; days holds, for each calendar day of the org, a day
// cell per dimension combination (the sum of that day's hourly cells, with
// Hour set to the day's start), so that a period of whole days is read
// from about 1/24 of the cells.
type orgIndex struct {
	hours    map[int64]*hourBucket
	days     map[int64]*dayBucket
	dayCells map[CellKey]*entry
}

type hourBucket struct {
	day  int64 // start of the calendar day holding the hour
	ents []*entry
}

type dayBucket struct {
	end  int64 // start of the next day
	ents []*entry
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

// entryFor returns the hourly cell of k, creating it (and its day cell)
// in the index when it is new. The caller holds the write lock.
func (m *Meter) entryFor(k CellKey) *entry {
	if e, ok := m.cells[k]; ok {
		return e
	}
	idx := m.orgs[k.Org]
	if idx == nil {
		idx = &orgIndex{hours: map[int64]*hourBucket{}, days: map[int64]*dayBucket{}, dayCells: map[CellKey]*entry{}}
		m.orgs[k.Org] = idx
	}
	hb := idx.hours[k.Hour]
	if hb == nil {
		loc := m.location(k.Org)
		hb = &hourBucket{day: DayStart(k.Hour, loc)}
		idx.hours[k.Hour] = hb
	}
	e := &entry{key: k}
	hb.ents = append(hb.ents, e)
	m.cells[k] = e

	dk := k
	dk.Hour = hb.day
	de := idx.dayCells[dk]
	if de == nil {
		de = &entry{key: dk}
		idx.dayCells[dk] = de
		db := idx.days[hb.day]
		if db == nil {
			db = &dayBucket{end: nextDay(hb.day, m.location(k.Org))}
			idx.days[hb.day] = db
		}
		db.ents = append(db.ents, de)
	}
	e.day = de
	return e
}

// Scan calls fn for the cells of org (only user's when user is not "")
// that aggregate the requests of [start, end), unix seconds, under the
// meter's read lock; fn must be quick and must not keep the pointers.
//
// With hourly false, the days of the org's timezone that lie wholly in the
// period come as day cells (Hour is the day's start) and the rest as
// hourly cells, so a long period costs one cell per day and dimension
// combination instead of one per hour. With hourly true every cell is an
// hourly cell. Either way each request of the period is counted exactly
// once; requests are attributed to hours, so start and end are in effect
// rounded to hour starts.
func (m *Meter) Scan(org, user string, start, end int64, hourly bool, fn func(k *CellKey, c *Cell)) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	idx := m.orgs[org]
	if idx == nil || start >= end {
		return
	}
	emit := func(ents []*entry) {
		for _, e := range ents {
			if user != "" && e.key.User != user {
				continue
			}
			fn(&e.key, &e.cell)
		}
	}
	whole := func(day int64, db *dayBucket) bool { return day >= start && db.end <= end }
	if !hourly {
		for day, db := range idx.days {
			if whole(day, db) {
				emit(db.ents)
			}
		}
	}
	for h, hb := range idx.hours {
		if h < start || h >= end {
			continue
		}
		if !hourly {
			if db := idx.days[hb.day]; db != nil && whole(hb.day, db) {
				continue
			}
		}
		emit(hb.ents)
	}
}

// Cells yields every hourly cell under the meter's read lock (held until
// the loop ends): the loop body must be quick and must not keep the
// pointers.
func (m *Meter) Cells() iter.Seq2[*CellKey, *Cell] {
	return func(yield func(*CellKey, *Cell) bool) {
		m.mu.RLock()
		defer m.mu.RUnlock()
		for _, e := range m.cells {
			if !yield(&e.key, &e.cell) {
				return
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
