package api

import (
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
)

// period is a half-open time range [Start, End).
type period struct {
	Start, End time.Time
}

// MaxPeriodDays bounds the period of a date query (about ten years), so a
// request cannot make a route walk an unbounded range of days.
const MaxPeriodDays = 3660

// parsePeriod reads start_date, end_date (YYYY-MM-DD, whole days inclusive
// in loc, or RFC 3339) or range=today|7d|30d. The default is the last 30
// days: today and the 29 days before it, in loc. A period longer than
// MaxPeriodDays is an error naming end_date (start_date when no end_date
// is given).
func parsePeriod(args *fasthttp.Args, loc *time.Location, now time.Time) (period, error) {
	now = now.In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	tomorrow := time.Date(now.Year(), now.Month(), now.Day()+1, 0, 0, 0, 0, loc)
	p := period{Start: time.Date(now.Year(), now.Month(), now.Day()-29, 0, 0, 0, 0, loc), End: tomorrow}
	if r := args.Peek("range"); len(r) > 0 {
		switch string(r) {
		case "today":
			p.Start = today
		case "7d":
			p.Start = time.Date(now.Year(), now.Month(), now.Day()-6, 0, 0, 0, 0, loc)
		case "30d":
		default:
			return p, fmt.Errorf("range: %q is not one of today, 7d, 30d", r)
		}
	}
	if s := args.Peek("start_date"); len(s) > 0 {
		t, _, err := parseDate(string(s), loc)
		if err != nil {
			return p, fmt.Errorf("start_date: %w", err)
		}
		p.Start = t
		if len(args.Peek("end_date")) == 0 {
			p.End = tomorrow
		}
	}
	if s := args.Peek("end_date"); len(s) > 0 {
		t, wholeDay, err := parseDate(string(s), loc)
		if err != nil {
			return p, fmt.Errorf("end_date: %w", err)
		}
		if wholeDay {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)
		}
		p.End = t
	}
	if !p.Start.Before(p.End) {
		return p, fmt.Errorf("end_date: the period ends (%s) before it starts (%s)", p.End.Format(time.RFC3339), p.Start.Format(time.RFC3339))
	}
	if limit := p.Start.In(loc).AddDate(0, 0, MaxPeriodDays); p.End.After(limit) {
		name := "start_date"
		if len(args.Peek("end_date")) > 0 {
			name = "end_date"
		}
		return p, fmt.Errorf("%s: the period from %s to %s is longer than %d days", name,
			p.Start.In(loc).Format(time.RFC3339), p.End.In(loc).Format(time.RFC3339), MaxPeriodDays)
	}
	return p, nil
}

// parseDate parses YYYY-MM-DD (midnight in loc; wholeDay true) or RFC 3339.
func parseDate(s string, loc *time.Location) (t time.Time, wholeDay bool, err error) {
	if d, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return d, true, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, false, nil
	}
	return time.Time{}, false, fmt.Errorf("%q is not a date (YYYY-MM-DD) or an RFC 3339 time", s)
}
