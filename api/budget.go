package api

import (
	"math"
	"time"

	"github.com/infermeter/infermeter/meter"
)

// budgetJSON is the budget block of the usage route.
//
// Method: the month is the calendar month holding "now" in the org's
// timezone. current_spend is the cost of the month so far. The run rate is
// current_spend divided by the time elapsed since the month started (at
// least one hour, so the first minutes of a month do not explode it);
// projected_spend is current_spend plus the run rate times the time left
// until the month ends. projected_exhaustion_date is the local date on which
// the run rate reaches monthly_limit, when that happens before the month
// ends (null otherwise; today when the limit is already reached).
// days_remaining counts the calendar days left in the month, today included.
type budgetJSON struct {
	// Scope is "org" for an admin (the org's monthly_budget_usd) or
	// "member" (the member's own monthly_limit_usd).
	Scope          string   `json:"scope"`
	MonthlyLimit   *USD     `json:"monthly_limit"`
	CurrentSpend   USD      `json:"current_spend"`
	PercentageUsed *float64 `json:"percentage_used"`
	ProjectedSpend USD      `json:"projected_spend"`
	DaysRemaining  int      `json:"days_remaining"`
	// ProjectedExhaustion is YYYY-MM-DD in the org's timezone, or null.
	ProjectedExhaustion *string `json:"projected_exhaustion_date"`
	Exceeded            bool    `json:"exceeded"`
	MonthStart          string  `json:"month_start"`
	MonthEnd            string  `json:"month_end"`
}

// budget computes the budget block for the caller at now.
func (a *API) budget(c *call, now time.Time) budgetJSON {
	loc := c.org.Location
	now = now.In(loc)
	start := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
	end := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, loc)
	var spent int64
	a.scan(c.org.ID, c.user(), start.Unix(), end.Unix(), func(_ *meter.CellKey, cell *meter.Cell) {
		spent += cell.CostNano
	})
	b := budgetJSON{
		Scope:        "org",
		CurrentSpend: USD(spent),
		MonthStart:   start.Format(time.RFC3339),
		MonthEnd:     end.Format(time.RFC3339),
	}
	limit := c.org.MonthlyBudgetNano
	if !c.m.IsAdmin() {
		b.Scope = "member"
		limit = c.m.MonthlyLimitNano
	}
	elapsed := max(now.Sub(start), time.Hour)
	left := max(end.Sub(now), 0)
	rate := float64(spent) / elapsed.Seconds() // nano-dollars per second
	b.ProjectedSpend = USD(spent + int64(math.Round(rate*left.Seconds())))
	lastDay := end.AddDate(0, 0, -1)
	b.DaysRemaining = lastDay.Day() - now.Day() + 1
	if limit <= 0 {
		return b
	}
	lim := USD(limit)
	b.MonthlyLimit = &lim
	pct := math.Round(float64(spent)/float64(limit)*1000) / 10
	b.PercentageUsed = &pct
	switch {
	case spent >= limit:
		b.Exceeded = true
		d := now.Format(time.DateOnly)
		b.ProjectedExhaustion = &d
	case rate > 0:
		// Compare in seconds first: a far-away date overflows a Duration.
		if secs := float64(limit-spent) / rate; secs < left.Seconds() {
			d := now.Add(time.Duration(secs * float64(time.Second))).Format(time.DateOnly)
			b.ProjectedExhaustion = &d
		}
	}
	return b
}
