package api

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/api/report"
	"github.com/infermeter/infermeter/meter"
)

// Shape of the PDF usage report.
const (
	// reportTopN is the number of lines of each top table.
	reportTopN = 10
	// reportMaxBars bounds the bars of the cost chart: a longer period
	// gets one bar per several days.
	reportMaxBars = 62
)

// exportPDF answers the usage report of the period as a PDF, from the
// hourly cells: overview, cost over time, top members, models and
// departments by cost.
func (a *API) exportPDF(c *call, x *export) {
	ctx := c.ctx
	u, ok := a.usageReport(c, x)
	if !ok {
		noContent(ctx)
		return
	}
	var buf bytes.Buffer
	if err := report.WriteUsagePDF(&buf, u, a.now()); err != nil {
		a.fail(ctx, fasthttp.StatusInternalServerError, "internal", "cannot write the PDF report")
		return
	}
	x.start(ctx)
	ctx.SetBody(buf.Bytes())
}

// usageReport gathers the content of the PDF report; false when the period
// holds no request.
func (a *API) usageReport(c *call, x *export) (*report.Usage, bool) {
	loc, p := x.loc, x.period
	first, last := civilDay(p.Start.In(loc)), civilDay(p.End.Add(-time.Nanosecond).In(loc))
	days := last - first + 1
	per := (days + reportMaxBars - 1) / reportMaxBars // days a bar
	bars := make([]report.Bar, (days+per-1)/per)
	for i := range bars {
		bars[i].Label = time.Unix((first+int64(i)*per)*86400, 0).UTC().Format(time.DateOnly)
	}

	var total meter.Cell
	members, models, depts := map[string]*meter.Cell{}, map[string]*meter.Cell{}, map[string]*meter.Cell{}
	add := func(m map[string]*meter.Cell, k string, c *meter.Cell) {
		s := m[k]
		if s == nil {
			s = &meter.Cell{}
			m[k] = s
		}
		s.Merge(c)
	}
	dayOf := map[int64]int64{} // hour → local civil day
	a.scan(x.org, "", p.Start.Unix(), p.End.Unix(), func(k *meter.CellKey, c *meter.Cell) {
		total.Merge(c)
		add(members, k.User, c)
		add(models, k.Model, c)
		add(depts, k.Department, c)
		d, ok := dayOf[k.Hour]
		if !ok {
			d = civilDay(time.Unix(k.Hour, 0).In(loc))
			dayOf[k.Hour] = d
		}
		if i := (d - first) / per; d >= first && i < int64(len(bars)) {
			bars[i].CostNano += c.CostNano
		}
	})
	if total.Requests == 0 {
		return nil, false
	}
	u := &report.Usage{
		Org:       c.org.Name,
		Period:    periodText(p, loc),
		Generated: a.now().In(loc).Format("2006-01-02 15:04 MST"),
		Overview: report.Overview{
			Requests:        total.Requests,
			InputTokens:     total.InputTokens,
			OutputTokens:    total.OutputTokens,
			CachedTokens:    total.CachedTokens,
			ReasoningTokens: total.Reasoning,
			CostNano:        total.CostNano,
			Errors:          total.Errors,
			AvgLatencyMs:    total.LatencyMicros / total.Requests / 1000,
			ActiveMembers:   len(members),
		},
		ChartTitle: "Cost per day (USD)",
		Bars:       bars,
		TopMembers: topLines(members, func(id string) string {
			if m, ok := a.opt.Accounts.Member(x.org, id); ok && m.Email != "" {
				return m.Email
			}
			return id
		}),
		TopModels: topLines(models, nil),
		TopDepartments: topLines(depts, func(d string) string {
			if d == "" {
				return "(none)"
			}
			return d
		}),
	}
	if u.Org == "" {
		u.Org = x.org
	}
	if per > 1 {
		u.ChartTitle = fmt.Sprintf("Cost per %d days (USD)", per)
	}
	return u, true
}

// topLines returns the reportTopN largest groups by cost (then requests,
// then name), named by name when it is not nil.
func topLines(groups map[string]*meter.Cell, name func(string) string) []report.Line {
	out := make([]report.Line, 0, len(groups))
	for k, c := range groups {
		if name != nil {
			k = name(k)
		}
		out = append(out, report.Line{Name: k, Requests: c.Requests, Tokens: c.InputTokens + c.OutputTokens, CostNano: c.CostNano})
	}
	slices.SortFunc(out, func(p, q report.Line) int {
		if c := cmp.Compare(q.CostNano, p.CostNano); c != 0 {
			return c
		}
		if c := cmp.Compare(q.Requests, p.Requests); c != 0 {
			return c
		}
		return cmp.Compare(p.Name, q.Name)
	})
	return out[:min(len(out), reportTopN)]
}

// civilDay returns the number of days from 1970-01-01 to the date of t (in
// t's location).
func civilDay(t time.Time) int64 {
	s := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC).Unix()
	d := s / 86400
	if s%86400 < 0 {
		d--
	}
	return d
}

// periodText describes p for a reader: whole days as dates, other bounds
// with their time, and the timezone.
func periodText(p period, loc *time.Location) string {
	s, e := p.Start.In(loc), p.End.In(loc)
	midnight := func(t time.Time) bool {
		return t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
	}
	if midnight(s) && midnight(e) {
		return s.Format(time.DateOnly) + " to " + e.AddDate(0, 0, -1).Format(time.DateOnly) + " (" + loc.String() + ")"
	}
	return s.Format("2006-01-02 15:04") + " to " + e.Format("2006-01-02 15:04") + " (" + loc.String() + ")"
}
