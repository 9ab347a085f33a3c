package alert

import (
	"math"
	"time"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
)

// Values are the metrics of one scope (an org, or one member of it) at one
// instant, by metric name. Windows, all in the org's timezone:
//
//   - daily_spend, monthly_spend, hourly_spend: USD spent today, this
//     calendar month, and this clock hour.
//   - requests, tokens (input + output), error_rate (failed requests in
//     percent of requests, 0..100; 0 without requests), avg_latency_ms (to the
//     microsecond) and p95_latency_ms (of the latency histogram,
//     interpolated): today.
//   - member_spend_pct: a member's month-to-date spend in percent of its
//     monthly_limit_usd; for an org-wide rule the highest of the members
//     that have a limit (Top names that member); 0 when none has one.
type Values struct {
	M map[string]float64
	// Top is the member behind member_spend_pct of an org-wide scope; ""
	// when no member has a limit.
	Top string
}

// computeValues reads the metrics of org (only user's traffic when user is
// not "") at now from the meter's cells.
func computeValues(m *meter.Meter, dir *account.Directory, org, user string, now time.Time) Values {
	loc := dir.Location(org)
	if loc == nil {
		loc = time.UTC
	}
	t := now.In(loc)
	monthStart := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, loc).Unix()
	monthEnd := time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, loc).Unix()
	dayStart := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc).Unix()
	dayEnd := time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc).Unix()
	hourStart := meter.HourStart(now.UnixNano(), loc)

	var monthNano, hourNano int64
	byUser := map[string]int64{}
	m.Scan(org, user, monthStart, monthEnd, false, func(k *meter.CellKey, c *meter.Cell) {
		monthNano += c.CostNano
		byUser[k.User] += c.CostNano
	})
	var day meter.Cell
	m.Scan(org, user, dayStart, dayEnd, false, func(_ *meter.CellKey, c *meter.Cell) { day.Merge(c) })
	m.Scan(org, user, hourStart, hourStart+3600, true, func(_ *meter.CellKey, c *meter.Cell) { hourNano += c.CostNano })

	v := Values{M: map[string]float64{
		DailySpend:   usd(day.CostNano),
		MonthlySpend: usd(monthNano),
		HourlySpend:  usd(hourNano),
		Requests:     float64(day.Requests),
		Tokens:       float64(day.InputTokens + day.OutputTokens),
	}}
	if day.Requests > 0 {
		v.M[ErrorRate] = float64(day.Errors) * 100 / float64(day.Requests)
		v.M[AvgLatencyMs] = math.Round(float64(day.LatencyMicros)/float64(day.Requests)) / 1000
		v.M[P95LatencyMs] = float64(day.LatencyQuantile(0.95)) / 1000
	} else {
		v.M[ErrorRate], v.M[AvgLatencyMs], v.M[P95LatencyMs] = 0, 0, 0
	}
	var members []*account.Member
	if user != "" {
		if mm, ok := dir.Member(org, user); ok {
			members = []*account.Member{mm}
		}
	} else {
		members = dir.Members(org) // sorted by id: ties go to the first
	}
	best := 0.0
	for _, mm := range members {
		if mm.MonthlyLimitNano <= 0 {
			continue
		}
		pct := float64(byUser[mm.ID]) * 100 / float64(mm.MonthlyLimitNano)
		if v.Top == "" || pct > best {
			best, v.Top = pct, mm.ID
		}
	}
	v.M[MemberSpendPct] = best
	return v
}

// usd converts nano-dollars to USD.
func usd(nano int64) float64 { return float64(nano) / 1e9 }
