package api

import (
	"cmp"
	"slices"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter"
)

// summaryPage is how many summary rows one read of the stream encodes.
const summaryPage = 1000

// exportSummary streams one row per member × model × day (in the org's
// timezone) of the period, from the hourly cells, sorted by day, member and
// model. The rows are built in memory first: at most one per cell scanned.
func (a *API) exportSummary(c *call, x *export) {
	ctx := c.ctx
	rows := a.summaryRows(x)
	if len(rows) == 0 {
		noContent(ctx)
		return
	}
	s := &exportStream{}
	enc, err := newRowEncoder(x, &s.buf, summaryColumns)
	if err != nil {
		a.fail(ctx, fasthttp.StatusInternalServerError, "internal", "cannot start the export")
		return
	}
	s.next = func() (bool, error) {
		n := min(summaryPage, len(rows))
		for i := range n {
			if err := enc.row(&rows[i]); err != nil {
				return false, err
			}
		}
		rows = rows[n:]
		if len(rows) == 0 {
			return false, enc.end()
		}
		return true, enc.flush()
	}
	x.start(ctx)
	ctx.SetBodyStream(s, -1)
}

// summaryRows sums the org's cells of the period by day, member and model.
func (a *API) summaryRows(x *export) []summaryRow {
	type key struct{ day, user, model string }
	sums := map[key]*meter.Cell{}
	days := map[int64]string{} // hour → local day
	a.scan(x.org, "", x.period.Start.Unix(), x.period.End.Unix(), func(k *meter.CellKey, c *meter.Cell) {
		day, ok := days[k.Hour]
		if !ok {
			day = time.Unix(k.Hour, 0).In(x.loc).Format(time.DateOnly)
			days[k.Hour] = day
		}
		g := key{day, k.User, k.Model}
		s := sums[g]
		if s == nil {
			s = &meter.Cell{}
			sums[g] = s
		}
		s.Merge(c)
	})
	rows := make([]summaryRow, 0, len(sums))
	for g, s := range sums {
		if s.Requests == 0 {
			continue
		}
		r := summaryRow{
			Day: g.day, UserID: g.user, Model: g.model,
			Requests: s.Requests, InputTokens: s.InputTokens, OutputTokens: s.OutputTokens,
			CachedTokens: s.CachedTokens, CacheWriteTokens: s.CacheWrite, ReasoningTokens: s.Reasoning,
			CostUSD: USD(s.CostNano), Errors: s.Errors,
		}
		if m, ok := a.opt.Accounts.Member(x.org, g.user); ok {
			r.Email = m.Email
		}
		rows = append(rows, r)
	}
	slices.SortFunc(rows, func(p, q summaryRow) int {
		if c := cmp.Compare(p.Day, q.Day); c != 0 {
			return c
		}
		if c := cmp.Compare(p.UserID, q.UserID); c != 0 {
			return c
		}
		return cmp.Compare(p.Model, q.Model)
	})
	return rows
}
