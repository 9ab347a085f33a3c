// Package schedule keeps the scheduled reports of the orgs: their
// definitions (parsed and validated from the API's bodies), when each runs
// next in its org's timezone, the durable state that makes every due time
// run once, and the Scheduler that renders and mails them. It never touches
// the proxy's hot path: it reads the meter through the render function it is
// given, on its own goroutine.
package schedule

import (
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

// Frequencies of a schedule.
const (
	Daily   = "daily"
	Weekly  = "weekly"
	Monthly = "monthly"
)

// Formats of the attached report.
const (
	FormatCSV  = "csv"
	FormatJSON = "json"
	FormatPDF  = "pdf"
)

// Sections a report can include, in the order they are rendered.
const (
	UsageSummary  = "usage_summary"
	TopUsers      = "top_users"
	CostBreakdown = "cost_breakdown"
	Errors        = "errors"
)

// Sections lists every section in rendering order.
var Sections = []string{UsageSummary, TopUsers, CostBreakdown, Errors}

// Limits of a schedule.
const (
	// MaxNameLen is the longest name, in bytes.
	MaxNameLen = 200
	// MaxRecipients is the most recipients of one schedule.
	MaxRecipients = 50
)

// weekdays names the days of a weekly schedule, 1 (monday) to 7 (sunday).
var weekdays = [...]string{"", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

// Schedule is one scheduled report of an org. Day is 0 for daily, the ISO
// weekday 1 (monday) to 7 (sunday) for weekly and the day of the month 1 to
// 31 for monthly (a shorter month runs on its last day). Hour and Minute are
// the wall-clock time of the run in the org's timezone.
type Schedule struct {
	ID         string    `json:"id"`
	Org        string    `json:"org"`
	Name       string    `json:"name"`
	Frequency  string    `json:"frequency"`
	Day        int       `json:"day"`
	Hour       int       `json:"hour"`
	Minute     int       `json:"minute"`
	Format     string    `json:"format"`
	Recipients []string  `json:"recipients"`
	Include    []string  `json:"include"`
	CreatedAt  time.Time `json:"created_at"`
	// Seq numbers the schedules of an org in creation order, from 1.
	Seq int64 `json:"seq"`
	// NextRun is the next due time; LastRun when it last ran (zero: never)
	// and LastDue the due time of that run.
	NextRun time.Time `json:"next_run"`
	LastRun time.Time `json:"last_run"`
	LastDue time.Time `json:"last_due"`
}

// Time returns the run time as "HH:MM".
func (s *Schedule) Time() string { return fmt.Sprintf("%02d:%02d", s.Hour, s.Minute) }

// DayName returns the day as the API shows it: the weekday name of a weekly
// schedule, the day of the month of a monthly one, "" for daily.
func (s *Schedule) DayName() string {
	switch s.Frequency {
	case Weekly:
		if s.Day >= 1 && s.Day <= 7 {
			return weekdays[s.Day]
		}
	case Monthly:
		return strconv.Itoa(s.Day)
	}
	return ""
}

// Includes reports whether the report includes section.
func (s *Schedule) Includes(section string) bool {
	for _, x := range s.Include {
		if x == section {
			return true
		}
	}
	return false
}

// fieldError is a validation error that names its field.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{field}, args...)...)
}

// Parse reads a schedule from a JSON body: {name, frequency, day, time,
// format, recipients, include}. Every field is checked; the error of the
// first bad one names it ("time: ..."). Unknown fields are refused. ID,
// Org, CreatedAt and the run times are left for the Scheduler.
func Parse(body []byte) (Schedule, error) {
	var s Schedule
	if !gjson.ValidBytes(body) {
		return s, errors.New("body: not valid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return s, errors.New("body: not a JSON object")
	}
	var err error
	seen := map[string]bool{}
	root.ForEach(func(k, v gjson.Result) bool {
		name := k.String()
		if seen[name] {
			err = fieldError(name, "given twice")
			return false
		}
		seen[name] = true
		switch name {
		case "name", "frequency", "day", "time", "format", "recipients", "include":
		default:
			err = fieldError(name, "unknown field; the fields are name, frequency, day, time, format, recipients, include")
			return false
		}
		return true
	})
	if err != nil {
		return s, err
	}
	str := func(field string) (string, error) {
		v := root.Get(gjson.Escape(field))
		if !v.Exists() || v.Type == gjson.Null {
			return "", fieldError(field, "required")
		}
		if v.Type != gjson.String {
			return "", fieldError(field, "must be a string")
		}
		return v.String(), nil
	}
	if s.Name, err = str("name"); err != nil {
		return s, err
	}
	if s.Name = strings.TrimSpace(s.Name); s.Name == "" {
		return s, fieldError("name", "required")
	}
	if len(s.Name) > MaxNameLen {
		return s, fieldError("name", "longer than %d bytes", MaxNameLen)
	}
	if s.Frequency, err = str("frequency"); err != nil {
		return s, err
	}
	switch s.Frequency {
	case Daily, Weekly, Monthly:
	default:
		return s, fieldError("frequency", "%q is not one of daily, weekly, monthly", s.Frequency)
	}
	if s.Day, err = parseDay(s.Frequency, root.Get("day")); err != nil {
		return s, err
	}
	t, err := str("time")
	if err != nil {
		return s, err
	}
	if s.Hour, s.Minute, err = ParseClock(t); err != nil {
		return s, fieldError("time", "%w", err)
	}
	if s.Format, err = str("format"); err != nil {
		return s, err
	}
	switch s.Format {
	case FormatCSV, FormatJSON, FormatPDF:
	default:
		return s, fieldError("format", "%q is not one of csv, json, pdf", s.Format)
	}
	if s.Recipients, err = parseRecipients(root.Get("recipients")); err != nil {
		return s, err
	}
	if s.Include, err = parseInclude(root.Get("include")); err != nil {
		return s, err
	}
	return s, nil
}

// ParseClock parses a 24-hour "HH:MM" wall-clock time.
func ParseClock(s string) (hour, minute int, err error) {
	if len(s) != 5 || s[2] != ':' || !digits(s[:2]) || !digits(s[3:]) {
		return 0, 0, fmt.Errorf("%q is not a 24-hour time HH:MM", s)
	}
	hour = int(s[0]-'0')*10 + int(s[1]-'0')
	minute = int(s[3]-'0')*10 + int(s[4]-'0')
	if hour > 23 || minute > 59 {
		return 0, 0, fmt.Errorf("%q is not a 24-hour time HH:MM", s)
	}
	return hour, minute, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseDay reads the day of a schedule of frequency f: absent (or null)
// for daily; a weekday name or 1..7 (monday is 1) for weekly; 1..31 for
// monthly. Numbers may come as JSON numbers or strings of digits.
func parseDay(f string, v gjson.Result) (int, error) {
	present := v.Exists() && v.Type != gjson.Null
	if f == Daily {
		if present {
			return 0, fieldError("day", "must be absent for a daily schedule")
		}
		return 0, nil
	}
	if !present {
		if f == Weekly {
			return 0, fieldError("day", "required for a weekly schedule: a weekday (monday..sunday) or 1..7")
		}
		return 0, fieldError("day", "required for a monthly schedule: 1..31")
	}
	n := -1
	switch v.Type {
	case gjson.Number:
		if v.Raw == strconv.Itoa(int(v.Int())) {
			n = int(v.Int())
		}
	case gjson.String:
		s := strings.ToLower(strings.TrimSpace(v.String()))
		if f == Weekly {
			for i, w := range weekdays {
				if i > 0 && s == w {
					n = i
				}
			}
		}
		if n < 0 && s != "" && len(s) <= 2 && digits(s) {
			n, _ = strconv.Atoi(s)
		}
	}
	if f == Weekly {
		if n < 1 || n > 7 {
			return 0, fieldError("day", "%s is not a weekday (monday..sunday) or 1..7", v.Raw)
		}
		return n, nil
	}
	if n < 1 || n > 31 {
		return 0, fieldError("day", "%s is not a day of the month 1..31", v.Raw)
	}
	return n, nil
}

// parseRecipients reads 1..MaxRecipients distinct e-mail addresses (bare
// addresses; a display name is dropped).
func parseRecipients(v gjson.Result) ([]string, error) {
	if !v.Exists() || v.Type == gjson.Null {
		return nil, fieldError("recipients", "required")
	}
	if !v.IsArray() {
		return nil, fieldError("recipients", "must be an array of e-mail addresses")
	}
	arr := v.Array()
	if len(arr) == 0 {
		return nil, fieldError("recipients", "at least one address is required")
	}
	if len(arr) > MaxRecipients {
		return nil, fieldError("recipients", "%d addresses, at most %d", len(arr), MaxRecipients)
	}
	out := make([]string, 0, len(arr))
	seen := map[string]bool{}
	for i, r := range arr {
		if r.Type != gjson.String {
			return nil, fieldError("recipients", "[%d] must be a string", i)
		}
		a, err := mail.ParseAddress(r.String())
		if err != nil || strings.ContainsAny(a.Address, "\r\n") {
			return nil, fieldError("recipients", "[%d] %q is not a valid e-mail address", i, r.String())
		}
		key := strings.ToLower(a.Address)
		if seen[key] {
			return nil, fieldError("recipients", "[%d] %q is given twice", i, a.Address)
		}
		seen[key] = true
		out = append(out, a.Address)
	}
	return out, nil
}

// parseInclude reads a non-empty set of sections without duplicates; they
// are kept in rendering order.
func parseInclude(v gjson.Result) ([]string, error) {
	if !v.Exists() || v.Type == gjson.Null {
		return nil, fieldError("include", "required")
	}
	if !v.IsArray() {
		return nil, fieldError("include", "must be an array of usage_summary, top_users, cost_breakdown, errors")
	}
	arr := v.Array()
	if len(arr) == 0 {
		return nil, fieldError("include", "at least one of usage_summary, top_users, cost_breakdown, errors is required")
	}
	seen := map[string]bool{}
	for i, x := range arr {
		s := x.String()
		ok := x.Type == gjson.String
		if ok {
			ok = false
			for _, k := range Sections {
				ok = ok || s == k
			}
		}
		if !ok {
			return nil, fieldError("include", "[%d] %s is not one of usage_summary, top_users, cost_breakdown, errors", i, x.Raw)
		}
		if seen[s] {
			return nil, fieldError("include", "[%d] %q is given twice", i, s)
		}
		seen[s] = true
	}
	out := make([]string, 0, len(seen))
	for _, k := range Sections {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out, nil
}
