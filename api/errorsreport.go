package api

import (
	"cmp"
	"slices"
	"time"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
)

// unclassified is the by_type label of errors aggregated before cells were
// split by error type (the cells count every error, but those older cells
// do not know its type).
const unclassified = "unclassified"

// errorsAnswer is the envelope of GET /api/account/errors.
type errorsAnswer struct {
	Success bool       `json:"success"`
	Errors  errorsBody `json:"errors"`
}

// errorsBody is the "errors" object.
type errorsBody struct {
	Period        reportPeriod `json:"period"`
	TotalRequests int64        `json:"total_requests"`
	TotalErrors   int64        `json:"total_errors"`
	// ErrorRate is total_errors / total_requests (0 without requests).
	ErrorRate float64       `json:"error_rate"`
	ByType    []errTypeRow  `json:"by_type"`
	ByModel   []errModelRow `json:"by_model"`
	ByDay     []errDayRow   `json:"by_day"`
}

// errTypeRow is one row of by_type.
type errTypeRow struct {
	Type  string `json:"type"`
	Count int64  `json:"count"`
}

// errModelRow is one row of by_model; error_rate is errors / requests.
type errModelRow struct {
	Model     string  `json:"model"`
	Errors    int64   `json:"errors"`
	Requests  int64   `json:"requests"`
	ErrorRate float64 `json:"error_rate"`
}

// errDayRow is one row of by_day: a local date of the org.
type errDayRow struct {
	Day      string `json:"day"`
	Errors   int64  `json:"errors"`
	Requests int64  `json:"requests"`
}

// errorStats counts failed requests by type and model, from the cells.
type errorStats struct {
	total   int64
	byType  map[string]int64
	byModel map[string]*modelErrorStats
}

// modelErrorStats counts the failed requests of one model.
type modelErrorStats struct {
	byType map[string]int64
	// costNano is what the failed requests were billed (a stream cut
	// after some output, for example).
	costNano int64
}

func newErrorStats() *errorStats {
	return &errorStats{byType: map[string]int64{}, byModel: map[string]*modelErrorStats{}}
}

// add counts the failed requests of the cell k into st. A cell with an
// error type holds only failed requests; an older cell without one counts
// its errors as unclassified (and its cost, which mixes successes, is not
// counted as wasted).
func (st *errorStats) add(k *meter.CellKey, c *meter.Cell) {
	if c.Errors == 0 {
		return
	}
	t := unclassified
	if k.ErrorType != usage.ErrNone {
		t = k.ErrorType.String()
	}
	st.total += c.Errors
	st.byType[t] += c.Errors
	m := st.byModel[k.Model]
	if m == nil {
		m = &modelErrorStats{byType: map[string]int64{}}
		st.byModel[k.Model] = m
	}
	m.byType[t] += c.Errors
	if k.ErrorType != usage.ErrNone {
		m.costNano += c.CostNano
	}
}

// errorReport serves GET /api/account/errors for the period (date
// parameters; default the last 30 days): requests and errors in total,
// error_rate = errors / requests (0 without requests), by_type (count
// descending), by_model (models with errors, errors descending) and by_day
// (days with requests, in the org's timezone, ascending). Admins see their
// org, members their own requests.
//
// Totals, models and days come from the hourly cells, so they are exact for
// any period. Types come from the request logs of the same hours; errors
// whose log is gone (log_retention, max_logs) or not yet flushed are
// counted as "unclassified", so by_type always sums to total_errors.
func (a *API) errorReport(c *call) {
	ctx, org := c.ctx, c.org
	loc := org.Location
	p, err := parsePeriod(ctx.QueryArgs(), loc, a.now())
	if err != nil {
		a.badParam(ctx, err)
		return
	}
	user := c.user()
	var total meter.Cell
	byModel := map[string]*errModelRow{}
	byDay := map[string]*errDayRow{}
	st := newErrorStats()
	dayOf := map[int64]*errDayRow{} // by cell hour: formatting a day per cell costs more than the rest
	a.scan(org.ID, user, p.Start.Unix(), p.End.Unix(), func(k *meter.CellKey, cell *meter.Cell) {
		st.add(k, cell)
		total.Requests += cell.Requests
		total.Errors += cell.Errors
		m := byModel[k.Model]
		if m == nil {
			m = &errModelRow{Model: k.Model}
			byModel[k.Model] = m
		}
		m.Errors += cell.Errors
		m.Requests += cell.Requests
		d := dayOf[k.Hour]
		if d == nil {
			day := time.Unix(k.Hour, 0).In(loc).Format(time.DateOnly)
			if d = byDay[day]; d == nil {
				d = &errDayRow{Day: day}
				byDay[day] = d
			}
			dayOf[k.Hour] = d
		}
		d.Errors += cell.Errors
		d.Requests += cell.Requests
	})
	body := errorsBody{
		Period:        spanOf(p, loc).json(p, loc),
		TotalRequests: total.Requests,
		TotalErrors:   total.Errors,
		ErrorRate:     errRatio(total.Errors, total.Requests),
		ByType:        []errTypeRow{},
		ByModel:       []errModelRow{},
		ByDay:         make([]errDayRow, 0, len(byDay)),
	}
	if total.Errors > 0 {
		for t, n := range st.byType {
			body.ByType = append(body.ByType, errTypeRow{Type: t, Count: n})
		}
		slices.SortFunc(body.ByType, func(x, y errTypeRow) int {
			if c := cmp.Compare(y.Count, x.Count); c != 0 {
				return c
			}
			return cmp.Compare(x.Type, y.Type)
		})
	}
	for _, m := range byModel {
		if m.Errors == 0 {
			continue
		}
		m.ErrorRate = errRatio(m.Errors, m.Requests)
		body.ByModel = append(body.ByModel, *m)
	}
	slices.SortFunc(body.ByModel, func(x, y errModelRow) int {
		if c := cmp.Compare(y.Errors, x.Errors); c != 0 {
			return c
		}
		return cmp.Compare(x.Model, y.Model)
	})
	for _, d := range byDay {
		body.ByDay = append(body.ByDay, *d)
	}
	slices.SortFunc(body.ByDay, func(x, y errDayRow) int { return cmp.Compare(x.Day, y.Day) })
	a.writeJSON(ctx, errorsAnswer{Success: true, Errors: body})
}

// errRatio returns n / d, or 0 when d is 0.
func errRatio(n, d int64) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}
