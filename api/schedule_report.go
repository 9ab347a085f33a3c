package api

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/infermeter/infermeter/api/report"
	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/schedule"
)

// scheduledTopUsers is how many members top_users lists.
const scheduledTopUsers = 10

// Content types of the scheduled report's attachment, by format.
var scheduledTypes = map[string]string{
	schedule.FormatCSV:  "text/csv; charset=utf-8",
	schedule.FormatJSON: "application/json",
	schedule.FormatPDF:  "application/pdf",
}

// scheduledData is the content of a scheduled report, and its JSON
// attachment: one key per included section.
type scheduledData struct {
	Org          string             `json:"org"`
	Schedule     string             `json:"schedule"`
	Period       periodJSON         `json:"period"`
	GeneratedAt  string             `json:"generated_at"`
	UsageSummary *overview          `json:"usage_summary,omitempty"`
	TopUsers     []topUserRow       `json:"top_users,omitempty"`
	Cost         *costBreakdown     `json:"cost_breakdown,omitempty"`
	Errors       *scheduledErrors   `json:"errors,omitempty"`
	orgName      string             `json:"-"`
	loc          *time.Location     `json:"-"`
	sched        *schedule.Schedule `json:"-"`
	period       schedule.Period    `json:"-"`
}

// topUserRow is one member of top_users.
type topUserRow struct {
	Rank         int    `json:"rank"`
	UserID       string `json:"user_id"`
	Email        string `json:"email"`
	Requests     int64  `json:"requests"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	CostUSD      USD    `json:"cost_usd"`
}

// costRow is one line of cost_breakdown.
type costRow struct {
	Name         string `json:"name"`
	Requests     int64  `json:"requests"`
	InputTokens  int64  `json:"input_tokens"`
	OutputTokens int64  `json:"output_tokens"`
	CostUSD      USD    `json:"cost_usd"`
}

// costBreakdown is the cost by model, department and category, each cost
// descending.
type costBreakdown struct {
	ByModel      []costRow `json:"by_model"`
	ByDepartment []costRow `json:"by_department"`
	ByCategory   []costRow `json:"by_category"`
}

// scheduledErrors is the errors section, computed as GET
// /api/account/errors computes it for an admin.
type scheduledErrors struct {
	TotalRequests int64         `json:"total_requests"`
	TotalErrors   int64         `json:"total_errors"`
	ErrorRate     float64       `json:"error_rate"`
	ByType        []errTypeRow  `json:"by_type"`
	ByModel       []errModelRow `json:"by_model"`
}

// RenderSchedule renders the report of schedule s of org for period p in
// the schedule's format, from the meter's cells: the same computations as the usage and errors routes,
// so the numbers are theirs for the same period. It is the Render function
// of the schedule.Scheduler; safe for concurrent use.
func (a *API) RenderSchedule(org string, s *schedule.Schedule, p schedule.Period) (*schedule.Report, error) {
	o, ok := a.opt.Accounts.Org(org)
	if !ok {
		return nil, fmt.Errorf("cannot render report %q: no such organization %q", s.Name, org)
	}
	data, err := a.scheduledData(o.ID, o.Name, o.Location, s, p)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	switch s.Format {
	case schedule.FormatCSV:
		err = data.writeCSV(&buf)
	case schedule.FormatJSON:
		var b []byte
		b, err = json.MarshalIndent(data, "", "  ")
		buf.Write(b)
	case schedule.FormatPDF:
		err = report.WriteScheduledPDF(&buf, data.pdf(), a.now())
	default:
		err = fmt.Errorf("unknown format %q", s.Format)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot render report %q as %s: %w", s.Name, s.Format, err)
	}
	label := p.Label(o.Location)
	return &schedule.Report{
		Subject:     "infermeter report " + s.Name + ": " + label,
		Text:        data.text(label),
		Name:        scheduledFileName(org, p, o.Location, s.Format),
		ContentType: scheduledTypes[s.Format],
		Data:        buf.Bytes(),
	}, nil
}

// scheduledFileName is "{org}-usage-{day}.{format}" for one day,
// "{org}-usage-{first day}-{last day}.{format}" for several.
func scheduledFileName(org string, p schedule.Period, loc *time.Location, format string) string {
	x := &export{org: org, loc: loc, period: period{Start: p.Start, End: p.End}, format: format}
	name := x.fileName()
	first := p.Start.In(loc).Format(time.DateOnly)
	if last := p.End.Add(-time.Nanosecond).In(loc).Format(time.DateOnly); first == last {
		name = strings.Replace(name, first+"-"+last, first, 1)
	}
	return name
}

// scheduledData computes every included section.
func (a *API) scheduledData(org, orgName string, loc *time.Location, s *schedule.Schedule, p schedule.Period) (*scheduledData, error) {
	d := &scheduledData{
		Org:         org,
		Schedule:    s.Name,
		Period:      periodJSON{Start: p.Start.In(loc).Format(time.RFC3339), End: p.End.In(loc).Format(time.RFC3339), Timezone: loc.String()},
		GeneratedAt: a.now().In(loc).Format(time.RFC3339),
		orgName:     orgName,
		loc:         loc,
		sched:       s,
		period:      p,
	}
	if d.orgName == "" {
		d.orgName = org
	}
	var total meter.Cell
	users, models, depts, cats := map[string]*meter.Cell{}, map[string]*meter.Cell{}, map[string]*meter.Cell{}, map[string]*meter.Cell{}
	add := func(m map[string]*meter.Cell, k string, c *meter.Cell) {
		x := m[k]
		if x == nil {
			x = &meter.Cell{}
			m[k] = x
		}
		x.Merge(c)
	}
	est := newErrorStats()
	a.scan(org, "", p.Start.Unix(), p.End.Unix(), func(k *meter.CellKey, c *meter.Cell) {
		est.add(k, c)
		total.Merge(c)
		add(users, k.User, c)
		add(models, k.Model, c)
		add(depts, k.Department, c)
		add(cats, k.Category.String(), c)
	})
	if s.Includes(schedule.UsageSummary) {
		o := overviewOf(&total, len(users))
		d.UsageSummary = &o
	}
	if s.Includes(schedule.TopUsers) {
		d.TopUsers = []topUserRow{}
		for id, c := range users {
			r := topUserRow{UserID: id, Requests: c.Requests, InputTokens: c.InputTokens, OutputTokens: c.OutputTokens, CostUSD: USD(c.CostNano)}
			if m, ok := a.opt.Accounts.Member(org, id); ok {
				r.Email = m.Email
			}
			d.TopUsers = append(d.TopUsers, r)
		}
		// The order of the usage route's by_user.
		slices.SortFunc(d.TopUsers, func(x, y topUserRow) int {
			if c := cmp.Compare(y.CostUSD, x.CostUSD); c != 0 {
				return c
			}
			if c := cmp.Compare(y.Requests, x.Requests); c != 0 {
				return c
			}
			return cmp.Compare(x.UserID, y.UserID)
		})
		d.TopUsers = d.TopUsers[:min(len(d.TopUsers), scheduledTopUsers)]
		for i := range d.TopUsers {
			d.TopUsers[i].Rank = i + 1
		}
	}
	if s.Includes(schedule.CostBreakdown) {
		d.Cost = &costBreakdown{ByModel: costRows(models), ByDepartment: costRows(depts), ByCategory: costRows(cats)}
	}
	if s.Includes(schedule.Errors) {
		d.Errors = scheduledErrorsOf(&total, models, est)
	}
	return d, nil
}

// costRows lists groups by cost, then requests, descending, then name.
func costRows(groups map[string]*meter.Cell) []costRow {
	out := make([]costRow, 0, len(groups))
	for k, c := range groups {
		out = append(out, costRow{Name: k, Requests: c.Requests, InputTokens: c.InputTokens, OutputTokens: c.OutputTokens, CostUSD: USD(c.CostNano)})
	}
	slices.SortFunc(out, func(x, y costRow) int {
		if c := cmp.Compare(y.CostUSD, x.CostUSD); c != 0 {
			return c
		}
		if c := cmp.Compare(y.Requests, x.Requests); c != 0 {
			return c
		}
		return cmp.Compare(x.Name, y.Name)
	})
	return out
}

// scheduledErrors computes the errors section as errorReport does, from
// the cells: totals, models and types (st holds the cells' errors).
func scheduledErrorsOf(total *meter.Cell, models map[string]*meter.Cell, st *errorStats) *scheduledErrors {
	e := &scheduledErrors{
		TotalRequests: total.Requests,
		TotalErrors:   total.Errors,
		ErrorRate:     errRatio(total.Errors, total.Requests),
		ByType:        []errTypeRow{},
		ByModel:       []errModelRow{},
	}
	for t, n := range st.byType {
		e.ByType = append(e.ByType, errTypeRow{Type: t, Count: n})
	}
	slices.SortFunc(e.ByType, func(x, y errTypeRow) int {
		if c := cmp.Compare(y.Count, x.Count); c != 0 {
			return c
		}
		return cmp.Compare(x.Type, y.Type)
	})
	for m, c := range models {
		if c.Errors > 0 {
			e.ByModel = append(e.ByModel, errModelRow{Model: m, Errors: c.Errors, Requests: c.Requests, ErrorRate: errRatio(c.Errors, c.Requests)})
		}
	}
	slices.SortFunc(e.ByModel, func(x, y errModelRow) int {
		if c := cmp.Compare(y.Errors, x.Errors); c != 0 {
			return c
		}
		return cmp.Compare(x.Model, y.Model)
	})
	return e
}

// usd formats nano-dollars as the JSON answers do ("0.00063").
func usd(n USD) string { return string(AppendUSD(nil, int64(n))) }

func ratio(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// writeCSV writes one section per include: a header line whose first
// column is "section", then its rows, each starting with the section's
// name; a blank line separates sections. Money is USD with up to nine
// decimals, exactly as in the JSON answers; text fields are guarded
// against spreadsheet formulas as in the usage export.
func (d *scheduledData) writeCSV(buf *bytes.Buffer) error {
	w := csv.NewWriter(buf)
	rec := func(r ...string) { _ = w.Write(r) }
	rec("section", "org", "schedule", "period_start", "period_end", "timezone")
	rec("report", csvText(d.Org), csvText(d.Schedule), d.Period.Start, d.Period.End, d.Period.Timezone)
	if o := d.UsageSummary; o != nil {
		w.Flush()
		buf.WriteByte('\n')
		rec("section", "requests", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cost_usd",
			"active_members", "errors", "error_rate", "avg_latency_ms", "p95_latency_ms")
		rec(schedule.UsageSummary, i64(o.Requests), i64(o.InputTokens), i64(o.OutputTokens), i64(o.CachedTokens), i64(o.ReasoningTokens),
			usd(o.CostUSD), strconv.Itoa(o.ActiveMembers), i64(o.Errors), ratio(o.ErrorRate), i64(o.AvgLatencyMs), i64(o.P95LatencyMs))
	}
	if d.TopUsers != nil {
		w.Flush()
		buf.WriteByte('\n')
		rec("section", "rank", "user_id", "email", "requests", "input_tokens", "output_tokens", "cost_usd")
		for _, u := range d.TopUsers {
			rec(schedule.TopUsers, strconv.Itoa(u.Rank), csvText(u.UserID), csvText(u.Email), i64(u.Requests), i64(u.InputTokens), i64(u.OutputTokens), usd(u.CostUSD))
		}
	}
	if c := d.Cost; c != nil {
		w.Flush()
		buf.WriteByte('\n')
		rec("section", "dimension", "name", "requests", "input_tokens", "output_tokens", "cost_usd")
		for _, g := range []struct {
			dim  string
			rows []costRow
		}{{"model", c.ByModel}, {"department", c.ByDepartment}, {"category", c.ByCategory}} {
			for _, r := range g.rows {
				rec(schedule.CostBreakdown, g.dim, csvText(r.Name), i64(r.Requests), i64(r.InputTokens), i64(r.OutputTokens), usd(r.CostUSD))
			}
		}
	}
	if e := d.Errors; e != nil {
		w.Flush()
		buf.WriteByte('\n')
		rec("section", "dimension", "name", "errors", "requests", "error_rate")
		rec(schedule.Errors, "total", "", i64(e.TotalErrors), i64(e.TotalRequests), ratio(e.ErrorRate))
		for _, t := range e.ByType {
			rec(schedule.Errors, "type", t.Type, i64(t.Count), "", "")
		}
		for _, m := range e.ByModel {
			rec(schedule.Errors, "model", csvText(m.Model), i64(m.Errors), i64(m.Requests), ratio(m.ErrorRate))
		}
	}
	w.Flush()
	return w.Error()
}

// pdf lays the sections out for report.WriteScheduledPDF.
func (d *scheduledData) pdf() *report.Scheduled {
	s := &report.Scheduled{
		Org:       d.orgName,
		Name:      d.Schedule,
		Period:    d.period.Label(d.loc) + " (" + d.loc.String() + ")",
		Generated: d.GeneratedAt,
	}
	nano := func(u USD) string { return report.USD(int64(u)) }
	if o := d.UsageSummary; o != nil {
		s.Sections = append(s.Sections, report.Section{Title: "Usage summary", Pairs: [][2]string{
			{"Requests", report.Int(o.Requests)},
			{"Total cost", nano(o.CostUSD)},
			{"Input tokens", report.Int(o.InputTokens)},
			{"Output tokens", report.Int(o.OutputTokens)},
			{"Active members", report.Int(int64(o.ActiveMembers))},
			{"Errors", report.Int(o.Errors)},
			{"Error rate", report.Percent(o.Errors, o.Requests)},
			{"Avg latency", report.Int(o.AvgLatencyMs) + " ms"},
		}})
	}
	if d.TopUsers != nil {
		t := report.Table{Columns: []string{"#", "Member", "Requests", "Input", "Output", "Cost"}, Widths: []float64{10, 70, 22, 24, 24, 30}, Left: 2}
		for _, u := range d.TopUsers {
			name := u.Email
			if name == "" {
				name = u.UserID
			}
			t.Rows = append(t.Rows, []string{strconv.Itoa(u.Rank), name, report.Int(u.Requests), report.Int(u.InputTokens), report.Int(u.OutputTokens), nano(u.CostUSD)})
		}
		s.Sections = append(s.Sections, report.Section{Title: "Top users", Tables: []report.Table{t}})
	}
	if c := d.Cost; c != nil {
		sec := report.Section{Title: "Cost breakdown"}
		for _, g := range []struct {
			title string
			rows  []costRow
		}{{"By model", c.ByModel}, {"By department", c.ByDepartment}, {"By category", c.ByCategory}} {
			t := report.Table{Title: g.title, Columns: []string{"Name", "Requests", "Input", "Output", "Cost"}, Widths: []float64{80, 22, 24, 24, 30}, Left: 1}
			for _, r := range g.rows {
				name := r.Name
				if name == "" {
					name = "(none)"
				}
				t.Rows = append(t.Rows, []string{name, report.Int(r.Requests), report.Int(r.InputTokens), report.Int(r.OutputTokens), nano(r.CostUSD)})
			}
			sec.Tables = append(sec.Tables, t)
		}
		s.Sections = append(s.Sections, sec)
	}
	if e := d.Errors; e != nil {
		sec := report.Section{Title: "Errors", Pairs: [][2]string{
			{"Errors", report.Int(e.TotalErrors)},
			{"Error rate", report.Percent(e.TotalErrors, e.TotalRequests)},
		}}
		types := report.Table{Title: "By type", Columns: []string{"Type", "Errors"}, Widths: []float64{120, 60}, Left: 1}
		for _, t := range e.ByType {
			types.Rows = append(types.Rows, []string{t.Type, report.Int(t.Count)})
		}
		models := report.Table{Title: "By model", Columns: []string{"Model", "Errors", "Requests", "Rate"}, Widths: []float64{90, 30, 30, 30}, Left: 1}
		for _, m := range e.ByModel {
			models.Rows = append(models.Rows, []string{m.Model, report.Int(m.Errors), report.Int(m.Requests), report.Percent(m.Errors, m.Requests)})
		}
		sec.Tables = []report.Table{types, models}
		s.Sections = append(s.Sections, sec)
	}
	return s
}

// text is the mail's body: the headline numbers of the period.
func (d *scheduledData) text(label string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Scheduled report %q of %s for %s (%s).\n\n", d.Schedule, d.orgName, label, d.loc.String())
	if o := d.UsageSummary; o != nil {
		fmt.Fprintf(&b, "Requests: %s\nCost: %s\nActive members: %d\nErrors: %s (%s)\n\n",
			report.Int(o.Requests), report.USD(int64(o.CostUSD)), o.ActiveMembers, report.Int(o.Errors), report.Percent(o.Errors, o.Requests))
	} else if e := d.Errors; e != nil {
		fmt.Fprintf(&b, "Requests: %s\nErrors: %s (%s)\n\n", report.Int(e.TotalRequests), report.Int(e.TotalErrors), report.Percent(e.TotalErrors, e.TotalRequests))
	}
	b.WriteString("The report is attached.\n")
	return b.String()
}
