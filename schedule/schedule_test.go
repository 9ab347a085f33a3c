package schedule

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	ok := func(body string, want Schedule) {
		t.Helper()
		got, err := Parse([]byte(body))
		if err != nil {
			t.Fatalf("%s: %s", body, err)
		}
		if got.Name != want.Name || got.Frequency != want.Frequency || got.Day != want.Day || got.Hour != want.Hour ||
			got.Minute != want.Minute || got.Format != want.Format || !slices.Equal(got.Recipients, want.Recipients) ||
			!slices.Equal(got.Include, want.Include) {
			t.Fatalf("%s:\n got %+v\nwant %+v", body, got, want)
		}
	}
	ok(`{"name":"Daily","frequency":"daily","time":"07:00","format":"csv","recipients":["a@x.example"],"include":["errors","usage_summary"]}`,
		Schedule{Name: "Daily", Frequency: Daily, Hour: 7, Format: "csv", Recipients: []string{"a@x.example"}, Include: []string{UsageSummary, Errors}})
	ok(`{"name":" W ","frequency":"weekly","day":"Monday","time":"23:59","format":"pdf","recipients":["Ann <ann@x.example>","b@x.example"],"include":["top_users"]}`,
		Schedule{Name: "W", Frequency: Weekly, Day: 1, Hour: 23, Minute: 59, Format: "pdf", Recipients: []string{"ann@x.example", "b@x.example"}, Include: []string{TopUsers}})
	ok(`{"name":"W7","frequency":"weekly","day":7,"time":"00:00","format":"json","recipients":["a@x.example"],"include":["cost_breakdown"]}`,
		Schedule{Name: "W7", Frequency: Weekly, Day: 7, Format: "json", Recipients: []string{"a@x.example"}, Include: []string{CostBreakdown}})
	ok(`{"name":"M","frequency":"monthly","day":"31","time":"06:05","format":"csv","recipients":["a@x.example"],"include":["errors","cost_breakdown","top_users","usage_summary"]}`,
		Schedule{Name: "M", Frequency: Monthly, Day: 31, Hour: 6, Minute: 5, Format: "csv", Recipients: []string{"a@x.example"}, Include: Sections})
	ok(`{"name":"D","frequency":"daily","day":null,"time":"12:00","format":"csv","recipients":["a@x.example"],"include":["errors"]}`,
		Schedule{Name: "D", Frequency: Daily, Hour: 12, Format: "csv", Recipients: []string{"a@x.example"}, Include: []string{Errors}})

	valid := map[string]string{
		"name": `"n"`, "frequency": `"daily"`, "time": `"07:00"`, "format": `"csv"`,
		"recipients": `["a@x.example"]`, "include": `["usage_summary"]`,
	}
	body := func(set map[string]string) string {
		m := map[string]string{}
		for k, v := range valid {
			m[k] = v
		}
		for k, v := range set {
			m[k] = v
		}
		var parts []string
		for _, k := range []string{"name", "frequency", "day", "time", "format", "recipients", "include", "extra"} {
			if v, ok := m[k]; ok && v != "-" {
				parts = append(parts, `"`+k+`":`+v)
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	many := make([]string, 51)
	for i := range many {
		many[i] = `"u` + strings.Repeat("x", i) + `@x.example"`
	}
	bad := []struct {
		set   map[string]string
		field string
	}{
		{map[string]string{"name": "-"}, "name: required"},
		{map[string]string{"name": `"  "`}, "name: required"},
		{map[string]string{"name": `5`}, "name: must be a string"},
		{map[string]string{"name": `"` + strings.Repeat("n", 201) + `"`}, "name: longer than 200"},
		{map[string]string{"frequency": "-"}, "frequency: required"},
		{map[string]string{"frequency": `"hourly"`}, "frequency: "},
		{map[string]string{"day": `1`}, "day: must be absent"},
		{map[string]string{"frequency": `"weekly"`}, "day: required"},
		{map[string]string{"frequency": `"weekly"`, "day": `8`}, "day: 8 is not a weekday"},
		{map[string]string{"frequency": `"weekly"`, "day": `"funday"`}, "day: "},
		{map[string]string{"frequency": `"weekly"`, "day": `1.5`}, "day: "},
		{map[string]string{"frequency": `"monthly"`}, "day: required"},
		{map[string]string{"frequency": `"monthly"`, "day": `0`}, "day: 0 is not a day"},
		{map[string]string{"frequency": `"monthly"`, "day": `32`}, "day: 32 is not a day"},
		{map[string]string{"frequency": `"monthly"`, "day": `"monday"`}, "day: "},
		{map[string]string{"time": "-"}, "time: required"},
		{map[string]string{"time": `"7:00"`}, "time: "},
		{map[string]string{"time": `"24:00"`}, "time: "},
		{map[string]string{"time": `"12:60"`}, "time: "},
		{map[string]string{"time": `"12:0a"`}, "time: "},
		{map[string]string{"format": `"xlsx"`}, "format: "},
		{map[string]string{"format": "-"}, "format: required"},
		{map[string]string{"recipients": "-"}, "recipients: required"},
		{map[string]string{"recipients": `"a@x.example"`}, "recipients: must be an array"},
		{map[string]string{"recipients": `[]`}, "recipients: at least one"},
		{map[string]string{"recipients": `["not an address"]`}, "recipients: [0]"},
		{map[string]string{"recipients": `["a@x.example", 3]`}, "recipients: [1] must be a string"},
		{map[string]string{"recipients": `["a@x.example","A@x.example"]`}, "recipients: [1] \"A@x.example\" is given twice"},
		{map[string]string{"recipients": "[" + strings.Join(many, ",") + "]"}, "recipients: 51 addresses"},
		{map[string]string{"include": "-"}, "include: required"},
		{map[string]string{"include": `[]`}, "include: at least one"},
		{map[string]string{"include": `["usage_summary","everything"]`}, "include: [1]"},
		{map[string]string{"include": `["errors","errors"]`}, "include: [1] \"errors\" is given twice"},
		{map[string]string{"include": `{}`}, "include: must be an array"},
		{map[string]string{"extra": `1`}, "extra: unknown field"},
	}
	for _, c := range bad {
		b := body(c.set)
		_, err := Parse([]byte(b))
		if err == nil || !strings.HasPrefix(err.Error(), c.field) {
			t.Errorf("%s: error %v, want one starting %q", b, err, c.field)
		}
	}
	for _, b := range []string{``, `[]`, `{"name":`, `"x"`} {
		if _, err := Parse([]byte(b)); err == nil || !strings.HasPrefix(err.Error(), "body: ") {
			t.Errorf("%q: error %v", b, err)
		}
	}
	if _, err := Parse([]byte(`{"name":"a","name":"b"}`)); err == nil || err.Error() != "name: given twice" {
		t.Errorf("duplicate key: %v", err)
	}
}

// FuzzParseSchedule checks that Parse never panics and that what it accepts
// is valid: a day and time in range, 1..50 recipients, a known include set.
func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{
		`{"name":"Daily","frequency":"daily","time":"07:00","format":"csv","recipients":["a@x.example"],"include":["errors","usage_summary"]}`,
		`{"name":"W","frequency":"weekly","day":"monday","time":"23:59","format":"pdf","recipients":["Ann <ann@x.example>"],"include":["top_users"]}`,
		`{"name":"M","frequency":"monthly","day":31,"time":"00:00","format":"json","recipients":["a@x.example"],"include":["cost_breakdown"]}`,
		`{"name":"M","frequency":"monthly","day":"7","time":"24:00"}`,
		`{"time":"1:2"}`, `[]`, `{`, `{"recipients":[1,2]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			if !strings.Contains(err.Error(), ": ") {
				t.Fatalf("error without a field: %s", err)
			}
			return
		}
		if s.Name == "" || len(s.Name) > MaxNameLen || s.Hour > 23 || s.Minute > 59 || s.Hour < 0 || s.Minute < 0 {
			t.Fatalf("accepted %+v", s)
		}
		switch s.Frequency {
		case Daily:
			if s.Day != 0 {
				t.Fatalf("daily with day %d", s.Day)
			}
		case Weekly:
			if s.Day < 1 || s.Day > 7 {
				t.Fatalf("weekly day %d", s.Day)
			}
		case Monthly:
			if s.Day < 1 || s.Day > 31 {
				t.Fatalf("monthly day %d", s.Day)
			}
		default:
			t.Fatalf("frequency %q", s.Frequency)
		}
		if len(s.Recipients) < 1 || len(s.Recipients) > MaxRecipients || len(s.Include) < 1 || len(s.Include) > len(Sections) {
			t.Fatalf("accepted %+v", s)
		}
		if hh, mm, err := ParseClock(s.Time()); err != nil || hh != s.Hour || mm != s.Minute {
			t.Fatalf("time %q does not round-trip", s.Time())
		}
	})
}

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestNext(t *testing.T) {
	berlin, ny := mustLoad(t, "Europe/Berlin"), mustLoad(t, "America/New_York")
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		what      string
		s         Schedule
		loc       *time.Location
		after     string
		want      string // UTC
		wantLocal string
	}{
		{"daily later today", Schedule{Frequency: Daily, Hour: 7}, berlin, "2026-11-27T05:00:00Z", "2026-11-27T06:00:00Z", "2026-11-27 07:00 CET"},
		{"daily exactly now is tomorrow", Schedule{Frequency: Daily, Hour: 7}, berlin, "2026-11-27T06:00:00Z", "2026-11-28T06:00:00Z", "2026-11-28 07:00 CET"},
		{"daily spring forward 02:30 runs at 03:00", Schedule{Frequency: Daily, Hour: 2, Minute: 30}, berlin, "2026-03-28T02:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29 03:00 CEST"},
		{"daily the day after spring forward", Schedule{Frequency: Daily, Hour: 2, Minute: 30}, berlin, "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-30 02:30 CEST"},
		{"daily 02:00 spring forward is 03:00", Schedule{Frequency: Daily, Hour: 2}, berlin, "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29 03:00 CEST"},
		{"daily 03:00 spring forward exists", Schedule{Frequency: Daily, Hour: 3}, berlin, "2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29 03:00 CEST"},
		{"daily fall back 02:30 first occurrence", Schedule{Frequency: Daily, Hour: 2, Minute: 30}, berlin, "2026-10-24T12:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25 02:30 CEST"},
		{"daily fall back runs once", Schedule{Frequency: Daily, Hour: 2, Minute: 30}, berlin, "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-26 02:30 CET"},
		{"daily fall back between occurrences", Schedule{Frequency: Daily, Hour: 2, Minute: 30}, berlin, "2026-10-25T01:00:00Z", "2026-10-26T01:30:00Z", "2026-10-26 02:30 CET"},
		{"new york spring forward 02:15", Schedule{Frequency: Daily, Hour: 2, Minute: 15}, ny, "2026-03-07T12:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08 03:00 EDT"},
		{"new york fall back 01:30 first", Schedule{Frequency: Daily, Hour: 1, Minute: 30}, ny, "2026-10-31T12:00:00Z", "2026-11-01T05:30:00Z", "2026-11-01 01:30 EDT"},
		{"new york fall back once", Schedule{Frequency: Daily, Hour: 1, Minute: 30}, ny, "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", "2026-11-02 01:30 EST"},
		{"weekly monday from friday", Schedule{Frequency: Weekly, Day: 1, Hour: 9}, berlin, "2026-11-27T10:00:00Z", "2026-11-30T08:00:00Z", "2026-11-30 09:00 CET"},
		{"weekly sunday on spring forward", Schedule{Frequency: Weekly, Day: 7, Hour: 2, Minute: 30}, berlin, "2026-03-23T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29 03:00 CEST"},
		{"weekly same day later", Schedule{Frequency: Weekly, Day: 5, Hour: 18}, berlin, "2026-11-27T10:00:00Z", "2026-11-27T17:00:00Z", "2026-11-27 18:00 CET"},
		{"weekly same day past", Schedule{Frequency: Weekly, Day: 5, Hour: 8}, berlin, "2026-11-27T10:00:00Z", "2026-12-04T07:00:00Z", "2026-12-04 08:00 CET"},
		{"monthly 31 in february", Schedule{Frequency: Monthly, Day: 31, Hour: 6}, berlin, "2026-02-01T00:00:00Z", "2026-02-28T05:00:00Z", "2026-02-28 06:00 CET"},
		{"monthly 31 in april", Schedule{Frequency: Monthly, Day: 31, Hour: 6}, berlin, "2026-03-31T05:00:00Z", "2026-04-30T04:00:00Z", "2026-04-30 06:00 CEST"},
		{"monthly 29 leap year", Schedule{Frequency: Monthly, Day: 29, Hour: 0}, berlin, "2028-02-01T00:00:00Z", "2028-02-28T23:00:00Z", "2028-02-29 00:00 CET"},
		{"monthly 1 next month", Schedule{Frequency: Monthly, Day: 1, Hour: 8}, berlin, "2026-11-27T00:00:00Z", "2026-12-01T07:00:00Z", "2026-12-01 08:00 CET"},
		{"monthly on a fall back day", Schedule{Frequency: Monthly, Day: 25, Hour: 2, Minute: 30}, berlin, "2026-10-01T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25 02:30 CEST"},
		{"daily utc", Schedule{Frequency: Daily, Hour: 23, Minute: 59}, time.UTC, "2026-12-31T23:59:00Z", "2027-01-01T23:59:00Z", "2027-01-01 23:59 UTC"},
	}
	for _, c := range cases {
		got := c.s.Next(utc(c.after), c.loc)
		if !got.Equal(utc(c.want)) || got.In(c.loc).Format("2006-01-02 15:04 MST") != c.wantLocal {
			t.Errorf("%s: Next(%s) = %s (%s), want %s (%s)", c.what, c.after, got.UTC().Format(time.RFC3339), got.In(c.loc).Format("2006-01-02 15:04 MST"), c.want, c.wantLocal)
		}
		// Prev of the due time is the due time itself, and Prev just
		// before it is an earlier one.
		if p, ok := c.s.Prev(got, c.loc); !ok || !p.Equal(got) {
			t.Errorf("%s: Prev(%s) = %s, %v", c.what, got, p, ok)
		}
		if p, ok := c.s.Prev(got.Add(-time.Second), c.loc); !ok || !p.Before(got) || !c.s.Next(p, c.loc).Equal(got) {
			t.Errorf("%s: Prev before %s = %s, %v", c.what, got, p, ok)
		}
	}
}

// TestNextCountsDueTimes walks a daily 02:30 schedule through a whole year
// of Berlin: one run a day, 365 of them, across both DST changes.
func TestNextCountsDueTimes(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	s := Schedule{Frequency: Daily, Hour: 2, Minute: 30}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, berlin)
	end := time.Date(2027, 1, 1, 0, 0, 0, 0, berlin)
	days := map[string]int{}
	n := 0
	for {
		at = s.Next(at, berlin)
		if !at.Before(end) {
			break
		}
		n++
		days[at.In(berlin).Format(time.DateOnly)]++
	}
	if n != 365 || len(days) != 365 {
		t.Fatalf("%d runs on %d days", n, len(days))
	}
}

func TestPeriodOf(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	due := time.Date(2026, 11, 27, 7, 0, 0, 0, berlin)
	cases := []struct {
		f          string
		due        time.Time
		start, end string
		label      string
	}{
		{Daily, due, "2026-11-26T00:00:00+01:00", "2026-11-27T00:00:00+01:00", "2026-11-26"},
		{Weekly, due, "2026-11-20T00:00:00+01:00", "2026-11-27T00:00:00+01:00", "2026-11-20 to 2026-11-26"},
		{Monthly, due, "2026-10-01T00:00:00+02:00", "2026-11-01T00:00:00+01:00", "2026-10-01 to 2026-10-31"},
		{Monthly, time.Date(2026, 1, 1, 0, 30, 0, 0, berlin), "2025-12-01T00:00:00+01:00", "2026-01-01T00:00:00+01:00", "2025-12-01 to 2025-12-31"},
		{Daily, time.Date(2026, 3, 30, 2, 30, 0, 0, berlin), "2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00", "2026-03-29"},
	}
	for _, c := range cases {
		s := Schedule{Frequency: c.f}
		p := s.PeriodOf(c.due, berlin)
		if got := p.Start.Format(time.RFC3339); got != c.start {
			t.Errorf("%s %s: start %s, want %s", c.f, c.due, got, c.start)
		}
		if got := p.End.Format(time.RFC3339); got != c.end {
			t.Errorf("%s %s: end %s, want %s", c.f, c.due, got, c.end)
		}
		if got := p.Label(berlin); got != c.label {
			t.Errorf("%s %s: label %q, want %q", c.f, c.due, got, c.label)
		}
	}
}
