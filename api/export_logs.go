package api

import (
	"fmt"
	"math"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/store"
)

// exportLogs streams the request logs of the period, newest first (the
// store's order: a page is one reverse scan from the cursor, so the export
// never holds more than one page of store.MaxLogLimit logs).
func (a *API) exportLogs(c *call, x *export) {
	ctx := c.ctx
	q := store.LogQuery{Org: x.org, Limit: store.MaxLogLimit}
	q.StartID, q.EndID = idBounds(x.period)
	evs, next, err := a.opt.Store.Logs(q)
	if err != nil {
		a.fail(ctx, fasthttp.StatusInternalServerError, "internal", "cannot read request logs")
		return
	}
	if len(evs) == 0 {
		noContent(ctx)
		return
	}
	s := &exportStream{}
	enc, err := newRowEncoder(x, &s.buf, logColumns)
	if err != nil {
		a.fail(ctx, fasthttp.StatusInternalServerError, "internal", "cannot start the export")
		return
	}
	// Emails of the members met so far (a member deleted since has none).
	emails := map[string]string{}
	accounts, st := a.opt.Accounts, a.opt.Store
	s.next = func() (bool, error) {
		for i := range evs {
			ev := &evs[i]
			email, ok := emails[ev.User]
			if !ok {
				if m, found := accounts.Member(x.org, ev.User); found {
					email = m.Email
				}
				emails[ev.User] = email
			}
			l := logOf(ev)
			r := newLogRow(&l, email)
			if err := enc.row(&r); err != nil {
				return false, err
			}
		}
		if next == "" {
			return false, enc.end()
		}
		if err := enc.flush(); err != nil {
			return false, err
		}
		q.Cursor = next
		if evs, next, err = st.Logs(q); err != nil {
			return false, fmt.Errorf("cannot read the request logs of %q: %w", x.org, err)
		}
		return true, nil
	}
	x.start(ctx)
	ctx.SetBodyStream(s, -1)
}

// idBounds returns the event ID bounds of p for store.LogQuery (event IDs
// are unix nanoseconds): an open side for a bound before 1970 or after
// 2262, which nanoseconds cannot hold, and an empty range when p lies
// entirely outside them.
func idBounds(p period) (start, end uint64) {
	lo, hi := time.Unix(0, 0), time.Unix(0, math.MaxInt64)
	if !p.End.After(lo) || !p.Start.Before(hi) {
		return 1, 1
	}
	if p.Start.After(lo) {
		start = uint64(p.Start.UnixNano())
	}
	if p.End.Before(hi) {
		end = uint64(p.End.UnixNano())
	}
	return start, end
}
