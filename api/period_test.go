package api

import (
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// TestPeriodBound: a period of MaxPeriodDays (3660) days is accepted, one
// day more is a 400 naming end_date, or start_date when no end_date is
// given.
func TestPeriodBound(t *testing.T) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, loc)
	cases := []struct {
		query, err string
	}{
		// 2016-11-30 + 3660 days (two leap days) = 2026-12-08, the end of
		// the whole day 2026-12-07.
		{"start_date=2016-11-30&end_date=2026-12-07", ""},
		{"start_date=2016-11-30&end_date=2026-12-08", "end_date: the period from 2016-11-30T00:00:00+01:00 to 2026-12-09T00:00:00+01:00 is longer than 3660 days"},
		{"start_date=2016-11-30T00:00:00%2B01:00&end_date=2026-12-08T00:00:00%2B01:00", ""},
		{"start_date=2016-11-30T00:00:00%2B01:00&end_date=2026-12-08T00:00:01%2B01:00", "end_date: the period from 2016-11-30T00:00:00+01:00 to 2026-12-08T00:00:01+01:00 is longer than 3660 days"},
		// Without end_date the period ends tomorrow (2026-11-28).
		{"start_date=2016-11-20", ""},
		{"start_date=2016-11-19", "start_date: the period from 2016-11-19T00:00:00+01:00 to 2026-11-28T00:00:00+01:00 is longer than 3660 days"},
		{"start_date=0001-01-01&end_date=9999-12-31", "end_date: the period from 0001-01-01T00:00:00+00:53 to 10000-01-01T00:00:00+01:00 is longer than 3660 days"},
	}
	for _, c := range cases {
		var args fasthttp.Args
		args.Parse(c.query)
		_, err := parsePeriod(&args, loc, now)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.err {
			t.Errorf("%s: error %q, want %q", c.query, got, c.err)
		}
	}
}
