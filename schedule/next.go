package schedule

import (
	"time"
)

// searchDays bounds the days Next and Prev look through; any schedule has a
// due day in every 31 consecutive days, weekly ones in every 7.
const searchDays = 64

// Period is the half-open range [Start, End) a report covers.
type Period struct {
	Start, End time.Time
}

// dueOn returns the due time of s on the local date y-m-d of loc (d may be
// outside the month, as time.Date normalises it), and false
// when s does not run that day. A wall-clock time that does not exist that
// day (skipped by a spring-forward change) runs at the end of the gap, when
// the clock jumps (02:30 → 03:00 local in Europe/Berlin); one that exists
// twice (fall-back) runs at its first occurrence only.
func (s *Schedule) dueOn(y int, m time.Month, d int, loc *time.Location) (time.Time, bool) {
	day := time.Date(y, m, d, 12, 0, 0, 0, loc)
	y, m, d = day.Date() // normalised: d may be out of the month
	switch s.Frequency {
	case Daily:
	case Weekly:
		wd := int(day.Weekday())
		if wd == 0 {
			wd = 7
		}
		if wd != s.Day {
			return time.Time{}, false
		}
	case Monthly:
		last := time.Date(y, m+1, 0, 12, 0, 0, 0, loc).Day()
		if d != min(s.Day, last) {
			return time.Time{}, false
		}
	default:
		return time.Time{}, false
	}
	return wallTime(y, m, d, s.Hour, s.Minute, loc), true
}

// wallTime returns the first instant at or after the wall-clock time
// hh:mm of y-m-d in loc: the time itself when it exists, the end of the gap
// when a DST change skips it, its first occurrence when it repeats.
func wallTime(y int, m time.Month, d, hh, mm int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, hh, mm, 0, 0, loc)
	if t.Hour() != hh || t.Minute() != mm || t.Day() != d {
		// In a gap: time.Date used one side's offset. The gap starts
		// where the zone of the earlier side ends.
		want := time.Date(y, m, d, hh, mm, 0, 0, time.UTC)
		got := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC)
		start, end := t.ZoneBounds()
		if got.After(want) {
			return start
		}
		return end
	}
	// Repeated wall time: take the earlier one.
	for _, back := range []time.Duration{time.Hour, 30 * time.Minute} {
		e := t.Add(-back)
		if e.Hour() == hh && e.Minute() == mm && e.Day() == d {
			return e
		}
	}
	return t
}

// Next returns the first due time of s strictly after t, in loc.
func (s *Schedule) Next(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	for i := -1; i < searchDays; i++ {
		if due, ok := s.dueOn(l.Year(), l.Month(), l.Day()+i, loc); ok && due.After(t) {
			return due
		}
	}
	return time.Time{}
}

// Prev returns the latest due time of s at or before t, in loc, and false
// when there is none in the search window (an invalid schedule).
func (s *Schedule) Prev(t time.Time, loc *time.Location) (time.Time, bool) {
	l := t.In(loc)
	for i := 1; i > -searchDays; i-- {
		if due, ok := s.dueOn(l.Year(), l.Month(), l.Day()+i, loc); ok && !due.After(t) {
			return due, true
		}
	}
	return time.Time{}, false
}

// PeriodOf returns the period a report due at due covers, in whole days of
// loc: daily the day before the due day, weekly the 7 days before it,
// monthly the calendar month before the due day's month.
func (s *Schedule) PeriodOf(due time.Time, loc *time.Location) Period {
	l := due.In(loc)
	y, m, d := l.Date()
	end := time.Date(y, m, d, 0, 0, 0, 0, loc)
	switch s.Frequency {
	case Weekly:
		return Period{Start: time.Date(y, m, d-7, 0, 0, 0, 0, loc), End: end}
	case Monthly:
		return Period{Start: time.Date(y, m-1, 1, 0, 0, 0, 0, loc), End: time.Date(y, m, 1, 0, 0, 0, 0, loc)}
	}
	return Period{Start: time.Date(y, m, d-1, 0, 0, 0, 0, loc), End: end}
}

// Label names the days of p in loc: "2026-11-26" for one day,
// "2026-11-19 to 2026-11-25" for several (the last day inclusive).
func (p Period) Label(loc *time.Location) string {
	first := p.Start.In(loc).Format(time.DateOnly)
	last := p.End.Add(-time.Nanosecond).In(loc).Format(time.DateOnly)
	if first == last {
		return first
	}
	return first + " to " + last
}
