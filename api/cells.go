package api

import (
	"github.com/infermeter/infermeter/meter"
)

// scan calls fn for every cell of org that aggregates requests of
// [start, end) (unix seconds), limited to user when it is not "". Whole
// days of the org come as day cells (k.Hour is the day's start), so fn
// must only read days (or coarser) from k.Hour; scanHours gives hourly
// cells. It holds the meter's read lock: fn must be quick and must not keep
// the pointers.
func (a *API) scan(org, user string, start, end int64, fn func(k *meter.CellKey, c *meter.Cell)) {
	a.opt.Meter.Scan(org, user, start, end, false, fn)
}

// scanHours is scan with every cell an hourly cell.
func (a *API) scanHours(org, user string, start, end int64, fn func(k *meter.CellKey, c *meter.Cell)) {
	a.opt.Meter.Scan(org, user, start, end, true, fn)
}
